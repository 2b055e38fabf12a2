//! Issue 21, end to end: with a short `LATCH_AUDIT_RETENTION`, old audit events and ended sessions
//! disappear from the database while nothing still valid does — a live session and its refresh
//! token keep working, a rotated refresh token presented again long after the retention is still
//! recognised as reuse (RFC 9700 §4.14.2) and revokes its grant, and a back-channel logout that
//! could not be delivered yet is still delivered.
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

/// Tokens for `app` (with a refresh token) through the hosted login page, in `browser`.
async fn sign_in(server: &LatchServer, browser: &Browser, app: &App) -> Value {
    let auth = authorization(&rp(server, app).await, &["offline_access"]);
    let code = sign_in_for_code(server, browser, &auth, &app.redirect_uri).await;
    exchange(server, app, code.secret(), auth).await
}

async fn refresh(server: &LatchServer, app: &App, refresh_token: &str) -> (u16, Value) {
    let secret = app.client_secret.clone().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    let (status, body, _) = token(server, &form, Some((&app.client_id, &secret))).await;
    (status, body)
}

fn claim(id_token: &Value, name: &str) -> String {
    let claims = jwt_parts(id_token.as_str().unwrap()).1;
    claims[name].as_str().unwrap().to_owned()
}

/// Rows of the SQLite database's `sessions` table with this sid, ended or not.
fn session_rows(server: &LatchServer, sid: &str) -> i64 {
    let path = latch_store::sqlite_path(server.database_url()).unwrap();
    let db = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap();
    db.query_row("SELECT count(*) FROM sessions WHERE sid = ?1", [sid], |r| {
        r.get(0)
    })
    .unwrap()
}

async fn audit_ids(server: &LatchServer, bearer: &str, kind: &str) -> Vec<String> {
    let url = server.url(&format!("/api/v1/audit-events?type={kind}&limit=200"));
    let v: Value = latch_testkit::rp::reqwest_client()
        .get(&url)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = v["data"].as_array().unwrap();
    data.iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The value of one `latch_retention_purged_rows_total` series, 0 if absent.
async fn purged(metrics_port: u16, table: &str) -> u64 {
    let text = latch_testkit::rp::reqwest_client()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("latch_retention_purged_rows_total{{table=\"{table}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[tokio::test]
async fn a_short_retention_purges_history_and_ended_sessions_but_nothing_still_valid() {
    let metrics_port = latch_testkit::free_port();
    let server = server_with(&[
        ("LATCH_AUDIT_RETENTION", "3s"),
        ("LATCH_METRICS_LISTEN", &format!("127.0.0.1:{metrics_port}")),
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
    let admin = admin_token(&server).await;

    // A live session whose refresh token rotates twice: generation 2 is live, 0 and 1 are spent.
    let kept = Browser::new();
    let first = sign_in(&server, &kept, &web).await;
    // Read at once: three seconds from now it may be gone.
    let old_sign_in = audit_events(&server, &admin, "login.success", 1).await;
    let old_id = old_sign_in[0]["id"].as_str().unwrap().to_owned();
    let spent = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(&server, &web, &spent).await;
    assert_eq!(status, 200, "{second}");
    let just_replaced = second["refresh_token"].as_str().unwrap().to_owned();
    let (status, third) = refresh(&server, &web, &just_replaced).await;
    assert_eq!(status, 200, "{third}");
    let live = third["refresh_token"].as_str().unwrap().to_owned();

    // Another session, signed out while the application's back-channel endpoint fails.
    receiver.fail_first(usize::MAX);
    let gone = Browser::new();
    let ended = sign_in(&server, &gone, &web).await;
    let ended_sid = claim(&ended["id_token"], "sid");
    let logout = server.url(&format!(
        "/oidc/logout?id_token_hint={}",
        ended["id_token"].as_str().unwrap()
    ));
    let (_, status, _) = gone.authorize(&logout, "http://never").await.expect_page();
    assert_eq!(status, 200);
    assert_eq!(
        session_rows(&server, &ended_sid),
        1,
        "ended, not yet purged"
    );
    assert!(
        latch_testkit::wait_until(Duration::from_secs(10), || async {
            !receiver.attempts().is_empty()
        })
        .await,
        "the first delivery was tried (and refused)"
    );

    // The sweep runs every second with a 3 s retention: the history and the ended session go.
    let purged_in_time = latch_testkit::wait_until(Duration::from_secs(20), || async {
        let left = audit_ids(&server, &admin, "login.success").await;
        !left.contains(&old_id) && session_rows(&server, &ended_sid) == 0
    })
    .await;
    assert!(
        purged_in_time,
        "old sign-in events and the ended session are purged"
    );
    assert!(purged(metrics_port, "audit_events").await >= 1);
    assert!(purged(metrics_port, "sessions").await >= 1);

    // Nothing still valid went: the live session, its refresh token…
    let live_sid = claim(&first["id_token"], "sid");
    assert_eq!(session_rows(&server, &live_sid), 1);
    let user_id = claim(&first["id_token"], "sub");
    let sessions: Value = latch_testkit::rp::reqwest_client()
        .get(server.url(&format!("/api/v1/users/{user_id}/sessions")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [live_sid.as_str()]);
    let (status, fourth) = refresh(&server, &web, &live).await;
    assert_eq!(status, 200, "the live refresh token still works: {fourth}");
    let newest = fourth["refresh_token"].as_str().unwrap().to_owned();

    // …a token rotated long before the retention is still known as reused, and revokes its grant…
    let (status, body) = refresh(&server, &web, &spent).await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    let (status, body) = refresh(&server, &web, &newest).await;
    assert_oauth_error(status, &body, 400, "invalid_grant");
    let reuse = audit_events(&server, &admin, "token.reuse_detected", 1).await;
    assert_eq!(reuse[0]["reason"], "refresh_token_reused", "{reuse:?}");
    assert_eq!(reuse[0]["user_id"], user_id.as_str(), "{reuse:?}");

    // …and the pending back-channel logout of the purged session is delivered once it can be.
    receiver.fail_first(0);
    let got = receiver.wait_for(1, Duration::from_secs(40)).await;
    let token = got[0].logout_token.as_deref().unwrap();
    assert_eq!(jwt_parts(token).1["sid"], ended_sid.as_str());
}
