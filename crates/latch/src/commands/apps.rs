//! `latch apps …`

use anyhow::anyhow;
use clap::Subcommand;
use latch_core::application::{ApplicationType, Redirects};
use latch_core::audit::ActorType;
use latch_core::store::PageRequest;
use latch_server::Settings;
use latch_server::audit::{self, Event};
use latch_server::manage::{
    self, ApplicationCreated, ApplicationView, ClientSecretCreated, NewApplication, NewTokenHook,
    TokenHookView,
};

use super::{manage_error, now, open, print_json};

#[derive(Subcommand)]
pub enum AppsCommand {
    /// Register an application; prints it (a web application's first client_secret is shown this once).
    Create {
        /// Human-readable name, shown on the hosted pages.
        #[arg(long)]
        name: String,
        /// `web` (holds a client secret), `spa` or `native` (public, PKCE).
        #[arg(long = "type", value_parser = ["web", "spa", "native"])]
        application_type: String,
        /// Allowed `redirect_uri` (exact match; repeat for several).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Allowed `post_logout_redirect_uri` (repeat for several).
        #[arg(long = "post-logout-uri")]
        post_logout_uris: Vec<String>,
        /// Where back-channel logout tokens are posted when a session ends.
        #[arg(long = "backchannel-logout-uri")]
        backchannel_logout_uri: Option<String>,
        /// Where sign-in starts when it begins outside the application.
        #[arg(long = "initiate-login-uri")]
        initiate_login_uri: Option<String>,
        /// A browser origin (`scheme://host[:port]`) allowed to call the token endpoints with CORS.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Let this (web) application call the management API with client_credentials.
        #[arg(long = "management-api")]
        management_api: bool,
        /// Access token lifetime in seconds (60–86400), instead of the default 300.
        #[arg(long = "access-token-ttl")]
        access_token_ttl_seconds: Option<i64>,
        /// RS256 (default), ES256 or EdDSA.
        #[arg(long = "signing-alg")]
        signing_alg: Option<String>,
        /// Let people create an account from this application's sign-in (`prompt=create`).
        #[arg(long = "allow-signup")]
        allow_signup: bool,
        /// Ask users to verify their e-mail before this application gets a code.
        #[arg(long = "require-verified-email")]
        require_verified_email: bool,
    },
    /// List applications.
    List,
    /// Show one application by id or client_id.
    Show {
        /// The application's id or client_id.
        id: String,
    },
    /// Delete an application (revokes what was issued to it).
    Delete {
        /// The application's id or client_id.
        id: String,
    },
    /// Client secrets of a web application.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Set an application's claim mappings (claims from the user's and organization's data);
    /// replaces the whole list, as the management API's merge patch does. Prints the application.
    ClaimMappings {
        /// The application's id or client_id.
        id: String,
        /// A JSON array of `{"claim", "source", "destinations"}` (`[]` removes them all).
        #[arg(value_name = "JSON")]
        mappings: String,
    },
    /// An application's token hook (called before tokens are issued).
    #[command(subcommand)]
    TokenHook(TokenHookCommand),
}

#[derive(Subcommand)]
pub enum TokenHookCommand {
    /// Set (or replace) the hook; prints it with its new signing secret, shown this once.
    Set {
        /// The application's id or client_id.
        application_id: String,
        /// Where Latch POSTs (https; http on loopback only).
        #[arg(long)]
        url: String,
        /// What happens when the hook cannot be asked (default `deny`).
        #[arg(long = "on-failure", value_parser = ["deny", "proceed"])]
        on_failure: Option<String>,
        /// How long Latch waits for the answer (100–5000; default 1000).
        #[arg(long = "timeout-ms")]
        timeout_ms: Option<u64>,
    },
    /// Show the hook (never its secret).
    Show {
        /// The application's id or client_id.
        application_id: String,
    },
    /// Remove the hook.
    Delete {
        /// The application's id or client_id.
        application_id: String,
    },
}

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Create a secret (shown this once); at most two are active.
    Create {
        /// The application's id or client_id.
        application_id: String,
    },
    /// List secrets (never their values).
    List {
        /// The application's id or client_id.
        application_id: String,
    },
    /// Revoke a secret.
    Revoke {
        /// The application's id or client_id.
        application_id: String,
        /// The secret's id (from `secrets list`).
        secret_id: String,
    },
}

pub async fn run(settings: &Settings, cmd: AppsCommand) -> anyhow::Result<()> {
    let store = open(settings).await?;
    let store = store.as_ref();
    match cmd {
        AppsCommand::Create {
            name,
            application_type,
            redirect_uris,
            post_logout_uris,
            backchannel_logout_uri,
            initiate_login_uri,
            allowed_origins,
            management_api,
            access_token_ttl_seconds,
            signing_alg,
            allow_signup,
            require_verified_email,
        } => {
            let new = NewApplication {
                name,
                application_type: ApplicationType::parse(&application_type)
                    .ok_or_else(|| anyhow!("unknown --type"))?,
                management_api_access: management_api,
                enforce_pkce: None,
                access_token_ttl_seconds,
                redirects: Redirects {
                    post_login: redirect_uris,
                    initiate_login: initiate_login_uri,
                    post_logout: post_logout_uris,
                    backchannel_logout: backchannel_logout_uri,
                },
                allowed_origins,
                id_token_signed_response_alg: signing_alg,
                custom_claims: None,
                claim_mappings: None,
                allow_signup,
                require_verified_email,
                mfa: None,
            };
            let (app, secret) =
                manage::create_application(store, new, now(), settings.backchannel_allow_private)
                    .await
                    .map_err(manage_error)?;
            print_json(&ApplicationCreated::new(&app, secret.as_ref()))
        }
        AppsCommand::List => {
            let mut all = Vec::new();
            let mut page = PageRequest {
                limit: 200,
                after: None,
            };
            loop {
                let batch = store.list_applications(&page).await?;
                all.extend(batch.data.iter().map(ApplicationView::from));
                match batch.next_cursor {
                    Some(c) => page.after = Some(c),
                    None => break,
                }
            }
            print_json(&all)
        }
        AppsCommand::Show { id } => {
            let app = find(store, &id).await?;
            print_json(&ApplicationView::from(&app))
        }
        AppsCommand::Delete { id } => {
            let app = find(store, &id).await?;
            store.delete_application(&app.id, now()).await?;
            print_json(&serde_json::json!({ "deleted": app.id }))
        }
        AppsCommand::Secrets(cmd) => secrets(store, cmd).await,
        AppsCommand::ClaimMappings { id, mappings } => {
            let app = find(store, &id).await?;
            let mappings: serde_json::Value = serde_json::from_str(&mappings)
                .map_err(|e| anyhow!("invalid_request: the mappings are not JSON: {e}"))?;
            let patch = serde_json::json!({ "claim_mappings": mappings });
            let allow_private = settings.backchannel_allow_private;
            let app = manage::update_application(store, &app, &patch, now(), allow_private)
                .await
                .map_err(manage_error)?;
            print_json(&ApplicationView::from(&app))
        }
        AppsCommand::TokenHook(cmd) => token_hook(settings, store, cmd).await,
    }
}

async fn token_hook(
    settings: &Settings,
    store: &dyn latch_core::store::Store,
    cmd: TokenHookCommand,
) -> anyhow::Result<()> {
    match cmd {
        TokenHookCommand::Set {
            application_id,
            url,
            on_failure,
            timeout_ms,
        } => {
            let app = find(store, &application_id).await?;
            let new: NewTokenHook = serde_json::from_value(serde_json::json!({
                "url": url,
                "on_failure": on_failure,
                "timeout_ms": timeout_ms,
            }))?;
            let master = latch_server::resolve_master_key(
                settings.master_key.as_deref(),
                &settings.database_url,
            )?;
            let hooks = manage::token_hooks(&master);
            let allow_private = settings.backchannel_allow_private;
            let (_, created) =
                manage::set_token_hook(store, &hooks, &app, new, now(), allow_private)
                    .await
                    .map_err(manage_error)?;
            print_json(&created)
        }
        TokenHookCommand::Show { application_id } => {
            let app = find(store, &application_id).await?;
            let hook = app
                .token_hook
                .as_ref()
                .ok_or_else(|| anyhow!("not_found: the application has no token hook"))?;
            print_json(&TokenHookView::from(hook))
        }
        TokenHookCommand::Delete { application_id } => {
            let app = find(store, &application_id).await?;
            manage::delete_token_hook(store, &app, now())
                .await
                .map_err(manage_error)?;
            print_json(&serde_json::json!({ "deleted": "token_hook", "application": app.id }))
        }
    }
}

async fn find(
    store: &dyn latch_core::store::Store,
    id: &str,
) -> anyhow::Result<latch_core::application::Application> {
    if let Some(app) = store.get_application(id).await? {
        return Ok(app);
    }
    store
        .get_application_by_client_id(id)
        .await?
        .ok_or_else(|| anyhow!("not_found: application `{id}` not found"))
}

async fn secrets(store: &dyn latch_core::store::Store, cmd: SecretsCommand) -> anyhow::Result<()> {
    match cmd {
        SecretsCommand::Create { application_id } => {
            let app = find(store, &application_id).await?;
            let (secret, info) = manage::create_client_secret(store, &app, now())
                .await
                .map_err(manage_error)?;
            audit_secret(store, "secret.created", &app.client_id, &info.id).await?;
            print_json(&ClientSecretCreated {
                id: info.id,
                secret: secret.expose_secret().to_owned(),
                created_at: manage::rfc3339(info.created_at),
            })
        }
        SecretsCommand::List { application_id } => {
            let app = find(store, &application_id).await?;
            let list: Vec<_> = store
                .list_client_secrets(&app.id)
                .await?
                .iter()
                .map(manage::SecretView::from)
                .collect();
            print_json(&list)
        }
        SecretsCommand::Revoke {
            application_id,
            secret_id,
        } => {
            let app = find(store, &application_id).await?;
            if !store.delete_client_secret(&app.id, &secret_id).await? {
                return Err(anyhow!("not_found: secret `{secret_id}` not found"));
            }
            audit_secret(store, "secret.revoked", &app.client_id, &secret_id).await?;
            print_json(&serde_json::json!({ "revoked": secret_id }))
        }
    }
}

/// Records a secret event made from the command line (`details.via: "cli"`).
async fn audit_secret(
    store: &dyn latch_core::store::Store,
    kind: &'static str,
    client_id: &str,
    secret_id: &str,
) -> anyhow::Result<()> {
    let event = Event::new(kind)
        .actor(ActorType::Admin, None)
        .client(Some(client_id))
        .detail("secret_id", secret_id)
        .detail("via", "cli");
    audit::store_now(store, event, now()).await?;
    Ok(())
}
