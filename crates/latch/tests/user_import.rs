//! Moving users in and out: `latch users import` of every foreign hash format (vectors made by
//! the Python reference implementations), sign-in with the old password upgrading the hash to
//! argon2id, failed lines reported by number, re-import skipping, export → import round trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use latch_testkit::{AuthorizeStep, Browser, LatchServer};
use serde_json::Value;
use support::*;

const VECTORS: &str = include_str!("../../latch-server/testdata/password_vectors.jsonl");

/// The vectors as (email, password) and an import file (without the test-only fields).
fn vectors() -> (Vec<(String, String)>, String) {
    let mut users = Vec::new();
    let mut file = String::new();
    for line in VECTORS.lines() {
        let mut v: Value = serde_json::from_str(line).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("format");
        let password = o.remove("password").unwrap();
        users.push((
            o["email"].as_str().unwrap().to_owned(),
            password.as_str().unwrap().to_owned(),
        ));
        file.push_str(&v.to_string());
        file.push('\n');
    }
    (users, file)
}

async fn signs_in(server: &LatchServer, web: &App, email: &str, password: &str) -> bool {
    let browser = Browser::new();
    let client = rp(server, web).await;
    let auth = authorization(&client, &["openid"]);
    let (page, _, html) = browser
        .authorize(&auth.url, &web.redirect_uri)
        .await
        .expect_page();
    match browser
        .submit_login_form(&page, &html, email, password, &web.redirect_uri)
        .await
    {
        AuthorizeStep::Redirected(url) => param(&url, "code").is_some(),
        AuthorizeStep::Page { .. } => false,
    }
}

async fn export(server: &LatchServer, hashes: bool) -> Vec<Value> {
    let path = server
        .data_dir()
        .join(format!("export-{}.jsonl", uuid_like()));
    let mut args = vec!["users", "export", path.to_str().unwrap()];
    if hashes {
        args.push("--include-password-hashes");
    }
    let out = server.cli(&args).await;
    assert_eq!(out["password_hashes"], hashes);
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn write(server: &LatchServer, name: &str, text: &str) -> String {
    let path = server.data_dir().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_foreign_hash_format_signs_in_and_is_upgraded_to_argon2id() {
    let server = LatchServer::start(bin()).await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let (users, file) = vectors();
    let path = write(&server, "users.jsonl", &file);
    let report = server.cli(&["users", "import", &path]).await;
    assert_eq!(report["imported"], users.len() as u64, "{report}");
    assert_eq!(report["failed_count"], 0, "{report}");
    let hashes = |lines: Vec<Value>| -> Vec<String> {
        lines
            .iter()
            .map(|l| l["password_hash"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = hashes(export(&server, true).await);
    assert!(
        before
            .iter()
            .all(|h| !h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"))
    );
    for (email, password) in &users {
        assert!(
            !signs_in(&server, &web, email, &format!("{password}!")).await,
            "{email}: a wrong password is refused"
        );
        assert!(signs_in(&server, &web, email, password).await, "{email}");
    }
    let after = hashes(export(&server, true).await);
    for h in &after {
        assert!(
            h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "not upgraded: {h}"
        );
    }
    // The upgraded hash takes the same password.
    let (email, password) = &users[2];
    assert!(signs_in(&server, &web, email, password).await);
    // Importing the file again changes nothing.
    let again = server.cli(&["users", "import", &path]).await;
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["existing"], users.len() as u64, "{again}");
    assert_eq!(hashes(export(&server, true).await), after);
}

#[tokio::test]
async fn a_failing_line_is_reported_by_number_and_the_others_are_imported() {
    let server = LatchServer::start(bin()).await;
    let file = [
        r#"{"email":"one@example.com","name":"One","email_verified":true,"created_at":"2021-05-06T07:08:09Z"}"#,
        r#"{"email":"two@example.com","password_hash":"$1$md5crypt$notsupported"}"#,
        "",
        r#"{"email":"not an email"}"#,
        r#"{"email":"three@example.com","password_hash":"$2b$31$o9nQSJT/M/Xra2JaMABVkuVR03cZN1mDTWUxWWL5aBwsB91fNufsW"}"#,
        r#"{"email":"four@example.com","given_name":"Four"}"#,
    ]
    .join("\n");
    let path = write(&server, "mixed.jsonl", &file);
    let out = server.cli_output(&["users", "import", &path]).await;
    assert!(!out.status.success(), "failed lines make the command fail");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 2, "{report}");
    assert_eq!(report["failed_count"], 3, "{report}");
    let lines: Vec<u64> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 4, 5], "{report}");
    assert!(
        report["failed"][2]["error"]
            .as_str()
            .unwrap()
            .contains("cost"),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // Nothing partial for a failed line; the good ones with every field.
    let users = server.cli(&["users", "list"]).await;
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 2, "{users}");
    let one = server
        .cli(&["users", "list", "--email", "one@example.com"])
        .await;
    assert_eq!(one[0]["name"], "One");
    assert_eq!(one[0]["email_verified"], true);
    assert_eq!(one[0]["created_at"], "2021-05-06T07:08:09Z");
}

#[tokio::test]
async fn users_move_between_servers_with_their_ids_and_passwords() {
    let a = server().await;
    let exported = export(&a, false).await;
    assert_eq!(exported.len(), 1);
    assert!(
        exported[0].get("password_hash").is_none(),
        "hashes only when asked"
    );
    let with_hashes = export(&a, true).await;
    let b = LatchServer::start(bin()).await;
    let text: String = with_hashes.iter().map(|l| format!("{l}\n")).collect();
    let path = write(&b, "from-a.jsonl", &text);
    let report = b.cli(&["users", "import", &path]).await;
    assert_eq!(report["imported"], 1, "{report}");
    assert_eq!(
        export(&b, true).await,
        with_hashes,
        "the same user, id and hash"
    );
    let web = app(&b, "web", "http://127.0.0.1:7001/cb", &[]).await;
    assert!(signs_in(&b, &web, EMAIL, PASSWORD).await);
}

#[tokio::test]
async fn the_management_api_imports_json_lines_too() {
    let server = LatchServer::start(bin()).await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7001/cb",
        &["--management-api"],
    )
    .await;
    let (s, body, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin.client_id, admin.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let bearer = body["access_token"].as_str().unwrap().to_owned();
    let (_, file) = vectors();
    let lines: Vec<&str> = file.lines().take(3).collect();
    let body = format!("{}\n{{\"email\":\"broken\"}}\n", lines.join("\n"));
    let post = |body: String, bearer: Option<String>| {
        let mut req = latch_testkit::rp::reqwest_client()
            .post(server.url("/api/v1/users/import"))
            .header("content-type", "application/x-ndjson")
            .body(body);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        req.send()
    };
    let unauthorized = post(body.clone(), None).await.unwrap();
    assert_eq!(unauthorized.status(), 401);
    let resp = post(body.clone(), Some(bearer.clone())).await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["imported"], 3, "{report}");
    assert_eq!(report["failed"][0]["line"], 4, "{report}");
    let again: Value = post(body, Some(bearer))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["imported"].as_u64(), again["existing"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        server
            .cli(&["users", "list"])
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
