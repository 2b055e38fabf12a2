//! Example: a server-rendered web application that signs in with Latch, following the web
//! application guide step by step (seed 001; `examples/web/README.md` maps each step to code).
//!
//! It keeps a client secret, so only this backend talks to Latch's token endpoint. The browser
//! holds one `HttpOnly`, `SameSite=Lax` cookie (`Secure` when the application is served over
//! https) naming a server-side session; tokens never reach the browser. Routes:
//!
//! - `GET /` — the user's claims and the protected API's answer, or a "Sign in" link;
//! - `GET /login` → Latch's `/oauth/authorize`; `GET /callback` checks `state`, `iss` (RFC 9207)
//!   and the ID token's `nonce`, and opens the session;
//! - `POST /refresh`, `POST /logout` (forms bound to the session by a CSRF token);
//! - `GET /api/profile` — the protected API: a Bearer access token verified here against `/keys`;
//! - `POST /backchannel-logout` — Latch's logout tokens end the sessions they name.
//!
//! It depends on no Latch crate: only on what Latch publishes.

pub mod backchannel;
mod handlers;
pub mod jwt;
pub mod oidc;
mod pages;
pub mod sessions;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{get, post};
use openidconnect::JsonWebKeySetUrl;
use tokio::net::TcpListener;
use url::Url;

/// What the application is told at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Latch's issuer, e.g. `http://127.0.0.1:8080`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Where this application is reached, e.g. `http://127.0.0.1:3000` (its redirect URI is
    /// `{base_url}/callback`).
    pub base_url: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Provider(String),
}

/// The running application: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    client_id: String,
    base_url: String,
    secure_cookies: bool,
    provider: oidc::Provider,
    keys: jwt::Keys,
    sessions: sessions::Sessions,
    seen_jtis: sessions::SeenJtis,
    backchannel_ended: AtomicUsize,
}

impl App {
    /// Discovers Latch (and its keys); fails if it is unreachable or its issuer differs.
    pub async fn new(config: Config) -> Result<App, Error> {
        let base_url = config.base_url.as_str().trim_end_matches('/').to_owned();
        let provider = oidc::Provider::discover(
            &config.issuer,
            &config.client_id,
            &config.client_secret,
            &format!("{base_url}/callback"),
        )
        .await?;
        let keys_url = JsonWebKeySetUrl::new(provider.metadata.jwks_uri().url().to_string())
            .map_err(|e| Error::Setup(format!("jwks_uri: {e}")))?;
        let keys = jwt::Keys::new(
            keys_url,
            provider.metadata.jwks().clone(),
            provider.http().clone(),
        );
        Ok(App {
            inner: Arc::new(Inner {
                issuer: config.issuer.trim_end_matches('/').to_owned(),
                client_id: config.client_id,
                secure_cookies: config.base_url.scheme() == "https",
                base_url,
                provider,
                keys,
                sessions: sessions::Sessions::default(),
                seen_jtis: sessions::SeenJtis::default(),
                backchannel_ended: AtomicUsize::new(0),
            }),
        })
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(handlers::home))
            .route("/login", get(handlers::login))
            .route("/callback", get(handlers::callback))
            .route("/refresh", post(handlers::refresh))
            .route("/logout", post(handlers::logout))
            .route("/api/profile", get(handlers::api_profile))
            .route("/backchannel-logout", post(backchannel::receive))
            .with_state(self.clone())
    }

    /// How many local sessions are open.
    pub fn session_count(&self) -> usize {
        self.inner.sessions.len()
    }

    /// How many local sessions back-channel logouts have ended so far.
    pub fn sessions_ended_by_backchannel(&self) -> usize {
        self.inner.backchannel_ended.load(Ordering::Relaxed)
    }
}

/// Serves `app` on `listener` until the task is dropped or the listener fails.
pub async fn serve(listener: TcpListener, app: App) -> std::io::Result<()> {
    axum::serve(listener, app.router()).await
}

/// Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
