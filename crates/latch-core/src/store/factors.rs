//! The `FactorStore` trait: a user's second factors (TOTP here; passkeys in `passkeys`) and recovery
//! codes. A factor's secret is opaque here (the server seals it with a key derived from the
//! master key); recovery codes appear only as hashes.

use async_trait::async_trait;

use super::StoreResult;
use crate::UnixTime;
use crate::secret::SecretHash;

/// What kind of factor a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorKind {
    /// An authenticator app (RFC 6238); at most one per user.
    Totp,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        (value == "totp").then_some(FactorKind::Totp)
    }
}

/// A second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: String,
    pub user_id: String,
    pub kind: FactorKind,
    /// The secret, sealed by the server (never shown to anyone after enrolment).
    pub secret: Vec<u8>,
    /// `None` while enrolment waits for the first code: an unconfirmed factor signs nobody in.
    pub confirmed_at: Option<UnixTime>,
    /// TOTP: the last time step whose code was accepted (no code of it or before is accepted again).
    pub last_used_step: Option<i64>,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// Second factors and recovery codes.
#[async_trait]
pub trait FactorStore: Send + Sync {
    /// Stores an unconfirmed factor, replacing the user's unconfirmed one of the same kind, in
    /// one transaction. `Conflict("factor")` if the user has a confirmed one of that kind
    /// (remove it first); `Conflict("user")` if the user does not exist.
    async fn insert_pending_factor(&self, factor: &Factor) -> StoreResult<()>;
    /// The user's factors, confirmed and pending, oldest first.
    async fn list_factors(&self, user_id: &str) -> StoreResult<Vec<Factor>>;
    /// Confirms the user's pending factor `id` with the step of its first code (which is then
    /// used); `false` if there is no such pending factor.
    async fn confirm_factor(
        &self,
        user_id: &str,
        id: &str,
        step: i64,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Records that the confirmed factor's code of `step` was used, only if `step` is later than
    /// the last one used: `false` means replay (of concurrent uses of one code exactly one wins).
    async fn use_factor_step(&self, id: &str, step: i64, now: UnixTime) -> StoreResult<bool>;
    /// Deletes one factor of the user, a TOTP factor or a passkey (`PasskeyStore`); when no
    /// confirmed factor remains, the recovery codes go with it (same transaction). `false` if
    /// there was no such factor.
    async fn delete_factor(&self, user_id: &str, id: &str) -> StoreResult<bool>;
    /// Replaces the user's recovery codes by these (hashes), in one transaction.
    async fn replace_recovery_codes(
        &self,
        user_id: &str,
        hashes: &[SecretHash],
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Uses a recovery code up: `true` if the user had it (of concurrent uses exactly one wins).
    async fn take_recovery_code(&self, user_id: &str, hash: &SecretHash) -> StoreResult<bool>;
    /// How many unused recovery codes the user has.
    async fn count_recovery_codes(&self, user_id: &str) -> StoreResult<i64>;
    /// Of `user_ids`, those with a confirmed factor or a passkey (the user view's `mfa_enrolled`).
    async fn users_with_factors(&self, user_ids: &[String]) -> StoreResult<Vec<String>>;
}
