//! Every refusal of the authorization and token endpoints, with its exact error code, and the
//! refresh token's rotation, reuse detection and grace window.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{Browser, LatchServer};
use support::*;

/// Signs in and returns a fresh code for `app` with `scopes`, plus its PKCE verifier.
async fn code_for(
    server: &LatchServer,
    browser: &Browser,
    app: &App,
    scopes: &[&str],
) -> (String, String) {
    let client = rp(server, app).await;
    let auth = authorization(&client, scopes);
    let step = browser.authorize(&auth.url, &app.redirect_uri).await;
    let callback = if step.is_login_page() {
        browser
            .sign_in(&auth.url, &app.redirect_uri, EMAIL, PASSWORD)
            .await
    } else {
        step.expect_redirect()
    };
    let code = callback_code(server, &callback, &auth);
    (code.secret().clone(), auth.verifier.secret().clone())
}

fn exchange_form<'a>(app: &'a App, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &app.redirect_uri),
        ("code_verifier", verifier),
        ("client_id", &app.client_id),
    ]
}

fn basic(app: &App) -> Option<(&str, &str)> {
    app.client_secret
        .as_deref()
        .map(|s| (app.client_id.as_str(), s))
}

#[tokio::test]
async fn authorization_errors_redirect_with_their_codes_or_show_a_page() {
    let server = server().await;
    let spa = app(&server, "spa", "http://127.0.0.1:7002/cb", &[]).await;
    let browser = Browser::new();
    let base = |extra: &str| {
        format!(
            "{}/oauth/authorize?client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A7002%2Fcb&state=s1&{extra}",
            server.issuer(),
            spa.client_id
        )
    };
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let cases = [
        (
            format!(
                "response_type=code&scope=openid&code_challenge={challenge}&code_challenge_method=plain"
            ),
            "invalid_request",
        ),
        (
            "response_type=code&scope=openid".to_owned(),
            "invalid_request",
        ),
        (
            "response_type=code&scope=openid&code_challenge=short&code_challenge_method=S256"
                .to_owned(),
            "invalid_request",
        ),
        (
            format!(
                "response_type=token&scope=openid&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "unsupported_response_type",
        ),
        (
            format!(
                "response_type=code&scope=openid%20%22admin%22&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "invalid_scope",
        ),
        (
            format!(
                "response_type=code&scope=openid&request=eyJ&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "request_not_supported",
        ),
        (
            format!(
                "response_type=code&scope=openid&request_uri=https%3A%2F%2Fx&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "request_uri_not_supported",
        ),
        (
            format!(
                "response_type=code&scope=openid&prompt=none&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "login_required",
        ),
        (
            format!(
                "response_type=code&scope=openid&scope=email&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "invalid_request",
        ),
    ];
    for (query, code) in cases {
        let callback = browser
            .authorize(&base(&query), &spa.redirect_uri)
            .await
            .expect_redirect();
        assert_eq!(
            param(&callback, "error").as_deref(),
            Some(code),
            "{query}: {callback}"
        );
        assert_eq!(param(&callback, "state").as_deref(), Some("s1"));
        assert_eq!(param(&callback, "iss").as_deref(), Some(server.issuer()));
        assert!(param(&callback, "error_description").is_some());
        assert!(param(&callback, "code").is_none());
    }
    // Never redirected: an unknown client, an unregistered redirect URI.
    for url in [
        format!(
            "{}/oauth/authorize?client_id=nope&redirect_uri=http%3A%2F%2F127.0.0.1%3A7002%2Fcb&response_type=code",
            server.issuer()
        ),
        format!(
            "{}/oauth/authorize?client_id={}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code",
            server.issuer(),
            spa.client_id
        ),
    ] {
        let (_, status, html) = browser
            .authorize(&url, "http://127.0.0.1:7002/cb")
            .await
            .expect_page();
        assert_eq!(status, 400, "{html}");
    }
}

#[tokio::test]
async fn token_endpoint_refusals_carry_their_codes_and_issue_nothing() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let other = app(&server, "web", "http://127.0.0.1:7003/cb", &[]).await;
    let spa = app(&server, "spa", "http://127.0.0.1:7002/cb", &[]).await;
    let browser = Browser::new();

    // Wrong secret: 401 invalid_client with a Basic challenge.
    let (code, verifier) = code_for(&server, &browser, &web, &[]).await;
    let (s, b, h) = token(
        &server,
        &exchange_form(&web, &code, &verifier),
        Some((&web.client_id, "wrong")),
    )
    .await;
    assert_oauth_error(s, &b, 401, "invalid_client");
    assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    // Another client's code, a wrong verifier, a wrong redirect URI: invalid_grant.
    let (code, verifier) = code_for(&server, &browser, &web, &[]).await;
    let mut form = exchange_form(&other, &code, &verifier);
    form.retain(|(k, _)| *k != "client_id");
    let (s, b, _) = token(&server, &form, basic(&other)).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    let (code, _) = code_for(&server, &browser, &web, &[]).await;
    let wrong = "a".repeat(43);
    let (s, b, _) = token(&server, &exchange_form(&web, &code, &wrong), basic(&web)).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    let (code, verifier) = code_for(&server, &browser, &web, &[]).await;
    let mut form = exchange_form(&web, &code, &verifier);
    form[2] = ("redirect_uri", "http://127.0.0.1:7001/other");
    let (s, b, _) = token(&server, &form, basic(&web)).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // Unsupported grant, missing parameters, public clients and client_credentials.
    let (s, b, _) = token(
        &server,
        &[("grant_type", "password"), ("username", "x")],
        basic(&web),
    )
    .await;
    assert_oauth_error(s, &b, 400, "unsupported_grant_type");
    let (s, b, _) = token(
        &server,
        &[("grant_type", "authorization_code")],
        basic(&web),
    )
    .await;
    assert_oauth_error(s, &b, 400, "invalid_request");
    let (s, b, _) = token(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &spa.client_id),
        ],
        None,
    )
    .await;
    assert_oauth_error(s, &b, 400, "unauthorized_client");
    let (s, b, _) = token(&server, &[("grant_type", "client_credentials")], None).await;
    assert_oauth_error(s, &b, 401, "invalid_client");
    // A public client's exchange without its verifier.
    let (code, _) = code_for(&server, &browser, &spa, &[]).await;
    let mut form = exchange_form(&spa, &code, "");
    form.retain(|(k, _)| *k != "code_verifier");
    let (s, b, _) = token(&server, &form, None).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
}

/// Codes are sealed: an altered or made-up code is refused without using up the real one.
#[tokio::test]
async fn an_altered_code_is_refused_and_the_real_one_still_works() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&server, &browser, &web, &[]).await;
    let mut altered: Vec<char> = code.chars().collect();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == 'A' { 'B' } else { 'A' };
    let altered: String = altered.into_iter().collect();
    let truncated = &code[..code.len() - 1];
    let made_up = "A".repeat(code.len());
    for bad in [altered.as_str(), truncated, made_up.as_str(), "", "%%%"] {
        let (s, b, _) = token(&server, &exchange_form(&web, bad, &verifier), basic(&web)).await;
        let expected = if bad.is_empty() {
            "invalid_request"
        } else {
            "invalid_grant"
        };
        assert_oauth_error(s, &b, 400, expected);
    }
    let (s, b, _) = token(&server, &exchange_form(&web, &code, &verifier), basic(&web)).await;
    assert_eq!(s, 200, "{b}");
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_what_the_first_use_issued() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&server, &browser, &web, &["offline_access"]).await;
    let form = exchange_form(&web, &code, &verifier);
    let (s, first, _) = token(&server, &form, basic(&web)).await;
    assert_eq!(s, 200, "{first}");
    let (s, b, _) = token(&server, &form, basic(&web)).await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    // RFC 6749 §4.1.2: the refresh token and access token of the first use are revoked.
    let rt = first["refresh_token"].as_str().unwrap();
    let (s, b, _) = token(
        &server,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        basic(&web),
    )
    .await;
    assert_oauth_error(s, &b, 400, "invalid_grant");
    let resp = latch_testkit::rp::reqwest_client()
        .get(server.url("/userinfo"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn fifty_simultaneous_uses_of_one_code_yield_exactly_one_token() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&server, &browser, &web, &["offline_access"]).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let form: Vec<(String, String)> = exchange_form(&web, &code, &verifier)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let url = server.url("/oauth/token");
        let (id, secret) = (web.client_id.clone(), web.client_secret.clone().unwrap());
        tasks.push(tokio::spawn(async move {
            let resp = latch_testkit::rp::reqwest_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&form)
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        49,
        "{statuses:?}"
    );
}

async fn refresh(
    server: &LatchServer,
    app: &App,
    rt: &str,
    extra: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    if app.client_secret.is_none() {
        form.push(("client_id", &app.client_id));
    }
    form.extend_from_slice(extra);
    let (s, b, _) = token(server, &form, basic(app)).await;
    (s, b)
}

#[tokio::test]
async fn refresh_tokens_rotate_allow_a_retry_and_revoke_the_family_on_reuse() {
    let server = server_with(&[("LATCH_REFRESH_REUSE_WINDOW", "2")]).await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let native = app(&server, "native", "com.example.app:/cb", &[]).await;
    let browser = Browser::new();
    for a in [&web, &native] {
        let (code, verifier) = code_for(&server, &browser, a, &["offline_access", "email"]).await;
        let (s, first, _) = token(&server, &exchange_form(a, &code, &verifier), basic(a)).await;
        assert_eq!(s, 200, "{first}");
        let rt1 = first["refresh_token"].as_str().unwrap().to_owned();
        let (s, second) = refresh(&server, a, &rt1, &[]).await;
        assert_eq!(s, 200, "{second}");
        let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(rt1, rt2, "rotated");
        assert!(second["id_token"].is_string());
        // A client that lost the response retries within the window: same successor.
        let (s, retry) = refresh(&server, a, &rt1, &[]).await;
        assert_eq!(s, 200, "{retry}");
        assert_eq!(retry["refresh_token"], rt2.as_str());
        // Narrowing works; widening does not.
        let (s, narrow) = refresh(&server, a, &rt2, &[("scope", "openid")]).await;
        assert_eq!(s, 200, "{narrow}");
        assert_eq!(narrow["scope"], "openid");
        let rt3 = narrow["refresh_token"].as_str().unwrap().to_owned();
        let (s, b) = refresh(&server, a, &rt3, &[("scope", "openid profile")]).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_scope")));
        // After the window, the old token is a reuse: the whole family dies, rt3 included.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (s, b) = refresh(&server, a, &rt1, &[]).await;
        assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
        let (s, b) = refresh(&server, a, &rt3, &[]).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (400, Some("invalid_grant")),
            "family revoked"
        );
    }
    // A refresh token is bound to its client.
    let (code, verifier) = code_for(&server, &browser, &native, &["offline_access"]).await;
    let (_, first, _) = token(&server, &exchange_form(&native, &code, &verifier), None).await;
    let (s, b) = refresh(&server, &web, first["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn fifty_simultaneous_refreshes_rotate_once() {
    for (window, expect_ok) in [("10", 50), ("0", 1)] {
        let server = server_with(&[("LATCH_REFRESH_REUSE_WINDOW", window)]).await;
        let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
        let browser = Browser::new();
        let (code, verifier) = code_for(&server, &browser, &web, &["offline_access"]).await;
        let (_, first, _) =
            token(&server, &exchange_form(&web, &code, &verifier), basic(&web)).await;
        let rt = first["refresh_token"].as_str().unwrap().to_owned();
        let results = refresh_concurrently(&[server.url("/oauth/token")], &web, &rt, 50).await;
        let ok = results.iter().flatten().count();
        let successors: std::collections::HashSet<String> = results.into_iter().flatten().collect();
        // With a reuse window every concurrent retry gets the one successor; without one, exactly
        // one request succeeds (and the others count as reuse).
        assert!(
            successors.len() <= 1,
            "one successor at most: {successors:?}"
        );
        if window == "10" {
            assert_eq!(ok, expect_ok, "window {window}");
        } else {
            assert!(ok <= expect_ok, "window {window}: {ok} successes");
        }
    }
}

#[tokio::test]
async fn revocation_and_introspection_follow_rfc_7009_and_7662() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&server, &browser, &web, &["offline_access"]).await;
    let (_, t, _) = token(&server, &exchange_form(&web, &code, &verifier), basic(&web)).await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    let (s, b, _) = post_form(&server, "/oauth/introspect", &[("token", at)], basic(&web)).await;
    assert_eq!((s, b["active"].as_bool()), (200, Some(true)), "{b}");
    assert_eq!(b["client_id"], web.client_id.as_str());
    let (_, b, _) = post_form(&server, "/oauth/introspect", &[("token", rt)], basic(&web)).await;
    assert_eq!(b["active"], true, "{b}");
    let (_, b, _) = post_form(
        &server,
        "/oauth/introspect",
        &[("token", "garbage")],
        basic(&web),
    )
    .await;
    assert_eq!(b["active"], false);
    // Revoke both; unknown tokens are fine too (RFC 7009 §2.2).
    for tok in [at, rt, "unknown-token"] {
        let (s, _, _) = post_form(&server, "/oauth/revoke", &[("token", tok)], basic(&web)).await;
        assert_eq!(s, 200);
    }
    for tok in [at, rt] {
        let (_, b, _) =
            post_form(&server, "/oauth/introspect", &[("token", tok)], basic(&web)).await;
        assert_eq!(b["active"], false, "revoked: {b}");
    }
    let (s, b) = refresh(&server, &web, rt, &[]).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_grant")));
    let resp = latch_testkit::rp::reqwest_client()
        .get(server.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(
        resp.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}
