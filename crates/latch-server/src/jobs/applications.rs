//! The application cache: token and authorize requests find their application in memory.
//!
//! Every node polls the store's change counter and reloads on change, so an application created by
//! the CLI or another node is in effect within a second. A miss falls back to the store.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use latch_core::application::{Application, ApplicationType, ClientSecretInfo};
use latch_core::params::ClientCredentials;
use latch_core::redirect;
use latch_core::store::{PageRequest, Store, StoreError};
use latch_core::{OAuthError, UnixTime};

/// Why client authentication failed: the answer is `invalid_client` for all but `Internal`; the
/// abuse limits and the audit log tell them apart.
#[derive(Debug)]
pub enum AuthFailure {
    UnknownClient,
    /// A web application sent no secret.
    MissingSecret,
    WrongSecret,
    /// A spa or native application sent a `client_secret` (it has none).
    SecretFromPublicClient,
    /// The store failed: `server_error`.
    Internal(OAuthError),
}

impl AuthFailure {
    /// The audit reason.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::UnknownClient => "unknown_client",
            AuthFailure::MissingSecret => "missing_secret",
            AuthFailure::WrongSecret => "wrong_secret",
            AuthFailure::SecretFromPublicClient => "secret_from_public_client",
            AuthFailure::Internal(_) => "internal_error",
        }
    }

    /// The RFC 6749 §5.2 error.
    pub fn error(self) -> OAuthError {
        match self {
            AuthFailure::Internal(e) => e,
            AuthFailure::SecretFromPublicClient => {
                OAuthError::invalid_client("public clients do not use a client secret")
            }
            _ => OAuthError::invalid_client("client authentication failed"),
        }
    }
}

#[derive(Default)]
struct Snapshot {
    version: i64,
    by_client_id: HashMap<String, Arc<Application>>,
    /// Active secrets of web applications, by application id.
    secrets: HashMap<String, Arc<Vec<ClientSecretInfo>>>,
    /// Every browser origin some application allows (`Application::allows_origin`), for CORS preflights.
    origins: HashSet<String>,
    /// Whether some application allows sign-up (discovery lists `prompt=create` then).
    signup: bool,
}

#[derive(Default)]
pub struct Applications {
    snapshot: RwLock<Arc<Snapshot>>,
    /// When this node last recorded each secret's use, so `last_used_at` costs a write a minute at most.
    last_touch: std::sync::Mutex<HashMap<String, UnixTime>>,
}

impl Applications {
    fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The application with this `client_id`, if any.
    pub async fn by_client_id(
        &self,
        store: &dyn Store,
        client_id: &str,
    ) -> Result<Option<Arc<Application>>, StoreError> {
        if let Some(app) = self.snapshot().by_client_id.get(client_id) {
            return Ok(Some(app.clone()));
        }
        if client_id.is_empty() || client_id.len() > 128 {
            return Ok(None);
        }
        Ok(store
            .get_application_by_client_id(client_id)
            .await?
            .map(Arc::new))
    }

    /// Whether at least one application allows this browser origin (CORS preflights carry no
    /// `client_id`). From the snapshot only: a new application counts from the next refresh.
    pub fn any_allows_origin(&self, origin: &str) -> bool {
        self.snapshot().origins.contains(origin)
    }

    /// Whether at least one application allows sign-up (from the snapshot).
    pub fn any_allows_signup(&self) -> bool {
        self.snapshot().signup
    }

    /// RFC 6749 §2.3: authenticates the client. Web applications must present one of their active
    /// secrets (SHA-256, constant-time comparison); spa and native applications present none.
    pub async fn authenticate(
        &self,
        store: &Arc<dyn Store>,
        credentials: &ClientCredentials,
        now: UnixTime,
    ) -> Result<Arc<Application>, AuthFailure> {
        let app = self
            .by_client_id(store.as_ref(), &credentials.client_id)
            .await
            .map_err(|e| AuthFailure::Internal(internal_oauth(&e)))?
            .ok_or(AuthFailure::UnknownClient)?;
        match (&credentials.secret, app.application_type.is_confidential()) {
            (None, false) => Ok(app),
            (Some(_), false) => Err(AuthFailure::SecretFromPublicClient),
            (None, true) => Err(AuthFailure::MissingSecret),
            (Some(secret), true) => {
                let cached = self.snapshot().secrets.get(&app.id).cloned();
                let secrets = match cached {
                    Some(s) => s,
                    None => Arc::new(
                        store
                            .list_client_secrets(&app.id)
                            .await
                            .map_err(|e| AuthFailure::Internal(internal_oauth(&e)))?,
                    ),
                };
                let hash = secret.hash();
                let mut matched = None;
                for s in secrets.iter() {
                    // Check every secret so the time taken does not say which one matched.
                    if s.hash.matches(&hash) {
                        matched = Some(s.id.clone());
                    }
                }
                let secret_id = matched.ok_or(AuthFailure::WrongSecret)?;
                self.record_use(store, secret_id, now);
                Ok(app)
            }
        }
    }

    fn record_use(&self, store: &Arc<dyn Store>, secret_id: String, now: UnixTime) {
        let due = match self.last_touch.lock() {
            Ok(mut map) => {
                let due = map.get(&secret_id).is_none_or(|t| now - t >= 60);
                if due {
                    map.insert(secret_id.clone(), now);
                }
                due
            }
            Err(_) => false,
        };
        if due {
            let store = store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.touch_client_secret(&secret_id, now).await {
                    tracing::warn!(error = %e, "could not record a client secret's use");
                }
            });
        }
    }

    /// Reloads every application if the store's change counter moved (or `force`).
    pub async fn refresh(&self, store: &dyn Store, force: bool) -> Result<(), StoreError> {
        let version = store.applications_version().await?;
        if !force && version == self.snapshot().version {
            return Ok(());
        }
        let mut by_client_id = HashMap::new();
        let mut secrets = HashMap::new();
        let mut origins = HashSet::new();
        let mut signup = false;
        let mut page = PageRequest {
            limit: 200,
            after: None,
        };
        loop {
            let batch = store.list_applications(&page).await?;
            // The page's secrets in one query (a reload per application was one round trip per
            // web application: 330 of them at start-up with 1,000 applications).
            let mut page_secrets: HashMap<String, Vec<ClientSecretInfo>> = HashMap::new();
            if let Some(last) = batch.data.last() {
                let listed = store
                    .list_client_secrets_between(page.after.as_deref(), &last.id)
                    .await?;
                for (application_id, secret) in listed {
                    page_secrets.entry(application_id).or_default().push(secret);
                }
            }
            for app in batch.data {
                if app.application_type == ApplicationType::Web {
                    let listed = page_secrets.remove(&app.id).unwrap_or_default();
                    secrets.insert(app.id.clone(), Arc::new(listed));
                }
                origins.extend(app.allowed_origins.iter().cloned());
                if app.application_type == ApplicationType::Spa {
                    origins.extend(
                        app.redirects
                            .post_login
                            .iter()
                            .filter_map(|r| redirect::origin_of(r)),
                    );
                }
                signup |= app.allow_signup;
                by_client_id.insert(app.client_id.clone(), Arc::new(app));
            }
            match batch.next_cursor {
                Some(cursor) => page.after = Some(cursor),
                None => break,
            }
        }
        let snapshot = Arc::new(Snapshot {
            version,
            by_client_id,
            secrets,
            origins,
            signup,
        });
        match self.snapshot.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
        Ok(())
    }
}

pub fn spawn_refresher(applications: Arc<Applications>, store: Arc<dyn Store>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if let Err(e) = applications.refresh(store.as_ref(), false).await {
                tracing::warn!(error = %e, "could not refresh the application cache");
            }
        }
    });
}

fn internal_oauth(e: &StoreError) -> OAuthError {
    crate::http::error::internal(e);
    OAuthError::server_error()
}
