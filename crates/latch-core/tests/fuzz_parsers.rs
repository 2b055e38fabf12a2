//! Property tests: every parser of untrusted input in latch-core answers with a value or a
//! registered error for any input, and never panics; every error's description keeps to the
//! characters RFC 6749 allows (§4.1.2.1, §5.2), whatever the input held.

use latch_core::application::{Application, ApplicationType, Redirects};
use latch_core::authorize::{self, AuthorizeError, AuthorizeParams};
use latch_core::params::{Params, client_credentials};
use latch_core::{pkce, redirect, scope::Scope, token};
use proptest::prelude::*;

fn app(kind: ApplicationType) -> Application {
    Application {
        id: "a".into(),
        client_id: "client".into(),
        name: "App".into(),
        application_type: kind,
        management_api_access: false,
        enforce_pkce: kind != ApplicationType::Web,
        access_token_ttl_seconds: None,
        redirects: Redirects {
            post_login: vec![
                "https://app.example/cb".into(),
                "http://127.0.0.1/cb".into(),
            ],
            ..Redirects::default()
        },
        allowed_origins: vec![],
        id_token_signed_response_alg: latch_core::algorithm::Algorithm::RS256,
        custom_claims: serde_json::Map::new(),
        claim_mappings: vec![],
        token_hook: None,
        allow_signup: false,
        require_verified_email: false,
        mfa: Default::default(),
        created_at: 0,
        updated_at: 0,
    }
}

/// Strings biased towards the characters that matter to these parsers.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9%&=+:/?#@.~_ -]{0,80}",
        Just("S256".to_owned()),
        Just("code".to_owned()),
        Just("https://app.example/cb".to_owned()),
        Just("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned()),
        Just("openid \"x\\y\" read:\u{e9}".to_owned()),
        Just("{\"userinfo\":{\"name\":null}}".to_owned()),
    ]
}

/// RFC 6749 §4.1.2.1 / §5.2: `error_description` is `%x20-21 / %x23-5B / %x5D-7E`.
fn allowed(description: &str) -> bool {
    description
        .bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn form_parsing_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = Params::parse(&body);
        if let Err(e) = p.get("grant_type") {
            prop_assert!(allowed(&e.description), "{:?}", e.description);
        }
        if let Err(e) = token::parse_grant(&p) {
            prop_assert!(allowed(&e.description), "{:?}", e.description);
        }
        if let Err(e) = client_credentials(None, &p) {
            prop_assert!(allowed(&e.description), "{:?}", e.description);
        }
    }

    #[test]
    fn token_requests_of_every_grant_answer_with_allowed_descriptions(
        grant in prop_oneof![Just("authorization_code"), Just("refresh_token"), Just("client_credentials")],
        scope in nasty(),
        value in nasty(),
    ) {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", grant)
            .append_pair("scope", &scope)
            .append_pair("code", &value)
            .append_pair("refresh_token", &value)
            .finish();
        if let Err(e) = token::parse_grant(&Params::parse(body.as_bytes())) {
            prop_assert!(allowed(&e.description), "{:?}", e.description);
        }
    }

    #[test]
    fn basic_credentials_never_panic(header in nasty()) {
        let _ = client_credentials(Some(&header), &Params::default());
        let _ = client_credentials(Some(&format!("Basic {header}")), &Params::default());
    }

    #[test]
    fn authorize_validation_answers_every_request(
        response_type in proptest::option::of(nasty()),
        redirect_uri in proptest::option::of(nasty()),
        scope in proptest::option::of(nasty()),
        challenge in proptest::option::of(nasty()),
        method in proptest::option::of(nasty()),
        prompt in proptest::option::of(nasty()),
        max_age in proptest::option::of(nasty()),
        state in proptest::option::of(nasty()),
        claims in proptest::option::of(nasty()),
        kind in prop_oneof![Just(ApplicationType::Web), Just(ApplicationType::Spa), Just(ApplicationType::Native)],
    ) {
        let p = AuthorizeParams {
            response_type, client_id: Some("client".into()), redirect_uri: redirect_uri.clone(), scope,
            state, code_challenge: challenge, code_challenge_method: method, prompt, max_age, claims,
            ..AuthorizeParams::default()
        };
        let a = app(kind);
        match authorize::validate(&p, Some(&a)) {
            Ok(r) => prop_assert!(a.redirects.post_login.iter().any(|reg| redirect::redirect_uri_matches(reg, &r.redirect_uri, kind))),
            // An error redirect only ever goes to a registered URI.
            Err(AuthorizeError::Redirect { redirect_uri: to, error, .. }) => {
                prop_assert!(a.redirects.post_login.iter().any(|reg| redirect::redirect_uri_matches(reg, &to, kind)));
                prop_assert!(allowed(&error.description), "{:?}", error.description);
            }
            Err(AuthorizeError::Page(_)) => {}
        }
    }

    #[test]
    fn redirect_and_origin_rules_never_panic(uri in nasty(), other in nasty()) {
        for kind in [ApplicationType::Web, ApplicationType::Spa, ApplicationType::Native] {
            let _ = redirect::validate_redirect_uri(&uri, kind);
            let _ = redirect::redirect_uri_matches(&uri, &other, kind);
        }
        let _ = redirect::validate_origin(&uri);
        let _ = redirect::validate_backchannel_uri(&uri);
        let _ = redirect::origin_of(&uri);
    }

    #[test]
    fn pkce_and_scope_parsing_never_panic(a in nasty(), b in nasty()) {
        let _ = pkce::parse_challenge(Some(&a), Some(&b));
        let _ = pkce::verify(Some(&a), Some(&b));
        if let Ok(s) = Scope::parse(&a) {
            prop_assert_eq!(Scope::parse(&s.to_string()).ok(), Some(s));
        }
    }
}
