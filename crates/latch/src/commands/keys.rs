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
    /// Re-seal every private key, TOTP secret and queued mail message under a new master key, in
    /// one transaction (stop every node first). Afterwards start every node with the new
    /// LATCH_MASTER_KEY (a SQLite key file is replaced for you).
    Rewrap {
        /// The new master key: base64 of 32 random bytes (`openssl rand -base64 32`), or `-` to
        /// read it from standard input (keeps it out of the process list).
        #[arg(long = "new-master-key", value_name = "BASE64")]
        new_master_key: String,
    },
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
        KeysCommand::Rewrap { new_master_key } => {
            let old = latch_server::resolve_master_key(
                settings.master_key.as_deref(),
                &settings.database_url,
            )?;
            let encoded = if new_master_key == "-" {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line
            } else {
                new_master_key
            };
            let new = latch_jose::MasterKey::from_base64(&encoded)
                .map_err(|e| anyhow!("invalid --new-master-key: {e}"))?;
            if new.to_base64() == old.to_base64() {
                return Err(anyhow!(
                    "invalid --new-master-key: it is the current master key"
                ));
            }
            let done = latch_server::rewrap_sealed(store.as_ref(), &old, &new).await?;
            let file = latch_server::replace_key_file(
                settings.master_key.as_deref(),
                &settings.database_url,
                &new,
            )?;
            let next = match file {
                Some(path) => format!(
                    "the key file {} now holds the new key; restart the server",
                    path.display()
                ),
                None => {
                    "set LATCH_MASTER_KEY to the new key on every node and restart them".to_owned()
                }
            };
            print_json(&serde_json::json!({
                "rewrapped": done.signing_keys,
                "totp_secrets": done.totp_secrets,
                "queued_mail": done.queued_mail,
                "unreadable": done.unreadable,
                "next": next,
            }))
        }
    }
}
