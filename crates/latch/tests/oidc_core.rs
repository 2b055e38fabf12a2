//! Issue 15, end to end: the last OpenID Connect Core gaps. Unknown scopes are ignored,
//! `error_description` keeps to RFC 6749's characters, the `claims` parameter (§5.5),
//! `id_token_hint` at the authorization endpoint (§3.1.2.1), third-party-initiated login after an
//! invitation (§4), and HSTS on an https issuer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{Browser, LatchServer};
use serde_json::{Value, json};
use support::*;

const REDIRECT: &str = "http://127.0.0.1:7001/cb";

fn claims_of(jwt: &Value) -> Value {
    jwt_parts(jwt.as_str().unwrap()).1
}

/// RFC 6749 §4.1.2.1 / §5.2: `%x20-21 / %x23-5B / %x5D-7E`.
fn assert_allowed(description: &str, context: &str) {
    assert!(
        description
            .bytes()
            .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
        "{context}: {description:?}"
    );
}

/// The error redirect of an authorization request (`extra` appended to a valid one).
async fn authorize_error(server: &LatchServer, app: &App, extra: &str) -> url::Url {
    let auth = authorization(&rp(server, app).await, &[]);
    let url = format!("{}{extra}", auth.url);
    let callback = Browser::new()
        .authorize(&url, &app.redirect_uri)
        .await
        .expect_redirect();
    assert!(param(&callback, "error").is_some(), "{extra}: {callback}");
    callback
}

#[tokio::test]
async fn unknown_scopes_are_ignored_and_discovery_lists_the_claims_parameter() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &["phone", "address", "email"]);
    let browser = Browser::new();
    let code = sign_in_for_code(&server, &browser, &auth, REDIRECT).await;
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    assert_eq!(tokens["scope"], "openid email", "{tokens}");
    assert_eq!(claims_of(&tokens["id_token"])["email"], EMAIL);

    let discovery: Value = latch_testkit::rp::reqwest_client()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["claims_parameter_supported"], true);
    let supported = discovery["claims_supported"].as_array().unwrap();
    for c in [
        "name",
        "email",
        "email_verified",
        "given_name",
        "family_name",
    ] {
        assert!(supported.contains(&json!(c)), "{c}");
    }
    let methods = &discovery["introspection_endpoint_auth_methods_supported"];
    assert!(methods.as_array().unwrap().contains(&json!("none")));
}

/// Every error path reached with hostile input answers with a description in RFC 6749's set,
/// at the authorization endpoint's redirect and the token endpoint alike.
#[tokio::test]
async fn error_descriptions_keep_to_the_characters_rfc_6749_allows() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let hostile = "%22%5C%0A%C3%A9%3Cx%3E";
    let authorize_cases = [
        format!("&scope=openid%20{hostile}"),
        format!("&claims=%7B{hostile}"),
        format!("&prompt={hostile}"),
        format!("&max_age={hostile}"),
        format!("&response_mode={hostile}"),
        format!("&id_token_hint={hostile}"),
        format!("&audience={hostile}"),
        format!("&scope=openid%20read:{hostile}"),
        "&request=x".to_owned(),
        "&nonce=a&nonce=b".to_owned(),
    ];
    for extra in &authorize_cases {
        let callback = authorize_error(&server, &web, extra).await;
        let description = param(&callback, "error_description").unwrap_or_default();
        assert_allowed(&description, extra);
        assert!(!description.contains("<x>"), "{extra}: {description}");
    }
    let secret = web.client_secret.clone().unwrap();
    let basic = Some((web.client_id.as_str(), secret.as_str()));
    let hostile = "\"\\\né<x>";
    let token_cases: [&[(&str, &str)]; 6] = [
        &[("grant_type", hostile)],
        &[("grant_type", "authorization_code"), ("code", hostile)],
        &[("grant_type", "refresh_token"), ("refresh_token", hostile)],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("scope", hostile),
        ],
        &[("grant_type", "authorization_code")],
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "b"),
        ],
    ];
    for form in token_cases {
        let (status, body, _) = token(&server, form, basic).await;
        assert!(status >= 400, "{form:?}: {body}");
        let description = body["error_description"].as_str().unwrap_or_default();
        assert_allowed(description, &format!("{form:?}"));
    }
    let (status, body, _) = token(&server, &[("grant_type", "x")], Some((hostile, "s"))).await;
    assert_eq!(status, 401, "{body}");
    assert_allowed(body["error_description"].as_str().unwrap(), "client id");
}

/// OIDC Core §5.5: claims asked for individually come back whatever the scope — at userinfo and
/// in the ID token — and again after a refresh; malformed JSON is `invalid_request`.
#[tokio::test]
async fn the_claims_parameter_returns_the_claims_asked_for_and_survives_the_refresh() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let asked =
        r#"{"userinfo":{"name":{"essential":true},"phone_number":null},"id_token":{"email":null}}"#;
    let auth = authorization(&rp(&server, &web).await, &["offline_access"]);
    let url = format!("{}&claims={}", auth.url, urlencoding(asked));
    let callback = Browser::new()
        .sign_in(&url, REDIRECT, EMAIL, PASSWORD)
        .await;
    let code = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    let check = |tokens: &Value| {
        let id = claims_of(&tokens["id_token"]);
        assert_eq!(id["email"], EMAIL, "{id}");
        assert!(
            id.get("name").is_none(),
            "name was asked at userinfo only: {id}"
        );
    };
    check(&tokens);
    let (status, info) = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(info["name"], "Ada Lovelace", "{info}");
    assert!(
        info.get("email").is_none() && info.get("phone_number").is_none(),
        "{info}"
    );

    let secret = web.client_secret.clone().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let (status, refreshed, _) = token(&server, &form, Some((&web.client_id, &secret))).await;
    assert_eq!(status, 200, "{refreshed}");
    check(&refreshed);
    let (_, info) = userinfo(&server, refreshed["access_token"].as_str().unwrap()).await;
    assert_eq!(info["name"], "Ada Lovelace", "{info}");

    for bad in [
        "%7B%22userinfo%22",
        "%5B%5D",
        "%7B%22id_token%22%3A%5B%5D%7D",
    ] {
        let callback = authorize_error(&server, &web, &format!("&claims={bad}")).await;
        assert_eq!(
            param(&callback, "error").as_deref(),
            Some("invalid_request")
        );
    }
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// OIDC Core §3.1.2.1: with `prompt=none`, a hint naming another user than the session's is
/// `login_required`; a forged hint is `invalid_request`; the session's own user gets a code.
#[tokio::test]
async fn id_token_hint_at_authorize_names_the_user_expected() {
    let server = server().await;
    server
        .cli(&[
            "users",
            "create",
            "--email",
            "grace@example.com",
            "--password",
            PASSWORD,
        ])
        .await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let client = rp(&server, &web).await;
    let (ada, grace) = (Browser::new(), Browser::new());
    let hint_of = |browser: &Browser, email: &'static str| {
        let auth = authorization(&client, &[]);
        let (server, web) = (&server, &web);
        let browser = browser.clone();
        async move {
            let callback = browser.sign_in(&auth.url, REDIRECT, email, PASSWORD).await;
            let code = callback_code(server, &callback, &auth);
            exchange(server, web, code.secret(), auth).await["id_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let ada_hint = hint_of(&ada, EMAIL).await;
    let grace_hint = hint_of(&grace, "grace@example.com").await;

    let attempt = |hint: String| {
        let auth = authorization(&client, &[]);
        let url = format!("{}&prompt=none&id_token_hint={hint}", auth.url);
        let ada = ada.clone();
        async move { (ada.authorize(&url, REDIRECT).await.expect_redirect(), auth) }
    };
    let (callback, _) = attempt(grace_hint).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("login_required"));
    let mut forged = ada_hint.clone();
    forged.pop();
    forged.push(if ada_hint.ends_with('A') { 'B' } else { 'A' });
    let (callback, _) = attempt(forged).await;
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    let (callback, _) = attempt("not.a.jwt".to_owned()).await;
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    let (callback, auth) = attempt(ada_hint).await;
    callback_code(&server, &callback, &auth);
}

/// OIDC Core §4: an invitation naming an application leads, once accepted on the hosted page, to
/// the application's initiate-login URL with `iss` and `login_hint`, the new member signed in.
/// (The application registered that URL after the invitation was sent: invitations sent once it
/// has one go through the application, see `app_invitations.rs`.)
#[tokio::test]
async fn an_accepted_invitation_lands_on_the_applications_initiate_login_url() {
    let server = server().await;
    let start = "http://127.0.0.1:7005/start";
    let web = app(&server, "web", REDIRECT, &[]).await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let management = management_token(&server, &admin).await;
    let call = |path: &str, body: Value| {
        latch_testkit::rp::reqwest_client()
            .post(server.url(&format!("/api/v1{path}")))
            .bearer_auth(&management)
            .json(&body)
            .send()
    };
    let org: Value = call("/organizations", json!({"name": "acme"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let invitations = format!("/organizations/{}/invitations", org["id"].as_str().unwrap());
    let resp = call(
        &invitations,
        json!({"email": "grace@example.com", "client_id": "nope"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 422, "an unknown application is refused");
    let body = json!({"email": "grace@example.com", "client_id": web.client_id});
    let created: Value = call(&invitations, body)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let link = created["url"].as_str().unwrap();
    let patched = latch_testkit::rp::reqwest_client()
        .patch(server.url(&format!("/api/v1/applications/{}", web.id)))
        .bearer_auth(&management)
        .json(&json!({"redirects": {"initiate_login": start}}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);

    let browser = Browser::new();
    let (page, status, html) = browser.authorize(link, start).await.expect_page();
    assert_eq!(status, 200, "{html}");
    let landed = browser
        .submit_login_form(&page, &html, "grace@example.com", PASSWORD, start)
        .await
        .expect_redirect();
    assert_eq!(param(&landed, "iss").as_deref(), Some(server.issuer()));
    assert_eq!(
        param(&landed, "login_hint").as_deref(),
        Some("grace@example.com")
    );
    // What the application does next: an authorization request, answered from the new session.
    let auth = authorization(&rp(&server, &web).await, &[]);
    let callback = browser
        .authorize(&auth.url, REDIRECT)
        .await
        .expect_redirect();
    callback_code(&server, &callback, &auth);
}

/// RFC 6797: an https issuer's every response carries HSTS; an http (loopback) one's does not.
#[tokio::test]
async fn an_https_issuer_sends_strict_transport_security_on_every_response() {
    let port = latch_testkit::free_port();
    let https = LatchServer::builder(bin())
        .port(port)
        .env("LATCH_ISSUER", format!("https://127.0.0.1:{port}"))
        .start()
        .await;
    let http = server().await;
    let client = latch_testkit::rp::reqwest_client();
    for path in [
        "/healthz",
        "/.well-known/openid-configuration",
        "/nowhere",
        "/userinfo",
    ] {
        let resp = client
            .get(format!("http://{}{path}", https.listen()))
            .send()
            .await
            .unwrap();
        let hsts = resp.headers().get("strict-transport-security");
        assert_eq!(
            hsts.map(|v| v.to_str().unwrap()),
            Some("max-age=31536000"),
            "{path}"
        );
        let resp = client.get(http.url(path)).send().await.unwrap();
        assert!(
            resp.headers().get("strict-transport-security").is_none(),
            "{path}"
        );
    }
}
