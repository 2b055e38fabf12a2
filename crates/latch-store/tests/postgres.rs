//! The conformance cases on PostgreSQL, each in a fresh schema of the database at
//! `LATCH_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! If PostgreSQL cannot be reached the cases fail when `CI=true`, and otherwise print
//! `SKIPPING PostgreSQL conformance: …` to stderr and pass.
#![allow(clippy::expect_used, reason = "test helpers panic on failure")]

use latch_core::store::StoreError;
use latch_store::conformance::Fixture;
use sqlx::{Connection, Executor};

fn test_url() -> String {
    std::env::var("LATCH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Says so on the real stderr: libtest captures `eprintln!` of passing tests.
fn skip(reason: &str) {
    use std::io::Write;
    let line = format!("SKIPPING PostgreSQL conformance: {reason} (set CI=true to fail instead)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

async fn open_postgres(case: &'static str) -> Option<Fixture> {
    let url = test_url();
    let schema = format!("latch_test_{}", uuid::Uuid::now_v7().simple());
    match latch_store::open_postgres_in_schema(&url, &schema).await {
        Ok(store) => Some(Fixture::new(store).with_cleanup(async move {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("connect to drop the schema");
            conn.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .expect("drop schema");
            conn.close().await.ok();
        })),
        Err(StoreError::Unavailable(reason)) if std::env::var("CI").as_deref() != Ok("true") => {
            skip(&format!("{case}: {reason}"));
            None
        }
        Err(e) => panic!("PostgreSQL for conformance ({case}): {e}"),
    }
}

latch_store::conformance_tests!(open_postgres);

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_named_without_the_password() {
    let result = latch_store::open("postgres://latch:hunter2@127.0.0.1:1/latch").await;
    match result {
        Err(StoreError::Unavailable(m)) => {
            assert!(m.contains("127.0.0.1:1"), "names the host: {m}");
            assert!(!m.contains("hunter2"), "leaks the password: {m}");
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("connected to port 1"),
    }
}

#[tokio::test]
async fn open_refuses_an_unmigrated_schema() {
    let url = test_url();
    let schema = format!("latch_test_{}", uuid::Uuid::now_v7().simple());
    let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "PostgreSQL is unreachable"
        );
        skip(&format!("cannot reach {url}"));
        return;
    };
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
    let result = latch_store::open(&scoped).await;
    conn.execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .expect("drop schema");
    match result {
        Err(StoreError::Other(m)) => assert!(m.contains("run `latch migrate`"), "{m}"),
        Err(other) => panic!("expected a schema error, got {other:?}"),
        Ok(_) => panic!("opened an unmigrated schema"),
    }
}
