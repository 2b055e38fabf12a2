//! Hostile and malformed input against the running server: nothing answers 500, nothing panics,
//! and errors keep their spec shape.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use support::*;

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "request",
    "request_uri",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "token_type_hint",
    "access_token",
    "login_request",
    "email",
    "password",
];

fn values(client_id: &str) -> Vec<&str> {
    vec![
        "",
        "code",
        "token",
        "openid",
        "openid offline_access email profile",
        "S256",
        "plain",
        "none",
        "login",
        "-1",
        "99999999999999999999",
        client_id,
        "http://127.0.0.1:7001/cb",
        "https://evil.example/cb",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "%00",
        "\u{0}",
        "é🙂",
        "<script>alert(1)</script>",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        "'; DROP TABLE users; --",
        "%",
        "%%%",
        "+",
        "&&&",
        "====",
    ]
}

fn random_query(rng: &mut Rng, vals: &[&str]) -> String {
    let n = rng.next() % 8;
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for _ in 0..n {
        pairs.append_pair(rng.pick(KEYS), rng.pick(vals));
    }
    let mut q = pairs.finish();
    if rng.next().is_multiple_of(5) {
        q.push_str(rng.pick(&["&%", "&=&", "&a=%zz", "&\u{7f}", "&&"]));
    }
    q
}

#[tokio::test]
async fn no_endpoint_answers_500_to_random_input() {
    let server = server().await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let vals = values(&web.client_id);
    let http = latch_testkit::rp::reqwest_client();
    let mut rng = Rng(0x5eed_1a7c_4b1d_2e3f);
    for i in 0..400 {
        let q = random_query(&mut rng, &vals);
        let (method, path) = match i % 6 {
            0 => ("GET", "/oauth/authorize"),
            1 => ("POST", "/oauth/token"),
            2 => ("POST", "/oauth/revoke"),
            3 => ("POST", "/oauth/introspect"),
            4 => ("POST", "/userinfo"),
            _ => ("GET", "/login"),
        };
        let mut req = if method == "GET" {
            http.get(format!("{}?{q}", server.url(path)))
        } else {
            http.post(server.url(path))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(q.clone())
        };
        if rng.next().is_multiple_of(3) {
            req = req.header(
                "authorization",
                rng.pick(&[
                    "Basic !!",
                    "Basic Og==",
                    "Bearer x.y.z",
                    "Bearer",
                    "Digest a",
                ]),
            );
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(status < 500, "{method} {path}?{q} answered {status}");
        if path.starts_with("/oauth/t") && status >= 400 {
            let body: serde_json::Value = resp.json().await.unwrap();
            assert!(
                body["error"].is_string() && body["error_description"].is_string(),
                "{q}: {body}"
            );
        }
    }
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
}

#[tokio::test]
async fn oversized_and_mistyped_bodies_are_refused_cleanly() {
    let server = server().await;
    let http = latch_testkit::rp::reqwest_client();
    let big = "a".repeat(70 * 1024);
    let resp = http
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&x={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let resp = http
        .post(server.url("/oauth/token"))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

const JSON_KEYS: &[&str] = &[
    "name",
    "type",
    "management_api_access",
    "enforce_pkce",
    "access_token_ttl_seconds",
    "redirects",
    "post_login",
    "post_logout",
    "initiate_login",
    "backchannel_logout",
    "allowed_origins",
    "id_token_signed_response_alg",
    "custom_claims",
    "email",
    "password",
    "email_verified",
    "given_name",
    "family_name",
    "display_name",
    "roles",
    "permissions",
    "identifier",
    "allow_offline_access",
    "id",
    "client_id",
    "created_at",
    "https://example.com/claim",
    "iss",
];

fn random_json(rng: &mut Rng, depth: u32) -> serde_json::Value {
    use serde_json::{Value, json};
    match rng.next() % if depth > 2 { 6 } else { 8 } {
        0 => Value::Null,
        1 => json!(rng.next().is_multiple_of(2)),
        2 => json!((rng.next() % 200_000) as i64 - 100_000),
        3 => json!(rng.pick(&[
            "web",
            "spa",
            "native",
            "",
            "https://app.example.com/cb",
            "http://evil.example/x#f",
            "ada@example.com",
            "correct horse battery",
            "read:x",
            "é🙂\u{0}",
            "RS256",
            "none"
        ])),
        4 => json!(f64::from((rng.next() % 1000) as u32) / 7.0),
        5 => json!("x".repeat((rng.next() % 300) as usize)),
        6 => Value::Array(
            (0..rng.next() % 4)
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.next() % 6 {
                map.insert(rng.pick(JSON_KEYS).to_owned(), random_json(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

#[tokio::test]
async fn management_json_never_gets_a_500() {
    let server = server().await;
    let admin = app(
        &server,
        "web",
        "http://127.0.0.1:7009/cb",
        &["--management-api"],
    )
    .await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let (_, t, _) = token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&admin.client_id, admin.client_secret.as_deref().unwrap())),
    )
    .await;
    let bearer = t["access_token"].as_str().unwrap().to_owned();
    let http = latch_testkit::rp::reqwest_client();
    let users: serde_json::Value = http
        .get(server.url("/api/v1/users"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = users["data"][0]["id"].as_str().unwrap().to_owned();
    let targets = [
        ("POST", "/api/v1/applications".to_owned()),
        ("PATCH", format!("/api/v1/applications/{}", web.id)),
        ("POST", "/api/v1/users".to_owned()),
        ("PATCH", format!("/api/v1/users/{user_id}")),
        ("POST", "/api/v1/organizations".to_owned()),
        ("POST", "/api/v1/roles".to_owned()),
        ("POST", "/api/v1/apis".to_owned()),
    ];
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for i in 0..300 {
        let (method, path) = &targets[i % targets.len()];
        let body = random_json(&mut rng, 0);
        let req = if *method == "POST" {
            http.post(server.url(path))
        } else {
            http.patch(server.url(path))
        };
        let resp = req.bearer_auth(&bearer).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        assert!(status < 500, "{method} {path} {body} answered {status}");
        if status >= 400 {
            let err: serde_json::Value = resp.json().await.unwrap();
            assert!(
                err["error"].is_string() && err["error_description"].is_string(),
                "{body}: {err}"
            );
        }
    }
    assert!(!server.logs().contains("panicked"));
}
