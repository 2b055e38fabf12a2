//! An application's token hook (`latch_core::token_hook`): setting it (its secret shown this
//! once, derived again by the server from the master key and a new random salt), reading it,
//! removing it.

use latch_core::UnixTime;
use latch_core::application::Application;
use latch_core::field::FieldError;
use latch_core::secret::random_id;
use latch_core::store::Store;
use latch_core::token_hook::{DEFAULT_TIMEOUT_MS, OnFailure, TokenHook};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ManageError;
use crate::oauth::token_hook::TokenHooks;

/// `POST /api/v1/applications/{id}/token-hook`: sets (or replaces) the hook; a new secret each time.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenHook {
    /// https (http on loopback only); the back-channel URL's address rules apply.
    #[schema(format = "uri")]
    pub url: String,
    /// `deny` (default) or `proceed` when the hook cannot be asked.
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^(deny|proceed)$")]
    pub on_failure: Option<OnFailure>,
    /// 1000 when left out.
    #[serde(default)]
    #[schema(minimum = 100, maximum = 5000)]
    pub timeout_ms: Option<u64>,
}

/// A token hook as shown (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TokenHook)]
pub struct TokenHookView {
    #[schema(format = "uri")]
    pub url: String,
    #[schema(value_type = String, pattern = "^(deny|proceed)$")]
    pub on_failure: OnFailure,
    pub timeout_ms: u64,
}

impl From<&TokenHook> for TokenHookView {
    fn from(h: &TokenHook) -> Self {
        Self {
            url: h.url.clone(),
            on_failure: h.on_failure,
            timeout_ms: h.timeout_ms,
        }
    }
}

/// The answer to setting a hook: the secret the requests are signed with, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenHookCreated {
    #[serde(flatten)]
    pub hook: TokenHookView,
    /// Unpadded base64url of the 32-byte HMAC-SHA256 key of the `Latch-Signature` header;
    /// shown this once.
    pub secret: String,
}

/// The holder of a deployment's hook secrets: `master`'s sub-key for them (the server's, and
/// the CLI's when it sets a hook).
pub fn token_hooks(master: &latch_jose::MasterKey) -> TokenHooks {
    TokenHooks::new(master.derive("latch token hook v1"))
}

/// Sets the application's hook and returns the new secret. `allow_private` is
/// `LATCH_BACKCHANNEL_ALLOW_PRIVATE`.
pub async fn set_token_hook(
    store: &dyn Store,
    hooks: &TokenHooks,
    current: &Application,
    new: NewTokenHook,
    now: UnixTime,
    allow_private: bool,
) -> Result<(Application, TokenHookCreated), ManageError> {
    let hook = TokenHook {
        url: new.url,
        on_failure: new.on_failure.unwrap_or(OnFailure::Deny),
        timeout_ms: new.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        secret_salt: random_id(),
    };
    hook.validate("")
        .map_err(|e| FieldError::new(e.field.trim_start_matches('.'), e.reason))?;
    if !crate::outbound::url_allowed(&hook.url, allow_private) {
        let reason = "is a private, link-local or metadata address, which Latch does not call (LATCH_BACKCHANNEL_ALLOW_PRIVATE)";
        return Err(FieldError::new("url", reason).into());
    }
    let secret = hooks.secret(&current.id, &hook.secret_salt);
    let app = Application {
        token_hook: Some(hook),
        updated_at: now,
        ..current.clone()
    };
    if !store.update_application(&app).await? {
        return Err(ManageError::NotFound("application"));
    }
    let created = TokenHookCreated {
        hook: TokenHookView::from(
            app.token_hook
                .as_ref()
                .ok_or(ManageError::NotFound("token hook"))?,
        ),
        secret,
    };
    Ok((app, created))
}

/// Removes the application's hook; `NotFound` if it has none.
pub async fn delete_token_hook(
    store: &dyn Store,
    current: &Application,
    now: UnixTime,
) -> Result<Application, ManageError> {
    if current.token_hook.is_none() {
        return Err(ManageError::NotFound("token hook"));
    }
    let app = Application {
        token_hook: None,
        mfa: Default::default(),
        updated_at: now,
        ..current.clone()
    };
    if !store.update_application(&app).await? {
        return Err(ManageError::NotFound("application"));
    }
    Ok(app)
}
