//! Calling an application's token hook (`latch_core::token_hook`) before tokens are signed.
//!
//! The body is JSON; the header `Latch-Signature: sha256=<hex>` is HMAC-SHA256 of the body's exact
//! bytes under the hook secret's 32 bytes (the secret as shown is their unpadded base64url). The secret is shown once, when the hook is set
//! (`POST /api/v1/applications/{id}/token-hook`); Latch derives it again from the master key and
//! the hook's stored random salt, so the database alone cannot sign.
//!
//! The request goes through `outbound` (the back-channel logout rules: no private, link-local or
//! metadata address unless `LATCH_BACKCHANNEL_ALLOW_PRIVATE`, no redirects followed, no proxy), with
//! the hook's timeout over the whole exchange and the answer read up to 16 KiB. A failure follows
//! the hook's `on_failure`; what is logged is generic (never the body or the secret).

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::secret::random_id;
use latch_core::token_hook::{
    HookAnswer, HookRequest, MAX_ANSWER_BYTES, OnFailure, SIGNATURE_HEADER, TokenHook, parse_answer,
};
use latch_core::{ErrorCode, OAuthError, UnixTime};
use serde_json::{Map, Value};

use crate::oauth::tokens::Grant;
use crate::state::AppState;

/// The HTTP client (built at the first call) and the key hook secrets are derived from.
pub struct TokenHooks {
    client: OnceLock<Option<reqwest::Client>>,
    key: [u8; 32],
}

impl TokenHooks {
    /// `key`: the master key's sub-key for hook secrets.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            client: OnceLock::new(),
            key,
        }
    }

    /// The secret (its 32 bytes) of the hook of application `application_id` with this salt.
    pub fn secret_key(&self, application_id: &str, salt: &str) -> [u8; 32] {
        let input = format!("{application_id}\n{salt}");
        latch_jose::hmac_sha256(&self.key, input.as_bytes())
    }

    /// The secret as shown to the administrator: its bytes in unpadded base64url.
    pub fn secret(&self, application_id: &str, salt: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.secret_key(application_id, salt))
    }

    fn client(&self, allow_private: bool) -> Option<&reqwest::Client> {
        self.client
            .get_or_init(|| {
                // The per-request timeout is the hook's; this one only bounds a stuck connection.
                let built = crate::outbound::client(
                    crate::outbound::system_resolver(),
                    allow_private,
                    Duration::from_millis(latch_core::token_hook::MAX_TIMEOUT_MS),
                );
                built
                    .map_err(|e| tracing::error!(error = %e, "cannot build the token hook's HTTP client"))
                    .ok()
            })
            .as_ref()
    }
}

/// `sha256=<hex>` of HMAC-SHA256(`key`, `body`).
pub fn signature(key: &[u8; 32], body: &[u8]) -> String {
    let tag = latch_jose::hmac_sha256(key, body);
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// What is about to be issued, which the hook may add to.
pub struct Issuing<'a> {
    /// The access token's custom claims (where the hook's go).
    pub access_token: &'a mut Map<String, Value>,
    /// The whole access token as it will be signed, as the hook is shown it.
    pub access_shown: Value,
    pub id_token: Option<&'a mut Map<String, Value>>,
}

/// Asks the application's `hook` about the tokens of `grant`; adds what it answers to `issuing`,
/// or refuses with `access_denied`. A hook that cannot be asked denies or is skipped, as
/// configured.
pub async fn call(
    state: &AppState,
    grant: &Grant<'_>,
    hook: &TokenHook,
    issuing: Issuing<'_>,
    now: UnixTime,
) -> Result<(), OAuthError> {
    let client_id = grant.app.client_id.as_str();
    let scope = grant.access.scope.to_string();
    let jti = random_id();
    let request = HookRequest {
        subject: grant.user.map_or(client_id, |u| u.id.as_str()),
        client_id,
        organization: grant
            .access
            .organization
            .as_ref()
            .map(|o| (o.id.as_str(), o.name.as_str())),
        granted_scopes: scope.split_whitespace().collect(),
        grant_type: grant.grant_type,
        access_token: &issuing.access_shown,
        id_token: issuing.id_token.as_deref(),
        iat: now,
        jti: &jti,
    };
    let answer = ask(state, &grant.app.id, hook, &request).await;
    match answer {
        Ok(HookAnswer::Allow {
            id_token,
            access_token,
        }) => {
            latch_core::token_hook::merge_added(access_token, issuing.access_token);
            if let Some(id) = issuing.id_token {
                latch_core::token_hook::merge_added(id_token, id);
            }
            Ok(())
        }
        Ok(HookAnswer::Deny(reason)) => {
            tracing::info!(%client_id, "the token hook denied the token request");
            Err(OAuthError::new(ErrorCode::AccessDenied, reason))
        }
        Err(why) => {
            tracing::warn!(%client_id, failure = why, on_failure = ?hook.on_failure, "the token hook could not be asked");
            match hook.on_failure {
                OnFailure::Proceed => Ok(()),
                OnFailure::Deny => Err(OAuthError::new(
                    ErrorCode::AccessDenied,
                    "the token hook did not answer",
                )),
            }
        }
    }
}

/// One exchange with the hook, within its timeout; the failure's text is generic.
async fn ask(
    state: &AppState,
    application_id: &str,
    hook: &TokenHook,
    request: &HookRequest<'_>,
) -> Result<HookAnswer, &'static str> {
    let allow_private = state.settings.backchannel_allow_private;
    if !crate::outbound::url_allowed(&hook.url, allow_private) {
        return Err(crate::outbound::NOT_ALLOWED);
    }
    let client = state
        .token_hooks
        .client(allow_private)
        .ok_or("no HTTP client")?;
    let body = serde_json::to_vec(&request.body()).map_err(|_| "cannot encode the request")?;
    let key = state
        .token_hooks
        .secret_key(application_id, &hook.secret_salt);
    let sent = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature(&key, &body))
        .body(body);
    let timeout = Duration::from_millis(hook.timeout_ms);
    let exchange = async {
        let mut response = sent
            .send()
            .await
            .map_err(|e| crate::outbound::describe(&e))?;
        if !response.status().is_success() {
            return Err("non-2xx answer");
        }
        let mut read = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| "answer cut short")? {
            if read.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err("answer too long");
            }
            read.extend_from_slice(&chunk);
        }
        parse_answer(&read)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(Err("timeout"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A receiver holding the secret as shown checks the header with any HMAC-SHA256.
    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_under_the_decoded_secret() {
        let hooks = TokenHooks::new([7; 32]);
        let shown = hooks.secret("app-1", "salt-1");
        let decoded = URL_SAFE_NO_PAD.decode(&shown).unwrap();
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &decoded);
        let tag = aws_lc_rs::hmac::sign(&key, b"{\"a\":1}");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let signed = signature(&hooks.secret_key("app-1", "salt-1"), b"{\"a\":1}");
        assert_eq!(signed, format!("sha256={hex}"));
    }

    #[test]
    fn secrets_differ_per_application_and_salt_and_are_stable() {
        let hooks = TokenHooks::new([7; 32]);
        let a = hooks.secret("app-1", "salt-1");
        assert_eq!(a, hooks.secret("app-1", "salt-1"));
        assert_ne!(a, hooks.secret("app-2", "salt-1"));
        assert_ne!(a, hooks.secret("app-1", "salt-2"));
        assert_ne!(a, TokenHooks::new([8; 32]).secret("app-1", "salt-1"));
        assert_eq!(a.len(), 43);
    }
}
