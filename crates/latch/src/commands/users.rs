//! `latch users …`

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Subcommand;
use latch_core::store::PageRequest;
use latch_server::Settings;
use latch_server::manage::{self, NewUser, UserOrganizationView, UserView};
use latch_server::password::PasswordHasher;
use latch_server::user_transfer;

use super::{manage_error, now, open, print_json};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user; prints it (never the password or its hash).
    Create {
        /// Sign-in email (unique, any letter case).
        #[arg(long)]
        email: String,
        /// Initial password (at least 8 characters, not a common one).
        #[arg(long)]
        password: String,
        /// Full name (`name` claim).
        #[arg(long)]
        name: Option<String>,
        /// Given name (`given_name` claim).
        #[arg(long = "given-name")]
        given_name: Option<String>,
        /// Family name (`family_name` claim).
        #[arg(long = "family-name")]
        family_name: Option<String>,
        /// Mark the email as verified (`email_verified` claim).
        #[arg(long = "email-verified")]
        email_verified: bool,
        /// The application's own id for the user (unique among users).
        #[arg(long = "external-id")]
        external_id: Option<String>,
        /// The application's data about the user: a JSON object (at most 16 KiB, 5 levels deep).
        #[arg(long)]
        metadata: Option<String>,
        /// Let the user sign in to the admin console (`/admin`).
        #[arg(long)]
        admin: bool,
    },
    /// Let the user with this email sign in to the admin console (`/admin`); prints the user.
    GrantAdmin {
        /// The user's sign-in email (any letter case).
        email: String,
    },
    /// List users, optionally the one with an email.
    List {
        /// Only the user with this email.
        #[arg(long)]
        email: Option<String>,
    },
    /// Change a user's profile, `metadata` or `external_id` with a JSON merge patch (RFC 7396,
    /// as `PATCH /api/v1/users/{id}`); prints the user. Not the password (`send-reset`, or the API).
    Update {
        /// The user's id.
        id: String,
        /// The merge patch, e.g. `{"metadata": {"plan": "gold"}, "external_id": "crm-1"}`.
        #[arg(value_name = "JSON")]
        patch: String,
    },
    /// List the organizations a user belongs to, with the user's roles in each.
    Organizations {
        /// The user's id.
        id: String,
    },
    /// Import users from a JSON Lines file (one user object per line; see docs/api.md):
    /// existing emails are skipped, failed lines are reported by number.
    Import {
        /// The file to read (`-`: standard input).
        file: PathBuf,
    },
    /// Export every user as JSON Lines (the import format).
    Export {
        /// The file to write, created with mode 0600 (`-`: standard output).
        file: PathBuf,
        /// Include each user's password hash (to import them elsewhere).
        #[arg(long = "include-password-hashes")]
        include_password_hashes: bool,
    },
    /// Mail the user a password-reset link (needs LATCH_SMTP_URL; a running server sends it).
    SendReset {
        /// The user's sign-in email.
        email: String,
        /// How long the link works, in seconds (default 1800, at most 7 days).
        #[arg(long = "ttl-seconds", default_value_t = latch_server::signin::password_reset::LINK_TTL)]
        ttl_seconds: i64,
    },
    /// Delete a user (ends their sessions and notifies the applications).
    Delete {
        /// The user's id.
        id: String,
    },
}

pub async fn run(settings: &Settings, cmd: UsersCommand) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let store = store.as_ref();
    match cmd {
        UsersCommand::Create {
            email,
            password,
            name,
            given_name,
            family_name,
            email_verified,
            external_id,
            metadata,
            admin,
        } => {
            let metadata = match metadata {
                Some(text) => Some(
                    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text)
                        .map_err(|e| anyhow::anyhow!("--metadata must be a JSON object: {e}"))?,
                ),
                None => None,
            };
            let passwords = PasswordHasher::new(1)?;
            let new = NewUser {
                email,
                password,
                email_verified,
                name,
                given_name,
                family_name,
                external_id,
                metadata,
                admin,
            };
            let user = manage::create_user(store, &passwords, new, now())
                .await
                .map_err(manage_error)?;
            print_json(&UserView::from(&user))
        }
        UsersCommand::List { email } => {
            let mut all = Vec::new();
            let mut page = PageRequest {
                limit: 200,
                after: None,
            };
            loop {
                let batch = store.list_users(&page, email.as_deref()).await?;
                all.extend(batch.data.iter().map(UserView::from));
                match batch.next_cursor {
                    Some(c) => page.after = Some(c),
                    None => break,
                }
            }
            print_json(&all)
        }
        UsersCommand::Update { id, patch } => {
            let patch: serde_json::Value = serde_json::from_str(&patch)
                .map_err(|e| anyhow!("invalid_request: the patch is not JSON: {e}"))?;
            // A new password ends the user's sessions, which only a running server can announce
            // (back-channel logout): the CLI leaves passwords to the API.
            if patch.get("password").is_some() {
                return Err(anyhow!(
                    "invalid_request: the CLI does not set passwords (use send-reset or the API)"
                ));
            }
            let current = manage::user(store, &id).await.map_err(manage_error)?;
            let passwords = PasswordHasher::new(1)?;
            let (user, _) = manage::update_user(store, &passwords, &current, &patch, now())
                .await
                .map_err(manage_error)?;
            print_json(&UserView::from(&user))
        }
        UsersCommand::Organizations { id } => {
            let mut all = Vec::new();
            let mut page = PageRequest {
                limit: 200,
                after: None,
            };
            loop {
                let batch = manage::user_organizations(store, &id, &page)
                    .await
                    .map_err(manage_error)?;
                all.extend(batch.data.iter().map(UserOrganizationView::from));
                match batch.next_cursor {
                    Some(c) => page.after = Some(c),
                    None => break,
                }
            }
            print_json(&all)
        }
        UsersCommand::GrantAdmin { email } => {
            let Some((user, _)) = store.get_user_by_email(&email).await? else {
                return Err(anyhow!("not_found: no user with email `{email}`"));
            };
            manage::set_admin(store, &user.id, true)
                .await
                .map_err(manage_error)?;
            let user = manage::user(store, &user.id).await.map_err(manage_error)?;
            print_json(&UserView::from(&user))
        }
        UsersCommand::Import { file } => import(store, &file).await,
        UsersCommand::Export {
            file,
            include_password_hashes,
        } => export(store, &file, include_password_hashes).await,
        UsersCommand::SendReset { email, ttl_seconds } => {
            send_reset(settings, store, &email, ttl_seconds).await
        }
        UsersCommand::Delete { id } => {
            match manage::delete_user(store, &id, now()).await {
                Ok(_) => {}
                Err(manage::ManageError::NotFound(_)) => {
                    return Err(anyhow!("not_found: user `{id}` not found"));
                }
                Err(e) => return Err(manage_error(e)),
            }
            print_json(&serde_json::json!({ "deleted": id }))
        }
    }
}

async fn import(store: &dyn latch_core::store::Store, file: &Path) -> anyhow::Result<()> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let started = std::time::Instant::now();
    let mut importer = user_transfer::Importer::new(store, now());
    for (i, line) in reader.lines().enumerate() {
        let number = i as u64 + 1;
        let line = line.with_context(|| format!("cannot read line {number}"))?;
        if let Err(e) = importer.line(number, &line).await {
            let from = importer.pending_from().unwrap_or(number);
            return Err(anyhow!(
                "stopped at line {from} (the lines before it were imported): {e}"
            ));
        }
    }
    let report = importer
        .finish()
        .await
        .context("stopped before the last lines were imported")?;
    let seconds = started.elapsed().as_secs_f64();
    print_json(&serde_json::json!({
        "imported": report.imported,
        "existing": report.existing,
        "failed_count": report.failed_count,
        "failed": report.failed,
        "seconds": (seconds * 1000.0).round() / 1000.0,
    }))?;
    if report.failed_count > 0 {
        return Err(anyhow!(
            "{} line(s) failed and were not imported (listed above)",
            report.failed_count
        ));
    }
    Ok(())
}

async fn export(
    store: &dyn latch_core::store::Store,
    file: &Path,
    include_password_hashes: bool,
) -> anyhow::Result<()> {
    let to_stdout = file == Path::new("-");
    let out: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let f = options
            .open(file)
            .with_context(|| format!("cannot create {} (it must not exist)", file.display()))?;
        Box::new(f)
    };
    let mut out = std::io::BufWriter::new(out);
    let count = user_transfer::export(store, include_password_hashes, |line| {
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")
    })
    .await?;
    out.flush()?;
    if !to_stdout {
        print_json(&serde_json::json!({
            "exported": count,
            "file": file.display().to_string(),
            "password_hashes": include_password_hashes,
        }))?;
    }
    Ok(())
}

/// `latch users send-reset EMAIL`: stores a link and queues its mail; any running server sends it.
async fn send_reset(
    settings: &Settings,
    store: &dyn latch_core::store::Store,
    email: &str,
    ttl: i64,
) -> anyhow::Result<()> {
    use latch_server::signin::password_reset::MAX_LINK_TTL;
    if !(1..=MAX_LINK_TTL).contains(&ttl) {
        return Err(anyhow!(
            "invalid_request: --ttl-seconds must be between 1 and {MAX_LINK_TTL}"
        ));
    }
    if settings.smtp.is_none() {
        return Err(anyhow!(
            "email_not_configured: set LATCH_SMTP_URL and LATCH_SMTP_FROM to send e-mail"
        ));
    }
    let master =
        latch_server::resolve_master_key(settings.master_key.as_deref(), &settings.database_url)?;
    let key = latch_server::mail::key(&master);
    let issuer = latch_server::signin::password_reset::Issuer {
        store,
        issuer: &settings.issuer,
        branding: &settings.branding,
        mail_key: &key,
        now: now(),
    };
    match latch_server::signin::password_reset::issue_link(&issuer, email, None, ttl).await? {
        None => Err(anyhow!("not_found: no user signs in with `{email}`")),
        Some((_, false)) => Err(anyhow!(
            "mail_limited: the e-mail send limit is reached for this address; try again later"
        )),
        Some((user_id, true)) => {
            print_json(&serde_json::json!({ "user_id": user_id, "queued": true }))
        }
    }
}
