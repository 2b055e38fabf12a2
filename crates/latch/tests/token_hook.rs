//! The token hook end to end (issue 23, as Ory Hydra's): Latch POSTs what it is about to issue to
//! the application's hook, signed with the hook secret shown once; the answer adds namespaced
//! claims or denies; a hook that does not answer in time denies or is skipped as configured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;
#[path = "organizations/world.rs"]
#[allow(dead_code, reason = "not every step of the world is used here")]
mod world;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_testkit::Browser;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use world::{World, claims};

/// One request the hook received: its headers (lowercased names) and body.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A hook on a loopback port answering `status` and `body` after `delay`.
struct Hook {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Hook {
    async fn start(status: u16, body: Value, delay: Duration) -> Hook {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let answer = body.to_string();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answer) = (seen.clone(), answer.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut stream).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request);
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Hook { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        headers,
        body: buf[head_end..].to_vec(),
    })
}

/// Sets the web application's hook; returns the secret shown once.
async fn set_hook(w: &World, url: &str, on_failure: &str, timeout_ms: u64) -> String {
    let body = json!({"url": url, "on_failure": on_failure, "timeout_ms": timeout_ms});
    let created = w
        .post(&format!("/applications/{}/token-hook", w.web.id), body)
        .await;
    assert_eq!(created["url"], url);
    created["secret"].as_str().unwrap().to_owned()
}

/// `client_credentials` for the web application: status and body.
async fn client_token(w: &World) -> (u16, Value) {
    let form = [("grant_type", "client_credentials")];
    let basic = (
        w.web.client_id.as_str(),
        w.web.client_secret.as_deref().unwrap(),
    );
    let (status, body, _) = support::token(&w.server, &form, Some(basic)).await;
    (status, body)
}

/// What a receiver does: HMAC-SHA256 of the body under the decoded secret, in hex.
fn verifies(secret: &str, received: &Received) -> bool {
    let key: [u8; 32] = URL_SAFE_NO_PAD.decode(secret).unwrap().try_into().unwrap();
    let tag = latch_jose::hmac_sha256(&key, &received.body);
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    received.header("latch-signature") == Some(format!("sha256={hex}").as_str())
}

#[tokio::test]
async fn the_hook_is_told_what_is_issued_with_a_verifiable_signature_and_adds_claims() {
    let w = World::start().await;
    let app = format!("/applications/{}", w.web.id);
    w.patch(
        &app,
        json!({"custom_claims": {"https://example.com/plan": "gold"}}),
    )
    .await;
    let answer = json!({"claims": {
        "access_token": {"https://example.com/risk": "low", "https://example.com/plan": "free"},
        "id_token": {"https://example.com/risk": "low"},
    }});
    let hook = Hook::start(200, answer, Duration::ZERO).await;
    let secret = set_hook(&w, &hook.url, "deny", 1000).await;
    let shown = w.get(&format!("{app}/token-hook")).await;
    assert_eq!(
        shown,
        json!({"url": hook.url, "on_failure": "deny", "timeout_ms": 1000})
    );
    assert_eq!(w.get(&app).await["token_hook"], shown, "never the secret");

    let browser = Browser::new();
    let tokens = w.tokens(&browser, &["offline_access"], &[]).await;
    let (at, id) = (claims(&tokens["access_token"]), claims(&tokens["id_token"]));
    assert_eq!(at["https://example.com/risk"], "low", "{at}");
    assert_eq!(
        at["https://example.com/plan"], "gold",
        "never overrides: {at}"
    );
    assert_eq!(id["https://example.com/risk"], "low", "{id}");

    let calls = hook.received();
    assert_eq!(calls.len(), 1);
    assert!(verifies(&secret, &calls[0]), "{:?}", calls[0].headers);
    assert!(!verifies(&"A".repeat(43), &calls[0]));
    let body = calls[0].json();
    let user = w.user_id(support::EMAIL).await;
    assert_eq!(body["grant_type"], "authorization_code");
    assert_eq!(body["subject"], user.as_str());
    assert_eq!(body["client_id"], w.web.client_id.as_str());
    assert_eq!(body["organization"], Value::Null);
    assert!(
        body["granted_scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("openid")),
        "{body}"
    );
    assert_eq!(body["claims"]["access_token"]["sub"], user.as_str());
    assert_eq!(
        body["claims"]["access_token"]["https://example.com/plan"],
        "gold"
    );
    assert_eq!(body["claims"]["id_token"]["sub"], user.as_str());

    let (status, refreshed) = w.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        claims(&refreshed["access_token"])["https://example.com/risk"],
        "low"
    );
    let (status, body) = client_token(&w).await;
    assert_eq!(status, 200, "{body}");
    let kinds: Vec<Value> = hook
        .received()
        .iter()
        .map(|r| r.json()["grant_type"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("authorization_code"),
            json!("refresh_token"),
            json!("client_credentials")
        ]
    );
    assert!(hook.received().iter().all(|r| verifies(&secret, r)));

    // A new hook secret replaces the old one; removing the hook stops the calls.
    let second = set_hook(&w, &hook.url, "deny", 1000).await;
    assert_ne!(second, secret);
    client_token(&w).await;
    let last = hook.received().pop().unwrap();
    assert!(verifies(&second, &last) && !verifies(&secret, &last));
    w.delete(&format!("{app}/token-hook")).await;
    let before = hook.received().len();
    let (status, _) = client_token(&w).await;
    assert_eq!(status, 200);
    assert_eq!(hook.received().len(), before);
}

#[tokio::test]
async fn the_hook_denies_with_its_reason_in_the_error_description_charset() {
    let w = World::start().await;
    let answer = json!({"decision": "deny", "reason": "account \"frozen\"\nby billing é"});
    let hook = Hook::start(200, answer, Duration::ZERO).await;
    set_hook(&w, &hook.url, "proceed", 1000).await;
    let (status, body) = client_token(&w).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "access_denied");
    assert_eq!(body["error_description"], "account 'frozen' by billing ?");
    assert!(body.get("access_token").is_none());
}

#[tokio::test]
async fn a_hook_that_times_out_is_skipped_with_proceed_and_denies_with_deny() {
    let w = World::start().await;
    let answer = json!({"claims": {"access_token": {"https://example.com/late": true}}});
    let hook = Hook::start(200, answer, Duration::from_millis(1500)).await;
    set_hook(&w, &hook.url, "proceed", 200).await;
    let started = std::time::Instant::now();
    let (status, body) = client_token(&w).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        claims(&body["access_token"])
            .get("https://example.com/late")
            .is_none()
    );
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );

    set_hook(&w, &hook.url, "deny", 200).await;
    let (status, body) = client_token(&w).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "access_denied");
    assert_eq!(body["error_description"], "the token hook did not answer");

    // A failing answer (not 2xx) follows the same policy.
    let failing = Hook::start(500, json!({}), Duration::ZERO).await;
    set_hook(&w, &failing.url, "deny", 1000).await;
    let (status, body) = client_token(&w).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("access_denied")),
        "{body}"
    );
    assert_eq!(failing.received().len(), 1);
}

#[tokio::test]
async fn hook_urls_follow_the_backchannel_address_rules() {
    let w = World::start().await;
    let path = format!("/applications/{}/token-hook", w.web.id);
    for (url, field) in [
        ("https://169.254.169.254/hook", "url"),
        ("http://hooks.example.com/hook", "url"),
        ("https://10.0.0.1/hook", "url"),
    ] {
        let (status, body) = w.call(Method::POST, &path, Some(json!({"url": url}))).await;
        assert_eq!(status, 422, "{url}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.starts_with(&format!("{field}: ")),
            "{description}"
        );
    }
    let (status, body) = w
        .call(
            Method::POST,
            &path,
            Some(json!({"url": "https://h.example.com/", "timeout_ms": 9000})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("timeout_ms: ")
    );
    let (status, _) = w.call(Method::GET, &path, None).await;
    assert_eq!(status, 404, "nothing was set");
}

/// The CLI sets, shows and removes a hook as the management API does; the secret it prints is
/// the one the calls are signed with.
#[tokio::test]
async fn the_cli_sets_shows_and_removes_a_hook_whose_secret_signs_the_calls() {
    let w = World::start().await;
    let hook = Hook::start(200, json!({}), Duration::ZERO).await;
    let id = w.web.client_id.as_str();
    let set = ["apps", "token-hook", "set", id, "--url", &hook.url];
    let created = w
        .server
        .cli(
            &[
                &set[..],
                &["--on-failure", "proceed", "--timeout-ms", "500"],
            ]
            .concat(),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let view = json!({"url": hook.url, "on_failure": "proceed", "timeout_ms": 500});
    let app = format!("/applications/{}", w.web.id);
    assert_eq!(w.get(&format!("{app}/token-hook")).await, view);
    assert_eq!(
        w.server.cli(&["apps", "token-hook", "show", id]).await,
        view,
        "never the secret"
    );

    // The application is in effect within a second (the cache polls the store).
    let mut signed = false;
    for _ in 0..40 {
        let (status, body) = client_token(&w).await;
        assert_eq!(status, 200, "{body}");
        if let Some(call) = hook.received().last() {
            signed = verifies(&secret, call);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(signed, "{:?}", hook.received());

    // Bad input: refused naming the field, the hook kept.
    let out = w
        .server
        .cli_output(&["apps", "token-hook", "set", id, "--url", "ftp://x.example"])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("url"), "{stderr}");
    assert_eq!(w.get(&format!("{app}/token-hook")).await, view);

    w.server.cli(&["apps", "token-hook", "delete", id]).await;
    let (status, _) = w
        .call(Method::GET, &format!("{app}/token-hook"), None)
        .await;
    assert_eq!(status, 404);
    let out = w
        .server
        .cli_output(&["apps", "token-hook", "delete", id])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
}
