//! The foundation: start-up, configuration errors, discovery, the JWKS, keys across restarts and
//! rotation, and several servers sharing one PostgreSQL database.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::process::Command;
use std::time::Duration;

use latch_testkit::{LatchServer, PostgresTestDb, TempDir, random_master_key};
use serde_json::Value;
use support::bin;

async fn get_json(url: &str) -> (reqwest::header::HeaderMap, Value) {
    let resp = latch_testkit::rp::reqwest_client()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{url}");
    let headers = resp.headers().clone();
    (headers, resp.json().await.unwrap())
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut k: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k
}

#[tokio::test]
async fn discovery_describes_every_endpoint_and_capability() {
    let server = LatchServer::start(bin()).await;
    let (headers, d) = get_json(&server.url("/.well-known/openid-configuration")).await;
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let issuer = server.issuer();
    assert_eq!(d["issuer"], issuer);
    for (key, path) in [
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/oauth/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/keys"),
        ("end_session_endpoint", "/oidc/logout"),
        ("revocation_endpoint", "/oauth/revoke"),
        ("introspection_endpoint", "/oauth/introspect"),
    ] {
        assert_eq!(d[key], format!("{issuer}{path}"), "{key}");
    }
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["request_parameter_supported"], false);
    assert_eq!(d["request_uri_parameter_supported"], false);
    assert_eq!(d["backchannel_logout_supported"], true);
    assert_eq!(d["backchannel_logout_session_supported"], true);
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(
            d["grant_types_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g == grant)
        );
    }
    // The openidconnect crate accepts it as a provider.
    latch_testkit::rp::discover(issuer).await;
}

#[tokio::test]
async fn keys_are_published_and_survive_a_restart() {
    let mut server = LatchServer::start(bin()).await;
    let (headers, jwks) = get_json(&server.url("/keys")).await;
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    for alg in ["RS256", "ES256"] {
        assert!(algs.contains(&alg), "{algs:?}");
    }
    for k in jwks["keys"].as_array().unwrap() {
        assert_eq!(k["use"], "sig");
        assert!(k.get("d").is_none(), "no private members");
    }
    let before = kids(&jwks);
    server.restart().await;
    let (_, after) = get_json(&server.url("/keys")).await;
    assert_eq!(before, kids(&after));
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs() {
    let server = LatchServer::start(bin()).await;
    let (_, before) = get_json(&server.url("/keys")).await;
    let rotated = server.cli(&["keys", "rotate", "--alg", "RS256"]).await;
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert!(!kids(&before).contains(&new_kid));
    let published = latch_testkit::wait_until(Duration::from_secs(10), || {
        let url = server.url("/keys");
        let kid = new_kid.clone();
        async move { kids(&get_json(&url).await.1).contains(&kid) }
    })
    .await;
    assert!(published, "the new key appears in /keys");
    // Tokens are still signed with the previous key during the propagation delay.
    let web = support::app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let (s, body, _) = support::token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, web.client_secret.as_deref().unwrap())),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (header, _) = support::jwt_parts(body["access_token"].as_str().unwrap());
    assert_ne!(header["kid"], new_kid.as_str());
    assert!(kids(&before).contains(&header["kid"].as_str().unwrap().to_owned()));
}

#[test]
fn bad_configuration_stops_start_up_with_one_line_naming_the_setting() {
    for (env, setting) in [
        (
            vec![("LATCH_ISSUER", "http://auth.example.com")],
            "LATCH_ISSUER",
        ),
        (vec![("LATCH_ISSUER", "not a url")], "LATCH_ISSUER"),
        (vec![("LATCH_LISTEN", "nowhere")], "LATCH_LISTEN"),
        (
            vec![("LATCH_DATABASE_URL", "mysql://x")],
            "LATCH_DATABASE_URL",
        ),
        (vec![("LATCH_MASTER_KEY", "c2hvcnQ=")], "LATCH_MASTER_KEY"),
        (
            vec![("LATCH_REFRESH_REUSE_WINDOW", "soon")],
            "LATCH_REFRESH_REUSE_WINDOW",
        ),
        (
            vec![("LATCH_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")],
            "LATCH_MASTER_KEY",
        ),
        (
            vec![("LATCH_HEADER_READ_TIMEOUT", "0")],
            "LATCH_HEADER_READ_TIMEOUT",
        ),
        (
            vec![("LATCH_MAX_CONNECTIONS", "many")],
            "LATCH_MAX_CONNECTIONS",
        ),
        (
            vec![("LATCH_BACKCHANNEL_ALLOW_PRIVATE", "perhaps")],
            "LATCH_BACKCHANNEL_ALLOW_PRIVATE",
        ),
    ] {
        let (out, _dir) = support::run_serve(&env, &[]);
        assert!(!out.status.success(), "{env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{env:?}: {stderr}");
        assert!(lines[0].contains(setting), "{env:?}: {stderr}");
    }
}

#[test]
fn a_corrupt_or_foreign_database_file_is_refused_and_left_untouched() {
    let dir = TempDir::new();
    let path = dir.path().join("corrupt.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();
    let mut cmd = Command::new(bin());
    cmd.arg("migrate")
        .env("LATCH_DATABASE_URL", format!("sqlite://{}", path.display()));
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("corrupt.db"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "nothing was overwritten"
    );
}

#[tokio::test]
async fn two_servers_on_one_postgres_database_publish_the_same_keys() {
    let Some(db) = PostgresTestDb::create("two_servers_keys") else {
        return;
    };
    let key = random_master_key();
    let start = || {
        LatchServer::builder(bin())
            .database_url(db.url())
            .env("LATCH_MASTER_KEY", key.clone())
            .start()
    };
    let (a, b) = tokio::join!(start(), start());
    let (_, ka) = get_json(&a.url("/keys")).await;
    let (_, kb) = get_json(&b.url("/keys")).await;
    assert_eq!(kids(&ka), kids(&kb));
    assert_eq!(
        ka["keys"].as_array().unwrap().len(),
        3,
        "one key per algorithm, not one per node"
    );
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_only() {
    let port = latch_testkit::free_port();
    let server = LatchServer::builder(bin())
        .env("LATCH_METRICS_LISTEN", format!("127.0.0.1:{port}"))
        .start()
        .await;
    let web = support::app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let secret = web.client_secret.clone().unwrap();
    let (s, _, _) = support::token(
        &server,
        &[("grant_type", "client_credentials")],
        Some((&web.client_id, &secret)),
    )
    .await;
    assert_eq!(s, 200);
    let http = latch_testkit::rp::reqwest_client();
    let public = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "not on the public listener");
    let url = format!("http://127.0.0.1:{port}/metrics");
    let ready = latch_testkit::wait_until(Duration::from_secs(5), || {
        let url = url.clone();
        async move { http.get(&url).send().await.is_ok() }
    })
    .await;
    assert!(ready);
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        text.contains(
            r#"latch_http_requests_total{route="/oauth/token",method="POST",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"latch_tokens_issued_total{grant="client_credentials"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("latch_http_request_duration_seconds_bucket{route=\"/oauth/token\""),
        "{text}"
    );
    assert!(!text.contains(&secret), "no secret in metrics");
}
