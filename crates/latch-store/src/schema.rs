//! Comparing the migrations a database has applied with the ones this build embeds.

use latch_core::store::StoreError;
use sqlx::migrate::MigrateError;

/// `Ok` when `applied` (successful versions, any order) is exactly `known` (this build's).
pub(crate) fn check_applied(applied: &[i64], known: &[i64], place: &str) -> Result<(), StoreError> {
    let latest = known.iter().copied().max().unwrap_or(0);
    if let Some(unknown) = applied.iter().find(|v| !known.contains(v)) {
        return Err(StoreError::Other(
            format!(
                "{place}: the database has schema migration {unknown}, newer than this Latch knows \
             (latest {latest}); upgrade Latch"
            )
            .into(),
        ));
    }
    let current = applied.iter().copied().max().unwrap_or(0);
    if known.iter().any(|v| !applied.contains(v)) {
        return Err(StoreError::Other(
            format!(
                "{place}: the database schema is at version {current}, this Latch needs {latest}; \
             run `latch migrate`"
            )
            .into(),
        ));
    }
    Ok(())
}

/// For sqlx's PostgreSQL migrator.
pub(crate) fn migrate_err(place: &str) -> impl Fn(MigrateError) -> StoreError + '_ {
    move |e| match e {
        MigrateError::Execute(inner) => match crate::sql::db_err(inner) {
            StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("{place}: migration failed: {m}").into())
            }
            other => StoreError::Other(format!("{place}: migration failed: {other}").into()),
        },
        other => StoreError::Other(format!("{place}: migration failed: {other}").into()),
    }
}
