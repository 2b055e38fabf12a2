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
    store
        .insert_revoked_access_token("jti", 1)
        .await
        .expect("write");
    drop(store);

    let store = latch_store::open(&url(&path))
        .await
        .expect("reopen without migrating");
    assert!(store.is_access_token_revoked("jti").await.expect("read"));
    assert_eq!(
        store.schema_version().await.expect("version"),
        5,
        "the latest migration"
    );
    drop(store);
    let store = latch_store::open_and_migrate(&url(&path))
        .await
        .expect("migrating twice is a no-op");
    assert_eq!(
        store.schema_version().await.expect("version"),
        5,
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
