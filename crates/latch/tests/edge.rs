//! The network edge (issue 14): slow clients cannot hold connections (header-read timeout, a cap
//! on open connections), attacker-chosen methods and paths do not grow `/metrics` or memory, the
//! client's address is read from every `X-Forwarded-For` line behind a trusted proxy, and
//! back-channel URLs on private or metadata addresses are refused at registration.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection; how long that took (panics after `limit`).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_half_sent_header_is_cut_off_and_idle_connections_do_not_block_others_for_long() {
    let server = server_with(&[
        ("LATCH_HEADER_READ_TIMEOUT", "2"),
        ("LATCH_MAX_CONNECTIONS", "2"),
    ])
    .await;
    let addr = server.listen().to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Both places are taken: a third client waits in the backlog…
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let early =
        tokio::time::timeout(Duration::from_millis(300), third.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "over the cap, a connection waits: {answer:?}"
    );
    // …until the header timeout closes the slow and the idle ones, well within a few seconds.
    assert!(closed_within(&mut slow, Duration::from_secs(5)).await < Duration::from_secs(5));
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await < Duration::from_secs(5));
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut answer))
        .await
        .expect("the waiting client is served once a place is free")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

/// The process's resident memory, in KiB.
/// The label sets of the request metrics (`latch_http_*` lines without their values).
fn http_series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("latch_http_"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn ten_thousand_random_methods_and_paths_do_not_grow_metrics_or_memory() {
    let metrics_port = latch_testkit::free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let server = server_with(&[("LATCH_METRICS_LISTEN", metrics_addr.as_str())]).await;
    let http = latch_testkit::rp::reqwest_client();
    let metrics_url = format!("http://{metrics_addr}/metrics");
    let metrics = || async {
        http.get(&metrics_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut send = |n: usize| {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let method: String = (0..8)
                .map(|_| char::from(b'A' + (next() % 26) as u8))
                .collect();
            // Known routes (answered 405) and unknown paths (404).
            let path = match next() % 4 {
                0 => "/healthz".to_owned(),
                1 => "/oauth/token".to_owned(),
                2 => "/keys".to_owned(),
                _ => format!("/{:x}/{:x}", next(), next()),
            };
            let url = server.url(&path);
            let http = http.clone();
            tasks.spawn(async move {
                let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                http.request(method, url).send().await.unwrap().status()
            });
        }
        tasks
    };
    let mut warm = send(500);
    while warm.join_next().await.is_some() {}
    let before = http_series(&metrics().await);
    let rss_before = resident_kib(server.pid().unwrap());
    for _ in 0..19 {
        let mut batch = send(500);
        while let Some(status) = batch.join_next().await {
            assert!(status.unwrap().is_client_error());
        }
    }
    let text = metrics().await;
    assert!(text.contains("method=\"other\""), "{text}");
    // The request metrics' label sets are exactly those of the warm-up: 10,000 more random
    // methods and paths added none. (Other families may gain a series from the closed set of
    // store operations as background jobs run; they are not fed by requests.)
    let after = http_series(&text);
    assert_eq!(after, before, "/metrics' request series changed:\n{text}");
    let rss_after = resident_kib(server.pid().unwrap());
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
}

#[tokio::test]
async fn the_client_address_is_read_from_every_forwarded_line_past_trusted_hops() {
    let server = server_with(&[("LATCH_TRUSTED_PROXIES", "127.0.0.1/32, 10.0.0.0/8")]).await;
    let web = app(&server, "web", "http://127.0.0.1:7001/cb", &[]).await;
    let wrong = Some((web.client_id.as_str(), "wrong"));
    let cases: [(&[&str], Value); 3] = [
        // The client's own claim, then what the proxies added: two lines, ports, a trusted hop.
        (
            &["6.6.6.6", "198.51.100.7:4444, 10.1.2.3:80"],
            json!("198.51.100.7"),
        ),
        (&["[2001:db8::7]:443"], json!("2001:db8::7")),
        // A proxy that could not tell: the address is unknown, never the proxy's.
        (&["unknown, 10.1.2.3"], Value::Null),
    ];
    for (lines, _) in &cases {
        let headers: Vec<(&str, &str)> = lines.iter().map(|l| ("x-forwarded-for", *l)).collect();
        let form = [("grant_type", "client_credentials")];
        let (s, _, _) = post_form_with(&server, "/oauth/token", &form, wrong, &headers).await;
        assert_eq!(s, 401);
    }
    let bearer = admin_token(&server).await;
    let events = audit_events(&server, &bearer, "client.authentication_failure", 3).await;
    let mut seen: Vec<Value> = events.iter().map(|e| e["ip"].clone()).collect();
    let mut want: Vec<Value> = cases.iter().map(|(_, ip)| ip.clone()).collect();
    seen.sort_by_key(Value::to_string);
    want.sort_by_key(Value::to_string);
    assert_eq!(seen, want, "{events:#?}");
}

#[tokio::test]
async fn back_channel_urls_on_private_or_metadata_addresses_are_refused_at_registration() {
    let server = server().await;
    let bearer = admin_token(&server).await;
    let http = latch_testkit::rp::reqwest_client();
    for url in [
        "https://169.254.169.254/latest/meta-data",
        // The same address in decimal: URLs are normalised before the check (WHATWG URL).
        "https://2852039166/latest/meta-data",
        "https://10.0.0.5/logout",
        "https://[fd00:ec2::254]/logout",
        "https://[::ffff:192.168.1.1]/logout",
    ] {
        let resp = http
            .post(server.url("/api/v1/applications"))
            .bearer_auth(&bearer)
            .json(&json!({
                "name": "internal",
                "type": "web",
                "redirects": {"post_login": ["https://rp.example.com/cb"], "backchannel_logout": url},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 422, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("redirects.backchannel_logout"),
            "{url}: {body}"
        );
    }
    let out = server
        .cli_output(&[
            "apps",
            "create",
            "--name",
            "internal",
            "--type",
            "web",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--backchannel-logout-uri",
            "https://169.254.169.254/logout",
        ])
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("redirects.backchannel_logout"));
    // Loopback stays allowed (development), and names are checked when they are resolved.
    for url in ["http://127.0.0.1:9/bc", "https://rp.example.com/bc"] {
        app(
            &server,
            "web",
            "https://rp.example.com/cb",
            &["--backchannel-logout-uri", url],
        )
        .await;
    }
}

#[tokio::test]
async fn private_back_channel_urls_can_be_allowed_by_the_operator() {
    // In the configuration file, as `backchannel_allow_private`; the CLI reads the same file.
    let dir = latch_testkit::TempDir::new();
    let config = dir.path().join("latch.toml");
    std::fs::write(&config, "backchannel_allow_private = true\n").unwrap();
    let config = config.display().to_string();
    let server = latch_testkit::LatchServer::builder(bin())
        .arg("--config")
        .arg(config.clone())
        .start()
        .await;
    let created = server
        .cli(&[
            "--config",
            &config,
            "apps",
            "create",
            "--name",
            "internal",
            "--type",
            "web",
            "--redirect-uri",
            "https://rp.example.com/cb",
            "--backchannel-logout-uri",
            "https://10.0.0.5/logout",
        ])
        .await;
    assert_eq!(
        created["redirects"]["backchannel_logout"],
        "https://10.0.0.5/logout"
    );
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = server().await;
    // A write, so the WAL and shared-memory files exist.
    app(&server, "web", "https://rp.example.com/cb", &[]).await;
    for name in ["latch.db", "latch.db-wal", "latch.db-shm"] {
        let path = server.data_dir().join(name);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
}
