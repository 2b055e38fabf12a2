//! One module per subcommand.

pub mod apps;
pub mod backup;
pub mod keys;
pub mod serve;
pub mod users;

use std::sync::Arc;

use anyhow::Context;
use latch_core::store::Store;
use latch_server::Settings;

/// `latch migrate`
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let version = store.schema_version().await?;
    print_json(&serde_json::json!({ "schema_version": version }))
}

/// Opens (and migrates) the configured database.
pub async fn open(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    latch_store::open_and_migrate(&settings.database_url)
        .await
        .context("cannot open the database")
}

pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn now() -> i64 {
    use latch_core::Clock;
    latch_core::SystemClock.now()
}

/// Turns a management layer error into the CLI's one-line error (`code: description`).
pub fn manage_error(e: latch_server::manage::ManageError) -> anyhow::Error {
    anyhow::anyhow!("{}: {e}", e.code())
}
