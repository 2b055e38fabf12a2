//! Retention: what the purge deletes, and from when (issue 21: nothing grows without bound).
//!
//! Every table that grows with traffic is listed in [`Purge`] with the rule that makes its rows
//! deletable; [`Retention::cutoff`] turns the rule into a time, and the store deletes rows older
//! than it in small batches (`Store::purge`). One setting, `LATCH_AUDIT_RETENTION` (default 30
//! days), says how long *history* is kept. It never shortens what correctness needs: a live
//! session, a refresh grant that can still be used (or whose rotated tokens can still be reused),
//! an undelivered back-channel logout, a counted abuse-limit failure or e-mail stay whatever it is.
//!
//! Not purged, because they are live configuration or accounts rather than traffic: users,
//! applications and their client secrets (a revoked secret is deleted at once), signing keys (the
//! key job retires them), organizations, memberships, roles, API resources. Rows that hang off a
//! purged row go with it (`session_applications` with their session, `invitation_roles` with
//! their invitation: `ON DELETE CASCADE`).

use crate::UnixTime;

/// The default of `LATCH_AUDIT_RETENTION`: 30 days.
pub const DEFAULT_AUDIT_RETENTION: i64 = 30 * 86_400;

/// Finished rows that are not history as such (ended sessions, revoked or expired refresh grants)
/// are kept a day at most; a shorter `LATCH_AUDIT_RETENTION` shortens that too.
pub const FINISHED_AT_MOST: i64 = 86_400;

/// One kind of row the purge deletes; each names the time column its cutoff applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purge {
    /// `audit_events` with `at` before the cutoff: older than the retention.
    AuditEvents,
    /// `sessions` with `ended_at` before the cutoff. A session that expired (absolute end or idle
    /// timeout) is first *ended* by the sweep through `lifecycle` (its grants revoked, its
    /// applications notified), then purged like any ended one. A live session is never matched.
    EndedSessions,
    /// `redeemed_codes` with `expires_at` before now: an expired code is refused before its use is
    /// looked up, so the record of its use (RFC 6749 §4.1.2: a second use revokes what the first
    /// issued) is needed only while the code could be presented.
    RedeemedCodes,
    /// `refresh_grants` with `purge_after` before the cutoff. A grant is one row for all its
    /// generations, and `purge_after` is at or after its sliding `expires_at`: a rotated token is
    /// recognised as reuse (RFC 9700 §4.14.2, which revokes the family) for as long as any token
    /// of its family is valid, and some time beyond.
    ExpiredRefreshGrants,
    /// `refresh_grants` with `revoked_at` before the cutoff: no token of a revoked grant is ever
    /// accepted again, with or without its row (its access tokens are stopped by a revocation
    /// row of their own); the row only tells a late reuse from an unknown token in the log.
    RevokedRefreshGrants,
    /// `login_requests` with `expires_at` before now: a parked authorization request past its
    /// expiry cannot be continued.
    LoginRequests,
    /// `password_resets` with `expires_at` before now: the link no longer works.
    PasswordResets,
    /// `email_verifications` with `expires_at` before now: the link no longer works.
    EmailVerifications,
    /// `revocations` with `expires_at` before now: no access token they name is still valid.
    Revocations,
    /// `invitations` with `expires_at` before the cutoff (accepted or not): past its expiry an
    /// invitation cannot be accepted, and it stays listed as history for the retention.
    Invitations,
    /// `backchannel_deliveries` delivered or abandoned, with `created_at` before the cutoff. A
    /// pending delivery is never matched, however old.
    BackchannelDeliveries,
    /// `mail_outbox` rows sent or abandoned (their message already erased), with `created_at`
    /// before the cutoff, which is never inside the send limits' window (they count these rows).
    /// A queued message is never matched.
    Mail,
    /// `throttles` whose window started and whose lock ended before the cutoff: quiet for a whole
    /// policy window, such a key counts as if it had never failed (`ThrottleState::after_failure`).
    Throttles,
    /// `passkey_ceremonies` with `expires_at` before now: a ceremony's form past its expiry is
    /// refused, so its state is of no use.
    PasskeyCeremonies,
}

impl Purge {
    /// Every kind, in the order the purge runs them.
    pub const ALL: [Purge; 14] = [
        Purge::AuditEvents,
        Purge::EndedSessions,
        Purge::RedeemedCodes,
        Purge::ExpiredRefreshGrants,
        Purge::RevokedRefreshGrants,
        Purge::LoginRequests,
        Purge::PasswordResets,
        Purge::EmailVerifications,
        Purge::Revocations,
        Purge::Invitations,
        Purge::BackchannelDeliveries,
        Purge::Mail,
        Purge::Throttles,
        Purge::PasskeyCeremonies,
    ];

    /// The table it deletes from (the `table` label of the purge's metric).
    pub fn table(self) -> &'static str {
        match self {
            Purge::AuditEvents => "audit_events",
            Purge::EndedSessions => "sessions",
            Purge::RedeemedCodes => "redeemed_codes",
            Purge::ExpiredRefreshGrants | Purge::RevokedRefreshGrants => "refresh_grants",
            Purge::LoginRequests => "login_requests",
            Purge::PasswordResets => "password_resets",
            Purge::EmailVerifications => "email_verifications",
            Purge::Revocations => "revocations",
            Purge::Invitations => "invitations",
            Purge::BackchannelDeliveries => "backchannel_deliveries",
            Purge::Mail => "mail_outbox",
            Purge::Throttles => "throttles",
            Purge::PasskeyCeremonies => "passkey_ceremonies",
        }
    }
}

/// How long each kind of row is kept: the history setting and the windows that must not be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Seconds history is kept (`LATCH_AUDIT_RETENTION`).
    pub history: i64,
    /// The e-mail send limits' window: finished mail is kept at least this long.
    pub mail_window: i64,
    /// The longest abuse-limit window: a counter is kept until quiet this long.
    pub throttle_window: i64,
}

impl Retention {
    /// Rows of `what` with their time column before the returned instant may be deleted at `now`.
    pub fn cutoff(&self, what: Purge, now: UnixTime) -> UnixTime {
        let finished = self.history.min(FINISHED_AT_MOST);
        match what {
            Purge::AuditEvents | Purge::Invitations | Purge::BackchannelDeliveries => {
                now - self.history
            }
            Purge::EndedSessions | Purge::ExpiredRefreshGrants | Purge::RevokedRefreshGrants => {
                now - finished
            }
            Purge::RedeemedCodes
            | Purge::LoginRequests
            | Purge::PasswordResets
            | Purge::EmailVerifications
            | Purge::Revocations
            | Purge::PasskeyCeremonies => now,
            Purge::Mail => now - self.history.max(self.mail_window),
            // Quiet since `now - window` *inclusive* (`ThrottleState::after_failure`).
            Purge::Throttles => now - self.throttle_window + 1,
        }
    }
}

/// Parses a duration setting: a whole number with a unit, `s`, `m`, `h` or `d` (`30d`, `2s`,
/// `90m`); a bare number is seconds, as every other duration setting. Answers seconds.
pub fn parse_duration(value: &str) -> Result<i64, String> {
    let v = value.trim();
    let (digits, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, "s"),
    };
    let per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{value}` is not a duration: a whole number with s, m, h or d (e.g. `30d`)"
            ));
        }
    };
    if digits.is_empty() {
        return Err(format!(
            "`{value}` is not a duration: a number must come before the unit (e.g. `30d`)"
        ));
    }
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(|| format!("`{value}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_700_000_000;

    fn retention(history: i64) -> Retention {
        Retention {
            history,
            mail_window: 3_600,
            throttle_window: 900,
        }
    }

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration(" 2s "), Ok(2));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "d", "30 d", "30w", "-1d", "1.5h", "3d2h", "30D", "1e3"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration("999999999999999999d").is_err(), "overflow");
    }

    #[test]
    fn history_follows_the_setting_and_finished_rows_keep_a_day_at_most() {
        let month = retention(DEFAULT_AUDIT_RETENTION);
        assert_eq!(
            month.cutoff(Purge::AuditEvents, NOW),
            NOW - DEFAULT_AUDIT_RETENTION
        );
        assert_eq!(month.cutoff(Purge::EndedSessions, NOW), NOW - 86_400);
        assert_eq!(month.cutoff(Purge::ExpiredRefreshGrants, NOW), NOW - 86_400);
        assert_eq!(
            month.cutoff(Purge::Mail, NOW),
            NOW - DEFAULT_AUDIT_RETENTION
        );
        let short = retention(2);
        assert_eq!(short.cutoff(Purge::AuditEvents, NOW), NOW - 2);
        assert_eq!(short.cutoff(Purge::RevokedRefreshGrants, NOW), NOW - 2);
        assert_eq!(short.cutoff(Purge::Invitations, NOW), NOW - 2);
        assert_eq!(
            short.cutoff(Purge::Mail, NOW),
            NOW - 3_600,
            "never inside the send limits' window"
        );
    }

    #[test]
    fn rows_needed_until_they_expire_are_never_cut_earlier_by_the_setting() {
        for history in [1, 2, 60, DEFAULT_AUDIT_RETENTION] {
            let r = retention(history);
            for what in [
                Purge::RedeemedCodes,
                Purge::LoginRequests,
                Purge::PasswordResets,
                Purge::Revocations,
                Purge::PasskeyCeremonies,
            ] {
                assert_eq!(r.cutoff(what, NOW), NOW, "{what:?}");
            }
            assert_eq!(r.cutoff(Purge::Throttles, NOW), NOW - 900 + 1);
            for what in Purge::ALL {
                assert!(r.cutoff(what, NOW) <= NOW, "{what:?}");
            }
        }
    }

    #[test]
    fn every_kind_is_listed_once() {
        for (i, a) in Purge::ALL.iter().enumerate() {
            assert!(Purge::ALL[i + 1..].iter().all(|b| b != a), "{a:?}");
        }
    }
}
