//! Acknowledged writes survive `kill -9`: every refresh token the server answered with before it
//! was killed still works after a restart, on SQLite and on PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::sync::{Arc, Mutex};

use latch_testkit::{Browser, LatchServer, PostgresTestDb};
use support::*;

/// Exchanges codes in parallel until killed; returns the refresh tokens whose responses arrived.
async fn issue_under_load_then_kill(server: &mut LatchServer, web: &App) -> Vec<String> {
    let browser = Browser::new();
    let client = rp(server, web).await;
    let mut codes = Vec::new();
    for _ in 0..40 {
        let auth = authorization(&client, &["offline_access"]);
        let step = browser.authorize(&auth.url, &web.redirect_uri).await;
        let callback = if step.is_login_page() {
            browser
                .sign_in(&auth.url, &web.redirect_uri, EMAIL, PASSWORD)
                .await
        } else {
            step.expect_redirect()
        };
        codes.push((
            callback_code(server, &callback, &auth).secret().clone(),
            auth.verifier.secret().clone(),
        ));
    }
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (code, verifier) in codes {
        let (url, id, secret, redirect) = (
            server.url("/oauth/token"),
            web.client_id.clone(),
            web.client_secret.clone().unwrap(),
            web.redirect_uri.clone(),
        );
        let acknowledged = acknowledged.clone();
        tasks.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect.as_str()),
                ("code_verifier", verifier.as_str()),
            ];
            let sent = latch_testkit::rp::reqwest_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&form)
                .send()
                .await;
            if let Ok(resp) = sent
                && resp.status() == 200
                && let Ok(body) = resp.json::<serde_json::Value>().await
                && let Some(rt) = body["refresh_token"].as_str()
            {
                acknowledged.lock().unwrap().push(rt.to_owned());
            }
        }));
    }
    // Kill as soon as the first answers arrive, with the other exchanges still in flight.
    let started = latch_testkit::wait_until(std::time::Duration::from_secs(20), || {
        let acknowledged = acknowledged.clone();
        async move { !acknowledged.lock().unwrap().is_empty() }
    })
    .await;
    assert!(started, "the server answered no exchange");
    server.kill9().await;
    for t in tasks {
        let _ = t.await;
    }
    acknowledged.lock().unwrap().clone()
}

async fn every_acknowledged_token_still_works(mut server: LatchServer) {
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let acknowledged = issue_under_load_then_kill(&mut server, &web).await;
    assert!(
        !acknowledged.is_empty(),
        "some exchanges were acknowledged before the kill"
    );
    server.restart().await;
    for rt in &acknowledged {
        let (s, body, _) = token(
            &server,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
            Some((&web.client_id, web.client_secret.as_deref().unwrap())),
        )
        .await;
        assert_eq!(
            s, 200,
            "an acknowledged refresh token survived kill -9: {body}"
        );
    }
}

#[tokio::test]
async fn acknowledged_refresh_tokens_survive_kill_9_on_sqlite() {
    every_acknowledged_token_still_works(server().await).await;
}

#[tokio::test]
async fn acknowledged_refresh_tokens_survive_kill_9_on_postgres() {
    let Some(db) = PostgresTestDb::create("durability_kill9") else {
        return;
    };
    let server = LatchServer::builder(bin())
        .database_url(db.url())
        .start()
        .await;
    server
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    every_acknowledged_token_still_works(server).await;
}
