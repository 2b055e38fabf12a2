//! The audit log end to end: sign-ins (failed and successful), token issuance, a client secret, a
//! management change and a logout each show up at `GET /api/v1/audit-events`, the filters and
//! pages work, and no secret, password or token appears in any event or in the server's logs.
// Test code reports failures by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use latch_testkit::{Browser, LatchServer};
use serde_json::{Value, json};
use support::{App, EMAIL, PASSWORD, app, authorization, callback_code, token};

const REDIRECT: &str = "https://app.example.com/cb";
const WRONG_PASSWORD: &str = "not-the-password-4f7c2a";

/// The management API as the bootstrapped management application calls it.
struct Admin {
    server: LatchServer,
    token: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = latch_testkit::rp::reqwest_client()
            .request(method, self.server.url(&format!("/api/v1{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn events(&self, query: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/audit-events?{query}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Polls until every type in `kinds` shows under `query` (events are written in batches).
    async fn wait_for(&self, query: &str, kinds: &[&str]) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let data = self.events(query).await["data"].as_array().unwrap().clone();
            let missing: Vec<_> = kinds
                .iter()
                .filter(|k| !data.iter().any(|e| e["type"] == **k))
                .collect();
            if missing.is_empty() {
                return data;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "missing {missing:?} in {data:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn basic_of(app: &App) -> Option<(&str, &str)> {
    Some((&app.client_id, app.client_secret.as_deref().unwrap()))
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn every_audited_action_is_listed_filtered_and_free_of_secrets() {
    let server = support::server().await;
    let admin_app = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "admin",
            "--type",
            "web",
            "--management-api",
        ])
        .await;
    let admin_id = admin_app["client_id"].as_str().unwrap().to_owned();
    let admin_secret = admin_app["client_secret"].as_str().unwrap().to_owned();
    let (status, body, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin_id, &admin_secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = Admin {
        token: body["access_token"].as_str().unwrap().to_owned(),
        server,
    };
    let server = &admin.server;
    let web = app(server, "web", REDIRECT, &[]).await;
    let client = support::rp(server, &web).await;

    // A failed sign-in, then a successful one and a code exchange.
    let browser = Browser::new();
    let auth = authorization(&client, &["openid", "offline_access"]);
    let (page, _, html) = browser.authorize(&auth.url, REDIRECT).await.expect_page();
    let (_, _, again) = browser
        .submit_login_form(&page, &html, EMAIL, WRONG_PASSWORD, REDIRECT)
        .await
        .expect_page();
    let callback = browser
        .submit_login_form(&page, &again, EMAIL, PASSWORD, REDIRECT)
        .await
        .expect_redirect();
    let code = callback_code(server, &callback, &auth);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.secret().as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", auth.verifier.secret().as_str()),
    ];
    let (status, tokens, _) = token(server, &form, basic_of(&web)).await;
    assert_eq!(status, 200, "{tokens}");

    // A secret, a patch, a logout.
    let app_path = format!("/applications/{}", web.id);
    let (status, secret) = admin
        .call(reqwest::Method::POST, &format!("{app_path}/secrets"), None)
        .await;
    assert_eq!(status, 201, "{secret}");
    let (status, _) = admin
        .call(
            reqwest::Method::PATCH,
            &app_path,
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(status, 200);
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut logout = url::Url::parse(&server.url("/oidc/logout")).unwrap();
    logout
        .query_pairs_mut()
        .append_pair("id_token_hint", id_token);
    let (_, status, html) = browser
        .authorize(logout.as_str(), REDIRECT)
        .await
        .expect_page();
    assert_eq!(status, 200, "{html}");

    let (_, users) = admin
        .call(reqwest::Method::GET, &format!("/users?email={EMAIL}"), None)
        .await;
    let user_id = users["data"][0]["id"].as_str().unwrap().to_owned();
    let mine = admin
        .wait_for(
            &format!("user_id={user_id}"),
            &[
                "login.failure",
                "login.success",
                "token.issued",
                "logout",
                "session.ended",
            ],
        )
        .await;
    let all = admin
        .wait_for("limit=200", &["secret.created", "management.change"])
        .await;

    // Each event says who, what, when, from where.
    let failure = mine.iter().find(|e| e["type"] == "login.failure").unwrap();
    assert_eq!(failure["outcome"], "failure");
    assert_eq!(failure["reason"], "wrong_password");
    assert_eq!(failure["ip"], "127.0.0.1");
    assert_eq!(failure["actor"], json!({"type": "user", "id": user_id}));
    let success = mine.iter().find(|e| e["type"] == "login.success").unwrap();
    assert_eq!(success["client_id"], web.client_id.as_str());
    assert!(success["session_id"].is_string());
    assert!(success["at"].as_str().unwrap().ends_with('Z'));
    let issued = mine.iter().find(|e| e["type"] == "token.issued").unwrap();
    assert_eq!(issued["details"]["grant"], "authorization_code");
    assert!(
        issued["details"].get("count").is_none(),
        "one event per token: {issued}"
    );
    assert_eq!(issued["actor"]["type"], "client");
    let ended = mine.iter().find(|e| e["type"] == "session.ended").unwrap();
    assert_eq!(ended["details"]["reason"], "logout");
    assert_eq!(ended["session_id"], success["session_id"]);
    let created = all.iter().find(|e| e["type"] == "secret.created").unwrap();
    assert_eq!(created["client_id"], web.client_id.as_str());
    assert_eq!(created["details"]["secret_id"], secret["id"]);
    assert_eq!(created["actor"], json!({"type": "admin", "id": admin_id}));
    let patch = all
        .iter()
        .find(|e| e["type"] == "management.change" && e["details"]["method"] == "PATCH")
        .unwrap();
    assert_eq!(patch["details"]["route"], "/api/v1/applications/{id}");
    assert_eq!(patch["details"]["params"]["id"], web.id.as_str());
    assert_eq!(patch["actor"]["id"], admin_id.as_str());
    // The admin's client_credentials token is counted per minute (the next test), not listed yet.

    // Filters: type, client_id, time (RFC 3339 or unix seconds), and pages.
    let failures = admin.events("type=login.failure").await;
    assert_eq!(
        types(failures["data"].as_array().unwrap()),
        ["login.failure"]
    );
    let by_client = admin.events(&format!("client_id={}", web.client_id)).await;
    assert!(
        by_client["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["client_id"] == web.client_id.as_str())
    );
    assert!(types(by_client["data"].as_array().unwrap()).contains(&"secret.created"));
    let none = admin.events("until=2000-01-01T00:00:00Z").await;
    assert_eq!(none["data"], json!([]));
    let future = admin.events("since=4102444800").await;
    assert_eq!(future["data"], json!([]));
    let since = admin.events("since=2000-01-01T00:00:00Z&limit=200").await;
    assert_eq!(since["data"].as_array().unwrap().len(), all.len());
    let mut walked = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = admin.events(&query).await;
        walked.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("limit=2&after={c}"),
            None => break,
        }
    }
    let ids: Vec<Value> = all.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(
        walked[..ids.len()],
        ids[..],
        "pages walk the events in order"
    );
    let (status, _) = admin
        .call(reqwest::Method::GET, "/audit-events?since=yesterday", None)
        .await;
    assert_eq!(status, 400);

    // Never a secret, password or token: not in an event, not in the logs.
    let events = admin.events("limit=200").await.to_string();
    let logs = server.logs();
    assert!(logs.contains("login.failure"), "events are logged too");
    let secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        admin_secret.as_str(),
        web.client_secret.as_deref().unwrap(),
        secret["secret"].as_str().unwrap(),
        code.secret().as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        id_token,
        admin.token.as_str(),
    ];
    for value in secrets {
        assert!(!events.contains(value), "an event holds a secret value");
        assert!(!logs.contains(value), "the logs hold a secret value");
    }
}

#[tokio::test]
async fn secrets_made_and_revoked_from_the_command_line_are_audited() {
    let server = support::server().await;
    let web = app(&server, "web", REDIRECT, &[]).await;
    let admin_app = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "admin",
            "--type",
            "web",
            "--management-api",
        ])
        .await;
    let secret = server.cli(&["apps", "secrets", "create", &web.id]).await;
    let secret_id = secret["id"].as_str().unwrap();
    server
        .cli(&["apps", "secrets", "revoke", &web.id, secret_id])
        .await;
    let (admin_id, admin_secret) = (
        admin_app["client_id"].as_str().unwrap(),
        admin_app["client_secret"].as_str().unwrap(),
    );
    let (_, body, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((admin_id, admin_secret)),
    )
    .await;
    let admin = Admin {
        token: body["access_token"].as_str().unwrap().to_owned(),
        server,
    };
    let events = admin
        .wait_for(
            &format!("client_id={}", web.client_id),
            &["secret.created", "secret.revoked"],
        )
        .await;
    for event in &events {
        assert_eq!(event["details"]["secret_id"], secret_id, "{event}");
        assert_eq!(event["details"]["via"], "cli", "{event}");
        assert_eq!(event["actor"]["type"], "admin", "{event}");
    }
    let events = serde_json::to_string(&events).unwrap();
    assert!(!events.contains(secret["secret"].as_str().unwrap()));
}

/// client_credentials issuance is one log line per token but one stored event per (client,
/// address) and minute with `details.count`, stored when the minute ends or, as here, at a
/// graceful shutdown; user grants stay one event per token.
#[tokio::test]
async fn client_credentials_issuance_is_stored_as_a_count_per_client_and_minute() {
    let mut server = support::server().await;
    let admin_app = server
        .cli(&[
            "apps",
            "create",
            "--name",
            "admin",
            "--type",
            "web",
            "--management-api",
        ])
        .await;
    let admin_id = admin_app["client_id"].as_str().unwrap().to_owned();
    let admin_secret = admin_app["client_secret"].as_str().unwrap().to_owned();
    const TOKENS: u64 = 7;
    for _ in 0..TOKENS {
        let (status, body, _) = token(
            &server,
            &[("grant_type", "client_credentials")],
            Some((&admin_id, &admin_secret)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // One log line per token.
    let lines = |logs: &str| {
        logs.lines()
            .filter(|l| {
                l.contains("token.issued")
                    && l.contains(&format!("client_id=\"{admin_id}\""))
                    && l.contains("client_credentials")
            })
            .count() as u64
    };
    assert_eq!(lines(&server.logs()), TOKENS, "{}", server.logs());

    // Stored at shutdown (the minute has not ended), read back after a restart.
    server.restart().await;
    let (status, body, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin_id, &admin_secret)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let admin = Admin {
        token: body["access_token"].as_str().unwrap().to_owned(),
        server,
    };
    let listed = admin
        .events(&format!("type=token.issued&client_id={admin_id}"))
        .await;
    let rows = listed["data"].as_array().unwrap();
    let counts: Vec<u64> = rows
        .iter()
        .map(|e| e["details"]["count"].as_u64().unwrap())
        .collect();
    // Seven tokens within a minute or two: one row per minute they fell in, counting them all.
    assert!(!rows.is_empty() && rows.len() <= 2, "{rows:#?}");
    assert_eq!(counts.iter().sum::<u64>(), TOKENS, "{rows:#?}");
    for e in rows {
        assert_eq!(e["details"]["grant"], "client_credentials", "{e}");
        assert_eq!(e["actor"], json!({"type": "client", "id": admin_id}), "{e}");
        assert_eq!(e["outcome"], "success", "{e}");
        assert!(e["ip"].is_string(), "{e}");
    }
}
