//! The authorization endpoint's rules (RFC 6749 §4.1.1, §4.1.2.1; OIDC Core §3.1.2).

use serde::{Deserialize, Serialize};

use crate::application::Application;
use crate::authn::Acr;
use crate::redirect::find_redirect_uri;
use crate::requested::ClaimsRequest;
use crate::scope::ScopeSet;
use crate::types::{ClientId, Nonce, RedirectUri, State};
use crate::{ErrorCode, OAuthError, Secret, SecretHash, pkce};

/// The raw parameters, as sent (query or form). Duplicated parameters are reported by the parser.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// The API identifier the access token is for (Auth0's `audience`).
    pub audience: Option<String>,
    /// The organization to sign in to, by id or name.
    pub organization: Option<String>,
    /// The ticket of an invitation to `organization` that the user accepts on the way (Auth0's
    /// `invitation`, forwarded by the application from its invitation link).
    pub invitation: Option<String>,
    /// OIDC Core §5.5: individual claims asked for (JSON).
    pub claims: Option<String>,
    /// OIDC Core §3.1.2.1: an ID token naming the user expected (checked by the server, which
    /// holds the keys).
    pub id_token_hint: Option<String>,
    /// OIDC Core §3.1.2.1: the authentication context classes asked for, in order of preference.
    pub acr_values: Option<String>,
    /// Names of known parameters that appeared more than once (RFC 6749 §3.1).
    pub duplicated: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// Use the session if there is one, else ask.
    Default,
    /// Never show a page: `login_required` without a session.
    None,
    /// Always ask for the password again.
    Login,
    /// Show the account-creation page (OpenID Connect Prompt Create 1.0), for an application
    /// that allows sign-up.
    Create,
}

/// A validated authorization request: what a code will be issued for once the user is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    /// The redirect URI to answer to (as presented, or the only registered one).
    pub redirect_uri: RedirectUri,
    pub scope: String,
    pub state: Option<State>,
    pub nonce: Option<Nonce>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The API identifier (checked against the registered APIs by the server).
    #[serde(default)]
    pub audience: Option<String>,
    /// The organization asked for, by id or name; after a pick on the hosted page, its id.
    #[serde(default)]
    pub organization: Option<String>,
    /// The hash of the `invitation` ticket, if the request carries one: only the hash is ever kept
    /// (the request is parked server side while the user signs in).
    #[serde(default)]
    pub invitation: Option<SecretHash>,
    /// The claims asked for individually (OIDC Core §5.5), if any.
    #[serde(default)]
    pub claims: Option<ClaimsRequest>,
    /// The weakest `acr` of `acr_values` that Latch knows (`Acr::requested`), if any.
    #[serde(default)]
    pub acr: Option<Acr>,
}

/// Why a request was refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Unknown client or unusable redirect URI: never redirect (RFC 6749 §4.1.2.1), show a page.
    Page(String),
    /// Tell the client at its redirect URI.
    Redirect {
        redirect_uri: RedirectUri,
        state: Option<State>,
        error: OAuthError,
    },
}

const MAX_PARAM: usize = 2048;

/// Validates the request against the application (`None` when the client is unknown).
pub fn validate(
    p: &AuthorizeParams,
    app: Option<&Application>,
) -> Result<AuthorizationRequest, AuthorizeError> {
    if p.duplicated
        .iter()
        .any(|d| d == "client_id" || d == "redirect_uri")
    {
        return Err(AuthorizeError::Page(
            "client_id and redirect_uri must appear once".into(),
        ));
    }
    let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(AuthorizeError::Page("the request has no client_id".into()));
    };
    let Some(app) = app else {
        return Err(AuthorizeError::Page("the application is unknown".into()));
    };
    let kind = app.application_type;
    let registered = &app.redirects.post_login;
    let redirect_uri = RedirectUri::new(match p.redirect_uri.as_deref() {
        Some(presented) => find_redirect_uri(registered, presented, kind)
            .map(|_| presented.to_owned())
            .ok_or_else(|| {
                AuthorizeError::Page(
                    "the redirect_uri is not registered for this application".into(),
                )
            })?,
        // RFC 6749 §3.1.2.3: optional only when exactly one is registered.
        None if registered.len() == 1 => registered[0].clone(),
        None => {
            return Err(AuthorizeError::Page(
                "the request has no redirect_uri".into(),
            ));
        }
    });
    // From here on, errors go back to the client.
    let state = p
        .state
        .clone()
        .filter(|s| !s.is_empty() && s.len() <= MAX_PARAM)
        .map(State::new);
    let fail = |code: ErrorCode, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error: OAuthError::new(code, description),
    };
    if let Some(d) = p.duplicated.first() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("parameter `{d}` is repeated"),
        ));
    }
    if p.request.is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if p.request_uri.is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if p.response_mode.as_deref().is_some_and(|m| m != "query") {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "only response_mode=query is supported",
        ));
    }
    if p.state.as_ref().is_some_and(|s| s.len() > MAX_PARAM) {
        return Err(fail(ErrorCode::InvalidRequest, "state is too long"));
    }
    let scope = ScopeSet::parse(p.scope.as_deref().unwrap_or(""))
        .map_err(|e| fail(e.code, &e.description))?;
    let audience = p.audience.clone().filter(|a| !a.is_empty());
    // API permissions are scopes of an API: without `audience` there is none to grant them.
    if audience.is_none()
        && let Some(first) = scope.permissions.first()
    {
        return Err(fail(
            ErrorCode::InvalidScope,
            &format!("`{first}` is an API permission; name the API with `audience`"),
        ));
    }
    let code_challenge = pkce::parse_challenge(
        p.code_challenge.as_deref(),
        p.code_challenge_method.as_deref(),
    )
    .map_err(|e| fail(e.code, &e.description))?;
    if code_challenge.is_none() && app.requires_pkce() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "code_challenge (PKCE, S256) is required for this application",
        ));
    }
    let prompt =
        parse_prompt(p.prompt.as_deref()).map_err(|d| fail(ErrorCode::InvalidRequest, d))?;
    // Prompt Create 1.0 §4.1: a prompt value the OP does not support for this client is
    // `invalid_request`.
    if prompt == Prompt::Create && !app.allow_signup {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=create: this application does not allow sign-up",
        ));
    }
    let max_age = match p.max_age.as_deref() {
        None | Some("") => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            )
        })?),
    };
    let too_long = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() > MAX_PARAM);
    if too_long(&p.nonce) || too_long(&p.login_hint) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "nonce or login_hint is too long",
        ));
    }
    if too_long(&p.audience) || too_long(&p.organization) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "audience or organization is too long",
        ));
    }
    if p.id_token_hint
        .as_ref()
        .is_some_and(|h| h.len() > 8 * MAX_PARAM)
    {
        return Err(fail(ErrorCode::InvalidRequest, "id_token_hint is too long"));
    }
    let organization = p.organization.clone().filter(|o| !o.is_empty());
    let invitation = match p.invitation.as_deref().filter(|i| !i.is_empty()) {
        None => None,
        // Auth0: the application forwards "the invitation and organization key-value pairs"
        // together; the ticket is checked against the organization by the server.
        Some(_) if organization.is_none() => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "`invitation` must come with `organization`",
            ));
        }
        Some(ticket) => Some(
            Secret::parse(ticket)
                .ok_or_else(|| fail(ErrorCode::InvalidRequest, "`invitation` is too long"))?
                .hash(),
        ),
    };
    let claims = match p.claims.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(ClaimsRequest::parse(c).map_err(|e| fail(e.code, &e.description))?),
        None => None,
    }
    .filter(|c| !c.is_empty());
    Ok(AuthorizationRequest {
        client_id: ClientId::new(client_id),
        redirect_uri,
        scope: scope.to_string(),
        state,
        nonce: p.nonce.clone().filter(|n| !n.is_empty()).map(Nonce::new),
        code_challenge,
        prompt,
        max_age,
        login_hint: p.login_hint.clone().filter(|h| !h.is_empty()),
        audience,
        organization,
        invitation,
        claims,
        acr: p.acr_values.as_deref().and_then(Acr::requested),
    })
}

/// OIDC Core §3.1.2.1: space-delimited; `none` must stand alone. `consent` and `select_account`
/// need no page here (first-party applications, one account per browser) and are accepted.
fn parse_prompt(prompt: Option<&str>) -> Result<Prompt, &'static str> {
    let Some(prompt) = prompt else {
        return Ok(Prompt::Default);
    };
    let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
    let mut result = Prompt::Default;
    for v in &values {
        match *v {
            "none" if values.len() == 1 => result = Prompt::None,
            "none" => return Err("prompt=none cannot be combined with other values"),
            "login" if result != Prompt::Create => result = Prompt::Login,
            "create" => result = Prompt::Create,
            "login" | "consent" | "select_account" => {}
            _ => return Err("unsupported prompt value"),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::application::{ApplicationType, Redirects};

    fn app(kind: ApplicationType, redirects: &[&str]) -> Application {
        Application {
            id: "a".into(),
            client_id: "client".into(),
            name: "App".into(),
            application_type: kind,
            management_api_access: false,
            enforce_pkce: kind != ApplicationType::Web,
            access_token_ttl_seconds: None,
            redirects: Redirects {
                post_login: redirects.iter().map(|s| s.to_string()).collect(),
                ..Redirects::default()
            },
            allowed_origins: vec![],
            id_token_signed_response_alg: crate::algorithm::Algorithm::RS256,
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

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("client".into()),
            redirect_uri: Some("https://app.example/cb".into()),
            scope: Some("openid email".into()),
            state: Some("xyz".into()),
            ..AuthorizeParams::default()
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn redirect_code(r: Result<AuthorizationRequest, AuthorizeError>) -> ErrorCode {
        match r {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("xyz"));
                error.code
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_web_request_passes() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let r = validate(&params(), Some(&web)).unwrap();
        assert_eq!(r.scope, "openid email");
        assert_eq!(r.prompt, Prompt::Default);
    }

    #[test]
    fn an_invitation_comes_with_its_organization_and_is_kept_only_as_a_hash() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let alone = AuthorizeParams {
            invitation: Some("ticket".into()),
            ..params()
        };
        assert_eq!(
            redirect_code(validate(&alone, Some(&web))),
            ErrorCode::InvalidRequest
        );
        let with_org = AuthorizeParams {
            organization: Some("org_1".into()),
            ..alone.clone()
        };
        let r = validate(&with_org, Some(&web)).unwrap();
        assert_eq!(r.invitation, Some(SecretHash::of(b"ticket")));
        let parked = serde_json::to_string(&r).unwrap();
        assert!(!parked.contains("\"ticket\""), "{parked}");
        let huge = AuthorizeParams {
            invitation: Some("x".repeat(513)),
            ..with_org
        };
        assert_eq!(
            redirect_code(validate(&huge, Some(&web))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn prompt_create_needs_an_application_that_allows_sign_up() {
        let mut web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let create = |prompt: &str| AuthorizeParams {
            prompt: Some(prompt.into()),
            ..params()
        };
        // Prompt Create 1.0 §4.1: unsupported for this client → invalid_request.
        assert_eq!(
            redirect_code(validate(&create("create"), Some(&web))),
            ErrorCode::InvalidRequest
        );
        web.allow_signup = true;
        for prompt in ["create", "login create", "create login", "create consent"] {
            let r = validate(&create(prompt), Some(&web)).unwrap();
            assert_eq!(r.prompt, Prompt::Create, "{prompt}");
        }
        assert_eq!(
            redirect_code(validate(&create("none create"), Some(&web))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn unknown_scopes_are_ignored_and_claims_are_kept() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let mut p = params();
        p.scope = Some("openid phone address".into());
        p.claims = Some(r#"{"userinfo":{"name":{"essential":true}}}"#.into());
        let r = validate(&p, Some(&web)).unwrap();
        assert_eq!(r.scope, "openid");
        let claims = r.claims.unwrap();
        assert!(claims.userinfo.contains("name") && claims.id_token.is_empty());
    }

    #[test]
    fn permissions_need_an_audience() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let mut p = params();
        p.scope = Some("openid read:messages".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidScope
        );
        p.audience = Some("https://api.example.com".into());
        p.organization = Some("acme".into());
        let r = validate(&p, Some(&web)).unwrap();
        assert_eq!(r.scope, "openid read:messages");
        assert_eq!(r.audience.as_deref(), Some("https://api.example.com"));
        assert_eq!(r.organization.as_deref(), Some("acme"));
    }

    #[test]
    fn a_login_request_stored_before_organizations_still_reads() {
        let old = r#"{"client_id":"c","redirect_uri":"https://a/cb","scope":"openid","state":null,
            "nonce":null,"code_challenge":null,"prompt":"Default","max_age":null,"login_hint":null}"#;
        let r: AuthorizationRequest = serde_json::from_str(old).unwrap();
        assert_eq!((r.audience, r.organization), (None, None));
    }

    #[test]
    fn unknown_clients_and_unregistered_redirects_are_never_redirected_to() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        assert!(matches!(
            validate(&params(), None),
            Err(AuthorizeError::Page(_))
        ));
        let mut p = params();
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert!(matches!(
            validate(&p, Some(&web)),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn redirect_uri_may_be_omitted_only_when_one_is_registered() {
        let mut p = params();
        p.redirect_uri = None;
        let one = app(ApplicationType::Web, &["https://app.example/cb"]);
        assert_eq!(
            validate(&p, Some(&one)).unwrap().redirect_uri,
            "https://app.example/cb"
        );
        let two = app(
            ApplicationType::Web,
            &["https://app.example/cb", "https://app.example/b"],
        );
        assert!(matches!(
            validate(&p, Some(&two)),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn public_clients_must_send_an_s256_challenge() {
        let spa = app(ApplicationType::Spa, &["https://app.example/cb"]);
        assert_eq!(
            redirect_code(validate(&params(), Some(&spa))),
            ErrorCode::InvalidRequest
        );
        let mut p = params();
        p.code_challenge = Some(CHALLENGE.into());
        p.code_challenge_method = Some("plain".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&spa))),
            ErrorCode::InvalidRequest
        );
        p.code_challenge_method = Some("S256".into());
        assert_eq!(
            validate(&p, Some(&spa)).unwrap().code_challenge.as_deref(),
            Some(CHALLENGE)
        );
    }

    #[test]
    fn protocol_errors_carry_their_registered_codes() {
        let web = app(ApplicationType::Web, &["https://app.example/cb"]);
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::UnsupportedResponseType
        );
        let mut p = params();
        p.scope = Some("openid \"admin\"".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidScope
        );
        let mut p = params();
        p.claims = Some("{\"userinfo\":".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidRequest
        );
        let mut p = params();
        p.request = Some("eyJ...".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::RequestNotSupported
        );
        let mut p = params();
        p.request_uri = Some("https://x".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::RequestUriNotSupported
        );
        let mut p = params();
        p.prompt = Some("none login".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidRequest
        );
        let mut p = params();
        p.max_age = Some("-1".into());
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidRequest
        );
        let mut p = params();
        p.duplicated = vec!["scope".into()];
        assert_eq!(
            redirect_code(validate(&p, Some(&web))),
            ErrorCode::InvalidRequest
        );
    }
}
