//! The `MailStore` trait (the durable outbox of e-mail, see latch-server's `mail`), and the
//! `PasswordResetStore` and `EmailVerificationStore` traits (the links that mail carries).

use async_trait::async_trait;

use super::StoreResult;
use crate::UnixTime;
use crate::secret::SecretHash;

/// A message to queue. `message` is opaque to the store (the server seals it: its links carry
/// single-use tokens that must not be readable from the database).
#[derive(Debug, Clone, Copy)]
pub struct NewMail<'a> {
    pub id: &'a str,
    /// The address, lower-cased: the per-recipient limit counts by it.
    pub recipient: &'a str,
    pub message: &'a [u8],
}

/// The send limits a new message must fit: fewer than `per_recipient` messages to the same
/// recipient and fewer than `global` messages in all were queued after `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailLimits {
    pub since: UnixTime,
    pub per_recipient: i64,
    pub global: i64,
}

/// A queued message as the sender claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: String,
    pub recipient: String,
    pub message: Vec<u8>,
    pub attempts: i64,
    pub created_at: UnixTime,
}

/// The mail outbox: queued by requests, claimed and sent by a worker on any node.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Queues the message, due at `now`, if it fits `limits`; `false` (nothing queued) if not.
    /// The check and the insert are one statement (on PostgreSQL concurrent requests may
    /// each see the count below the limit: the excess is bounded by their number).
    async fn enqueue_mail(
        &self,
        mail: &NewMail<'_>,
        limits: &MailLimits,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// Claims up to `limit` due messages for `lease` seconds (no other node takes them meanwhile),
    /// oldest due first.
    async fn claim_mail(
        &self,
        now: UnixTime,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<QueuedMail>>;
    /// Counts the attempt, erases the message and releases the lease.
    async fn mark_mail_sent(&self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Counts the attempt, keeps the error (truncated) and releases the lease; then either
    /// schedules the next attempt or, with `None`, abandons the message (and erases it).
    async fn mark_mail_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<()>;
}

/// A password-reset link as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub user_id: String,
    /// The parked authorization request the reset started from, if any.
    pub login_request: Option<String>,
    pub expires_at: UnixTime,
}

/// Password-reset links: one live link per user; single use.
#[async_trait]
pub trait PasswordResetStore: Send + Sync {
    /// Stores a new link for the user, replacing (invalidating) any earlier one, in one
    /// transaction. A user that does not exist is `Conflict("user")`.
    async fn insert_password_reset(
        &self,
        token_hash: &SecretHash,
        reset: &PasswordReset,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// The link, if it exists and has not expired at `now`, left in place (the new-password page
    /// checks it before showing its form; only [`take_password_reset`](Self::take_password_reset)
    /// uses it up).
    async fn get_password_reset(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<PasswordReset>>;
    /// Uses the link up: deletes it and returns it if it existed and had not expired at `now`
    /// (of concurrent callers exactly one wins).
    async fn take_password_reset(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<PasswordReset>>;
    /// Deletes every link of the user (their password changed); returns how many.
    async fn delete_password_resets(&self, user_id: &str) -> StoreResult<u64>;
}

/// An e-mail verification link as stored (its token only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailVerification {
    pub user_id: String,
    /// The address the link was sent to: it verifies the user only while this is their address.
    pub email: String,
    /// The parked authorization request waiting for the verification, if any.
    pub login_request: Option<String>,
    pub expires_at: UnixTime,
}

/// E-mail verification links: one live link per user; single use.
#[async_trait]
pub trait EmailVerificationStore: Send + Sync {
    /// Stores a new link for the user, replacing (invalidating) any earlier one, in one
    /// transaction. A user that does not exist is `Conflict("user")`.
    async fn insert_email_verification(
        &self,
        token_hash: &SecretHash,
        link: &EmailVerification,
        now: UnixTime,
    ) -> StoreResult<()>;
    /// Uses the link up (if it exists and has not expired at `now`; of concurrent callers
    /// exactly one wins) and, in the same transaction, marks the user's e-mail verified if the
    /// link's address is still the user's (compared case-insensitively). Returns the link and
    /// whether it verified the address.
    async fn take_email_verification(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
    ) -> StoreResult<Option<(EmailVerification, bool)>>;
}
