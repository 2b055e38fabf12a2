//! The code flow on PostgreSQL, across two server processes sharing one database: any node may
//! authorize, exchange or refresh, and single use holds across nodes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{Browser, LatchServer, PostgresTestDb, random_master_key};
use support::*;

async fn two_nodes(db: &PostgresTestDb, window: &str) -> (LatchServer, LatchServer) {
    let key = random_master_key();
    let start = || {
        LatchServer::builder(bin())
            .database_url(db.url())
            .env("LATCH_MASTER_KEY", key.clone())
            .env("LATCH_REFRESH_REUSE_WINDOW", window)
            .start()
    };
    let a = start().await;
    let b = start().await;
    a.cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    (a, b)
}

fn form<'a>(app: &'a App, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &app.redirect_uri),
        ("code_verifier", verifier),
    ]
}

#[tokio::test]
async fn a_code_issued_by_one_node_is_exchanged_once_across_both() {
    let Some(db) = PostgresTestDb::create("pg_code_across_nodes") else {
        return;
    };
    let (a, b) = two_nodes(&db, "0").await;
    let web = app(&a, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let client = rp(&a, &web).await;
    let browser = Browser::new();
    let auth = authorization(&client, &["offline_access"]);
    let code = sign_in_for_code(&a, &browser, &auth, &web.redirect_uri).await;
    let (code, verifier) = (code.secret().clone(), auth.verifier.secret().clone());
    let secret = web.client_secret.clone().unwrap();

    // 50 simultaneous exchanges, alternating nodes: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = if i % 2 == 0 {
            a.url("/oauth/token")
        } else {
            b.url("/oauth/token")
        };
        let body: Vec<(String, String)> = form(&web, &code, &verifier)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let (id, secret) = (web.client_id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            let r = latch_testkit::rp::reqwest_client()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&body)
                .send()
                .await
                .unwrap();
            let ok = r.status() == 200;
            let v: serde_json::Value = r.json().await.unwrap();
            ok.then(|| v["refresh_token"].as_str().unwrap().to_owned())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        winners.extend(t.await.unwrap());
    }
    assert_eq!(winners.len(), 1, "exactly one exchange succeeds");
    // The replays revoked the winner's refresh token (RFC 6749 §4.1.2).
    let (s, body, _) = token(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &winners[0]),
        ],
        Some((&web.client_id, &secret)),
    )
    .await;
    assert_oauth_error(s, &body, 400, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_once_across_nodes_and_sso_spans_them() {
    let Some(db) = PostgresTestDb::create("pg_refresh_across_nodes") else {
        return;
    };
    let (a, b) = two_nodes(&db, "10").await;
    let web = app(&a, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let spa = app(&a, "spa", "http://127.0.0.1:7002/cb", &[]).await;
    let browser = Browser::new();
    // Sign in on node A; node B's authorize sees the same session (shared database).
    let client = rp(&a, &web).await;
    let auth = authorization(&client, &["offline_access"]);
    let code = sign_in_for_code(&a, &browser, &auth, &web.redirect_uri).await;
    let spa_client = rp(&b, &spa).await;
    let spa_auth = authorization(&spa_client, &[]);
    let b_url = spa_auth.url.replace(a.issuer(), b.issuer());
    let step = browser.authorize(&b_url, &spa.redirect_uri).await;
    assert!(
        !step.is_login_page(),
        "SSO across nodes: cookies are per host, so this checks the session store"
    );

    let secret = web.client_secret.clone().unwrap();
    let (s, t, _) = token(
        &b,
        &form(&web, code.secret(), auth.verifier.secret()),
        Some((&web.client_id, &secret)),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let urls = [a.url("/oauth/token"), b.url("/oauth/token")];
    let successors: std::collections::HashSet<String> = refresh_concurrently(&urls, &web, &rt, 50)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(
        successors.len(),
        1,
        "one rotation, every retry gets the same successor"
    );
}
