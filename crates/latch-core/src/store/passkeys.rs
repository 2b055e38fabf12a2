//! The `PasskeyStore` trait: a user's passkeys (WebAuthn public-key credentials) and the short-lived
//! state of a ceremony between the page that starts it and the form that finishes it.
//!
//! A passkey holds no secret: its public key and flags are kept as the WebAuthn library serialised
//! them (`credential`, opaque here), with the columns the server decides on beside it. Ceremony
//! state is single use (`take_passkey_ceremony`: of concurrent takes exactly one gets it), bound to
//! what started it (the browser's parked sign-in, or the account page's session), and expires.

use async_trait::async_trait;

use super::StoreResult;
use crate::UnixTime;

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: String,
    pub user_id: String,
    /// The credential id the authenticator chose (WebAuthn §4 "Credential ID"), base64url: unique
    /// across all users.
    pub credential_id: String,
    /// The user's name for it ("Laptop", "Phone").
    pub name: String,
    /// The credential (public key, algorithm, flags) as the WebAuthn library serialised it.
    pub credential: String,
    /// The last signature counter seen (WebAuthn §6.1.1); 0 for authenticators without one.
    pub sign_count: i64,
    /// BE flag: the key may be synced to other devices (then `amr` says `swk`, not `hwk`).
    pub backup_eligible: bool,
    /// BS flag: the key is backed up now.
    pub backup_state: bool,
    /// UV flag at registration.
    pub user_verified: bool,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// What a passkey's use changes (see `PasskeyStore::use_passkey`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The credential as updated by the assertion (counter, backup state).
    pub credential: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a passkey from the account page.
    Register,
    /// Passwordless sign-in with a discoverable passkey on the login page.
    SignIn,
    /// A passkey as second factor after a password.
    SecondFactor,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CeremonyKind::Register => "register",
            CeremonyKind::SignIn => "sign_in",
            CeremonyKind::SecondFactor => "second_factor",
        }
    }
}

/// A started ceremony's state, kept until its form comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCeremony {
    /// Random, carried by the page.
    pub id: String,
    pub kind: CeremonyKind,
    /// What the finishing request must present again: the parked sign-in's id hash, or the
    /// account session's `sid`.
    pub binding: String,
    /// The user it is for (`None` for a discoverable sign-in, where the passkey names the user).
    pub user_id: Option<String>,
    /// The WebAuthn library's serialised state (the challenge among it).
    pub state: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// Passkeys and their ceremonies.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores a new passkey. `Conflict("credential")` if the credential id is registered already
    /// (to anyone: WebAuthn §7.1 step 22), `Conflict("user")` if the user does not exist.
    async fn insert_passkey(&self, passkey: &Passkey) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: &str) -> StoreResult<Vec<Passkey>>;
    /// The passkey with this credential id (base64url), whoever's it is.
    async fn get_passkey_by_credential(&self, credential_id: &str) -> StoreResult<Option<Passkey>>;
    /// Renames one of the user's passkeys; `false` if there is no such passkey.
    async fn rename_passkey(&self, user_id: &str, id: &str, name: &str) -> StoreResult<bool>;
    /// Records a use: the new counter and flags, only if the counter went forward from
    /// `expected_count` (or both are 0, an authenticator without a counter) — one conditional
    /// update, so of two concurrent uses of one assertion's counter at most one wins, and a counter
    /// never goes backwards. `false`: refused (a clone, or a concurrent use won).
    async fn use_passkey(
        &self,
        id: &str,
        expected_count: i64,
        update: &PasskeyUse,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Stores a started ceremony.
    async fn insert_passkey_ceremony(&self, ceremony: &PasskeyCeremony) -> StoreResult<()>;
    /// Takes a ceremony up: its state if `id`, `kind` and `binding` match and it has not expired
    /// at `now`. Deleted in the same statement: of concurrent takes exactly one gets it.
    async fn take_passkey_ceremony(
        &self,
        id: &str,
        kind: CeremonyKind,
        binding: &str,
        now: UnixTime,
    ) -> StoreResult<Option<PasskeyCeremony>>;
}
