//! `latch backup` while serving, and the restore drill of docs/deploy.md; `latch keys rewrap`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latch_testkit::{Browser, LatchServer};
use support::*;

/// Codes for `n` authorizations of `web` in one browser session (one sign-in, then SSO).
async fn codes(server: &LatchServer, web: &App, n: usize) -> Vec<(String, String)> {
    let browser = Browser::new();
    let client = rp(server, web).await;
    let mut out = Vec::new();
    for _ in 0..n {
        let auth = authorization(&client, &["offline_access"]);
        let step = browser.authorize(&auth.url, &web.redirect_uri).await;
        let callback = if step.is_login_page() {
            browser
                .sign_in(&auth.url, &web.redirect_uri, EMAIL, PASSWORD)
                .await
        } else {
            step.expect_redirect()
        };
        out.push((
            callback_code(server, &callback, &auth).secret().clone(),
            auth.verifier.secret().clone(),
        ));
    }
    out
}

async fn exchange(server: &LatchServer, web: &App, code: &str, verifier: &str) -> Option<String> {
    let (s, body, _) = token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &web.redirect_uri),
            ("code_verifier", verifier),
        ],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    (s == 200).then(|| body["refresh_token"].as_str().unwrap().to_owned())
}

async fn refreshes(server: &LatchServer, web: &App, rt: &str) -> bool {
    let (s, _, _) = token(
        server,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    s == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_under_load_restores_every_acknowledged_refresh_token() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let all = codes(&server, &web, 60).await;
    // Token exchanges run (writes) while the backup is taken; each answer is timestamped.
    let acknowledged: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let server = Arc::new(tokio::sync::RwLock::new(server));
    let mut load = Vec::new();
    for chunk in all.chunks(6) {
        let (server, web, acknowledged) = (server.clone(), clone_app(&web), acknowledged.clone());
        let chunk = chunk.to_vec();
        load.push(tokio::spawn(async move {
            for (code, verifier) in chunk {
                let s = server.read().await;
                if let Some(rt) = exchange(&s, &web, &code, &verifier).await {
                    acknowledged.lock().unwrap().push((Instant::now(), rt));
                }
                let id = web.client_id.as_str();
                let secret = web.client_secret.as_deref().unwrap();
                token(
                    &s,
                    &[("grant_type", "client_credentials")],
                    Some((id, secret)),
                )
                .await;
            }
        }));
    }
    // Let the load start, then back up in the middle of it.
    let started = latch_testkit::wait_until(Duration::from_secs(20), || {
        let acknowledged = acknowledged.clone();
        async move { acknowledged.lock().unwrap().len() >= 10 }
    })
    .await;
    assert!(started, "the load did not start");
    let backup_started = Instant::now();
    let (dest, db_path) = {
        let s = server.read().await;
        let dest = s.data_dir().join("backup.db");
        let out = s.cli(&["backup", dest.to_str().unwrap()]).await;
        assert_eq!(out["backup"], dest.to_str().unwrap());
        assert!(out["bytes"].as_u64().unwrap() > 0);
        assert!(
            out["master_key"].as_str().unwrap().contains("master-key"),
            "{out}"
        );
        (dest, latch_store::sqlite_path(s.database_url()).unwrap())
    };
    for t in load {
        t.await.unwrap();
    }
    let before: Vec<String> = acknowledged
        .lock()
        .unwrap()
        .iter()
        .filter(|(at, _)| *at < backup_started)
        .map(|(_, rt)| rt.clone())
        .collect();
    assert!(before.len() >= 10 && before.len() < 60, "{}", before.len());
    // A second backup to the same file is refused; the file is left as it is.
    let s = server.read().await;
    let again = s.cli_output(&["backup", dest.to_str().unwrap()]).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    drop(s);

    // The restore drill (docs/deploy.md): stop, put the copy and the key file in place, start.
    let mut old = Arc::try_unwrap(server).ok().unwrap().into_inner();
    let port: u16 = old.listen().rsplit(':').next().unwrap().parse().unwrap();
    old.stop().await;
    let restored_dir = latch_testkit::TempDir::new();
    let restored = restored_dir.path().join("latch.db");
    std::fs::copy(&dest, &restored).unwrap();
    let key = std::fs::read_to_string(format!("{}.master-key", db_path.display())).unwrap();
    let restored_server = LatchServer::builder(bin())
        .port(port)
        .database_url(format!("sqlite://{}", restored.display()))
        .env("LATCH_MASTER_KEY", key.trim())
        .start()
        .await;
    for rt in &before {
        assert!(
            refreshes(&restored_server, &web, rt).await,
            "a refresh token acknowledged before the backup works after the restore"
        );
    }
}

fn clone_app(app: &App) -> App {
    App {
        client_id: app.client_id.clone(),
        client_secret: app.client_secret.clone(),
        redirect_uri: app.redirect_uri.clone(),
        id: app.id.clone(),
    }
}

#[tokio::test]
async fn backup_refuses_postgres_and_names_pg_dump() {
    let server = LatchServer::builder(bin()).start().await;
    let out = server
        .cli_output_with(
            &[("LATCH_DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
            &["backup", "/tmp/never-written.db"],
        )
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Keys signed before a rewrap still sign after it, under the new master key only.
#[tokio::test]
async fn keys_rewrap_reencrypts_every_key_under_the_new_master_key() {
    let old_key = latch_testkit::random_master_key();
    let new_key = latch_testkit::random_master_key();
    let mut server = LatchServer::builder(bin())
        .env("LATCH_MASTER_KEY", &old_key)
        .start()
        .await;
    let keys_before = server.cli(&["keys", "list"]).await;
    server.stop().await;
    let bad = server
        .cli_output(&["keys", "rewrap", "--new-master-key", "c2hvcnQ="])
        .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--new-master-key"));
    let out = server
        .cli(&["keys", "rewrap", "--new-master-key", &new_key])
        .await;
    assert_eq!(out["rewrapped"], 3, "{out}");
    // The old key no longer opens them: start-up says so …
    let refused = LatchServer::builder(bin())
        .database_url(server.database_url())
        .env("LATCH_MASTER_KEY", &old_key)
        .try_start()
        .await;
    let refused = refused
        .expect_err("the old master key no longer opens the keys")
        .to_string();
    assert!(refused.contains("master key is not the one"), "{refused}");
    // … the new one does, and the same keys are published and sign.
    let renewed = LatchServer::builder(bin())
        .database_url(server.database_url())
        .env("LATCH_MASTER_KEY", &new_key)
        .start()
        .await;
    assert_eq!(renewed.cli(&["keys", "list"]).await, keys_before);
    let web = app(&renewed, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let (s, body, _) = token(
        &renewed,
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (header, _) = jwt_parts(body["access_token"].as_str().unwrap());
    let kids: Vec<&str> = keys_before
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(kids.contains(&header["kid"].as_str().unwrap()));
}

/// Without LATCH_MASTER_KEY (SQLite), the key file is replaced by the new key.
#[tokio::test]
async fn keys_rewrap_replaces_the_sqlite_key_file() {
    let mut server = LatchServer::start(bin()).await;
    server.stop().await;
    let new_key = latch_testkit::random_master_key();
    let out = server
        .cli(&["keys", "rewrap", "--new-master-key", &new_key])
        .await;
    assert_eq!(out["rewrapped"], 3, "{out}");
    let file = server.data_dir().join("latch.db.master-key");
    assert_eq!(std::fs::read_to_string(file).unwrap().trim(), new_key);
    server.restart().await;
    assert_eq!(
        server
            .cli(&["keys", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// A rewrap re-seals the TOTP secrets with the signing keys: after a restart under the new master
/// key, a user with an authenticator app signs in with its next code, no factor reset needed.
#[tokio::test]
async fn keys_rewrap_reseals_totp_secrets_so_the_app_keeps_working() {
    use latch_core::totp::step_at;
    use serde_json::json;
    use support::account::{REDIRECT, code, enrol, now, submit};

    let old_key = latch_testkit::random_master_key();
    let new_key = latch_testkit::random_master_key();
    let mut server = server_with(&[("LATCH_MASTER_KEY", &old_key)]).await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let browser = Browser::new();
    let auth = authorization(&rp(&server, &web).await, &[]);
    sign_in_for_code(&server, &browser, &auth, REDIRECT).await;
    let (secret, _) = enrol(&server, &browser).await;
    server.stop().await;

    let out = server
        .cli(&["keys", "rewrap", "--new-master-key", &new_key])
        .await;
    assert_eq!(
        (&out["rewrapped"], &out["totp_secrets"], &out["unreadable"]),
        (&json!(3), &json!(1), &json!(0)),
        "{out}"
    );

    let renewed = LatchServer::builder(bin())
        .database_url(server.database_url())
        .env("LATCH_MASTER_KEY", &new_key)
        .start()
        .await;
    let auth = authorization(&rp(&renewed, &web).await, &[]);
    let browser = Browser::new();
    let (login, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let (at, _, html) = browser
        .submit_login_form(&login, &html, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_page();
    assert!(
        at.as_str().contains("/login/second-factor"),
        "the factor is still there: {at}"
    );
    let now_code = code(&secret, step_at(now()));
    let callback = submit(
        &browser,
        &at,
        &html,
        "/login/second-factor",
        &[("code", &now_code)],
    )
    .await
    .expect_redirect();
    callback_code(&renewed, &callback, &auth);
}
