//! The SQLite migrations (`migrations/sqlite`), applied in order, each in one transaction with its
//! bookkeeping row. The bookkeeping table is sqlx's `_sqlx_migrations`, with the same rows sqlx
//! writes (SHA-384 checksum of the file), so databases made by earlier Latch builds open as they
//! are and stay readable by them.

use latch_core::store::StoreError;

use super::Sqlite;
use crate::sql::backend::{Backend, DbError, Exec, query, query_as, query_scalar};

/// One embedded migration: `migrations/sqlite/{file}.sql`.
struct Migration {
    version: i64,
    file: &'static str,
    sql: &'static str,
}

impl Migration {
    /// What sqlx records as the description: the file name after the number, `_` as spaces.
    fn description(&self) -> String {
        let name = self.file.split_once('_').map_or(self.file, |(_, n)| n);
        name.replace('_', " ")
    }
}

macro_rules! migration {
    ($version:literal, $file:literal) => {
        Migration {
            version: $version,
            file: $file,
            sql: include_str!(concat!("../../migrations/sqlite/", $file, ".sql")),
        }
    };
}

/// Every file of `migrations/sqlite`, in order (a unit test checks that none is missing).
static MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init"),
    migration!(2, "0002_throttles"),
    migration!(3, "0003_organizations"),
    migration!(4, "0004_audit"),
    migration!(5, "0005_sealed_codes_and_refresh_grants"),
    migration!(6, "0006_revocations"),
    migration!(7, "0007_metadata_and_external_ids"),
    migration!(8, "0008_claim_mappings_and_token_hooks"),
    migration!(9, "0009_admin_users"),
    migration!(10, "0010_mail_outbox"),
    migration!(11, "0011_email_verification_and_signup"),
    migration!(12, "0012_second_factors"),
    migration!(13, "0013_retention"),
    migration!(14, "0014_passkeys"),
];

/// The versions this build knows.
pub(crate) fn known_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

fn checksum(sql: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, sql.as_bytes())
        .as_ref()
        .to_vec()
}

fn failed(place: &str) -> impl Fn(DbError) -> StoreError + '_ {
    move |e| match e.into_store_error() {
        StoreError::Unavailable(m) => {
            let message = format!("{place}: migration failed: {m}");
            StoreError::Unavailable(m.context(message))
        }
        StoreError::Other(m) => {
            let message = format!("{place}: migration failed: store error: {m}");
            StoreError::Other(m.context(message))
        }
        other => StoreError::Other(format!("{place}: migration failed: {other}").into()),
    }
}

/// Applies the migrations the database lacks. Refuses a database with a migration this build does
/// not know, one that failed half-way, or one whose file has changed since it was applied.
pub(crate) async fn run(db: &Sqlite, place: &str) -> Result<(), StoreError> {
    query(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        )",
    )
    .execute(Exec::Write(db))
    .await
    .map_err(failed(place))?;
    let applied: Vec<(i64, bool, Vec<u8>)> =
        query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(Exec::Write(db))
            .await
            .map_err(failed(place))?;
    for (version, success, sum) in &applied {
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(newer(place, *version));
        };
        if !success {
            return Err(StoreError::Other(
                format!("{place}: migration {version} failed part-way before; restore a backup")
                    .into(),
            ));
        }
        if *sum != checksum(known.sql) {
            return Err(StoreError::Other(format!(
                "{place}: migration {version} was applied from a different file than this build's"
            ).into()));
        }
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
    {
        let start = std::time::Instant::now();
        let mut tx = db.begin().await.map_err(failed(place))?;
        tx.execute_batch(m.sql).map_err(failed(place))?;
        query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES ($1, $2, TRUE, $3, $4)",
        )
        .bind(m.version)
        .bind(m.description())
        .bind(checksum(m.sql))
        .bind(i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX))
        .execute(Exec::<Sqlite>::Conn(&mut tx))
        .await
        .map_err(failed(place))?;
        Sqlite::commit(tx).await.map_err(failed(place))?;
    }
    Ok(())
}

/// Requires exactly this build's migrations to have been applied.
pub(crate) async fn check(db: &Sqlite, place: &str) -> Result<(), StoreError> {
    let applied: Vec<i64> = query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(Exec::Write(db))
        .await
        .map_err(DbError::into_store_error)?;
    crate::schema::check_applied(&applied, &known_versions(), place)
}

fn newer(place: &str, version: i64) -> StoreError {
    let latest = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    StoreError::Other(
        format!(
            "{place}: the database has schema migration {version}, newer than this Latch knows \
         (latest {latest}); upgrade Latch"
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{}.sql", m.file))
            .collect();
        assert_eq!(files, embedded);
        for m in MIGRATIONS {
            assert!(
                m.file.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.file
            );
        }
    }

    #[test]
    fn checksums_are_sqlx_s_sha384_of_the_file() {
        // sqlx records SHA-384 of the SQL text; a database migrated by earlier builds has these.
        let sum = checksum("");
        assert_eq!(sum.len(), 48);
        assert_eq!(
            sum[..4],
            [0x38, 0xb0, 0x60, 0xa7],
            "SHA-384 of the empty string"
        );
    }
}
