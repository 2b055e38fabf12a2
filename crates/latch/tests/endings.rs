//! Issue 15, end to end: whatever ends, ends everything it issued. Signing in again over a
//! session, an administrator's password change, a deleted application and a revoked refresh token
//! each leave no refresh token, access token or participating application behind; a public client
//! introspects its own token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_testkit::{BackchannelReceiver, Browser, LatchServer};
use serde_json::Value;
use support::*;

const OTHER_EMAIL: &str = "grace@example.com";

/// Tokens for `app` through the hosted login page (`extra` appended to the authorize URL).
async fn tokens_by_password(
    server: &LatchServer,
    browser: &Browser,
    app: &App,
    scopes: &[&str],
    extra: &str,
    (email, password): (&str, &str),
) -> Value {
    let auth = authorization(&rp(server, app).await, scopes);
    let url = format!("{}{extra}", auth.url);
    let callback = browser
        .sign_in(&url, &app.redirect_uri, email, password)
        .await;
    let code = callback_code(server, &callback, &auth);
    exchange(server, app, code.secret(), auth).await
}

async fn refresh_status(server: &LatchServer, app: &App, refresh_token: &str) -> u16 {
    let secret = app.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token(server, &form, Some((&app.client_id, &secret)))
        .await
        .0
}

fn claim(token: &Value, name: &str) -> Value {
    jwt_parts(token.as_str().unwrap()).1[name].clone()
}

async fn sessions_of(server: &LatchServer, admin_token: &str, user_id: &str) -> Vec<Value> {
    let resp = latch_testkit::rp::reqwest_client()
        .get(server.url(&format!("/api/v1/users/{user_id}/sessions")))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

async fn user_id(server: &LatchServer, email: &str) -> String {
    let users = server.cli(&["users", "list"]).await;
    let list = users.as_array().cloned().unwrap_or_default();
    list.iter()
        .find(|u| u["email"] == email)
        .and_then(|u| u["id"].as_str())
        .unwrap_or_else(|| panic!("no user {email} in {users}"))
        .to_owned()
}

/// `prompt=login` over a live session re-authenticates it: same sid, later auth_time, one session
/// listed; signing out then ends it, with its refresh token, its access tokens and a back-channel
/// logout.
#[tokio::test]
async fn signing_in_again_reauthenticates_the_session_and_logout_then_ends_everything() {
    let server = server().await;
    let receiver = BackchannelReceiver::start().await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let browser = Browser::new();
    let me = (EMAIL, PASSWORD);
    let first = tokens_by_password(&server, &browser, &web, &["offline_access"], "", me).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let again = tokens_by_password(&server, &browser, &web, &[], "&prompt=login", me).await;

    let (id1, id2) = (&first["id_token"], &again["id_token"]);
    assert_eq!(claim(id1, "sid"), claim(id2, "sid"), "the same session");
    assert!(
        claim(id2, "auth_time").as_i64() > claim(id1, "auth_time").as_i64(),
        "a new auth_time"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let third = tokens_by_password(&server, &browser, &web, &[], "&max_age=0", me).await;
    let id3 = &third["id_token"];
    assert_eq!(
        claim(id3, "sid"),
        claim(id1, "sid"),
        "an exceeded max_age too"
    );
    assert!(claim(id3, "auth_time").as_i64() > claim(id2, "auth_time").as_i64());
    let management = management_token(&server, &admin).await;
    let me_id = claim(id1, "sub").as_str().unwrap().to_owned();
    assert_eq!(sessions_of(&server, &management, &me_id).await.len(), 1);

    let logout = server.url(&format!(
        "/oidc/logout?id_token_hint={}",
        id2.as_str().unwrap()
    ));
    let (_, status, _) = browser
        .authorize(&logout, "http://never")
        .await
        .expect_page();
    assert_eq!(status, 200);
    assert!(sessions_of(&server, &management, &me_id).await.is_empty());
    let rt = first["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_status(&server, &web, rt).await, 400);
    for at in [
        &first["access_token"],
        &again["access_token"],
        &third["access_token"],
    ] {
        assert_eq!(userinfo(&server, at.as_str().unwrap()).await.0, 401);
        assert_eq!(
            introspect(&server, &web, at.as_str().unwrap()).await["active"],
            false
        );
    }
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let sid = jwt_parts(got[0].logout_token.as_deref().unwrap()).1["sid"].clone();
    assert_eq!(sid, claim(id1, "sid"));
}

/// Signing in as someone else in a browser holding a session ends that session first.
#[tokio::test]
async fn signing_in_as_another_user_ends_the_session_the_browser_held() {
    let server = server().await;
    server
        .cli(&[
            "users",
            "create",
            "--email",
            OTHER_EMAIL,
            "--password",
            PASSWORD,
        ])
        .await;
    let receiver = BackchannelReceiver::start().await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    let browser = Browser::new();
    let ada = tokens_by_password(
        &server,
        &browser,
        &web,
        &["offline_access"],
        "",
        (EMAIL, PASSWORD),
    )
    .await;
    let other = (OTHER_EMAIL, PASSWORD);
    let grace = tokens_by_password(&server, &browser, &web, &[], "&prompt=login", other).await;
    assert_ne!(
        claim(&ada["id_token"], "sid"),
        claim(&grace["id_token"], "sid")
    );
    assert_ne!(
        claim(&ada["id_token"], "sub"),
        claim(&grace["id_token"], "sub")
    );
    let rt = ada["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_status(&server, &web, rt).await, 400);
    assert_eq!(
        userinfo(&server, ada["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    assert_eq!(
        userinfo(&server, grace["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    let claims = jwt_parts(got[0].logout_token.as_deref().unwrap()).1;
    assert_eq!(claims["sid"], claim(&ada["id_token"], "sid"));
    // The browser is Grace's now: the next authorization is hers without a password.
    let auth = authorization(&rp(&server, &web).await, &[]);
    let callback = browser.authorize(&auth.url, &web.redirect_uri).await;
    let code = callback_code(&server, &callback.expect_redirect(), &auth);
    let tokens = exchange(&server, &web, code.secret(), auth).await;
    assert_eq!(
        claim(&tokens["id_token"], "sub"),
        claim(&grace["id_token"], "sub")
    );
}

/// OWASP ASVS V3.3.3: an administrator's password change ends every session of the user, their
/// refresh and access tokens with them, and tells the applications.
#[tokio::test]
async fn an_administrators_password_change_ends_every_session_of_the_user() {
    let server = server().await;
    let receiver = BackchannelReceiver::start().await;
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &receiver.url("/bc")],
    )
    .await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let me = (EMAIL, PASSWORD);
    let (b1, b2) = (Browser::new(), Browser::new());
    let one = tokens_by_password(&server, &b1, &web, &["offline_access"], "", me).await;
    let two = tokens_by_password(&server, &b2, &web, &["offline_access"], "", me).await;
    let management = management_token(&server, &admin).await;
    let id = user_id(&server, EMAIL).await;
    let patch = |body: Value| {
        latch_testkit::rp::reqwest_client()
            .patch(server.url(&format!("/api/v1/users/{id}")))
            .bearer_auth(&management)
            .json(&body)
            .send()
    };
    // A profile change ends nothing.
    let resp = patch(serde_json::json!({"name": "Ada King"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        userinfo(&server, one["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );

    let resp = patch(serde_json::json!({"password": "a new horse battery staple"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for t in [&one, &two] {
        let rt = t["refresh_token"].as_str().unwrap();
        assert_eq!(refresh_status(&server, &web, rt).await, 400);
        assert_eq!(
            userinfo(&server, t["access_token"].as_str().unwrap())
                .await
                .0,
            401
        );
    }
    assert!(sessions_of(&server, &management, &id).await.is_empty());
    assert_eq!(receiver.wait_for(2, Duration::from_secs(10)).await.len(), 2);
    // The browsers must sign in again.
    let auth = authorization(&rp(&server, &web).await, &[]);
    assert!(
        b1.authorize(&auth.url, &web.redirect_uri)
            .await
            .is_login_page()
    );
}

/// A deleted application's access tokens stop passing `/userinfo` and introspection, on this node
/// at once (API) and when the CLI deleted it (another process) within a second; its refresh
/// tokens and client authentication stop too.
#[tokio::test]
async fn nothing_issued_to_a_deleted_application_passes_any_endpoint() {
    let server = server().await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let management = management_token(&server, &admin).await;
    let me = (EMAIL, PASSWORD);
    for by_cli in [false, true] {
        let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
        let other = app(&server, "web", "http://127.0.0.1:7002/cb", &[]).await;
        let browser = Browser::new();
        let tokens = tokens_by_password(&server, &browser, &web, &["offline_access"], "", me).await;
        let at = tokens["access_token"].as_str().unwrap().to_owned();
        let kept = tokens_by_password(&server, &Browser::new(), &other, &[], "", me).await;
        assert_eq!(userinfo(&server, &at).await.0, 200);
        if by_cli {
            server.cli(&["apps", "delete", &web.id]).await;
        } else {
            let resp = latch_testkit::rp::reqwest_client()
                .delete(server.url(&format!("/api/v1/applications/{}", web.id)))
                .bearer_auth(&management)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 204);
            assert_eq!(userinfo(&server, &at).await.0, 401, "at once on this node");
        }
        let stopped = latch_testkit::wait_until(Duration::from_secs(1), || async {
            userinfo(&server, &at).await.0 == 401
        })
        .await;
        assert!(stopped, "within a second (by_cli = {by_cli})");
        // Refused: `invalid_grant` (its grants are gone) until the application cache, polled
        // every 500 ms, drops the application; `invalid_client` from then on.
        let rt = tokens["refresh_token"].as_str().unwrap();
        let status = refresh_status(&server, &web, rt).await;
        assert!(matches!(status, 400 | 401), "{status}");
        let kept_at = kept["access_token"].as_str().unwrap();
        assert_eq!(
            userinfo(&server, kept_at).await.0,
            200,
            "others' tokens live on"
        );
        assert_eq!(introspect(&server, &other, kept_at).await["active"], true);
    }
}

/// RFC 7009 §2.1: revoking a refresh token revokes the access tokens of its grant (from the code
/// and from each refresh), and no other grant's.
#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant_only() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let browser = Browser::new();
    let me = (EMAIL, PASSWORD);
    let first = tokens_by_password(&server, &browser, &web, &["offline_access"], "", me).await;
    let secret = web.client_secret.clone().unwrap();
    let basic = Some((web.client_id.as_str(), secret.as_str()));
    let rt = first["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", rt)];
    let (status, refreshed, _) = token(&server, &form, basic).await;
    assert_eq!(status, 200, "{refreshed}");
    // A second grant of the same application in the same session.
    let auth = authorization(&rp(&server, &web).await, &["offline_access"]);
    let callback = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_redirect();
    let code = callback_code(&server, &callback, &auth);
    let second = exchange(&server, &web, code.secret(), auth).await;

    let rt2 = refreshed["refresh_token"].as_str().unwrap();
    let (status, _, _) = post_form(&server, "/oauth/revoke", &[("token", rt2)], basic).await;
    assert_eq!(status, 200);
    for at in [&first["access_token"], &refreshed["access_token"]] {
        let at = at.as_str().unwrap();
        assert_eq!(introspect(&server, &web, at).await["active"], false);
        assert_eq!(userinfo(&server, at).await.0, 401);
    }
    let other_at = second["access_token"].as_str().unwrap();
    assert_eq!(introspect(&server, &web, other_at).await["active"], true);
    let other_rt = second["refresh_token"].as_str().unwrap();
    assert_eq!(refresh_status(&server, &web, other_rt).await, 200);
}

/// `none` authentication at the introspection endpoint (docs/api.md "Protocol notes"): a public client introspects its own
/// tokens with its client_id alone, and learns nothing of another application's.
#[tokio::test]
async fn a_public_client_introspects_its_own_token_and_no_other() {
    let server = server().await;
    let spa = app(&server, "spa", "http://127.0.0.1:7003/cb", &[]).await;
    let other = app(&server, "native", "http://127.0.0.1/cb", &[]).await;
    let tokens = tokens_by_password(
        &server,
        &Browser::new(),
        &spa,
        &["offline_access"],
        "",
        (EMAIL, PASSWORD),
    )
    .await;
    let at = tokens["access_token"].as_str().unwrap();
    let got = introspect(&server, &spa, at).await;
    assert_eq!(got["active"], true, "{got}");
    assert_eq!(got["client_id"], spa.client_id.as_str());
    let rt = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&server, &spa, rt).await["active"], true);
    assert_eq!(
        introspect(&server, &other, at).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&server, &other, rt).await,
        serde_json::json!({"active": false})
    );
}
