//! Start-up: open and migrate the store, load or create keys, warm caches, bind, serve until a
//! shutdown signal, finishing in-flight requests.

use std::sync::Arc;

use latch_core::store::{Store, StoreError};
use latch_core::{Clock, SystemClock};
use tokio::net::TcpListener;

use crate::jobs::applications::{self, Applications};
use crate::jobs::keys::{self, KeyError, Keys};
use crate::settings::Settings;
use crate::signin::password::{PasswordError, PasswordHasher};
use crate::state::{AppState, Inner};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    // Each variant's text names what failed; the cause follows once, as the error's source
    // (`{e:#}` prints the chain: repeating the source in the text would print it twice).
    #[error("database (LATCH_DATABASE_URL)")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("cannot listen on {addr} ({setting})")]
    Bind {
        addr: String,
        setting: &'static str,
        source: std::io::Error,
    },
    #[error("server error")]
    Serve(#[source] std::io::Error),
    #[error("cannot set up e-mail (LATCH_SMTP_URL)")]
    Mail(#[source] lettre::transport::smtp::Error),
}

/// The SMTP sender, or `None` (said once: e-mail features are off).
fn mailer(settings: &Settings) -> Result<Option<Arc<crate::mail::worker::Mailer>>, StartupError> {
    let Some(smtp) = &settings.smtp else {
        tracing::info!(
            "e-mail is not configured (LATCH_SMTP_URL): password reset and other e-mail features are off"
        );
        return Ok(None);
    };
    let transport = smtp.transport().map_err(StartupError::Mail)?;
    tracing::info!(smtp = %smtp.describe(), from = %smtp.from, "e-mail is sent through SMTP");
    Ok(Some(Arc::new(crate::mail::worker::Mailer {
        transport,
        from: smtp.from.clone(),
    })))
}

/// A server ready to accept traffic.
pub struct Server {
    state: AppState,
    listener: TcpListener,
    metrics: Option<TcpListener>,
}

async fn bind(
    addr: std::net::SocketAddr,
    setting: &'static str,
) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            setting,
            source,
        })
}

impl Server {
    /// Everything that can fail at start-up fails here, before the port answers.
    pub async fn prepare(settings: Settings) -> Result<Self, StartupError> {
        crate::http::metrics_process::start_time();
        // The addresses first: a port in use stops start-up before a database file is created.
        let listener = bind(settings.listen, "LATCH_LISTEN").await?;
        let metrics = match settings.metrics_listen {
            Some(addr) => Some(bind(addr, "LATCH_METRICS_LISTEN").await?),
            None => None,
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let resolve =
            || keys::resolve_master_key(settings.master_key.as_deref(), &settings.database_url);
        // Off SQLite the master key is required: say so before trying to reach the database.
        let early = match latch_store::sqlite_path(&settings.database_url) {
            None => Some(resolve()?),
            Some(_) => None,
        };
        let store = latch_store::open_and_migrate(&settings.database_url).await?;
        // On SQLite the key file is created only once the database opened cleanly.
        let master = match early {
            Some(m) => m,
            None => resolve()?,
        };
        let records = keys::ensure_keys(store.as_ref(), &master, clock.now()).await?;
        // A superseded key stays published as long as the longest-lived token it signed.
        let grace = latch_core::application::MAX_ACCESS_TOKEN_TTL;
        let keys = Arc::new(Keys::new(&records, master, clock.now(), grace)?);
        if settings.admin_console {
            let now = clock.now();
            crate::console::ensure_application(store.as_ref(), &settings.issuer, now).await?;
        }
        crate::account::ensure_application(store.as_ref(), &settings.issuer, clock.now()).await?;
        let applications = Arc::new(Applications::default());
        applications.refresh(store.as_ref(), true).await?;
        let revocations = Arc::new(crate::lifecycle::revocations::Revocations::default());
        revocations.refresh(store.as_ref(), clock.now()).await?;
        let refresh_token_key = keys.master().derive("latch refresh token v1");
        let code_key = keys.master().sub_key("latch authorization code v1");
        let device_key = keys.master().derive("latch device cookie v1");
        let token_hooks = crate::manage::token_hooks(keys.master());
        let mail_key = crate::mail::key(keys.master());
        let mail = mailer(&settings)?;
        let state = AppState(Arc::new(Inner {
            discovery: crate::oauth::oidc::discovery_document(&settings.issuer),
            theme: crate::pages::Theme::new(&settings),
            webauthn: crate::factors::passkeys::relying_party(
                &settings.issuer,
                &settings.branding.name,
            ),
            passwords: PasswordHasher::new(PasswordHasher::default_concurrency())?,
            locks: Default::default(),
            token_rate: crate::http::rate_limit::RateLimiter::new(settings.token_rate_limit),
            audit: Default::default(),
            settings,
            store,
            clock,
            keys,
            applications,
            revocations,
            refresh_token_key,
            device_key,
            code_key,
            token_hooks,
            mail,
            mail_key,
        }));
        Ok(Self {
            state,
            listener,
            metrics,
        })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let state = self.state;
        keys::spawn_reloader(state.keys.clone(), state.store.clone(), state.clock.clone());
        applications::spawn_refresher(state.applications.clone(), state.store.clone());
        crate::lifecycle::revocations::spawn_refresher(
            state.revocations.clone(),
            state.store.clone(),
            state.clock.clone(),
        );
        crate::jobs::backchannel::spawn(state.clone());
        crate::mail::worker::spawn(state.clone());
        crate::jobs::sweep::spawn(state.clone());
        let audit_writer = state.audit.spawn(state.store.clone(), state.clock.clone());
        let audit_state = state.clone();
        if let Some(listener) = self.metrics {
            crate::http::metrics::spawn_listener(listener, state.clone());
        }
        let store: Arc<dyn Store> = state.store.clone();
        tracing::info!(
            issuer = %state.settings.issuer,
            listen = %state.settings.listen,
            "latch is ready"
        );
        let limits = crate::http::edge::Limits {
            header_read_timeout: state.settings.header_read_timeout,
            max_connections: state.settings.max_connections,
        };
        let app = crate::http::router::router(state);
        crate::http::edge::serve(self.listener, app, limits, shutdown).await;
        audit_state.audit.flush(audit_writer).await;
        drop(audit_state);
        drop(store);
        tracing::info!("latch stopped");
        Ok(())
    }
}
