//! Audit events: who did what, when and from where. An event never carries a secret, password,
//! token or hash: only ids, addresses, outcomes and short reasons.

use serde::Serialize;

use crate::UnixTime;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorType {
    /// An end user (a sign-in, a logout).
    User,
    /// An application at the token endpoint.
    Client,
    /// An application calling the management API (or the CLI).
    Admin,
    /// Latch itself (the sweep ending expired sessions).
    System,
}

impl ActorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::Admin => "admin",
            Self::System => "system",
        }
    }

    /// The stored name back to the type; unknown names read as `System`.
    pub fn parse(s: &str) -> Self {
        match s {
            "user" => Self::User,
            "client" => Self::Client,
            "admin" => Self::Admin,
            _ => Self::System,
        }
    }
}

/// One audit event as stored. `id` is a UUIDv7, so ordering by id is ordering by time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    /// `login.success`, `login.failure`, `token.issued`, `token.reuse_detected`, `logout`,
    /// `session.ended`, `secret.created`, `secret.revoked`, `management.change`.
    pub kind: String,
    pub at: UnixTime,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    /// `true` for `success`, `false` for `failure`.
    pub success: bool,
    pub reason: Option<String>,
    /// A small JSON object (`grant`, `method`, `route`…), as text.
    pub details: String,
}

/// What to list: every given field must match; times are inclusive unix seconds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub kind: Option<String>,
    pub since: Option<UnixTime>,
    pub until: Option<UnixTime>,
    /// Newest first (the console); the page cursor then walks back in time.
    pub newest_first: bool,
}
