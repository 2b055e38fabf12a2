//! The conformance cases on SQLite (a fresh file per case), and how `open` treats files.
#![allow(clippy::expect_used, reason = "test helpers panic on failure")]

use std::path::{Path, PathBuf};

use latch_store::conformance::Fixture;

/// A unique, not yet existing database path in the temp directory.
fn temp_db(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "latch-store-{name}-{}.db",
        uuid::Uuid::now_v7().simple()
    ))
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn remove(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

async fn open_sqlite(case: &'static str) -> Option<Fixture> {
    let path = temp_db(case);
    let store = latch_store::open_and_migrate(&url(&path))
        .await
        .expect("open a fresh SQLite database");
    Some(Fixture::new(store).with_cleanup(async move { remove(&path) }))
}

latch_store::conformance_tests!(open_sqlite);

fn error_of<T>(result: Result<T, latch_core::store::StoreError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_corrupt_file_is_refused_and_left_untouched() {
    let path = temp_db("corrupt");
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).expect("write garbage");
    for err in [
        error_of(latch_store::open_and_migrate(&url(&path)).await),
        error_of(latch_store::open(&url(&path)).await),
    ] {
        assert!(
            err.contains(&path.display().to_string()),
            "names the file: {err}"
        );
        assert!(err.contains("not a database"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
    assert_eq!(
        std::fs::read(&path).expect("read"),
        garbage,
        "the file changed"
    );
    remove(&path);
}

/// Creates a SQLite database of another application (a table, no Latch id) at `path`.
fn foreign_database(path: &Path, setup: &'static str) {
    let conn = rusqlite::Connection::open(path).expect("create foreign database");
    conn.execute_batch(setup).expect("set it up");
    conn.close().map_err(|(_, e)| e).expect("close");
}

#[tokio::test]
async fn another_applications_database_is_refused_and_left_untouched() {
    for (name, setup) in [
        (
            "foreign",
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('x')",
        ),
        ("foreign-id", "PRAGMA application_id = 42"),
    ] {
        let path = temp_db(name);
        foreign_database(&path, setup);
        let before = std::fs::read(&path).expect("read");
        for err in [
            error_of(latch_store::open_and_migrate(&url(&path)).await),
            error_of(latch_store::open(&url(&path)).await),
        ] {
            assert!(
                err.contains(&path.display().to_string()),
                "names the file: {err}"
            );
            assert!(err.contains("another application"), "{err}");
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "{name}: the file changed"
        );
        remove(&path);
    }
}

#[tokio::test]
async fn open_refuses_a_missing_file_without_creating_it() {
    let path = temp_db("missing");
    let err = error_of(latch_store::open(&url(&path)).await);
    assert!(err.contains("latch migrate"), "{err}");
    assert!(!path.exists(), "open created the file");
}

#[tokio::test]
async fn a_migrated_file_is_latch_s_in_wal_mode_and_reopens_with_its_data() {
    let path = temp_db("reopen");
    let store = latch_store::open_and_migrate(&format!("sqlite:{}", path.display()))
        .await
        .expect("create");
    let revoked = latch_core::revocation::Revocation {
        kind: latch_core::revocation::RevocationKind::Token,
        value: "jti".to_owned(),
        expires_at: 10,
    };
    store.insert_revocation(&revoked, 1).await.expect("write");
    drop(store);

    let store = latch_store::open(&url(&path))
        .await
        .expect("reopen without migrating");
    assert_eq!(
        store.list_revocations(0, 1).await.expect("read"),
        vec![revoked]
    );
    assert_eq!(
        store.schema_version().await.expect("version"),
        14,
        "the latest migration"
    );
    drop(store);
    let store = latch_store::open_and_migrate(&url(&path))
        .await
        .expect("migrating twice is a no-op");
    assert_eq!(
        store.schema_version().await.expect("version"),
        14,
        "the latest migration"
    );
    drop(store);

    let conn = rusqlite::Connection::open(&path).expect("connect");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(mode, "wal");
    let id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .expect("pragma");
    assert_eq!(id, latch_store::SQLITE_APPLICATION_ID);
    conn.close().map_err(|(_, e)| e).expect("close");
    remove(&path);
}

#[tokio::test]
async fn open_refuses_a_schema_behind_or_ahead_of_this_build() {
    let path = temp_db("versions");
    drop(
        latch_store::open_and_migrate(&url(&path))
            .await
            .expect("create"),
    );
    let edit = |sql: &'static str| {
        let conn = rusqlite::Connection::open(&path).expect("connect");
        conn.execute_batch(sql).expect("edit migrations");
        conn.close().map_err(|(_, e)| e).expect("close");
    };
    edit("UPDATE _sqlx_migrations SET success = 0");
    let err = error_of(latch_store::open(&url(&path)).await);
    assert!(err.contains("run `latch migrate`"), "{err}");
    edit("UPDATE _sqlx_migrations SET success = 1");
    edit(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
          VALUES (9999, 'future', 1, x'00', 0)",
    );
    let err = error_of(latch_store::open(&url(&path)).await);
    assert!(err.contains("upgrade Latch"), "{err}");
    remove(&path);
}

/// Upgrading from schema 4 (a refresh token row per rotation) keeps signed-in apps signed in:
/// each family's live token becomes its grant's generation 0, found by the old token's hash;
/// rotated and revoked tokens are not carried over.
#[tokio::test]
async fn live_refresh_tokens_of_schema_4_become_grants() {
    use latch_core::SecretHash;
    use latch_core::store::GrantKey;

    let path = temp_db("upgrade");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
    let conn = rusqlite::Connection::open(&path).expect("create");
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
         success BOOLEAN NOT NULL, checksum BLOB NOT NULL, execution_time BIGINT NOT NULL)",
    )
    .expect("bookkeeping table");
    for (version, file) in [
        (1, "0001_init"),
        (2, "0002_throttles"),
        (3, "0003_organizations"),
        (4, "0004_audit"),
    ] {
        let sql = std::fs::read_to_string(format!("{dir}/{file}.sql")).expect("read migration");
        conn.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))
            .expect("apply migration");
        let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, sql.as_bytes());
        conn.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, 1, ?3, 0)",
            rusqlite::params![version, file, sum.as_ref()],
        )
        .expect("record migration");
    }
    conn.execute_batch(
        "INSERT INTO users (id, email, email_normalized, email_verified, password_hash, created_at) \
         VALUES ('user', 'u@example.com', 'u@example.com', 1, 'x', 1)",
    )
    .expect("insert user");
    let family = SecretHash::of(b"a code");
    let (live, rotated, revoked) = (
        SecretHash::of(b"live"),
        SecretHash::of(b"rotated"),
        SecretHash::of(b"revoked"),
    );
    for (hash, family, rotated_at, revoked_at) in [
        (&live, family.as_str(), None, None),
        (&rotated, family.as_str(), Some(5), None),
        (&revoked, SecretHash::of(b"other").as_str(), None, Some(6)),
    ] {
        conn.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, application_id, client_id, user_id, \
             sid, scope, auth_time, created_at, expires_at, rotated_at, revoked_at, organization_id) \
             VALUES (?1, ?2, 'app', 'client', 'user', 'sid', 'openid offline_access', 1, 2, 9999, \
             ?3, ?4, 'org_1')",
            rusqlite::params![hash.as_str(), family, rotated_at, revoked_at],
        )
        .expect("insert token");
    }
    conn.close().map_err(|(_, e)| e).expect("close");

    let store = latch_store::open_and_migrate(&url(&path))
        .await
        .expect("upgrade");
    assert_eq!(store.schema_version().await.expect("version"), 14);
    let state = store
        .get_refresh_grant(GrantKey::Legacy(&live))
        .await
        .expect("get")
        .expect("the live token's grant");
    assert_eq!(state.generation, 0);
    assert_eq!(state.grant.family_id, family.as_str());
    assert_eq!(
        (
            state.grant.client_id.as_str(),
            state.grant.scope.as_str(),
            state.grant.expires_at,
            state.grant.organization_id.as_deref()
        ),
        ("client", "openid offline_access", 9999, Some("org_1"))
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
    remove(&path);
}
