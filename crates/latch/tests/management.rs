//! The management API (`/api/v1`) driven over HTTP against the real binary: authorization,
//! applications (merge-patch semantics), client secrets (rotation, never shown twice), users,
//! sessions, pagination, refusals that change nothing, and the OpenAPI document.
// Test code: a failed step panics with its context.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use latch_testkit::{Browser, LatchServer, wait_until};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "correct horse battery staple";

struct Reply {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

impl Reply {
    #[track_caller]
    fn expect(self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        self.body
    }

    #[track_caller]
    fn expect_error(self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"], code, "{}", self.body);
        assert_eq!(
            self.body.as_object().map(|o| o.len()),
            Some(2),
            "{}",
            self.body
        );
        self.body["error_description"].as_str().unwrap().to_owned()
    }
}

/// A running server with a management application bootstrapped by the CLI, and its token.
struct Api {
    server: LatchServer,
    token: String,
    admin: Value,
}

impl Api {
    async fn start() -> Api {
        let server = LatchServer::start(env!("CARGO_BIN_EXE_latch")).await;
        let admin = server
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
        let token = client_token(&server, &admin, admin["client_secret"].as_str().unwrap())
            .await
            .expect(200);
        Api {
            token: token["access_token"].as_str().unwrap().to_owned(),
            server,
            admin,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut req = latch_testkit::rp::reqwest_client()
            .request(method, self.server.url(&format!("/api/v1{path}")));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        reply(req).await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
        self.send(method, path, Some(&self.token), body).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    async fn create_app(&self, body: Value) -> Value {
        self.post("/applications", body).await.expect(201)
    }

    async fn create_user(&self, email: &str) -> Value {
        self.post("/users", json!({"email": email, "password": PASSWORD}))
            .await
            .expect(201)
    }
}

async fn reply(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        body,
        headers,
    }
}

/// `client_credentials` with `client_secret_basic`.
async fn client_token(server: &LatchServer, app: &Value, secret: &str) -> Reply {
    let basic = STANDARD.encode(format!("{}:{secret}", app["client_id"].as_str().unwrap()));
    let req = latch_testkit::rp::reqwest_client()
        .post(server.url("/oauth/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials")]);
    reply(req).await
}

fn app_path(app: &Value) -> String {
    format!("/applications/{}", app["id"].as_str().unwrap())
}

fn user_path(user: &Value) -> String {
    format!("/users/{}", user["id"].as_str().unwrap())
}

fn web(name: &str) -> Value {
    json!({"name": name, "type": "web", "redirects": {"post_login": ["https://app.example.com/cb"]}})
}

/// Signs `email` in through the hosted login for `spa` in a fresh browser (a new session).
async fn sign_in(api: &Api, spa: &Value, email: &str) -> Browser {
    let browser = Browser::new();
    let redirect = "http://127.0.0.1:7010/cb";
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        api.server.url("/oauth/authorize"),
        spa["client_id"].as_str().unwrap(),
        "http%3A%2F%2F127.0.0.1%3A7010%2Fcb",
    );
    browser.sign_in(&url, redirect, email, PASSWORD).await;
    browser
}

#[tokio::test]
async fn requests_without_a_management_token_are_refused() {
    let api = Api::start().await;
    let none = api.send(Method::GET, "/applications", None, None).await;
    assert!(
        none.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    none.expect_error(401, "invalid_token");
    let bad = api
        .send(Method::GET, "/applications", Some("not-a-jwt"), None)
        .await;
    assert!(
        bad.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    bad.expect_error(401, "invalid_token");

    // A web application without management access gets tokens, but not for this API.
    let plain = api.create_app(web("plain")).await;
    let token = client_token(
        &api.server,
        &plain,
        plain["client_secret"].as_str().unwrap(),
    )
    .await
    .expect(200);
    let token = token["access_token"].as_str().unwrap();
    api.send(Method::GET, "/applications", Some(token), None)
        .await
        .expect_error(403, "insufficient_scope");
    api.send(
        Method::POST,
        "/users",
        Some(token),
        Some(("application/json", b"{}".to_vec())),
    )
    .await
    .expect_error(403, "insufficient_scope");

    // Granting access makes new tokens work; withdrawing it stops the token already issued.
    api.patch(&app_path(&plain), json!({"management_api_access": true}))
        .await
        .expect(200);
    let token = client_token(
        &api.server,
        &plain,
        plain["client_secret"].as_str().unwrap(),
    )
    .await
    .expect(200);
    let token = token["access_token"].as_str().unwrap();
    api.send(Method::GET, "/users", Some(token), None)
        .await
        .expect(200);
    api.patch(&app_path(&plain), json!({"management_api_access": false}))
        .await
        .expect(200);
    api.send(Method::GET, "/users", Some(token), None)
        .await
        .expect_error(403, "forbidden");
    // The OpenAPI document is public.
    api.send(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn applications_are_created_read_listed_updated_and_deleted() {
    let api = Api::start().await;
    let created = api.create_app(web("Shop")).await;
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(created["type"], "web");
    assert_eq!(created["enforce_pkce"], false);
    assert_eq!(created["access_token_ttl_seconds"], Value::Null);
    assert!(
        created["created_at"].as_str().unwrap().contains('T'),
        "RFC 3339: {created}"
    );
    let path = app_path(&created);

    let read = api.get(&path).await.expect(200);
    assert!(read.get("client_secret").is_none(), "{read}");
    assert_eq!(read["client_id"], created["client_id"]);
    let list = api.get("/applications").await.expect(200);
    assert_eq!(list["next_cursor"], Value::Null);
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == created["id"])
    );

    let renamed = api
        .patch(
            &path,
            json!({"name": "Shop 2", "access_token_ttl_seconds": 900}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Shop 2");
    let token = client_token(&api.server, &created, secret)
        .await
        .expect(200);
    assert_eq!(
        token["expires_in"], 900,
        "the patch is in effect at once: {token}"
    );

    assert_eq!(api.delete(&path).await.status, 204);
    api.get(&path).await.expect_error(404, "not_found");
    api.delete(&path).await.expect_error(404, "not_found");
    let refused = client_token(&api.server, &created, secret).await;
    assert!(
        refused.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    refused.expect_error(401, "invalid_client");
}

#[tokio::test]
async fn patch_is_a_json_merge_patch_and_refusals_change_nothing() {
    let api = Api::start().await;
    let app = api
        .create_app(
            json!({"name": "Merge", "type": "web", "access_token_ttl_seconds": 600, "redirects": {
            "post_login": ["https://a.example.com/cb", "https://a.example.com/cb2"],
            "post_logout": ["https://a.example.com/bye"],
            "backchannel_logout": "https://a.example.com/bc"}}),
        )
        .await;
    let path = app_path(&app);
    let patched = api
        .patch(
            &path,
            json!({"redirects": {"post_logout": ["https://a.example.com/later"]}}),
        )
        .await
        .expect(200);
    assert_eq!(
        patched["redirects"]["post_logout"],
        json!(["https://a.example.com/later"])
    );
    assert_eq!(
        patched["redirects"]["post_login"],
        app["redirects"]["post_login"]
    );
    assert_eq!(
        patched["redirects"]["backchannel_logout"],
        "https://a.example.com/bc"
    );
    assert_eq!(patched["access_token_ttl_seconds"], 600);

    let reset = api
        .patch(
            &path,
            json!({"access_token_ttl_seconds": null, "redirects": {"backchannel_logout": null}}),
        )
        .await
        .expect(200);
    assert_eq!(reset["access_token_ttl_seconds"], Value::Null);
    assert_eq!(reset["redirects"]["backchannel_logout"], Value::Null);
    assert_eq!(
        reset["redirects"]["post_logout"],
        json!(["https://a.example.com/later"])
    );
    // Sending back what was read (read-only fields included, unchanged) is accepted.
    let mut same = reset.clone();
    same.as_object_mut().unwrap().remove("name");
    api.patch(&path, same).await.expect(200);

    let before = api.get(&path).await.expect(200);
    let refusals = [
        (json!({"type": "spa"}), "type"),
        (json!({"client_id": "mine"}), "client_id"),
        (json!({"id": "x"}), "id"),
        (json!({"created_at": "2020-01-01T00:00:00Z"}), "created_at"),
        (json!({"colour": "blue"}), "colour"),
        (json!({"redirects": {"elsewhere": []}}), "elsewhere"),
        (json!({"enforce_pkce": "yes"}), "enforce_pkce"),
        (
            json!({"redirects": {"post_login": "https://a.example.com/cb"}}),
            "redirects.post_login",
        ),
        (
            json!({"redirects": {"post_login": ["http://a.example.com/cb"]}}),
            "redirects.post_login[0]",
        ),
        (
            json!({"redirects": {"post_logout": ["https://a.example.com/x#frag"]}}),
            "redirects.post_logout[0]",
        ),
        (
            json!({"redirects": {"backchannel_logout": "ftp://a.example.com/bc"}}),
            "redirects.backchannel_logout",
        ),
        (
            json!({"allowed_origins": ["https://a.example.com/path"]}),
            "allowed_origins[0]",
        ),
        (
            json!({"access_token_ttl_seconds": 10}),
            "access_token_ttl_seconds",
        ),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!(["not", "an", "object"]), "object"),
    ];
    for (patch, field) in refusals {
        let description = api
            .patch(&path, patch.clone())
            .await
            .expect_error(422, "invalid_field");
        assert!(description.contains(field), "{patch} → {description}");
    }
    assert_eq!(
        api.get(&path).await.expect(200),
        before,
        "refused patches changed nothing"
    );
}

#[tokio::test]
async fn spa_and_native_applications_have_no_secrets_and_always_use_pkce() {
    let api = Api::start().await;
    for kind in ["spa", "native"] {
        let redirect = if kind == "spa" {
            "https://spa.example.com/cb"
        } else {
            "com.example.app:/cb"
        };
        let app = api
            .create_app(
                json!({"name": kind, "type": kind, "redirects": {"post_login": [redirect]}}),
            )
            .await;
        assert!(app.get("client_secret").is_none(), "{app}");
        assert_eq!(app["enforce_pkce"], true);
        let path = app_path(&app);
        api.post(&format!("{path}/secrets"), json!({}))
            .await
            .expect_error(422, "invalid_application_type");
        assert_eq!(
            api.get(&format!("{path}/secrets")).await.expect(200)["data"],
            json!([])
        );
        let description = api
            .patch(&path, json!({"enforce_pkce": false}))
            .await
            .expect_error(422, "invalid_field");
        assert!(description.contains("enforce_pkce"), "{description}");
        // null returns it to its default, which for public clients is true.
        assert_eq!(
            api.patch(&path, json!({"enforce_pkce": null}))
                .await
                .expect(200)["enforce_pkce"],
            true
        );
        let description = api
            .patch(&path, json!({"management_api_access": true}))
            .await
            .expect_error(422, "invalid_field");
        assert!(
            description.contains("management_api_access"),
            "{description}"
        );
        let description = api
            .post(
                "/applications",
                json!({"name": "x", "type": kind, "enforce_pkce": false}),
            )
            .await
            .expect_error(422, "invalid_field");
        assert!(description.contains("enforce_pkce"), "{description}");
    }
    // Custom schemes are for native applications only.
    let description = api
        .post("/applications", json!({"name": "x", "type": "spa", "redirects": {"post_login": ["com.example.app:/cb"]}}))
        .await
        .expect_error(422, "invalid_field");
    assert!(
        description.contains("redirects.post_login[0]"),
        "{description}"
    );
}

#[tokio::test]
async fn client_secrets_rotate_without_downtime_and_are_never_shown_again() {
    let api = Api::start().await;
    let app = api.create_app(web("Rotating")).await;
    let first = app["client_secret"].as_str().unwrap().to_owned();
    let secrets = format!("{}/secrets", app_path(&app));
    let second = api.post(&secrets, json!({})).await.expect(201);
    assert_eq!(
        second.as_object().unwrap().len(),
        3,
        "{{id, secret, created_at}}: {second}"
    );
    let second_value = second["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second_value);
    api.post(&secrets, json!({}))
        .await
        .expect_error(409, "too_many_secrets");

    client_token(&api.server, &app, &first).await.expect(200);
    client_token(&api.server, &app, &second_value)
        .await
        .expect(200);
    let listed = api.get(&secrets).await.expect(200);
    assert_eq!(listed["next_cursor"], Value::Null);
    let rows = listed["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(
            sorted_keys(row),
            ["created_at", "id", "last_used_at"],
            "{row}"
        );
    }
    let used = wait_until(Duration::from_secs(3), || async {
        let listed = api.get(&secrets).await.expect(200);
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["last_used_at"].is_string())
    })
    .await;
    assert!(used, "last_used_at is recorded");

    let first_id = rows.iter().find(|r| r["id"] != second["id"]).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        api.delete(&format!("{secrets}/{first_id}")).await.status,
        204
    );
    let refused = client_token(&api.server, &app, &first).await;
    assert!(
        refused.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"),
        "{:?}",
        refused.headers
    );
    refused.expect_error(401, "invalid_client");
    client_token(&api.server, &app, &second_value)
        .await
        .expect(200);
    api.delete(&format!("{secrets}/{first_id}"))
        .await
        .expect_error(404, "not_found");
    api.delete(&format!("{secrets}/no-such-secret"))
        .await
        .expect_error(404, "not_found");
    let third = api.post(&secrets, json!({})).await.expect(201);
    let third_value = third["secret"].as_str().unwrap().to_owned();
    client_token(&api.server, &app, &third_value)
        .await
        .expect(200);

    // The values were shown once: never in a read, a list, the logs or the database.
    let user = api.create_user("keeper@example.com").await;
    let mut shown = String::new();
    for path in [
        app_path(&app),
        "/applications".to_owned(),
        secrets.clone(),
        user_path(&user),
        "/users".to_owned(),
    ] {
        shown.push_str(&api.get(&path).await.expect(200).to_string());
    }
    let logs = api.server.logs();
    let database = database_bytes(&api.server);
    assert!(
        contains(&database, app["client_id"].as_str().unwrap()),
        "the database file was read"
    );
    let admin_secret = api.admin["client_secret"].as_str().unwrap();
    for value in [
        first.as_str(),
        second_value.as_str(),
        third_value.as_str(),
        admin_secret,
        PASSWORD,
    ] {
        assert!(!shown.contains(value), "a value shows in a GET");
        assert!(!logs.contains(value), "a value shows in the logs");
        assert!(
            !contains(&database, value),
            "a value is stored in the clear"
        );
    }
}

/// Sends a request over a plain TCP connection, writing what the server will take, and returns
/// the status and body of the answer.
fn raw_request(api: &Api, method: &str, path: &str, header: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(api.server.listen()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let head = format!(
        "{method} /api/v1{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nConnection: close\r\n{header}\r\n\r\n",
        api.server.listen(),
        api.token
    );
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    // The server may answer and close before taking all of it.
    let _ = stream.write_all(&request);
    let mut response = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The SQLite database with its write-ahead log.
fn database_bytes(server: &LatchServer) -> Vec<u8> {
    let path = server
        .database_url()
        .strip_prefix("sqlite://")
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let mut bytes = std::fs::read(&path).unwrap();
    for suffix in ["-wal", "-journal"] {
        bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
    }
    bytes
}

fn sorted_keys(object: &Value) -> Vec<String> {
    let mut keys: Vec<String> = object.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn users_are_created_found_updated_and_deleted() {
    let api = Api::start().await;
    let spa = api.create_app(json!({"name": "spa", "type": "spa", "redirects": {"post_login": ["http://127.0.0.1:7010/cb"]}})).await;
    let ada = api
        .post("/users", json!({"email": "Ada@Example.com", "password": PASSWORD, "name": "Ada", "given_name": "Ada"}))
        .await
        .expect(201);
    let keys = sorted_keys(&ada);
    assert_eq!(
        keys,
        [
            "admin",
            "created_at",
            "email",
            "email_verified",
            "external_id",
            "family_name",
            "given_name",
            "id",
            "metadata",
            "mfa_enrolled",
            "name"
        ],
        "{ada}"
    );
    api.post(
        "/users",
        json!({"email": "ada@EXAMPLE.com", "password": PASSWORD}),
    )
    .await
    .expect_error(409, "email_taken");
    // `admin` is read-only here: repeated unchanged it passes, changed it is refused.
    let ada_path = format!("/users/{}", ada["id"].as_str().unwrap());
    api.patch(&ada_path, json!({"admin": false}))
        .await
        .expect(200);
    let refused = api.patch(&ada_path, json!({"admin": true})).await;
    refused.expect_error(422, "invalid_field");
    assert_eq!(api.get(&ada_path).await.expect(200)["admin"], false);
    for (body, field) in [
        (
            json!({"email": "bob@example.com", "password": "password123"}),
            "password",
        ),
        (
            json!({"email": "bob@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": "bob@example.com"}), "password"),
        (
            json!({"email": "bob@example.com", "password": PASSWORD, "role": "admin"}),
            "role",
        ),
        (
            json!({"email": "bob@example.com", "password": PASSWORD, "email_verified": "yes"}),
            "email_verified",
        ),
    ] {
        let description = api
            .post("/users", body.clone())
            .await
            .expect_error(422, "invalid_field");
        assert!(description.contains(field), "{body} → {description}");
    }
    let found = api.get("/users?email=ADA%40example.COM").await.expect(200);
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["id"], ada["id"]);
    assert_eq!(
        api.get("/users?email=bob%40example.com").await.expect(200)["data"],
        json!([]),
        "refusals created nobody"
    );
    api.get("/users?emial=x")
        .await
        .expect_error(400, "invalid_request");

    let path = user_path(&ada);
    let bob = api.create_user("bob@example.com").await;
    api.patch(&user_path(&bob), json!({"email": "ADA@example.com"}))
        .await
        .expect_error(409, "email_taken");
    api.patch(&path, json!({"id": "other"}))
        .await
        .expect_error(422, "invalid_field");
    api.patch(&path, json!({"password": "12345678"}))
        .await
        .expect_error(422, "invalid_field");
    api.patch(&path, json!({"email": null}))
        .await
        .expect_error(422, "invalid_field");
    let updated = api
        .patch(&path, json!({"given_name": null, "family_name": "Lovelace", "email_verified": true, "password": "a new passphrase"}))
        .await
        .expect(200);
    assert_eq!(updated["given_name"], Value::Null);
    assert_eq!(updated["family_name"], "Lovelace");
    assert_eq!(updated["name"], "Ada");
    assert_eq!(updated["email_verified"], true);
    assert!(updated.get("password").is_none());
    // The new password signs in; the old one does not.
    let browser = Browser::new();
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A7010%2Fcb&scope=openid&state=s&code_challenge={CHALLENGE}&code_challenge_method=S256",
        api.server.url("/oauth/authorize"),
        spa["client_id"].as_str().unwrap()
    );
    let step = browser.authorize(&url, "http://127.0.0.1:7010/cb").await;
    let (page, _, html) = step.expect_page();
    let old = browser
        .submit_login_form(
            &page,
            &html,
            "ada@example.com",
            PASSWORD,
            "http://127.0.0.1:7010/cb",
        )
        .await;
    assert!(old.is_login_page(), "the old password no longer works");
    browser
        .sign_in(
            &url,
            "http://127.0.0.1:7010/cb",
            "ada@example.com",
            "a new passphrase",
        )
        .await;

    assert_eq!(api.delete(&path).await.status, 204);
    api.get(&path).await.expect_error(404, "not_found");
    api.delete(&path).await.expect_error(404, "not_found");
    api.patch(&path, json!({"name": "x"}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_users_sessions_are_listed_and_ended() {
    let api = Api::start().await;
    let spa = api.create_app(json!({"name": "spa", "type": "spa", "redirects": {"post_login": ["http://127.0.0.1:7010/cb"]}})).await;
    let ada = api.create_user("ada@example.com").await;
    let bob = api.create_user("bob@example.com").await;
    let (ada_path, bob_path) = (user_path(&ada), user_path(&bob));
    let _first = sign_in(&api, &spa, "ada@example.com").await;
    let _second = sign_in(&api, &spa, "ada@example.com").await;
    let _bobs = sign_in(&api, &spa, "bob@example.com").await;

    let sessions = api.get(&format!("{ada_path}/sessions")).await.expect(200);
    let rows = sessions["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2, "{sessions}");
    assert_eq!(rows[0]["applications"], json!([spa["client_id"]]));
    for key in ["sid", "created_at", "last_active_at", "user_agent", "ip"] {
        assert!(rows[0].get(key).is_some(), "{key}: {}", rows[0]);
    }
    let sid = rows[0]["sid"].as_str().unwrap();
    let bob_sid = api.get(&format!("{bob_path}/sessions")).await.expect(200)["data"][0]["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    api.delete(&format!("{ada_path}/sessions/{bob_sid}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        api.delete(&format!("{ada_path}/sessions/{sid}"))
            .await
            .status,
        204
    );
    api.delete(&format!("{ada_path}/sessions/{sid}"))
        .await
        .expect_error(404, "not_found");
    let left = api.get(&format!("{ada_path}/sessions")).await.expect(200);
    assert_eq!(left["data"].as_array().unwrap().len(), 1, "{left}");

    assert_eq!(
        api.delete(&format!("{ada_path}/sessions")).await.status,
        204
    );
    assert_eq!(
        api.get(&format!("{ada_path}/sessions")).await.expect(200)["data"],
        json!([])
    );
    assert_eq!(
        api.get(&format!("{bob_path}/sessions")).await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    api.get("/users/no-such-user/sessions")
        .await
        .expect_error(404, "not_found");
    api.delete("/users/no-such-user/sessions")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_are_refused_and_change_nothing() {
    let api = Api::start().await;
    let app = api.create_app(web("Stable")).await;
    let path = app_path(&app);
    let before = (
        api.get("/applications").await.expect(200),
        api.get("/users").await.expect(200),
        api.get(&path).await.expect(200),
    );
    let raw = |method: Method, p: String, ct: &'static str, body: Vec<u8>| {
        let api = &api;
        async move {
            api.send(method, &p, Some(&api.token), Some((ct, body)))
                .await
        }
    };
    for target in ["/applications".to_owned(), "/users".to_owned()] {
        raw(
            Method::POST,
            target.clone(),
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await
        .expect_error(400, "invalid_request");
        raw(Method::POST, target.clone(), "application/json", Vec::new())
            .await
            .expect_error(400, "invalid_request");
        raw(Method::POST, target.clone(), "text/plain", b"{}".to_vec())
            .await
            .expect_error(400, "invalid_request");
        raw(
            Method::POST,
            target.clone(),
            "application/x-www-form-urlencoded",
            b"name=x".to_vec(),
        )
        .await
        .expect_error(400, "invalid_request");
    }
    raw(
        Method::PATCH,
        path.clone(),
        "application/json",
        b"{,}".to_vec(),
    )
    .await
    .expect_error(400, "invalid_request");
    let description = api
        .post("/applications", json!({"name": 7, "type": "web"}))
        .await
        .expect_error(422, "invalid_field");
    assert!(description.contains("name"), "{description}");
    api.post("/applications", json!({"name": "x", "type": "mainframe"}))
        .await
        .expect_error(422, "invalid_field");
    api.post(
        "/applications",
        json!({"name": "x", "type": "web", "secret": "mine"}),
    )
    .await
    .expect_error(422, "invalid_field");
    let description = api
        .post("/applications", json!({"name": "x", "type": "web", "redirects": {"post_login": ["https://*.example.com/cb"]}}))
        .await
        .expect_error(422, "invalid_field");
    assert!(
        description.contains("redirects.post_login[0]"),
        "{description}"
    );

    // Over the 64 KiB limit, announced or not. (Raw HTTP: the server answers before reading such
    // a body, and a client still writing it may see its connection closed instead.)
    let over = 64 * 1024 + 1;
    for (method, target) in [
        ("POST", "/applications".to_owned()),
        ("POST", "/users".to_owned()),
        ("PATCH", path.clone()),
    ] {
        let (status, _) = raw_request(
            &api,
            method,
            &target,
            &format!("Content-Length: {over}"),
            b"",
        );
        assert_eq!(status, 413, "{method} {target}");
        let mut chunked = format!("{over:x}\r\n").into_bytes();
        chunked.extend(vec![b' '; over]);
        chunked.extend(b"\r\n");
        let (status, body) = raw_request(
            &api,
            method,
            &target,
            "Transfer-Encoding: chunked",
            &chunked,
        );
        assert_eq!(status, 413, "{method} {target} (chunked): {body}");
        assert!(body.contains("request_too_large"), "{body}");
    }
    let after = (
        api.get("/applications").await.expect(200),
        api.get("/users").await.expect(200),
        api.get(&path).await.expect(200),
    );
    assert_eq!(before, after, "refused requests changed nothing");
}

#[tokio::test]
async fn lists_walk_in_pages_and_bad_pagination_is_refused() {
    let api = Api::start().await;
    // With the management application, the admin console's and the account page's, six in all:
    // three pages of two.
    for i in 0..3 {
        api.create_app(web(&format!("app {i}"))).await;
    }
    for i in 0..6 {
        api.create_user(&format!("user{i}@example.com")).await;
    }
    for collection in ["/applications", "/users"] {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut next = format!("{collection}?limit=2");
        loop {
            let page = api.get(&next).await.expect(200);
            pages += 1;
            let data = page["data"].as_array().unwrap();
            assert_eq!(data.len(), 2, "{page}");
            seen.extend(
                data.iter()
                    .map(|item| item["id"].as_str().unwrap().to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("{collection}?limit=2&after={cursor}"),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{collection}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 6, "{collection}: {seen:?}");
        let all = api.get(collection).await.expect(200);
        assert_eq!(all["data"].as_array().unwrap().len(), 6);
        assert_eq!(all["next_cursor"], Value::Null);
        for bad in [
            "limit=0",
            "limit=201",
            "limit=-3",
            "limit=many",
            "after=",
            "limit=1&limit=2",
        ] {
            api.get(&format!("{collection}?{bad}"))
                .await
                .expect_error(400, "invalid_request");
        }
        assert_eq!(
            api.get(&format!("{collection}?limit=200"))
                .await
                .expect(200)["data"]
                .as_array()
                .unwrap()
                .len(),
            6
        );
    }
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let api = Api::start().await;
    let app = api.create_app(web("Known")).await;
    let secrets = format!("{}/secrets", app_path(&app));
    let cases = [
        (Method::GET, "/applications/nope".to_owned()),
        (Method::DELETE, "/applications/nope".to_owned()),
        (Method::GET, "/applications/nope/secrets".to_owned()),
        (Method::POST, "/applications/nope/secrets".to_owned()),
        (Method::DELETE, "/applications/nope/secrets/s".to_owned()),
        (Method::DELETE, format!("{secrets}/nope")),
        (Method::GET, "/users/nope".to_owned()),
        (Method::DELETE, "/users/nope".to_owned()),
        (Method::GET, "/users/nope/sessions".to_owned()),
        (Method::DELETE, "/users/nope/sessions/sid".to_owned()),
    ];
    for (method, path) in cases {
        let description = api
            .call(method.clone(), &path, None)
            .await
            .expect_error(404, "not_found");
        assert_ne!(
            description, "endpoint not found",
            "{method} {path} is routed"
        );
    }
    api.patch("/applications/nope", json!({"name": "x"}))
        .await
        .expect_error(404, "not_found");
    api.patch("/users/nope", json!({"name": "x"}))
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        api.get("/nowhere").await.expect_error(404, "not_found"),
        "endpoint not found"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_and_each_is_served() {
    let api = Api::start().await;
    let doc = api
        .send(Method::GET, "/openapi.json", None, None)
        .await
        .expect(200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc["servers"][0]["url"],
        format!("{}/api/v1", api.server.issuer())
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let concrete = path
                .replace("{id}", "unknown")
                .replace("{secret_id}", "unknown")
                .replace("{sid}", "unknown")
                .replace("{factor_id}", "unknown");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(method, Method::POST | Method::PATCH).then(|| json!({}));
            let reply = api.call(method.clone(), &concrete, body).await;
            assert_ne!(reply.status, 405, "{method} {path}");
            assert_ne!(
                reply.body["error_description"], "endpoint not found",
                "{method} {path} is not routed"
            );
        }
    }
    assert_eq!(operations, 51, "{paths:?}");
    for schema in [
        "Application",
        "NewApplication",
        "ApplicationPatch",
        "ClientSecret",
        "User",
        "NewUser",
        "Session",
        "Error",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema}"
        );
    }
}
