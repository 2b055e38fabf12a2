//! `latch backup PATH`

use std::path::Path;

use anyhow::Context;
use latch_server::Settings;

use super::print_json;

/// A consistent copy of the SQLite database, made while the server runs. The master key is not
/// in it: keep `LATCH_MASTER_KEY` (or the key file beside the database) apart from the backups.
pub async fn run(settings: &Settings, dest: &Path) -> anyhow::Result<()> {
    let bytes = latch_store::backup_sqlite(&settings.database_url, dest)
        .await
        .context("backup failed")?;
    let key_file = latch_store::sqlite_path(&settings.database_url).map(|p| {
        let mut name = p.as_os_str().to_owned();
        name.push(".master-key");
        std::path::PathBuf::from(name)
    });
    let master_key = match (&settings.master_key, key_file) {
        (Some(_), _) => {
            "LATCH_MASTER_KEY: not in the backup; restore with the same value".to_owned()
        }
        (None, Some(file)) => format!(
            "{}: not in the backup; copy it beside the restored database",
            file.display()
        ),
        (None, None) => String::new(),
    };
    print_json(&serde_json::json!({
        "backup": dest.display().to_string(),
        "bytes": bytes,
        "master_key": master_key,
    }))
}
