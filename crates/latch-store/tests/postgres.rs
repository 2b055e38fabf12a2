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

/// Upgrading from schema 4 keeps signed-in apps signed in (the same as on SQLite): each
/// family's live token becomes its grant's generation 0; rotated and revoked ones are dropped.
#[tokio::test]
async fn live_refresh_tokens_of_schema_4_become_grants() {
    use latch_core::SecretHash;
    use latch_core::store::GrantKey;

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
    let run = |sql: String| sqlx::AssertSqlSafe(sql);
    conn.execute(run(format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}"
    )))
    .await
    .expect("schema");
    conn.execute(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, \
         checksum BYTEA NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .await
    .expect("bookkeeping table");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
    for (version, file) in [
        (1_i64, "0001_init"),
        (2, "0002_throttles"),
        (3, "0003_organizations"),
        (4, "0004_audit"),
    ] {
        let sql = std::fs::read_to_string(format!("{dir}/{file}.sql")).expect("read migration");
        conn.execute(run(sql.clone()))
            .await
            .expect("apply migration");
        let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, sql.as_bytes());
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, 0)",
        )
        .bind(version)
        .bind(file)
        .bind(sum.as_ref())
        .execute(&mut conn)
        .await
        .expect("record migration");
    }
    conn.execute(
        "INSERT INTO users (id, email, email_normalized, email_verified, password_hash, created_at) \
         VALUES ('user', 'u@example.com', 'u@example.com', TRUE, 'x', 1)",
    )
    .await
    .expect("insert user");
    let family = SecretHash::of(b"a code");
    let (live, rotated, revoked) = (
        SecretHash::of(b"live"),
        SecretHash::of(b"rotated"),
        SecretHash::of(b"revoked"),
    );
    let other = SecretHash::of(b"other");
    for (hash, family, rotated_at, revoked_at) in [
        (&live, family.as_str(), None, None),
        (&rotated, family.as_str(), Some(5_i64), None),
        (&revoked, other.as_str(), None, Some(6_i64)),
    ] {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, family_id, application_id, client_id, user_id, \
             sid, scope, auth_time, created_at, expires_at, rotated_at, revoked_at, organization_id) \
             VALUES ($1, $2, 'app', 'client', 'user', 'sid', 'openid offline_access', 1, 2, 9999, \
             $3, $4, 'org_1')",
        )
        .bind(hash.as_str())
        .bind(family)
        .bind(rotated_at)
        .bind(revoked_at)
        .execute(&mut conn)
        .await
        .expect("insert token");
    }

    let store = latch_store::open_postgres_in_schema(&url, &schema)
        .await
        .expect("upgrade");
    assert_eq!(store.schema_version().await.expect("version"), 14);
    let state = store
        .get_refresh_grant(GrantKey::Legacy(&live))
        .await
        .expect("get")
        .expect("the live token's grant");
    assert_eq!(
        (state.generation, state.grant.family_id.as_str()),
        (0, family.as_str())
    );
    assert_eq!(state.grant.organization_id.as_deref(), Some("org_1"));
    assert_eq!(
        state.grant.amr,
        latch_core::authn::Amr::PASSWORD,
        "granted before methods were recorded: a password"
    );
    for gone in [&rotated, &revoked] {
        assert_eq!(
            store
                .get_refresh_grant(GrantKey::Legacy(gone))
                .await
                .expect("get"),
            None
        );
    }
    assert!(
        store
            .rotate_refresh_grant(family.as_str(), 0, 10_000, 7)
            .await
            .expect("rotate")
    );
    drop(store);
    conn.execute(run(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .expect("drop schema");
    conn.close().await.ok();
}

/// Pooled connections are not checked before every statement (a round trip each), but one idle
/// for a second is: connections PostgreSQL dropped meanwhile (a restart, a failover, an
/// administrator's `pg_terminate_backend`) are replaced, not handed to a request.
#[tokio::test]
async fn connections_dropped_while_idle_are_replaced() {
    let url = test_url();
    let Ok(mut admin) = sqlx::PgConnection::connect(&url).await else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "PostgreSQL is unreachable"
        );
        skip(&format!("cannot reach {url}"));
        return;
    };
    let name = format!("latch_test_{}", uuid::Uuid::now_v7().simple());
    let sep = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{sep}application_name={name}");
    let store = latch_store::open_postgres_in_schema(&tagged, &name)
        .await
        .expect("open");
    store.ping().await.expect("ping");
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&name)
    .fetch_all(&mut admin)
    .await
    .expect("terminate");
    assert!(
        !terminated.is_empty() && terminated.iter().all(|t| *t),
        "the store's connections were dropped: {terminated:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    for _ in 0..3 {
        store
            .ping()
            .await
            .expect("a dropped idle connection is replaced");
    }
    assert!(store.schema_version().await.expect("version") > 0);
    drop(store);
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE")))
        .await
        .expect("drop schema");
    admin.close().await.ok();
}
