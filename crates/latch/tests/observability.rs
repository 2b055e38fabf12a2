//! Logs and metrics an operator can act on: the access log, refusals logged with their reason
//! (never a secret), audit details as JSON objects in JSON logs, one line per sign-in, token
//! errors by code, process and build metrics, `/healthz` and `/readyz`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{Browser, LatchServer};
use serde_json::Value;
use support::*;

/// The JSON log lines of `target`.
fn lines_of(server: &LatchServer, target: &str) -> Vec<Value> {
    server
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == target)
        .collect()
}

#[tokio::test]
async fn the_access_log_says_method_route_status_duration_and_client_only_when_on() {
    let server = LatchServer::builder(bin())
        .json_logs()
        .env("LATCH_ACCESS_LOG", "on")
        .start()
        .await;
    let http = latch_testkit::rp::reqwest_client();
    let secret_query = "/oauth/authorize?client_id=nobody&code=SECRETCODE123";
    http.get(server.url(secret_query)).send().await.unwrap();
    http.get(server.url("/keys")).send().await.unwrap();
    let lines = lines_of(&server, "latch::access");
    let keys = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/keys")
        .unwrap_or_else(|| panic!("no access line for /keys: {lines:?}"));
    let f = &keys["fields"];
    assert_eq!(f["method"], "GET");
    assert_eq!(f["status"], 200);
    assert!(f["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(f["client"], "127.0.0.1");
    let authorize = lines
        .iter()
        .find(|l| l["fields"]["route"] == "/oauth/authorize")
        .unwrap();
    assert_eq!(authorize["fields"]["status"], 400);
    assert!(
        !server.logs().contains("SECRETCODE123"),
        "no query strings in the logs"
    );

    let quiet = LatchServer::builder(bin()).json_logs().start().await;
    http.get(quiet.url("/keys")).send().await.unwrap();
    assert!(
        lines_of(&quiet, "latch::access").is_empty(),
        "off by default"
    );
}

#[tokio::test]
async fn refusals_are_logged_with_their_reason_and_never_the_secret() {
    let server = LatchServer::builder(bin()).json_logs().start().await;
    server
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let http = latch_testkit::rp::reqwest_client();
    // An unregistered redirect URI: an error page, and a log line with the URI received.
    let evil = format!("https://evil.example/{}\ncallback", "x".repeat(400));
    let url = url::Url::parse_with_params(
        &server.url("/oauth/authorize"),
        &[
            ("client_id", web.client_id.as_str()),
            ("redirect_uri", evil.as_str()),
            ("response_type", "code"),
        ],
    )
    .unwrap();
    assert_eq!(http.get(url).send().await.unwrap().status(), 400);
    // A wrong client secret and a wrong password.
    let (s, _, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, "not-the-secret-WRONGSECRET")),
    )
    .await;
    assert_eq!(s, 401);
    let browser = Browser::new();
    let client = rp(&server, &web).await;
    let auth = authorization(&client, &["openid"]);
    let (page, _, html) = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    browser
        .submit_login_form(&page, &html, EMAIL, "WRONGPASSWORD-123", &web.redirect_uri)
        .await;
    let callback = browser
        .sign_in(&auth.url, &web.redirect_uri, EMAIL, PASSWORD)
        .await;
    assert!(param(&callback, "code").is_some());

    let logs = server.logs();
    for secret in [
        "WRONGSECRET",
        "WRONGPASSWORD",
        PASSWORD,
        web.client_secret.as_deref().unwrap(),
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
    let all: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let message =
        |m: &str| -> Vec<&Value> { all.iter().filter(|l| l["fields"]["message"] == m).collect() };
    let refused = message("authorization request refused");
    assert_eq!(refused.len(), 1, "{refused:?}");
    let uri = refused[0]["fields"]["redirect_uri"].as_str().unwrap();
    assert!(uri.contains("https://evil.example/xxx"), "{uri}");
    assert!(
        uri.len() < 260,
        "the URI received is truncated: {}",
        uri.len()
    );
    assert!(
        !uri.contains('\n'),
        "escaped: a value cannot forge a log line"
    );
    let failed_client = message("client authentication failed");
    assert_eq!(failed_client.len(), 1);
    assert!(
        failed_client[0]["fields"]["client_id"]
            .as_str()
            .unwrap()
            .contains(&web.client_id)
    );
    // One line per sign-in (its audit event), with details as a JSON object.
    let audit = lines_of(&server, "latch::audit");
    let sign_ins: Vec<&Value> = audit
        .iter()
        .filter(|l| l["fields"]["type"].as_str().unwrap().starts_with("login."))
        .collect();
    assert_eq!(sign_ins.len(), 2, "{sign_ins:?}");
    assert_eq!(sign_ins[0]["fields"]["reason"], "wrong_password");
    assert_eq!(sign_ins[1]["fields"]["type"], "login.success");
    assert!(message("sign-in").is_empty(), "no second line per sign-in");
    let issued = audit
        .iter()
        .find(|l| l["fields"]["type"] == "token.issued" || l["fields"]["type"] == "login.success")
        .unwrap();
    assert!(issued["fields"]["details"].is_object(), "{issued}");
}

#[tokio::test]
async fn metrics_count_token_errors_by_code_and_describe_the_process() {
    let port = latch_testkit::free_port();
    let server = LatchServer::builder(bin())
        .env("LATCH_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .start()
        .await;
    server
        .cli(&["users", "create", "--email", EMAIL, "--password", PASSWORD])
        .await;
    let signed_in = app(&server, "web", "http://127.0.0.1:7002/cb", &[]).await;
    let auth = authorization(&rp(&server, &signed_in).await, &["openid"]);
    Browser::new()
        .sign_in(&auth.url, &signed_in.redirect_uri, EMAIL, PASSWORD)
        .await;
    for _ in 0..2 {
        token(
            &server,
            &[("grant_type", "password")],
            Some(("nobody", "x")),
        )
        .await;
    }
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let secret = web.client_secret.as_deref().unwrap();
    token(
        &server,
        &[("grant_type", "nonsense")],
        Some((&web.client_id, secret)),
    )
    .await;
    let text = latch_testkit::rp::reqwest_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"latch_token_errors_total{error="invalid_client"} 2"#),
        "{text}"
    );
    assert!(text.contains("\nlatch_active_sessions 1\n"), "{text}");
    assert!(
        text.contains("latch_db_connections{state=\"idle\"} "),
        "{text}"
    );
    assert!(text.contains("\nlatch_db_waiting 0\n"), "{text}");
    assert!(
        text.contains(
            "latch_db_operation_duration_seconds_count{operation=\"get_user_by_email\"} "
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"latch_token_errors_total{error="unsupported_grant_type"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "latch_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(text.contains(&format!("\n{name} ")), "{name}: {text}");
    }
}

#[tokio::test]
async fn healthz_says_alive_and_readyz_says_ready() {
    let server = LatchServer::start(bin()).await;
    let http = latch_testkit::rp::reqwest_client();
    for path in ["/healthz", "/readyz"] {
        let resp = http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}
