//! The store traits: every durable state change Latch makes, as typed operations.
//!
//! `latch-store` implements them on SQLite and PostgreSQL. Lookups return `Ok(None)` when the row is
//! absent. Single-use things are used up atomically (of concurrent callers exactly one wins): a
//! parked login request with `SessionStore::take_login_request`, an authorization code with
//! `AuthorizationCodeStore::redeem_authorization_code`, a refresh token's generation with
//! `RefreshGrantStore::rotate_refresh_grant`. Secrets appear here only as `SecretHash`.
//!
//! `Store` bundles every trait; a function that needs one area can take `&dyn SessionStore` and
//! the like.

use async_trait::async_trait;

use crate::UnixTime;
use crate::application::{Application, ClientSecretInfo};
use crate::authn::Amr;
use crate::organization::Organization;
use crate::retention::Purge;
use crate::revocation::Revocation;
use crate::secret::SecretHash;
use crate::throttle::{ThrottlePolicy, ThrottleState};
use crate::user::User;

mod audit;
mod factors;
mod mail;
mod organizations;
mod passkeys;
pub use audit::AuditStore;
pub use factors::{Factor, FactorKind, FactorStore};
pub use mail::{
    EmailVerification, EmailVerificationStore, MailLimits, MailStore, NewMail, PasswordReset,
    PasswordResetStore, QueuedMail,
};
pub use organizations::{ApiStore, InvitationStore, MembershipStore, OrganizationStore, RoleStore};
pub use passkeys::{CeremonyKind, Passkey, PasskeyCeremony, PasskeyStore, PasskeyUse};

/// Why a store operation failed. `Unavailable` and `Other` keep the error that caused them (the
/// driver's, say) as their `source()`, so a log line can print the whole chain.
#[derive(Debug)]
pub enum StoreError {
    /// A uniqueness or state rule refused the write (duplicate email, third secret…): a stable
    /// reason callers may match on.
    Conflict(String),
    /// The database could not be reached, was busy for too long, or is out of space.
    Unavailable(Detail),
    Other(Detail),
}

impl StoreError {
    /// `Unavailable`, keeping `source` as the cause.
    pub fn unavailable(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unavailable(Detail::caused_by(message, source))
    }

    /// `Other`, keeping `source` as the cause.
    pub fn other(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Other(Detail::caused_by(message, source))
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Conflict(reason) => write!(f, "conflict: {reason}"),
            Self::Unavailable(detail) => write!(f, "store unavailable: {detail}"),
            Self::Other(detail) => write!(f, "store error: {detail}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Conflict(_) => None,
            Self::Unavailable(detail) | Self::Other(detail) => detail.source(),
        }
    }
}

/// What a `StoreError` says (`Display`, and `Deref` to the text) and, when another error caused
/// it, that error.
#[derive(Debug)]
pub struct Detail {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Detail {
    pub fn caused_by(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The error this one was caused by, if any.
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }

    /// The same cause under a message with more context (`"{place}: migration failed: …"`).
    pub fn context(self, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: self.source,
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::ops::Deref for Detail {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for Detail {
    fn from(message: String) -> Self {
        Self {
            message,
            source: None,
        }
    }
}

impl From<&str> for Detail {
    fn from(message: &str) -> Self {
        message.to_owned().into()
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page of a list: rows plus the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Position in a list: ids are time-ordered (UUIDv7), so the cursor is the last id seen.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<String>,
}

/// A signing key as stored: public JWK in clear, private key encrypted under the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// Per algorithm, 1 for the first key and +1 per rotation; unique with `alg`, so two nodes
    /// generating or rotating at once cannot both win.
    pub generation: i64,
    pub public_jwk: String,
    pub private_key_encrypted: Vec<u8>,
    pub created_at: UnixTime,
    /// The key signs from this time on (published before that).
    pub activate_at: UnixTime,
}

/// A browser (SSO) session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The `sid` claim.
    pub sid: String,
    pub user_id: String,
    pub auth_time: UnixTime,
    /// How the user authenticated at `auth_time` (the `amr` and `acr` of its tokens).
    pub amr: Amr,
    pub created_at: UnixTime,
    pub last_active_at: UnixTime,
    /// Absolute end of the session.
    pub expires_at: UnixTime,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// `client_id`s of the applications that were issued codes from this session.
    pub applications: Vec<String>,
}

/// The browser's session as an authorization request is decided on it, read in one statement
/// (`SessionStore::get_authorizing_session`).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizingSession {
    pub session: SessionRecord,
    /// Whether the session's user has a confirmed second factor (as `users_with_factors`).
    pub factor_enrolled: bool,
    /// The user's organizations by name, at most the limit asked for (as
    /// `list_user_organizations`); `None` when they were not asked for.
    pub organizations: Option<Vec<Organization>>,
}

/// An authorization request waiting for the user to sign in, kept server side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequestRecord {
    pub id: String,
    /// Hash of the value of the cookie that binds the request to one browser (login CSRF).
    pub browser_binding: SecretHash,
    /// The validated authorization request, serialized by the server.
    pub request: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// What an authorization code stands for (RFC 6749 §4.1.2), sealed into the code itself
/// (see `code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCodeRecord {
    pub application_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    /// The session's methods when the code was issued.
    pub amr: Amr,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The organization the user signed in to (`organization=`, or picked), by id.
    pub organization_id: Option<String>,
    /// The API identifier `audience=` named.
    pub audience: Option<String>,
    /// The `claims` request parameter as kept (`ClaimsRequest::to_stored`), if any.
    pub claims: Option<String>,
}

/// The single use of an authorization code, for `AuthorizationCodeStore::redeem_authorization_code`.
#[derive(Debug, Clone, Copy)]
pub struct CodeRedemption<'a> {
    /// SHA-256 of the code as presented.
    pub code_hash: &'a SecretHash,
    /// The code's own expiry: its record of use is kept until then.
    pub expires_at: UnixTime,
    /// What the redemption grants; `None` when the token request failed its checks, which still
    /// uses the code up.
    pub grant: Option<CodeGrant<'a>>,
}

/// What a successful redemption records, in the same transaction as the code's use.
#[derive(Debug, Clone, Copy)]
pub struct CodeGrant<'a> {
    /// The session the code came from, which must still be live.
    pub sid: &'a str,
    /// The refresh grant issued with the code's tokens (`offline_access`), if any; its
    /// `family_id` is the code's hash.
    pub refresh_token: Option<&'a RefreshGrant>,
}

/// How a redemption ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: recorded, with the refresh grant. With a grant, its session's user as now.
    Redeemed(Option<User>),
    /// Used before: a replay (RFC 6749 §4.1.2). The refresh tokens issued from its first use
    /// have been revoked.
    Replayed,
    /// The grant's session has ended (or its user was deleted): nothing was written.
    SessionEnded,
}

/// A refresh token's grant: who, for which application, from which session. One row per
/// authorization however often its token rotates; the token names the grant and its generation
/// (see `refresh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    /// 64 hex digits: the family's bytes in the token. For a grant from a code, the code's hash
    /// (so that a replayed code revokes it).
    pub family_id: String,
    pub application_id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    /// The scope as requested at authorize: what is granted is worked out again at each use, so
    /// role changes show in the next refresh.
    pub scope: String,
    pub auth_time: UnixTime,
    /// The methods of the sign-in the grant came from (refreshed tokens say the same).
    pub amr: Amr,
    pub created_at: UnixTime,
    /// When the live token expires; every rotation moves it (a sliding lifetime).
    pub expires_at: UnixTime,
    pub organization_id: Option<String>,
    pub audience: Option<String>,
    /// The `claims` request parameter of the authorization (`ClaimsRequest::to_stored`), so
    /// that refreshed tokens carry the same claims.
    pub claims: Option<String>,
}

/// A grant with its rotation state and its user, as the token endpoint's rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrantState {
    pub grant: RefreshGrant,
    /// The user, as now (a grant of a deleted user is not found).
    pub user: User,
    /// The live token's generation: 0 when issued, one more with each rotation.
    pub generation: i64,
    /// When the generation last moved.
    pub rotated_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    /// False once the browser session the grant is bound to has ended.
    pub session_active: bool,
}

/// How a presented refresh token finds its grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKey<'a> {
    /// A token of this build (see `refresh`), by its family id.
    Family(&'a str),
    /// A random token issued before grants (schema 5), by its hash: it counts as generation 0.
    Legacy(&'a SecretHash),
}

/// A back-channel logout notification waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackchannelDelivery {
    pub id: String,
    pub application_id: String,
    pub client_id: String,
    pub url: String,
    pub sid: String,
    pub sub: String,
    pub attempts: i64,
    pub created_at: UnixTime,
    pub next_attempt_at: UnixTime,
    pub delivered_at: Option<UnixTime>,
    pub abandoned_at: Option<UnixTime>,
    pub last_error: Option<String>,
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Inserts a key unless one with the same `(alg, generation)` exists; `false` means another
    /// node won and the caller should read the keys again.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<bool>;
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Deletes keys that stopped signing before `before` (their tokens have all expired).
    async fn delete_signing_keys_retired_before(
        &self,
        alg: &str,
        before: UnixTime,
    ) -> StoreResult<u64>;
    /// Everything stored sealed under the master key (`latch keys rewrap` re-seals it).
    async fn list_sealed(&self) -> StoreResult<SealedState>;
    /// Replaces every sealed value named in `sealed` in one transaction (`latch keys rewrap`):
    /// all of it, or — unless each list names exactly the rows stored (one was added, deleted,
    /// sent or abandoned meanwhile) — nothing, failing with `Conflict`.
    async fn replace_sealed(&self, sealed: &SealedState) -> StoreResult<()>;
}

/// What is stored sealed with the master key or a key derived from it, as `(row id, sealed
/// bytes)`: what a change of master key must re-seal. (What is *derived* from it and not stored
/// — refresh tokens, codes, token-hook secrets — cannot be re-sealed, and changes with it.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SealedState {
    /// The signing keys' private keys, by kid.
    pub private_keys: Vec<(String, Vec<u8>)>,
    /// The second factors' secrets (confirmed and pending), by factor id.
    pub factor_secrets: Vec<(String, Vec<u8>)>,
    /// The messages still waiting in the mail outbox (not yet sent or abandoned), by row id.
    pub queued_mail: Vec<(String, Vec<u8>)>,
}

/// Applications and their client secrets.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Inserts the application and, for web applications, its first secret.
    async fn insert_application(
        &self,
        application: &Application,
        first_secret: Option<&ClientSecretInfo>,
    ) -> StoreResult<()>;
    async fn get_application(&self, id: &str) -> StoreResult<Option<Application>>;
    async fn get_application_by_client_id(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<Application>>;
    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>>;
    async fn update_application(&self, application: &Application) -> StoreResult<bool>;
    /// Deletes the application and revokes what was issued to it: its refresh grants, and a
    /// `Client` revocation (made at `now`) for its access tokens.
    async fn delete_application(&self, id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Highest `updated_at`-style change counter; caches compare it to know when to reload.
    async fn applications_version(&self) -> StoreResult<i64>;

    /// Inserts a secret unless two are active already (`Conflict`).
    async fn insert_client_secret(
        &self,
        application_id: &str,
        secret: &ClientSecretInfo,
    ) -> StoreResult<()>;
    async fn list_client_secrets(&self, application_id: &str)
    -> StoreResult<Vec<ClientSecretInfo>>;
    /// The client secrets of every application whose id is in `(after, through]` (one page of
    /// `list_applications`: `after` its cursor, `through` its last id), each with its
    /// application's id, ordered by application and oldest first within one — what the
    /// applications cache loads with a page, in one query instead of one per application.
    async fn list_client_secrets_between(
        &self,
        after: Option<&str>,
        through: &str,
    ) -> StoreResult<Vec<(String, ClientSecretInfo)>>;
    async fn delete_client_secret(
        &self,
        application_id: &str,
        secret_id: &str,
    ) -> StoreResult<bool>;
    /// Records use; implementations may skip the write if the last recorded use is recent.
    async fn touch_client_secret(&self, secret_id: &str, now: UnixTime) -> StoreResult<()>;
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn insert_user(&self, user: &User, password_hash: &str) -> StoreResult<()>;
    /// Inserts users with their password hashes in one transaction (`latch users import`),
    /// skipping any whose id, email or external id is taken; says for each whether it was inserted.
    async fn insert_users_if_absent(&self, users: &[(User, String)]) -> StoreResult<Vec<bool>>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// The user with this `external_id`, if any.
    async fn get_user_by_external_id(&self, external_id: &str) -> StoreResult<Option<User>>;
    /// By email, compared case-insensitively; with the password hash.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<(User, String)>>;
    async fn list_users(&self, page: &PageRequest, email: Option<&str>) -> StoreResult<Page<User>>;
    async fn update_user(&self, user: &User, password_hash: Option<&str>) -> StoreResult<bool>;
    /// Grants (or withdraws) the admin console; `false` if there is no such user.
    async fn set_user_admin(&self, id: &str, admin: bool) -> StoreResult<bool>;
    /// Replaces the password hash only if it is still `old` (a sign-in upgrading an imported
    /// hash must not undo a password change made meanwhile); `false` if it was not.
    async fn replace_password_hash(&self, id: &str, old: &str, new: &str) -> StoreResult<bool>;
    /// Deletes the user; their sessions end (see `SessionStore::end_sessions`) first.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;
}

/// Browser sessions and the authorization requests parked while their user signs in.
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_login_request(&self, request: &LoginRequestRecord) -> StoreResult<()>;
    /// The request whatever its age (the caller checks `expires_at` and the browser binding).
    async fn get_login_request(&self, id: &str) -> StoreResult<Option<LoginRequestRecord>>;
    /// Resumes a parked request: deletes it and returns it, unless it has expired at `now`. Of
    /// concurrent takes of one request exactly one gets it, so a request is resumed once.
    async fn take_login_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<LoginRequestRecord>>;
    async fn delete_login_request(&self, id: &str) -> StoreResult<()>;

    async fn insert_session(
        &self,
        token_hash: &SecretHash,
        session: &SessionRecord,
    ) -> StoreResult<()>;
    /// A live session by the hash of its cookie value, touching `last_active_at`; `None` if it has
    /// ended, passed `expires_at`, or been idle longer than `idle_timeout` seconds.
    async fn get_active_session(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
        idle_timeout: i64,
    ) -> StoreResult<Option<SessionRecord>>;
    /// `get_active_session` (touching it likewise) with what deciding an authorization request
    /// needs of its user in the same statement: whether they have a confirmed second factor and,
    /// with `organizations: Some(limit)`, their organizations (as `list_user_organizations`).
    async fn get_authorizing_session(
        &self,
        token_hash: &SecretHash,
        now: UnixTime,
        idle_timeout: i64,
        organizations: Option<u32>,
    ) -> StoreResult<Option<AuthorizingSession>>;
    async fn get_session(&self, sid: &str) -> StoreResult<Option<SessionRecord>>;
    /// Browser sessions neither ended nor expired (absolutely, or idle for `idle_timeout`), for
    /// the `latch_active_sessions` gauge.
    async fn count_active_sessions(&self, now: UnixTime, idle_timeout: i64) -> StoreResult<i64>;
    async fn list_user_sessions(
        &self,
        user_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<SessionRecord>>;

    /// Records that an application took part in a session (it was issued a code from it), once.
    async fn add_session_application(
        &self,
        sid: &str,
        application_id: &str,
        client_id: &str,
    ) -> StoreResult<()>;

    /// Signing in again over a live session of the same user (OIDC Core §3.1.2.1 `prompt=login`,
    /// `max_age`, a step-up to a second factor): the session keeps its `sid`, takes a new cookie
    /// (its hash `token_hash`), `auth_time = now` and the methods of this sign-in. `false` if it
    /// is no longer live.
    async fn reauthenticate_session(
        &self,
        sid: &str,
        token_hash: &SecretHash,
        amr: Amr,
        now: UnixTime,
    ) -> StoreResult<bool>;

    /// Ends sessions (by sid, or all of a user's), revokes their refresh tokens, records a
    /// `Session` revocation for each (their access tokens stop passing) and enqueues one
    /// back-channel delivery per participating application with a back-channel URL, in one
    /// transaction. Returns the sids ended.
    async fn end_sessions(
        &self,
        selector: SessionSelector<'_>,
        now: UnixTime,
    ) -> StoreResult<Vec<String>>;
}

/// Authorization codes. A code carries what it stands for itself (`code`); the store keeps only
/// its single use.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
    /// Uses a code up (single use, RFC 6749 §4.1.2), in one transaction with its refresh grant,
    /// if its session is still live. A second redemption revokes the refresh tokens the first
    /// issued (their `family_id` is the code's hash). Concurrent redemptions of one code: exactly
    /// one `Redeemed`.
    async fn redeem_authorization_code(
        &self,
        redemption: &CodeRedemption<'_>,
        now: UnixTime,
    ) -> StoreResult<Redemption>;
}

/// Refresh grants (see `refresh`): one per authorization, rotated at each use.
#[async_trait]
pub trait RefreshGrantStore: Send + Sync {
    /// Stores a grant at generation 0 (its family id must be new).
    async fn insert_refresh_grant(&self, grant: &RefreshGrant) -> StoreResult<()>;
    /// A grant in whatever state it is (revoked, expired, its session ended), or `None`.
    async fn get_refresh_grant(&self, key: GrantKey<'_>) -> StoreResult<Option<RefreshGrantState>>;
    /// Moves the grant's live token from `generation` to the next one, expiring at `expires_at`,
    /// unless it moved already or the grant is revoked: `true` if this call moved it (of
    /// concurrent calls, exactly one). Using the token is also activity in its session.
    async fn rotate_refresh_grant(
        &self,
        family_id: &str,
        generation: i64,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool>;
    /// The common case of a refresh in one step: moves the grant from `generation` to the next
    /// one, expiring at `expires_at`, only if `generation` is its live one and the grant is usable
    /// by `client_id` at `now` (issued to it, not revoked, not expired, its session live) — the
    /// case `token::refresh_decision` answers `Rotate` — and returns it, rotated, with its user.
    /// `None` otherwise, with nothing written: the caller reads the grant and decides
    /// (`get_refresh_grant`). Using the token is also activity in its session, as with
    /// `rotate_refresh_grant`; of concurrent calls for one generation, at most one moves it.
    async fn rotate_current_refresh_grant(
        &self,
        family_id: &str,
        generation: i64,
        client_id: &str,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<Option<RefreshGrantState>>;
    /// Revokes a grant, and so every token of its family (reuse detected, a replayed code, or
    /// RFC 7009 revocation), and records a `Grant` revocation for its access tokens; `1` if it
    /// was live.
    async fn revoke_refresh_family(&self, family_id: &str, now: UnixTime) -> StoreResult<u64>;
}

/// Revocations of access tokens (see `revocation`), which every node keeps in memory.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revocation (see `revocation`) made at `now`, once (a second one of the same
    /// kind and value changes nothing).
    async fn insert_revocation(&self, revocation: &Revocation, now: UnixTime) -> StoreResult<()>;
    /// The revocations recorded at or after `since` that have not expired at `now`: what every
    /// node's in-memory copy polls (`since = 0` loads them all).
    async fn list_revocations(
        &self,
        since: UnixTime,
        now: UnixTime,
    ) -> StoreResult<Vec<Revocation>>;
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionSelector<'a> {
    One {
        sid: &'a str,
    },
    OneOfUser {
        user_id: &'a str,
        sid: &'a str,
    },
    AllOfUser {
        user_id: &'a str,
    },
    /// Every live session of the user but `keep` (the session acting, which stays signed in),
    /// in the same statement: a session the user opens meanwhile is ended too or not at all,
    /// never left out of a loop.
    OthersOfUser {
        user_id: &'a str,
        keep: &'a str,
    },
    /// Up to `limit` live sessions past their absolute end or idle longer than `idle_timeout`.
    Expired {
        idle_timeout: i64,
        limit: i64,
    },
}

/// The back-channel logout outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` due deliveries for `lease` seconds, so no other node takes them meanwhile.
    async fn claim_deliveries(
        &self,
        now: UnixTime,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<BackchannelDelivery>>;
    async fn mark_delivered(&self, id: &str, now: UnixTime) -> StoreResult<()>;
    /// Records a failure; `next_attempt_at = None` abandons the delivery.
    async fn mark_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<()>;
    async fn list_deliveries(
        &self,
        application_id: &str,
        page: &PageRequest,
    ) -> StoreResult<Page<BackchannelDelivery>>;
}

/// Counters of failed attempts, shared by every node (see `throttle`).
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The key's state, if it has one.
    async fn get_throttle(&self, key: &str) -> StoreResult<Option<ThrottleState>>;
    /// Records one failure at `now` under `policy` and returns the new state. Read and write happen
    /// in one transaction, so concurrent failures are all counted.
    async fn record_failure(
        &self,
        key: &str,
        now: UnixTime,
        policy: &ThrottlePolicy,
    ) -> StoreResult<ThrottleState>;
    /// Forgets the key (a successful sign-in, or an administrator lifting a lock).
    async fn clear_throttle(&self, key: &str) -> StoreResult<bool>;
}

/// Everything Latch stores.
#[async_trait]
pub trait Store:
    KeyStore
    + ApplicationStore
    + UserStore
    + SessionStore
    + AuthorizationCodeStore
    + RefreshGrantStore
    + RevocationStore
    + OutboxStore
    + ThrottleStore
    + OrganizationStore
    + RoleStore
    + MembershipStore
    + InvitationStore
    + ApiStore
    + AuditStore
    + MailStore
    + PasswordResetStore
    + EmailVerificationStore
    + FactorStore
    + PasskeyStore
{
    /// The schema version applied (the latest migration).
    async fn schema_version(&self) -> StoreResult<i64>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
    /// Deletes at most `limit` rows of `what` whose time column is before `before` (see
    /// `retention::Purge` for each kind's rule), in one short statement; answers how many went.
    /// Concurrent calls (other nodes) delete disjoint rows or nothing: never an error.
    async fn purge(&self, what: Purge, before: UnixTime, limit: i64) -> StoreResult<u64>;
    /// The connection pool now, for metrics.
    fn pool_status(&self) -> PoolStatus;
}

/// Database connections of one process (`latch_db_connections`, `latch_db_waiting`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Open connections, in use or idle.
    pub open: u64,
    pub idle: u64,
    /// Requests queued for a connection (SQLite: for the one writer); `None` where the driver
    /// does not say (PostgreSQL).
    pub waiting: Option<u64>,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_store_error_keeps_its_cause_as_the_source() {
        let cause = std::io::Error::other("disk on fire");
        let e = StoreError::unavailable("cannot write", cause);
        assert_eq!(e.to_string(), "store unavailable: cannot write");
        assert_eq!(
            e.source().map(ToString::to_string).as_deref(),
            Some("disk on fire")
        );
        let StoreError::Unavailable(detail) = e else {
            panic!("unavailable");
        };
        let with_context = StoreError::Other(detail.context("migration failed: cannot write"));
        assert_eq!(
            with_context.to_string(),
            "store error: migration failed: cannot write"
        );
        assert!(with_context.source().is_some(), "context keeps the cause");
        let plain = StoreError::Other("no cause".into());
        assert!(plain.source().is_none());
        assert!(StoreError::Conflict("email".to_owned()).source().is_none());
    }
}
