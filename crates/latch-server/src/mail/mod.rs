//! Outbound e-mail. A request never talks SMTP: it renders a [`Mail`] and [`enqueue`]s it —
//! sealed with a key derived from the master key (its links carry single-use tokens), as one
//! outbox row that the send limits admit or refuse — then wakes the [`worker`], which on any node
//! claims due rows, sends them over SMTP (`smtp`: `LATCH_SMTP_URL`, `LATCH_SMTP_FROM`) and retries
//! with back-off, the same pattern as back-channel logout (`backchannel`). The CLI queues the same
//! way; a running server sends. Without SMTP configured `AppState::mail` is `None`: start-up says
//! so once, and no page offers what needs mail.

pub mod invitation;
pub mod smtp;
pub mod worker;

use latch_core::UnixTime;
use latch_core::secret::random_id;
use latch_core::store::{MailLimits, MailStore, NewMail, StoreError};
use latch_jose::MasterKey;
use serde::{Deserialize, Serialize};

pub use smtp::{SmtpSecurity, SmtpSettings};

/// The send limits' window, in seconds.
pub const LIMIT_WINDOW: i64 = 3_600;
/// Messages to one address per window: enough for a person retrying, too few to bomb a mailbox
/// through the forgot-password form.
pub const PER_RECIPIENT: i64 = 5;
/// Messages in all per window (what one environment may ask its SMTP server to send).
pub const GLOBAL: i64 = 1_000;

/// One message, as queued (sealed) and as the worker sends it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The key sealing queued messages, the same on every node.
pub fn key(master: &MasterKey) -> MasterKey {
    master.sub_key("latch mail outbox v1")
}

/// Seals `mail` with `key` (see [`key`]) and queues it within the send limits; `false` if a limit
/// refused it. For callers without a running server (the CLI): a server's worker sends it.
pub async fn enqueue(
    store: &dyn MailStore,
    key: &MasterKey,
    mail: &Mail,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let id = random_id();
    let json = serde_json::to_vec(mail).map_err(|e| StoreError::Other(e.to_string().into()))?;
    let sealed = key.encrypt(&json, id.as_bytes());
    let recipient = mail.to.trim().to_lowercase();
    let limits = MailLimits {
        since: now - LIMIT_WINDOW,
        per_recipient: PER_RECIPIENT,
        global: GLOBAL,
    };
    let new = NewMail {
        id: &id,
        recipient: &recipient,
        message: &sealed,
    };
    store.enqueue_mail(&new, &limits, now).await
}

/// How long a mailed link works, in words: `30 minutes`, `2 hours`, `7 days`, `45 seconds`.
pub fn duration_text(seconds: i64) -> String {
    let (n, unit) = match seconds {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3_600 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Opens a queued message sealed by [`enqueue`] under row id `id`.
pub fn open(key: &MasterKey, id: &str, sealed: &[u8]) -> Option<Mail> {
    let json = key.decrypt(sealed, id.as_bytes()).ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_s_lifetime_reads_in_the_largest_whole_unit() {
        assert_eq!(duration_text(1_800), "30 minutes");
        assert_eq!(duration_text(86_400), "1 day");
        assert_eq!(duration_text(7_200), "2 hours");
        assert_eq!(duration_text(90), "90 seconds");
        assert_eq!(duration_text(1), "1 second");
    }

    #[test]
    fn a_sealed_message_opens_only_under_its_key_and_row() {
        let master = MasterKey::generate();
        let mail = Mail {
            to: "a@example.com".into(),
            subject: "s".into(),
            text: "https://issuer/reset?token=secret".into(),
            html: "<p>x</p>".into(),
        };
        let sealed = key(&master).encrypt(&serde_json::to_vec(&mail).unwrap(), b"row-1");
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
        assert_eq!(open(&key(&master), "row-1", &sealed), Some(mail));
        assert_eq!(open(&key(&master), "row-2", &sealed), None, "another row");
        assert_eq!(open(&master, "row-1", &sealed), None, "another key");
    }
}
