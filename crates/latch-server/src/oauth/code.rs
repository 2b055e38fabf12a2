//! Authorization codes are sealed, not stored: the code is `base64url(AES-256-GCM(code key,
//! latch_core::code::encode(record)))`, so the authorization endpoint writes nothing and any node
//! can read a code another issued. Only its single use is stored, at the token endpoint
//! (`AuthorizationCodeStore::redeem_authorization_code`).
//!
//! The code key is derived from the master key, the same on every node. A code cannot be forged
//! or altered (GCM's tag), reveals nothing of its content (the nonce, PKCE challenge and user stay
//! with the server), and is unguessable (RFC 6749 §10.10).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use latch_core::code::{self, MAX_CODE_LEN};
use latch_core::store::AuthorizationCodeRecord;
use latch_core::types::AuthorizationCode;
use latch_jose::MasterKey;

/// Binds the seal to its purpose.
const AAD: &[u8] = b"latch authorization code v1";

/// The code for `record`, sealed with the code key (`AppState::code_key`).
pub fn seal(key: &MasterKey, record: &AuthorizationCodeRecord) -> AuthorizationCode {
    AuthorizationCode::new(URL_SAFE_NO_PAD.encode(key.encrypt(&code::encode(record), AAD)))
}

/// The record a presented code stands for, if this server sealed it with `key`.
pub fn open(key: &MasterKey, presented: &AuthorizationCode) -> Option<AuthorizationCodeRecord> {
    let presented = presented.secret();
    if presented.is_empty() || presented.len() > MAX_CODE_LEN {
        return None;
    }
    let sealed = URL_SAFE_NO_PAD.decode(presented).ok()?;
    let content = key.decrypt(&sealed, AAD).ok()?;
    code::decode(&content)
}
