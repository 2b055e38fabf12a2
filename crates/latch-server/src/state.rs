//! Shared state handed to every handler.

use std::sync::Arc;

use latch_core::Clock;
use latch_core::store::Store;

use crate::jobs::applications::Applications;
use crate::jobs::keys::Keys;
use crate::settings::Settings;
use crate::signin::password::PasswordHasher;

/// Cheap to clone: everything sits behind one `Arc`.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

pub struct Inner {
    pub(crate) settings: Settings,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: Arc<Keys>,
    pub(crate) applications: Arc<Applications>,
    /// What stops access tokens before they expire (see `revocations`).
    pub(crate) revocations: Arc<crate::lifecycle::revocations::Revocations>,
    pub(crate) passwords: PasswordHasher,
    /// Abuse-limit locks this node has seen (see `throttle`).
    pub(crate) locks: crate::signin::throttle::Locks,
    pub(crate) token_rate: crate::http::rate_limit::RateLimiter,
    /// The audit log's recorder (see `audit`).
    pub(crate) audit: crate::jobs::audit::Audit,
    /// The hosted pages' name, logo, stylesheet and headers (see `pages`).
    pub(crate) theme: crate::pages::Theme,
    /// Pre-rendered discovery document.
    pub(crate) discovery: String,
    /// Key of the refresh tokens' tags (see `latch_core::refresh`).
    pub(crate) refresh_token_key: [u8; 32],
    /// Key of the device cookies' tags (see `latch_core::device`), derived from the master key.
    pub(crate) device_key: [u8; 32],
    /// Seals authorization codes (see `oauth::code`).
    pub(crate) code_key: latch_jose::MasterKey,
    /// Token hooks' HTTP client and the key their secrets are derived from (see `token_hook`).
    pub(crate) token_hooks: crate::oauth::token_hook::TokenHooks,
    /// The SMTP sender (`None`: e-mail is not configured; see `mail`).
    pub(crate) mail: Option<Arc<crate::mail::worker::Mailer>>,
    /// Seals queued e-mail (see `mail`), derived from the master key.
    pub(crate) mail_key: latch_jose::MasterKey,
    /// The passkeys' relying party (`None`: the issuer's host is not a domain; see
    /// `factors::passkeys`).
    pub(crate) webauthn: Option<webauthn_rs::Webauthn>,
}

impl Inner {
    /// Whether e-mail can be sent: pages offer what needs mail only then.
    pub fn mail_enabled(&self) -> bool {
        self.mail.is_some()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
