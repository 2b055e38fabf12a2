//! Logout end to end: RP-initiated logout at `/oidc/logout` (OpenID Connect RP-Initiated Logout
//! 1.0), back-channel logout tokens delivered to real receivers on loopback (Back-Channel Logout
//! 1.0), and what an ended session leaves behind: nothing that works.
// Test code reports failures by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use latch_testkit::html::parse_forms;
use latch_testkit::{AuthorizeStep, BackchannelReceiver, Browser, LatchServer};
use openidconnect::core::{
    CoreGenderClaim, CoreIdToken, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, CsrfToken, IdToken, JsonWebTokenType, LogoutRequest, Nonce,
    OAuth2TokenResponse, PostLogoutRedirectUrl, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::*;

const SIGNED_OUT_URI: &str = "http://127.0.0.1:7001/signed-out";
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What an application holds after signing a user in.
struct SignedIn {
    id_token: CoreIdToken,
    sid: String,
    sub: String,
    refresh_token: Option<String>,
}

/// Signs in to `app` in `browser`: with the password when `password` is true, else by SSO.
async fn sign_in(
    server: &LatchServer,
    browser: &Browser,
    app: &App,
    scopes: &[&str],
    password: bool,
) -> SignedIn {
    let client = rp(server, app).await;
    let auth = authorization(&client, scopes);
    let code = if password {
        sign_in_for_code(server, browser, &auth, &app.redirect_uri).await
    } else {
        let callback = browser
            .authorize(&auth.url, &app.redirect_uri)
            .await
            .expect_redirect();
        callback_code(server, &callback, &auth)
    };
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(auth.verifier)
        .request_async(&latch_testkit::rp::http_client)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("an ID token").clone();
    id_token
        .claims(&client.id_token_verifier(), &auth.nonce)
        .expect("a valid ID token");
    let (_, raw) = jwt_parts(&id_token.to_string());
    SignedIn {
        id_token,
        sid: raw["sid"].as_str().expect("sid").to_owned(),
        sub: raw["sub"].as_str().expect("sub").to_owned(),
        refresh_token: tokens.refresh_token().map(|t| t.secret().clone()),
    }
}

/// A web application with a post-logout URI, one signed-in browser, and a refresh token.
async fn signed_in_with_refresh_token(server: &LatchServer) -> (App, Browser, SignedIn) {
    let web = app(
        server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--post-logout-uri", SIGNED_OUT_URI],
    )
    .await;
    let browser = Browser::new();
    let signed = sign_in(server, &browser, &web, &["offline_access"], true).await;
    assert!(signed.refresh_token.is_some());
    (web, browser, signed)
}

/// Uses the refresh token; on success keeps its successor.
async fn refresh(server: &LatchServer, app: &App, refresh_token: &mut String) -> (u16, Value) {
    let secret = app.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let (status, body, _) = token(server, &form, Some((&app.client_id, &secret))).await;
    if let Some(next) = body["refresh_token"].as_str() {
        *refresh_token = next.to_owned();
    }
    (status, body)
}

async fn assert_session_alive(
    server: &LatchServer,
    browser: &Browser,
    app: &App,
    refresh_token: &mut String,
) {
    let (status, body) = refresh(server, app, refresh_token).await;
    assert_eq!(
        status, 200,
        "the session's refresh token should still work: {body}"
    );
    let client = rp(server, app).await;
    let auth = authorization(&client, &[]);
    let step = browser.authorize(&auth.url, &app.redirect_uri).await;
    callback_code(server, &step.expect_redirect(), &auth);
}

fn logout_url(server: &LatchServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&server.url("/oidc/logout")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A refusal: an error page, no redirect.
fn assert_refused(step: AuthorizeStep, what: &str) {
    let (url, status, html) = step.expect_page();
    assert_eq!(status, 400, "{what}: {url}\n{html}");
    assert!(!html.contains("You are signed out"), "{what}");
}

#[derive(Debug, Deserialize, Serialize)]
struct LogoutClaims {
    sid: String,
    jti: String,
    events: serde_json::Map<String, Value>,
}
impl AdditionalClaims for LogoutClaims {}
type LogoutToken = IdToken<
    LogoutClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Back-Channel Logout 1.0 §2.6: checks the token with `openidconnect`'s JWT machinery (signature
/// against `/keys`, `iss`, `aud`, `exp`, `iat`, `typ: logout+jwt`, no `nonce`) and the claims a
/// receiver relies on.
async fn assert_valid_logout_token(server: &LatchServer, app: &App, raw: &str, signed: &SignedIn) {
    let (header, claims) = jwt_parts(raw);
    assert_eq!(header["typ"], "logout+jwt");
    let typ = JsonWebTokenType::new("logout+jwt".into())
        .normalize()
        .unwrap();
    let client = rp(server, app).await;
    let verifier = client.id_token_verifier().set_allowed_jose_types([typ]);
    let token: LogoutToken = raw.parse().expect("a JWT");
    let no_nonce =
        |n: Option<&Nonce>| n.map_or(Ok(()), |_| Err("a logout token has no nonce".to_owned()));
    let verified = token
        .claims(&verifier, no_nonce)
        .expect("a logout token that validates");
    assert_eq!(verified.subject().as_str(), signed.sub);
    assert_eq!(
        verified.additional_claims().sid,
        signed.sid,
        "sid equals the ID token's sid"
    );
    assert!(!verified.additional_claims().jti.is_empty());
    assert_eq!(
        Value::Object(verified.additional_claims().events.clone()),
        json!({ LOGOUT_EVENT: {} })
    );
    assert_eq!(claims["iss"], server.issuer());
    assert_eq!(claims["aud"], app.client_id.as_str());
    assert!(
        claims.get("nonce").is_none(),
        "§2.4: a logout token MUST NOT contain a nonce"
    );
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(
        (1..=300).contains(&lifetime),
        "a short lifetime: {lifetime}"
    );
}

#[tokio::test]
async fn logout_notifies_both_apps_of_the_session_with_tokens_that_validate_and_redirects_with_state()
 {
    let server = server().await;
    let (to_web, to_spa) = (
        BackchannelReceiver::start().await,
        BackchannelReceiver::start().await,
    );
    let web_flags = [
        "--backchannel-logout-uri",
        &to_web.url("/bc"),
        "--post-logout-uri",
        SIGNED_OUT_URI,
    ];
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &web_flags).await;
    let spa = app(
        &server,
        "spa",
        "http://127.0.0.1:7002/cb",
        &["--backchannel-logout-uri", &to_spa.url("/logout")],
    )
    .await;
    let browser = Browser::new();
    let at_web = sign_in(&server, &browser, &web, &[], true).await;
    let at_spa = sign_in(&server, &browser, &spa, &[], false).await;
    assert_eq!(at_web.sid, at_spa.sid, "one session");

    let metadata = latch_testkit::rp::discover_with_logout(server.issuer()).await;
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let url = LogoutRequest::from(end_session)
        .set_id_token_hint(&at_web.id_token)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(SIGNED_OUT_URI.into()).unwrap())
        .set_state(CsrfToken::new("st-42".into()))
        .http_get_url();
    let back = browser
        .authorize(url.as_str(), SIGNED_OUT_URI)
        .await
        .expect_redirect();
    assert_eq!(param(&back, "state").as_deref(), Some("st-42"), "{back}");

    for (receiver, app, signed, path) in [
        (&to_web, &web, &at_web, "/bc"),
        (&to_spa, &spa, &at_spa, "/logout"),
    ] {
        let got = receiver.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(got[0].path, path);
        let content_type = got[0].header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/x-www-form-urlencoded"),
            "{content_type}"
        );
        let token = got[0]
            .logout_token
            .as_deref()
            .expect("a logout_token field");
        assert_valid_logout_token(&server, app, token, signed).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        to_web.attempts().len() + to_spa.attempts().len(),
        2,
        "each app is notified once"
    );
}

#[tokio::test]
async fn after_logout_the_refresh_tokens_fail_and_authorize_asks_for_the_password_again() {
    let server = server().await;
    let (web, browser, signed) = signed_in_with_refresh_token(&server).await;
    let mut refresh_token = signed.refresh_token.clone().unwrap();
    assert_session_alive(&server, &browser, &web, &mut refresh_token).await;

    let hint = signed.id_token.to_string();
    let (_, status, html) = browser
        .authorize(
            &logout_url(&server, &[("id_token_hint", &hint)]),
            SIGNED_OUT_URI,
        )
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(html.contains("You are signed out"), "{html}");

    let (status, body) = refresh(&server, &web, &mut refresh_token).await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    let auth = authorization(&rp(&server, &web).await, &[]);
    assert!(
        browser
            .authorize(&auth.url, &web.redirect_uri)
            .await
            .is_login_page(),
        "the password is asked again"
    );
}

/// Codes carry their session: one issued before the logout and exchanged after it is refused,
/// and issues no refresh token that the logout would have missed.
#[tokio::test]
async fn a_code_issued_before_logout_is_refused_after_it() {
    let server = server().await;
    let (web, browser, signed) = signed_in_with_refresh_token(&server).await;
    let auth = authorization(&rp(&server, &web).await, &["offline_access"]);
    let callback = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);

    let hint = signed.id_token.to_string();
    let (_, status, _) = browser
        .authorize(
            &logout_url(&server, &[("id_token_hint", &hint)]),
            SIGNED_OUT_URI,
        )
        .await
        .expect_page();
    assert_eq!(status, 200);

    let secret = web.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.secret().as_str()),
        ("redirect_uri", web.redirect_uri.as_str()),
        ("code_verifier", auth.verifier.secret().as_str()),
    ];
    for _ in 0..2 {
        let (status, body, _) = token(&server, &form, Some((&web.client_id, &secret))).await;
        assert_oauth_error(status, &body, 400, "invalid_grant");
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("session")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_gets_the_notification_with_growing_delays() {
    let server = server().await;
    let receiver = BackchannelReceiver::start().await;
    receiver.fail_first(3);
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    let browser = Browser::new();
    let signed = sign_in(&server, &browser, &web, &[], true).await;
    let hint = signed.id_token.to_string();
    browser
        .authorize(
            &logout_url(&server, &[("id_token_hint", &hint)]),
            SIGNED_OUT_URI,
        )
        .await
        .expect_page();

    let got = receiver.wait_for(1, Duration::from_secs(40)).await;
    assert_valid_logout_token(
        &server,
        &web,
        got[0].logout_token.as_deref().unwrap(),
        &signed,
    )
    .await;
    let attempts = receiver.attempts();
    let statuses: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] < Duration::from_secs(10),
        "the first retry comes within 10 s: {gaps:?}"
    );
    assert!(gaps[2] > gaps[0], "the delay grows: {gaps:?}");
}

#[tokio::test]
async fn a_receiver_down_across_a_server_restart_gets_the_notification_after_it() {
    let mut server = server().await;
    let mut receiver = BackchannelReceiver::start().await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    let browser = Browser::new();
    let signed = sign_in(&server, &browser, &web, &[], true).await;
    receiver.stop().await;
    let hint = signed.id_token.to_string();
    browser
        .authorize(
            &logout_url(&server, &[("id_token_hint", &hint)]),
            SIGNED_OUT_URI,
        )
        .await
        .expect_page();
    let tried = server
        .wait_for_log(
            "back-channel logout delivery failed",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        tried,
        "a failed attempt before the restart:\n{}",
        server.logs()
    );

    server.restart().await;
    receiver.start_again().await;
    let got = receiver.wait_for(1, Duration::from_secs(30)).await;
    assert_valid_logout_token(
        &server,
        &web,
        got[0].logout_token.as_deref().unwrap(),
        &signed,
    )
    .await;
}

#[tokio::test]
async fn a_post_logout_uri_not_on_the_list_is_refused_and_ends_nothing() {
    let server = server().await;
    let (web, browser, signed) = signed_in_with_refresh_token(&server).await;
    let mut refresh_token = signed.refresh_token.clone().unwrap();
    let hint = signed.id_token.to_string();
    for uri in [
        "https://evil.example/cb",
        "http://127.0.0.1:7001/signed-out/",
        "http://127.0.0.1:7001/cb",
    ] {
        let url = logout_url(
            &server,
            &[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", uri),
                ("state", "s"),
            ],
        );
        assert_refused(browser.authorize(&url, uri).await, uri);
        let url = logout_url(
            &server,
            &[
                ("client_id", &web.client_id),
                ("post_logout_redirect_uri", uri),
            ],
        );
        assert_refused(browser.authorize(&url, uri).await, uri);
        assert_session_alive(&server, &browser, &web, &mut refresh_token).await;
    }
    // A client_id other than the hint's audience is refused too, even with a listed URI.
    let other = app(
        &server,
        "web",
        "http://127.0.0.1:7003/cb",
        &["--post-logout-uri", SIGNED_OUT_URI],
    )
    .await;
    let params = [
        ("id_token_hint", hint.as_str()),
        ("client_id", &other.client_id),
        ("post_logout_redirect_uri", SIGNED_OUT_URI),
    ];
    assert_refused(
        browser
            .authorize(&logout_url(&server, &params), SIGNED_OUT_URI)
            .await,
        "client_id mismatch",
    );
    assert_session_alive(&server, &browser, &web, &mut refresh_token).await;
}

#[tokio::test]
async fn a_forged_id_token_hint_is_refused_and_ends_nothing() {
    let server = server().await;
    let (web, browser, signed) = signed_in_with_refresh_token(&server).await;
    let mut refresh_token = signed.refresh_token.clone().unwrap();
    let real = signed.id_token.to_string();
    let parts: Vec<&str> = real.split('.').collect();
    let (_, mut claims) = jwt_parts(&real);
    claims["aud"] = json!("someone-else");
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let swapped_payload = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        parts[1]
    );
    let (status, tokens) = refresh(&server, &web, &mut refresh_token).await;
    assert_eq!(status, 200, "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    for (what, hint) in [
        ("altered payload", &swapped_payload),
        ("alg none", &unsigned),
        ("an access token", &access_token),
    ] {
        let url = logout_url(
            &server,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", SIGNED_OUT_URI),
            ],
        );
        assert_refused(browser.authorize(&url, SIGNED_OUT_URI).await, what);
        assert_refused(
            browser
                .authorize(
                    &logout_url(&server, &[("id_token_hint", hint)]),
                    SIGNED_OUT_URI,
                )
                .await,
            what,
        );
        assert_session_alive(&server, &browser, &web, &mut refresh_token).await;
    }
}

#[tokio::test]
async fn a_confirmation_post_without_a_valid_csrf_token_is_refused_and_ends_nothing() {
    let server = server().await;
    let (web, browser, signed) = signed_in_with_refresh_token(&server).await;
    let mut refresh_token = signed.refresh_token.clone().unwrap();
    // No hint: the request cannot be tied to this session, so the user is asked.
    let params = [
        ("client_id", web.client_id.as_str()),
        ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ("state", "st"),
    ];
    let (page, status, html) = browser
        .authorize(&logout_url(&server, &params), SIGNED_OUT_URI)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
    let form = parse_forms(&html)
        .into_iter()
        .find(|f| f.method == "post")
        .expect("a confirmation form");
    assert!(
        form.get("csrf_token").is_some_and(|t| !t.is_empty()),
        "{form:?}"
    );
    assert_session_alive(&server, &browser, &web, &mut refresh_token).await;

    let mut without = form.clone();
    without.fields.retain(|(k, _)| k != "csrf_token");
    assert_refused(
        browser.submit_form(&page, &without, SIGNED_OUT_URI).await,
        "no csrf_token",
    );
    let mut tampered = form.clone();
    let value = form.get("csrf_token").unwrap();
    // A different first character (the last one of a base64url MAC carries only a few bits, so
    // replacing it with a fixed letter left it unchanged one time in sixteen).
    let first = if value.starts_with('A') { "B" } else { "A" };
    tampered.set("csrf_token", &format!("{first}{}", &value[1..]));
    assert_refused(
        browser.submit_form(&page, &tampered, SIGNED_OUT_URI).await,
        "tampered csrf_token",
    );
    // Another signed-in browser cannot use this browser's form: the token is bound to the cookie.
    let other = Browser::new();
    let mut other_refresh = sign_in(&server, &other, &web, &["offline_access"], true)
        .await
        .refresh_token
        .unwrap();
    assert_refused(
        other.submit_form(&page, &form, SIGNED_OUT_URI).await,
        "another browser",
    );
    assert_session_alive(&server, &browser, &web, &mut refresh_token).await;
    assert_session_alive(&server, &other, &web, &mut other_refresh).await;

    // The form as served, from its own browser, signs out and redirects with state.
    let back = browser
        .submit_form(&page, &form, SIGNED_OUT_URI)
        .await
        .expect_redirect();
    assert_eq!(param(&back, "state").as_deref(), Some("st"));
    let (status, body) = refresh(&server, &web, &mut refresh_token).await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    assert_session_alive(&server, &other, &web, &mut other_refresh).await;
}

#[tokio::test]
async fn a_hint_for_another_session_asks_first_and_then_ends_only_this_browsers_session() {
    let server = server().await;
    let (web, first, signed_first) = signed_in_with_refresh_token(&server).await;
    let mut first_refresh = signed_first.refresh_token.clone().unwrap();
    let second = Browser::new();
    let signed_second = sign_in(&server, &second, &web, &["offline_access"], true).await;
    let mut second_refresh = signed_second.refresh_token.clone().unwrap();
    assert_ne!(signed_first.sid, signed_second.sid);

    let hint = signed_first.id_token.to_string();
    let params = [
        ("id_token_hint", hint.as_str()),
        ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ("state", "x"),
    ];
    let (page, status, html) = second
        .authorize(&logout_url(&server, &params), SIGNED_OUT_URI)
        .await
        .expect_page();
    assert_eq!(status, 200);
    let form = parse_forms(&html)
        .into_iter()
        .find(|f| f.method == "post")
        .expect("a confirmation form");
    assert_session_alive(&server, &second, &web, &mut second_refresh).await;

    let back = second
        .submit_form(&page, &form, SIGNED_OUT_URI)
        .await
        .expect_redirect();
    assert_eq!(param(&back, "state").as_deref(), Some("x"));
    let (status, body) = refresh(&server, &web, &mut second_refresh).await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    assert_session_alive(&server, &first, &web, &mut first_refresh).await;
}

#[tokio::test]
async fn without_a_session_logout_says_signed_out_or_redirects_and_repeated_parameters_are_refused()
{
    let server = server().await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--post-logout-uri", SIGNED_OUT_URI],
    )
    .await;
    let browser = Browser::new();
    let (_, status, html) = browser
        .authorize(&server.url("/oidc/logout"), SIGNED_OUT_URI)
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(html.contains("You are signed out"));
    let params = [
        ("client_id", web.client_id.as_str()),
        ("post_logout_redirect_uri", SIGNED_OUT_URI),
        ("state", "z"),
    ];
    let back = browser
        .authorize(&logout_url(&server, &params), SIGNED_OUT_URI)
        .await
        .expect_redirect();
    assert_eq!(param(&back, "state").as_deref(), Some("z"));
    let repeated = format!("{}&state=again", logout_url(&server, &params));
    assert_refused(
        browser.authorize(&repeated, SIGNED_OUT_URI).await,
        "repeated state",
    );
    let (status, _, _) = post_form(
        &server,
        "/oidc/logout",
        &[("state", "a"), ("state", "b")],
        None,
    )
    .await;
    assert_eq!(status, 400);
}

/// Issue 5: on PostgreSQL with two server processes, 200 sessions ended at once produce exactly
/// one delivery per session and application, none twice.
#[tokio::test]
async fn two_nodes_on_postgres_deliver_each_notification_of_200_ended_sessions_once() {
    let Some(db) = latch_testkit::PostgresTestDb::create("logout_two_nodes") else {
        return;
    };
    let key = latch_testkit::random_master_key();
    let node = || {
        LatchServer::builder(bin())
            .database_url(db.url())
            .env("LATCH_MASTER_KEY", key.as_str())
            .start()
    };
    let (one, two) = (node().await, node().await);
    let user = one
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let user_id = user["id"].as_str().unwrap().to_owned();
    let (to_a, to_b) = (
        BackchannelReceiver::start().await,
        BackchannelReceiver::start().await,
    );
    let a = app(
        &one,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &to_a.url("/bc")],
    )
    .await;
    let b = app(
        &one,
        "spa",
        "http://127.0.0.1:7002/cb",
        &["--backchannel-logout-uri", &to_b.url("/bc")],
    )
    .await;
    let admin = app(
        &one,
        "web",
        "http://127.0.0.1:7003/cb",
        &["--management-api"],
    )
    .await;
    let clients = std::sync::Arc::new((rp(&one, &a).await, rp(&one, &b).await));
    let one = std::sync::Arc::new(one);

    const SESSIONS: usize = 200;
    for _ in 0..SESSIONS / 8 {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (server, clients, a, b) = (
                one.clone(),
                clients.clone(),
                a.redirect_uri.clone(),
                b.redirect_uri.clone(),
            );
            tasks.spawn(async move {
                let browser = Browser::new();
                let auth = authorization(&clients.0, &[]);
                sign_in_for_code(&server, &browser, &auth, &a).await;
                let auth = authorization(&clients.1, &[]);
                callback_code(
                    &server,
                    &browser.authorize(&auth.url, &b).await.expect_redirect(),
                    &auth,
                );
            });
        }
        tasks.join_all().await;
    }
    let secret = admin.client_secret.clone().unwrap();
    let form = [("grant_type", "client_credentials")];
    let (status, body, _) = token(&one, &form, Some((&admin.client_id, &secret))).await;
    assert_eq!(status, 200, "{body}");
    let ended = latch_testkit::rp::reqwest_client()
        .delete(one.url(&format!("/api/v1/users/{user_id}/sessions")))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);

    let got_a = to_a.wait_for(SESSIONS, Duration::from_secs(60)).await;
    let got_b = to_b.wait_for(SESSIONS, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (receiver, got) in [(&to_a, &got_a), (&to_b, &got_b)] {
        let sids: std::collections::HashSet<String> = got
            .iter()
            .map(|r| {
                jwt_parts(r.logout_token.as_deref().unwrap()).1["sid"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(sids.len(), SESSIONS, "one notification per session");
        assert_eq!(receiver.attempts().len(), SESSIONS, "none sent twice");
    }
    drop(two);
}
