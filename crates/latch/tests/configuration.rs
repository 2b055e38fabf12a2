//! Configuration that never fails silently: every refusal exits non-zero with one line naming
//! the setting, before anything is created; `latch serve --help` lists every setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code panics on failure"
)]

mod support;

use std::net::TcpListener;

use support::{bin, run_serve, stderr_lines};

/// The one line of a refusal, after checking there is exactly one and the exit is non-zero.
fn refusal(env: &[(&str, &str)], args: &[&str]) -> String {
    let (out, dir) = run_serve(env, args);
    assert!(!out.status.success(), "{env:?} {args:?} started");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{env:?}: {lines:#?}");
    assert!(
        !dir.path().join("x.db").exists(),
        "{env:?}: a database was created before the refusal"
    );
    lines[0].clone()
}

#[test]
fn unknown_variables_bad_filters_and_bad_values_are_refused_by_name() {
    for (env, says) in [
        (
            vec![("LATCH_ISSUR", "http://127.0.0.1:1")],
            "did you mean LATCH_ISSUER?",
        ),
        (
            vec![("LATCH_REQUEST_TIMOUT", "5")],
            "did you mean LATCH_REQUEST_TIMEOUT?",
        ),
        (
            vec![("LATCH_COMPLETELY_MADE_UP", "1")],
            "LATCH_COMPLETELY_MADE_UP",
        ),
        (vec![("LATCH_LOG", "latch=verbose")], "LATCH_LOG"),
        (vec![("LATCH_ACCESS_LOG", "sometimes")], "LATCH_ACCESS_LOG"),
        (
            vec![("LATCH_MAX_CONNECTIONS", "0")],
            "LATCH_MAX_CONNECTIONS",
        ),
        (
            vec![("LATCH_HEADER_READ_TIMEOUT", "soon")],
            "LATCH_HEADER_READ_TIMEOUT",
        ),
        (
            vec![("LATCH_BACKCHANNEL_ALLOW_PRIVATE", "maybe")],
            "LATCH_BACKCHANNEL_ALLOW_PRIVATE",
        ),
        (
            vec![("LATCH_METRICS_LISTEN", "everywhere")],
            "LATCH_METRICS_LISTEN",
        ),
        (
            vec![("LATCH_BRANDING_PRIMARY_COLOR", "red;}body{display:none")],
            "LATCH_BRANDING_PRIMARY_COLOR",
        ),
        (
            vec![("LATCH_BRANDING_PRIMARY_COLOR", "#12345")],
            "LATCH_BRANDING_PRIMARY_COLOR",
        ),
        (
            vec![("LATCH_BRANDING_LOGO_URL", "http://cdn.example.com/logo.png")],
            "LATCH_BRANDING_LOGO_URL",
        ),
        (
            vec![("LATCH_BRANDING_LOGO_URL", "javascript:alert(1)")],
            "LATCH_BRANDING_LOGO_URL",
        ),
        (vec![("LATCH_BRANDING_NAME", "   ")], "LATCH_BRANDING_NAME"),
        (
            vec![("LATCH_AUDIT_RETENTION", "30w")],
            "LATCH_AUDIT_RETENTION: `30w` is not a duration",
        ),
        (
            vec![("LATCH_AUDIT_RETENTION", "0s")],
            "LATCH_AUDIT_RETENTION: `0s` is outside 1s..=3650d",
        ),
        (
            vec![("LATCH_AUDIT_RETENTION", "3651d")],
            "LATCH_AUDIT_RETENTION: `3651d` is outside 1s..=3650d",
        ),
    ] {
        let line = refusal(&env, &[]);
        assert!(line.contains(says), "{env:?}: {line}");
    }
}

#[test]
fn the_toml_file_accepts_every_documented_key_and_refuses_unknown_ones() {
    let dir = latch_testkit::TempDir::new();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "request_timout = 5\n").unwrap();
    let line = refusal(&[], &["--config", bad.to_str().unwrap()]);
    assert!(line.contains("did you mean `request_timeout`?"), "{line}");
    // Keys the file used to refuse (`unknown field`), with a value out of range to stop start-up
    // right after they were read: the error names the setting, so the key was accepted.
    let ok = dir.path().join("ok.toml");
    std::fs::write(&ok, "token_rate_limit = 5\nrequest_timeout = 0\n").unwrap();
    let line = refusal(&[], &["--config", ok.to_str().unwrap()]);
    assert!(
        line.contains("LATCH_REQUEST_TIMEOUT (`request_timeout` in"),
        "{line}"
    );
}

#[test]
fn a_port_in_use_stops_start_up_before_the_database_is_created() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let line = refusal(
        &[
            ("LATCH_LISTEN", &addr),
            ("LATCH_ISSUER", &format!("http://{addr}")),
        ],
        &[],
    );
    assert!(
        line.contains("LATCH_LISTEN") && line.contains(&addr),
        "{line}"
    );
    // The cause is said once (it used to be repeated after the address).
    assert_eq!(line.matches("in use").count(), 1, "{line}");
    let line = refusal(&[("LATCH_METRICS_LISTEN", &addr)], &[]);
    assert!(line.contains("LATCH_METRICS_LISTEN"), "{line}");
}

#[test]
fn an_unreachable_postgres_is_named_once() {
    let key = latch_testkit::random_master_key();
    let line = refusal(
        &[
            ("LATCH_DATABASE_URL", "postgres://postgres@127.0.0.1:1/none"),
            ("LATCH_MASTER_KEY", &key),
        ],
        &[],
    );
    assert!(line.contains("LATCH_DATABASE_URL"), "{line}");
    assert_eq!(line.matches("127.0.0.1:1").count(), 1, "{line}");
}

#[tokio::test]
async fn a_listen_address_the_issuer_does_not_name_is_warned_about_once() {
    let port = latch_testkit::free_port();
    let server = latch_testkit::LatchServer::builder(bin())
        .env("LATCH_ISSUER", "http://127.0.0.1:19081")
        .port(port)
        .start()
        .await;
    let logs = server.logs();
    assert_eq!(
        logs.matches("LATCH_ISSUER is http://127.0.0.1:19081")
            .count(),
        1,
        "{logs}"
    );
    let quiet = latch_testkit::LatchServer::start(bin()).await;
    assert!(
        !quiet.logs().contains("LATCH_LISTEN is"),
        "{}",
        quiet.logs()
    );
}

#[test]
fn serve_help_lists_every_setting() {
    let out = std::process::Command::new(bin())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let readme = include_str!("../../../README.md");
    let documented: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("LATCH_"))
        .collect();
    assert!(documented.len() >= 20, "{documented:?}");
    for name in documented {
        assert!(
            help.contains(name),
            "`latch serve --help` lacks {name}:\n{help}"
        );
    }
}
