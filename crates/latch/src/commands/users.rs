//! `latch users …`

use anyhow::anyhow;
use clap::Subcommand;
use latch_core::store::PageRequest;
use latch_server::Settings;
use latch_server::manage::{self, NewUser, UserView};
use latch_server::password::PasswordHasher;

use super::{api_error, now, open, print_json};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user; prints it (never the password or its hash).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "given-name")]
        given_name: Option<String>,
        #[arg(long = "family-name")]
        family_name: Option<String>,
        #[arg(long = "email-verified")]
        email_verified: bool,
    },
    /// List users, optionally the one with an email.
    List {
        #[arg(long)]
        email: Option<String>,
    },
    /// Delete a user (ends their sessions and notifies the applications).
    Delete { id: String },
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
        } => {
            let passwords = PasswordHasher::new(1)?;
            let new = NewUser {
                email,
                password,
                email_verified,
                name,
                given_name,
                family_name,
            };
            let user = manage::create_user(store, &passwords, new, now())
                .await
                .map_err(api_error)?;
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
        UsersCommand::Delete { id } => {
            if manage::delete_user(store, &id, now())
                .await
                .map_err(api_error)?
                .is_none()
            {
                return Err(anyhow!("not_found: user `{id}` not found"));
            }
            print_json(&serde_json::json!({ "deleted": id }))
        }
    }
}
