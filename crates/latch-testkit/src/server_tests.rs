use super::*;

#[test]
fn random_master_key_is_base64_of_32_bytes() {
    let key = random_master_key();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&key)
        .expect("base64");
    assert_eq!(raw.len(), 32);
    assert_ne!(key, random_master_key());
}

#[tokio::test]
async fn a_missing_binary_is_reported_as_a_spawn_error() {
    let err = LatchServer::builder("/nonexistent/latch").try_start().await;
    assert!(matches!(err, Err(TestkitError::Spawn { .. })), "{err:?}");
}

/// Writes an executable shell script standing in for the `latch` binary.
fn fake_latch(dir: &TempDir, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.path().join("fake-latch");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[tokio::test]
async fn a_process_that_exits_early_is_reported_with_its_logs() {
    let dir = TempDir::new();
    let bin = fake_latch(&dir, "echo \"refusing $1\" >&2; exit 3");
    match LatchServer::builder(bin).try_start().await {
        Err(TestkitError::Exited { status, logs }) => {
            assert_eq!(status.code(), Some(3));
            assert!(logs.contains("refusing serve"), "{logs}");
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn a_server_is_started_stopped_restarted_and_its_cli_run_with_the_same_env() {
    // The receiver answers 200 to GET /healthz on the port the fake server "listens" on.
    let health = crate::BackchannelReceiver::start().await;
    let dir = TempDir::new();
    let bin = fake_latch(
        &dir,
        r#"if [ "$1" = serve ]; then echo "listening on $LATCH_LISTEN"; exec sleep 60; fi
printf '{"args":"%s","db":"%s","key":"%s"}\n' "$*" "$LATCH_DATABASE_URL" "$LATCH_MASTER_KEY""#,
    );
    let mut server = LatchServer::builder(&bin)
        .port(health.port())
        .database_url("postgres://u@127.0.0.1:1/db")
        .start()
        .await;
    assert_eq!(
        server.issuer(),
        format!("http://127.0.0.1:{}", health.port())
    );
    assert_eq!(server.url("/keys"), format!("{}/keys", server.issuer()));
    assert!(
        server
            .wait_for_log("listening on 127.0.0.1:", Duration::from_secs(5))
            .await
    );

    let out = server.cli(&["apps", "create", "--name", "x"]).await;
    assert_eq!(out["args"], "apps create --name x");
    assert_eq!(out["db"], "postgres://u@127.0.0.1:1/db");
    assert_eq!(out["key"].as_str(), server.env_var("LATCH_MASTER_KEY"));

    let status = server.stop().await;
    assert!(!status.success(), "sleep ends by SIGTERM: {status}");
    server.restart().await;
    assert!(server.pid().is_some());
    let twice = || async { server.logs().matches("listening on").count() == 2 };
    assert!(
        crate::wait_until(Duration::from_secs(5), twice).await,
        "{}",
        server.logs()
    );
    server.kill9().await;
    assert!(server.pid().is_none());
}

#[tokio::test]
async fn the_default_database_is_a_fresh_sqlite_file_in_a_removed_temp_dir() {
    let health = crate::BackchannelReceiver::start().await;
    let dir = TempDir::new();
    let bin = fake_latch(&dir, "exec sleep 60");
    let server = LatchServer::builder(&bin).port(health.port()).start().await;
    let data_dir = server.data_dir().to_path_buf();
    let expected = format!("sqlite://{}/latch.db", data_dir.display());
    assert_eq!(server.database_url(), expected);
    assert_eq!(server.env_var("LATCH_MASTER_KEY"), None);
    drop(server);
    assert!(!data_dir.exists());
}
