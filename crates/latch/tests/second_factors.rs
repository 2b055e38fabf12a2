//! Issue 18, end to end: how a user authenticated, in every token (`amr`, RFC 8176; `acr`,
//! OIDC Core §2; `auth_time`), and discovery's `acr_values_supported`; TOTP enrolled on
//! `/account` (the browser reads the key from the page and computes codes like an app), asked
//! after the password, a code never accepted twice, recovery codes used once, wrong codes
//! throttled; an application requiring a second factor; step-up with `acr_values`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_core::totp::{TotpSecret, step_at};
use latch_testkit::{AuthorizeStep, Browser, LatchServer};
use serde_json::{Value, json};
use support::account::*;
use support::*;

/// A new browser: the password, then the second-factor page (its URL and HTML).
async fn password_then_code_page(
    server: &LatchServer,
    auth_url: &str,
) -> (Browser, url::Url, String) {
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(auth_url, REDIRECT).await.expect_page();
    let (at, status, html) = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");
    assert!(
        at.as_str().starts_with(&server.url("/login/second-factor")),
        "{at}"
    );
    assert!(html.contains("name=\"code\""), "{html}");
    (browser, at, html)
}

async fn give_code(browser: &Browser, at: &url::Url, html: &str, code: &str) -> AuthorizeStep {
    submit(browser, at, html, "/login/second-factor", &[("code", code)]).await
}

async fn set_mfa(server: &LatchServer, app: &App, policy: &str) {
    let bearer = admin_token(server).await;
    let r = latch_testkit::rp::reqwest_client()
        .patch(server.url(&format!("/api/v1/applications/{}", app.id)))
        .bearer_auth(&bearer)
        .json(&json!({ "mfa": policy }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["mfa"], policy, "{v}");
    // The applications cache follows within a second.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
}

fn claims(token: &Value) -> Value {
    jwt_parts(token.as_str().unwrap()).1
}

#[tokio::test]
async fn a_password_sign_in_says_pwd_in_every_token_and_discovery_lists_the_levels() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let auth = authorization(&rp(&server, &web).await, &["offline_access"]);
    let browser = Browser::new();
    let code = sign_in_for_code(&server, &browser, &auth, REDIRECT).await;
    let tokens = exchange(&server, &web, code.secret(), auth).await;

    let id = claims(&tokens["id_token"]);
    let access = claims(&tokens["access_token"]);
    for (name, c) in [("id token", &id), ("access token", &access)] {
        assert_eq!(c["amr"], json!(["pwd"]), "{name}: {c}");
        assert_eq!(c["acr"], "urn:latch:acr:pwd", "{name}: {c}");
        assert!(c["auth_time"].as_i64().unwrap() > 0, "{name}: {c}");
    }
    assert_eq!(id["auth_time"], access["auth_time"]);

    // A refreshed token says how the user signed in then, not now.
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let secret = web.client_secret.as_deref().unwrap();
    let (status, refreshed, _) = token(
        &server,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        Some((&web.client_id, secret)),
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    for t in ["id_token", "access_token"] {
        let c = claims(&refreshed[t]);
        assert_eq!(c["amr"], json!(["pwd"]), "{t}: {c}");
        assert_eq!(c["acr"], "urn:latch:acr:pwd", "{t}: {c}");
        assert_eq!(c["auth_time"], id["auth_time"], "{t}: {c}");
    }

    // client_credentials: nobody authenticated.
    let admin = app(&server, "web", REDIRECT, &["--management-api"]).await;
    let bearer = management_token(&server, &admin).await;
    let c = jwt_parts(&bearer).1;
    assert!(c.get("amr").is_none() && c.get("acr").is_none(), "{c}");

    let discovery: Value = latch_testkit::rp::reqwest_client()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        json!(["urn:latch:acr:pwd", "urn:latch:acr:mfa"])
    );
    let supported = discovery["claims_supported"].as_array().unwrap();
    assert!(supported.contains(&json!("amr")) && supported.contains(&json!("acr")));
}

#[tokio::test]
async fn totp_is_asked_after_the_password_once_per_code_and_recovery_codes_work_once() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let client = rp(&server, &web).await;
    let first = Browser::new();
    let auth = authorization(&client, &[]);
    sign_in_for_code(&server, &first, &auth, REDIRECT).await;
    let (secret, recovery) = enrol(&server, &first).await;

    // Another browser: the password alone no longer signs in.
    let auth = authorization(&client, &[]);
    let (browser, at, html) = password_then_code_page(&server, &auth.url).await;
    let now_code = code(&secret, step_at(now()));
    let callback = give_code(&browser, &at, &html, &now_code)
        .await
        .expect_redirect();
    let code_param = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code_param.secret(), auth).await;
    for t in ["id_token", "access_token"] {
        let c = claims(&tokens[t]);
        assert_eq!(c["amr"], json!(["pwd", "otp", "mfa"]), "{t}: {c}");
        assert_eq!(c["acr"], "urn:latch:acr:mfa", "{t}: {c}");
    }

    // The same code again, in a third browser: refused (RFC 6238 §5.2).
    let auth = authorization(&client, &[]);
    let (browser, at, html) = password_then_code_page(&server, &auth.url).await;
    let (at2, _, html2) = give_code(&browser, &at, &html, &now_code)
        .await
        .expect_page();
    assert!(html2.contains("not right, or was used already"), "{html2}");

    // A recovery code instead: accepted once.
    let callback = give_code(&browser, &at2, &html2, &recovery[0].to_uppercase())
        .await
        .expect_redirect();
    callback_code(&server, &callback, &auth);
    let auth = authorization(&client, &[]);
    let (browser, at, html) = password_then_code_page(&server, &auth.url).await;
    let (at, _, html) = give_code(&browser, &at, &html, &recovery[0])
        .await
        .expect_page();
    assert!(html.contains("not right"), "a used recovery code: {html}");

    // Wrong codes are slowed, then locked with Retry-After: the used recovery code and four more
    // are five failures (`LATCH_LOGIN_MAX_FAILURES`); the next attempt is refused.
    let mut last = (at, html);
    for _ in 0..5 {
        let step = give_code(&browser, &last.0, &last.1, "123456").await;
        let AuthorizeStep::Page {
            url,
            status,
            headers,
            html,
        } = step
        else {
            panic!("a wrong code signed in");
        };
        if status == 429 {
            assert!(headers.get("retry-after").is_some());
            last = (url, html);
            break;
        }
        last = (url, html);
    }
    assert!(
        last.1.contains("Too many"),
        "locked after five wrong codes: {}",
        last.1
    );
    // While locked, even the right recovery code is refused — also in a browser that passed the
    // password step (its new device cookie earns no counter of its own: that would give whoever
    // knows the password a fresh counter per browser).
    let auth = authorization(&client, &[]);
    let (browser, at, html) = password_then_code_page(&server, &auth.url).await;
    let AuthorizeStep::Page { status, .. } = give_code(&browser, &at, &html, &recovery[1]).await
    else {
        panic!("signed in while locked");
    };
    assert_eq!(status, 429);
    let (_, status, _) = first
        .authorize(&format!("{}&prompt=login", auth.url), REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "the password step itself is not locked");

    // The management API lists the factor (no secret) and shows mfa_enrolled.
    let bearer = admin_token(&server).await;
    let http = latch_testkit::rp::reqwest_client();
    let users = admin_get_json(&server, &bearer, "/api/v1/users").await;
    let user = &users["data"][0];
    assert_eq!(user["mfa_enrolled"], true, "{users}");
    let uid = user["id"].as_str().unwrap();
    let factors = admin_get_json(&server, &bearer, &format!("/api/v1/users/{uid}/factors")).await;
    let factor = &factors["data"][0];
    assert_eq!(
        (&factor["type"], &factor["confirmed"]),
        (&json!("totp"), &json!(true)),
        "{factors}"
    );
    let text = factors.to_string();
    assert!(
        !text.contains(&secret.to_base32()) && !text.contains("secret"),
        "{text}"
    );
    // An administrator resets it: the password signs in alone again.
    let fid = factor["id"].as_str().unwrap();
    let r = http
        .delete(server.url(&format!("/api/v1/users/{uid}/factors/{fid}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let events = audit_events(&server, &bearer, "factor.removed", 1).await;
    assert_eq!(events[0]["actor"]["type"], "admin", "{events:?}");
    let auth = authorization(&client, &[]);
    sign_in_for_code(&server, &Browser::new(), &auth, REDIRECT).await;
}

#[tokio::test]
async fn an_application_that_requires_a_second_factor_has_the_user_enrol_during_sign_in() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    set_mfa(&server, &web, "required").await;
    let auth = authorization(&rp(&server, &web).await, &[]);
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let (at, _, html) = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    assert!(html.contains("<svg"), "the enrolment page: {html}");
    let secret = TotpSecret::from_base32(&text_of(&html, "totp-secret")).unwrap();
    let (at, _, html) = submit(
        &browser,
        &at,
        &html,
        "/enrol",
        &[("code", &code(&secret, step_at(now())))],
    )
    .await
    .expect_page();
    assert_eq!(recovery_codes_of(&html).len(), 10, "{html}");
    let callback = submit(&browser, &at, &html, "/continue", &[])
        .await
        .expect_redirect();
    let code_param = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code_param.secret(), auth).await;
    assert_eq!(claims(&tokens["id_token"])["acr"], "urn:latch:acr:mfa");
}

#[tokio::test]
async fn acr_values_steps_a_password_only_session_up_to_a_second_factor() {
    let server = server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let client = rp(&server, &web).await;
    let browser = Browser::new();
    sign_in_for_code(&server, &browser, &authorization(&client, &[]), REDIRECT).await;
    let (secret, _) = enrol(&server, &browser).await;
    // An application that never asks: a password-only session…
    set_mfa(&server, &web, "off").await;
    let auth = authorization(&client, &[]);
    let other = Browser::new();
    let code_param = sign_in_for_code(&server, &other, &auth, REDIRECT).await;
    let tokens = exchange(&server, &web, code_param.secret(), auth).await;
    let before = claims(&tokens["id_token"]);
    assert_eq!(before["acr"], "urn:latch:acr:pwd", "{before}");
    // …asked for urn:latch:acr:mfa: the second factor, then a code with the new acr.
    let auth = authorization(&client, &[]);
    let url = format!("{}&acr_values=urn%3Alatch%3Aacr%3Amfa", auth.url);
    let silent = format!("{url}&prompt=none");
    let refused = other.authorize(&silent, REDIRECT).await.expect_redirect();
    assert_eq!(
        param(&refused, "error").as_deref(),
        Some("interaction_required")
    );
    let (at, _, html) = other.authorize(&url, REDIRECT).await.expect_page();
    assert!(at.as_str().contains("/login/second-factor"), "{at}");
    let callback = give_code(&other, &at, &html, &code(&secret, step_at(now())))
        .await
        .expect_redirect();
    let code_param = callback_code(&server, &callback, &auth);
    let tokens = exchange(&server, &web, code_param.secret(), auth).await;
    let after = claims(&tokens["id_token"]);
    assert_eq!(after["acr"], "urn:latch:acr:mfa", "{after}");
    assert_eq!(after["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(after["sid"], before["sid"], "the same session, stepped up");
    assert!(after["auth_time"].as_i64() >= before["auth_time"].as_i64());
}
