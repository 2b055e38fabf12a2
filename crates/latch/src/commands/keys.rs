//! `latch keys …`

use anyhow::anyhow;
use clap::Subcommand;
use latch_jose::Algorithm;
use latch_server::Settings;

use super::{now, open, print_json};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a new signing key: published at once, signing after the propagation delay.
    Rotate {
        /// RS256, ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    /// List the stored keys (public parts only).
    List,
}

pub async fn run(settings: &Settings, cmd: KeysCommand) -> anyhow::Result<()> {
    let store = open(settings).await?;
    match cmd {
        KeysCommand::Rotate { alg } => {
            let alg = Algorithm::parse(&alg)
                .ok_or_else(|| anyhow!("unknown --alg `{alg}` (RS256, ES256 or EdDSA)"))?;
            let master = latch_server::resolve_master_key(
                settings.master_key.as_deref(),
                &settings.database_url,
            )?;
            let record = latch_server::rotate_key(
                store.as_ref(),
                &master,
                alg,
                now(),
                settings.key_propagation_delay,
            )
            .await?;
            print_json(&serde_json::json!({
                "kid": record.kid,
                "alg": record.alg,
                "generation": record.generation,
                "published_at": latch_server::manage::rfc3339(record.created_at),
                "signs_from": latch_server::manage::rfc3339(record.activate_at),
            }))
        }
        KeysCommand::List => {
            let keys: Vec<_> = store
                .list_signing_keys()
                .await?
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "kid": r.kid,
                        "alg": r.alg,
                        "generation": r.generation,
                        "created_at": latch_server::manage::rfc3339(r.created_at),
                        "signs_from": latch_server::manage::rfc3339(r.activate_at),
                    })
                })
                .collect();
            print_json(&keys)
        }
    }
}
