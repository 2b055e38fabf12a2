//! Failed back-channel deliveries are visible to administrators (issue 5):
//! `GET /api/v1/applications/{id}/backchannel-deliveries`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::Duration;

use latch_testkit::{BackchannelReceiver, Browser};
use support::*;

#[tokio::test]
async fn a_failing_receiver_shows_as_pending_with_its_error_then_as_delivered() {
    let server = server().await;
    let receiver = BackchannelReceiver::start().await;
    receiver.fail_first(2);
    let bc = receiver.url("/bc");
    let web = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--backchannel-logout-uri", &bc],
    )
    .await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let (_, t, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin.client_id, admin.client_secret.as_deref().unwrap())),
    )
    .await;
    let bearer = t["access_token"].as_str().unwrap().to_owned();
    let browser = Browser::new();
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &[]);
    sign_in_for_code(&server, &browser, &auth, &web.redirect_uri).await;

    let http = latch_testkit::rp::reqwest_client();
    let users: serde_json::Value = http
        .get(server.url(&format!("/api/v1/users?email={EMAIL}")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = users["data"][0]["id"].as_str().unwrap();
    let ended = http
        .delete(server.url(&format!("/api/v1/users/{user_id}/sessions")))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);

    let url = server.url(&format!(
        "/api/v1/applications/{}/backchannel-deliveries",
        web.id
    ));
    let list = || async {
        let v: serde_json::Value = http
            .get(&url)
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    let failed_once = latch_testkit::wait_until(Duration::from_secs(10), || async {
        let v = list().await;
        v["data"][0]["attempts"].as_i64().unwrap_or(0) >= 1 && v["data"][0]["status"] == "pending"
    })
    .await;
    assert!(failed_once, "{}", list().await);
    let v = list().await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // A generic reason (issue 14: the connector's message probed the network for the caller).
    assert!(
        v["data"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP ")),
        "{v}"
    );
    assert!(v["next_cursor"].is_null());
    receiver.wait_for(1, Duration::from_secs(20)).await;
    let delivered = latch_testkit::wait_until(Duration::from_secs(5), || async {
        list().await["data"][0]["status"] == "delivered"
    })
    .await;
    assert!(delivered, "{}", list().await);
}
