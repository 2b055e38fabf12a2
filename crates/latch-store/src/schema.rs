//! Comparing the migrations a database has applied with the ones this build embeds.

use latch_core::store::StoreError;
use sqlx::migrate::{MigrateError, Migrator};

/// `Ok` when `applied` (successful versions, any order) is exactly what `migrator` holds.
pub(crate) fn check_applied(
    applied: &[i64],
    migrator: &Migrator,
    place: &str,
) -> Result<(), StoreError> {
    let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(unknown) = applied.iter().find(|v| !migrator.version_exists(**v)) {
        return Err(StoreError::Other(format!(
            "{place}: the database has schema migration {unknown}, newer than this Latch knows \
             (latest {latest}); upgrade Latch"
        )));
    }
    let current = applied.iter().copied().max().unwrap_or(0);
    if migrator.iter().any(|m| !applied.contains(&m.version)) {
        return Err(StoreError::Other(format!(
            "{place}: the database schema is at version {current}, this Latch needs {latest}; \
             run `latch migrate`"
        )));
    }
    Ok(())
}

pub(crate) fn migrate_err(place: &str) -> impl Fn(MigrateError) -> StoreError + '_ {
    move |e| match e {
        MigrateError::Execute(inner) => match crate::sql::db_err(inner) {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("{place}: migration failed: {m}"))
            }
            other => StoreError::Other(format!("{place}: migration failed: {other}")),
        },
        other => StoreError::Other(format!("{place}: migration failed: {other}")),
    }
}
