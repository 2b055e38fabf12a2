//! `/account` end to end, as a cookie-keeping browser filling its forms: a password change ends
//! the user's other sessions (their refresh tokens fail, their applications get a back-channel
//! logout) and keeps this one; a wrong current password or a missing or wrong CSRF token changes
//! nothing; "Sign out this session" ends that session; changing a factor on a sign-in older than
//! the re-authentication window asks for a new sign-in (`max_age=0`). And what removing a second
//! factor ends: an administrator's reset every session of the user, the user's own removal their
//! other sessions.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_core::totp::{TotpSecret, step_at};
use latch_testkit::{BackchannelReceiver, Browser, LatchServer};
use serde_json::Value;
use support::account::*;
use support::*;

const NEW_PASSWORD: &str = "a much longer new passphrase";

/// What an application holds for one sign-in: the session's `sid` and a refresh token.
struct Held {
    sid: String,
    refresh_token: String,
}

/// A server with one user and a web application whose back-channel logouts reach `receiver`.
async fn world() -> (LatchServer, App, BackchannelReceiver) {
    let server = server().await;
    let receiver = BackchannelReceiver::start().await;
    let web = app(
        &server,
        "web",
        REDIRECT,
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    (server, web, receiver)
}

/// Signs in to `web` in `browser` — the password, then a code from `app` if given — and redeems
/// the code for tokens.
async fn sign_in(
    server: &LatchServer,
    web: &App,
    browser: &Browser,
    app: Option<&TotpSecret>,
) -> Held {
    let auth = authorization(&rp(server, web).await, &["offline_access"]);
    let (login, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let step = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await;
    let callback = match app {
        None => step.expect_redirect(),
        Some(secret) => {
            let (at, _, html) = step.expect_page();
            let now_code = code(secret, step_at(now()));
            submit(
                browser,
                &at,
                &html,
                "/login/second-factor",
                &[("code", &now_code)],
            )
            .await
            .expect_redirect()
        }
    };
    let code = callback_code(server, &callback, &auth);
    let tokens = exchange(server, web, code.secret(), auth).await;
    Held {
        sid: jwt_parts(tokens["id_token"].as_str().unwrap()).1["sid"]
            .as_str()
            .unwrap()
            .to_owned(),
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Refreshes `held`'s grant: `Ok` (and the new refresh token kept) or the error response.
async fn refresh(server: &LatchServer, web: &App, held: &mut Held) -> Result<(), (u16, Value)> {
    let (status, body, _) = token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &held.refresh_token),
        ],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    if status != 200 {
        return Err((status, body));
    }
    held.refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    Ok(())
}

/// The refresh token of an ended session is refused as `invalid_grant` (RFC 6749 §5.2).
async fn assert_ended(server: &LatchServer, web: &App, held: &mut Held) {
    let (status, body) = refresh(server, web, held)
        .await
        .expect_err("the ended session's refresh token still works");
    assert_oauth_error(status, &body, 400, "invalid_grant");
}

/// The sids of the back-channel logout tokens `receiver` got, once it has `count` of them.
async fn logged_out_sids(receiver: &BackchannelReceiver, count: usize) -> Vec<String> {
    let got = receiver.wait_for(count, Duration::from_secs(20)).await;
    let mut sids: Vec<String> = got
        .iter()
        .map(|r| {
            let claims = jwt_parts(r.logout_token.as_deref().expect("a logout_token")).1;
            claims["sid"].as_str().unwrap().to_owned()
        })
        .collect();
    sids.sort();
    sids
}

/// The account page as `browser` sees it: its URL and HTML (200).
async fn account(server: &LatchServer, browser: &Browser) -> (url::Url, String) {
    let (at, status, html) = page(browser, &server.url("/account")).await;
    assert_eq!(status, 200, "{at}: {html}");
    (at, html)
}

/// Posts the account form to `suffix` with `set` filled, without following the answer.
async fn post_account_form(
    browser: &Browser,
    at: &url::Url,
    html: &str,
    suffix: &str,
    set: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = form_to(html, suffix);
    for (k, v) in set {
        form.set(k, v);
    }
    browser
        .post_form(form.action_url(at).as_str(), &form.fields)
        .await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location: {}", r.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Whether `password` signs the user in, in a new browser.
async fn password_signs_in(server: &LatchServer, web: &App, password: &str) -> bool {
    let auth = authorization(&rp(server, web).await, &[]);
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    matches!(
        browser
            .submit_login_form(&login, &html, EMAIL, password, REDIRECT)
            .await,
        latch_testkit::AuthorizeStep::Redirected(_)
    )
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_keeps_this_one() {
    let (server, web, receiver) = world().await;
    let (this, other) = (Browser::new(), Browser::new());
    let mut here = sign_in(&server, &web, &this, None).await;
    let mut there = sign_in(&server, &web, &other, None).await;

    // A wrong current password: refused, nothing changes.
    let (at, html) = account(&server, &this).await;
    let wrong = [
        ("current_password", "not the password"),
        ("new_password", NEW_PASSWORD),
    ];
    let (_, status, refused) = submit(&this, &at, &html, "/account/password", &wrong)
        .await
        .expect_page();
    assert_eq!(status, 200, "{refused}");
    assert!(
        refused.contains("The current password is not right."),
        "{refused}"
    );
    refresh(&server, &web, &mut there)
        .await
        .expect("the other session lives on");
    assert!(!password_signs_in(&server, &web, NEW_PASSWORD).await);

    // The right one: changed; the other session ends, this one stays.
    let set = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
    ];
    let (at, _, done) = submit(&this, &at, &refused, "/account/password", &set)
        .await
        .expect_page();
    assert!(at.as_str().ends_with("/account?done=password"), "{at}");
    assert!(done.contains("Your password is changed"), "{done}");
    assert_ended(&server, &web, &mut there).await;
    assert_eq!(logged_out_sids(&receiver, 1).await, [there.sid.clone()]);
    refresh(&server, &web, &mut here)
        .await
        .expect("this session lives on");
    account(&server, &this).await;
    let (_, status, _) = page(&other, &server.url("/account")).await;
    assert_eq!(status, 302, "the other browser is signed out");
    assert!(password_signs_in(&server, &web, NEW_PASSWORD).await);
    assert!(!password_signs_in(&server, &web, PASSWORD).await);
    assert_eq!(
        receiver.received().len(),
        1,
        "no back-channel logout for this session"
    );
}

#[tokio::test]
async fn sign_out_this_session_ends_that_session_only() {
    let (server, web, receiver) = world().await;
    let (this, other) = (Browser::new(), Browser::new());
    let mut here = sign_in(&server, &web, &this, None).await;
    let mut there = sign_in(&server, &web, &other, None).await;

    let (at, html) = account(&server, &this).await;
    let form = latch_testkit::html::parse_forms(&html)
        .into_iter()
        .find(|f| f.get("sid") == Some(there.sid.as_str()))
        .unwrap_or_else(|| panic!("the other session is listed with its own form: {html}"));
    assert!(html.contains("(this browser)"), "{html}");
    let (at, _, done) = this.submit_form(&at, &form, REDIRECT).await.expect_page();
    assert!(at.as_str().ends_with("/account?done=session"), "{at}");
    assert!(done.contains("That session is signed out."), "{done}");
    assert!(!done.contains(&there.sid), "no longer listed: {done}");
    assert_ended(&server, &web, &mut there).await;
    assert_eq!(logged_out_sids(&receiver, 1).await, [there.sid.clone()]);
    refresh(&server, &web, &mut here)
        .await
        .expect("this session lives on");

    // A sid that is not one of the user's ends nothing.
    let (at, html) = account(&server, &this).await;
    let r = post_account_form(
        &this,
        &at,
        &html,
        "/account/sessions/end",
        &[("sid", "not-a-session")],
    )
    .await;
    assert_eq!(r.status(), 302);
    refresh(&server, &web, &mut here)
        .await
        .expect("this session lives on");
}

#[tokio::test]
async fn a_missing_or_wrong_csrf_token_is_refused_and_changes_nothing() {
    let (server, web, _receiver) = world().await;
    let (this, other) = (Browser::new(), Browser::new());
    sign_in(&server, &web, &this, None).await;
    let mut there = sign_in(&server, &web, &other, None).await;
    let (at, html) = account(&server, &this).await;
    // The other browser's own token, valid for its session, not for this one.
    let (_, other_html) = account(&server, &other).await;
    let other_csrf = form_to(&other_html, "/account/password")
        .get("csrf")
        .unwrap()
        .to_owned();

    let password = [
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
    ];
    for csrf in ["", "forged", other_csrf.as_str()] {
        let mut set = password.to_vec();
        set.push(("csrf", csrf));
        let r = post_account_form(&this, &at, &html, "/account/password", &set).await;
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
        let sid = [("sid", there.sid.as_str()), ("csrf", csrf)];
        let r = post_account_form(&this, &at, &html, "/account/sessions/end", &sid).await;
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
        let r = post_account_form(&this, &at, &html, "/account/totp", &[("csrf", csrf)]).await;
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
    }
    // No csrf field at all.
    let r = this
        .post_form(
            form_to(&html, "/account/password").action_url(&at).as_str(),
            &password,
        )
        .await;
    assert_eq!(r.status(), 403);
    refresh(&server, &web, &mut there)
        .await
        .expect("the other session lives on");
    assert!(password_signs_in(&server, &web, PASSWORD).await);
    let (_, html) = account(&server, &this).await;
    assert!(html.contains("Authenticator app: off"), "{html}");
}

#[tokio::test]
async fn changing_a_factor_on_an_old_sign_in_asks_for_a_new_one() {
    let (server, web, _receiver) = world().await;
    let browser = Browser::new();
    let held = sign_in(&server, &web, &browser, None).await;
    // Ten minutes ago, past the five-minute window (the page reads the session from the store).
    let path = latch_store::sqlite_path(server.database_url()).unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    let aged = db
        .execute(
            "UPDATE sessions SET auth_time = auth_time - 600 WHERE sid = ?1",
            [&held.sid],
        )
        .unwrap();
    assert_eq!(aged, 1);

    let (at, html) = account(&server, &browser).await;
    let r = post_account_form(&browser, &at, &html, "/account/totp", &[]).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), server.url("/account/login?reauth=1"));
    let r = browser.get(&server.url("/account/login?reauth=1")).await;
    let authorize = url::Url::parse(&location(&r)).unwrap();
    assert_eq!(param(&authorize, "max_age").as_deref(), Some("0"));
    let (_, html) = account(&server, &browser).await;
    assert!(
        html.contains("Authenticator app: off"),
        "nothing started: {html}"
    );

    // Signing in again (the password) lands back on the page, and the change goes through.
    let callback = server.url("/account/callback");
    let (login, _, html) = browser
        .authorize(authorize.as_str(), &callback)
        .await
        .expect_page();
    let back = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, &callback)
        .await
        .expect_redirect();
    let r = browser.get(back.as_str()).await;
    assert_eq!(location(&r), server.url("/account"));
    let (at, html) = account(&server, &browser).await;
    let (_, status, enrol_page) = submit(&browser, &at, &html, "/account/totp", &[])
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(enrol_page.contains("totp-secret"), "{enrol_page}");
}

#[tokio::test]
async fn an_administrators_factor_reset_ends_every_session_of_the_user() {
    let (server, web, receiver) = world().await;
    let first = Browser::new();
    let mut here = sign_in(&server, &web, &first, None).await;
    let (secret, _) = enrol(&server, &first).await;
    let mut there = sign_in(&server, &web, &Browser::new(), Some(&secret)).await;

    let bearer = admin_token(&server).await;
    let http = latch_testkit::rp::reqwest_client();
    let users = admin_get_json(&server, &bearer, "/api/v1/users").await;
    let uid = users["data"][0]["id"].as_str().unwrap().to_owned();
    let factors = admin_get_json(&server, &bearer, &format!("/api/v1/users/{uid}/factors")).await;
    let fid = factors["data"][0]["id"].as_str().unwrap();
    let r = http
        .delete(server.url(&format!("/api/v1/users/{uid}/factors/{fid}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    assert_ended(&server, &web, &mut here).await;
    assert_ended(&server, &web, &mut there).await;
    let mut both = vec![here.sid.clone(), there.sid.clone()];
    both.sort();
    assert_eq!(logged_out_sids(&receiver, 2).await, both);
    let (_, status, _) = page(&first, &server.url("/account")).await;
    assert_eq!(status, 302, "the browser that enrolled is signed out too");
    let ended = audit_events(&server, &bearer, "session.ended", 2).await;
    assert!(
        ended
            .iter()
            .all(|e| e["details"]["reason"] == "factor_removed" && e["actor"]["type"] == "admin"),
        "{ended:?}"
    );
    // The password alone signs in again.
    assert!(password_signs_in(&server, &web, PASSWORD).await);
}

#[tokio::test]
async fn turning_the_app_off_ends_the_other_sessions_and_keeps_this_one() {
    let (server, web, receiver) = world().await;
    let this = Browser::new();
    let mut here = sign_in(&server, &web, &this, None).await;
    let (secret, _) = enrol(&server, &this).await;
    let mut there = sign_in(&server, &web, &Browser::new(), Some(&secret)).await;

    let (at, html) = account(&server, &this).await;
    let (at, _, done) = submit(&this, &at, &html, "/account/totp/remove", &[])
        .await
        .expect_page();
    assert!(at.as_str().ends_with("/account?done=totp_removed"), "{at}");
    assert!(done.contains("Authenticator app: off"), "{done}");
    assert_ended(&server, &web, &mut there).await;
    assert_eq!(logged_out_sids(&receiver, 1).await, [there.sid.clone()]);
    refresh(&server, &web, &mut here)
        .await
        .expect("this session lives on");
    assert_eq!(receiver.received().len(), 1);
}
