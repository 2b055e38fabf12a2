//! What stops an access token before its `exp`: its own `jti` revoked (RFC 7009), the session it
//! was issued in ended, the application it was issued to deleted, or the grant it came from
//! revoked (RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens of the
//! same grant).
//!
//! Access tokens are not stored; each of these facts is one row in the store, kept until every
//! access token it could concern has expired (`REVOCATION_TTL`), and mirrored in memory by the
//! server so the check costs no database read.

use crate::UnixTime;
use crate::application::MAX_ACCESS_TOKEN_TTL;
use crate::secret::SecretHash;

/// The longest lifetime of any access token (application and API overrides are capped at it):
/// a session, application or grant revocation is kept this long, then nothing it names can pass.
pub const REVOCATION_TTL: i64 = MAX_ACCESS_TOKEN_TTL;

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// One access token, by `jti`.
    Token,
    /// Every access token carrying this `sid`.
    Session,
    /// Every token issued to this `client_id` (the application was deleted).
    Client,
    /// Every access token of a grant, by `grant_tag(family_id)` (the prefix of their `jti`).
    Grant,
}

impl RevocationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Token => "jti",
            Self::Session => "sid",
            Self::Client => "client",
            Self::Grant => "grant",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "jti" => Self::Token,
            "sid" => Self::Session,
            "client" => Self::Client,
            "grant" => Self::Grant,
            _ => return None,
        })
    }
}

/// One revocation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub value: String,
    /// After this, no token it names can be live: the row may go.
    pub expires_at: UnixTime,
}

impl Revocation {
    /// A revocation of a session, an application or a grant made at `now`.
    pub fn new(kind: RevocationKind, value: impl Into<String>, now: UnixTime) -> Self {
        Self {
            kind,
            value: value.into(),
            expires_at: now + REVOCATION_TTL,
        }
    }
}

/// How long after a session's recorded `last_active_at` a token may still have been issued in it:
/// activity is written at most once a minute, and a code (60 s) is redeemed after the authorize
/// that touched the session; the rest is margin for clocks.
pub const SESSION_ACTIVITY_SLACK: i64 = 300;

impl Revocation {
    /// The revocation of a session ended at `now`, kept while an access token issued in it can
    /// live: a session idle past that needs none (`None`), so the sweep of idle sessions fills
    /// no memory.
    pub fn of_session(sid: &str, last_active_at: UnixTime, now: UnixTime) -> Option<Self> {
        let last_issue = now.min(last_active_at + SESSION_ACTIVITY_SLACK);
        let expires_at = last_issue + REVOCATION_TTL;
        (expires_at > now).then(|| Self {
            kind: RevocationKind::Session,
            value: sid.to_owned(),
            expires_at,
        })
    }
}

/// Length of `grant_tag`.
pub const GRANT_TAG_LEN: usize = 32;

/// The tag of a grant (a code's hash, which is also its refresh family's id) that prefixes the
/// `jti` of every access token minted from it: `"{tag}.{rest}"`. A one-way function of the family
/// id, so a token does not reveal the id its refresh tokens carry.
pub fn grant_tag(family_id: &str) -> String {
    SecretHash::of(format!("grant:{family_id}").as_bytes()).as_str()[..GRANT_TAG_LEN].to_owned()
}

/// The grant tag a `jti` starts with, if it has one.
pub fn grant_tag_of_jti(jti: &str) -> Option<&str> {
    jti.split_once('.')
        .map(|(tag, _)| tag)
        .filter(|tag| tag.len() == GRANT_TAG_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_tag_is_found_again_in_the_jti_it_prefixes() {
        let tag = grant_tag("ab".repeat(32).as_str());
        assert_eq!(tag.len(), GRANT_TAG_LEN);
        let jti = format!("{tag}.xyz");
        assert_eq!(grant_tag_of_jti(&jti), Some(tag.as_str()));
        assert_eq!(grant_tag_of_jti("random-jti-without-a-tag"), None);
        assert_eq!(grant_tag_of_jti("short.x"), None);
        assert_ne!(grant_tag("a"), grant_tag("b"));
    }

    #[test]
    fn a_session_idle_past_every_token_lifetime_needs_no_revocation() {
        let now = 1_000_000;
        let active = Revocation::of_session("s", now - 10, now).unwrap();
        assert_eq!(active.expires_at, now + REVOCATION_TTL);
        let idle = now - SESSION_ACTIVITY_SLACK - 100;
        let r = Revocation::of_session("s", idle, now).unwrap();
        assert_eq!(r.expires_at, now - 100 + REVOCATION_TTL);
        let long_idle = now - SESSION_ACTIVITY_SLACK - REVOCATION_TTL;
        assert_eq!(Revocation::of_session("s", long_idle, now), None);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        use RevocationKind::*;
        for k in [Token, Session, Client, Grant] {
            assert_eq!(RevocationKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(RevocationKind::parse("other"), None);
    }
}
