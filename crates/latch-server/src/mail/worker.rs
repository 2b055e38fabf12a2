//! The mail sender: one loop per node claims due messages from the outbox for a lease
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so each is claimed by one node), sends them over SMTP
//! one at a time, and records the outcome: sent; a permanent refusal (5xx) abandons; anything
//! else is retried with exponential back-off and jitter until a bounded budget runs out. A node
//! that dies mid-send leaves a lease that lapses: delivery is at least once.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use latch_core::UnixTime;
use latch_core::secret::random_bytes;
use latch_core::store::QueuedMail;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use super::Mail;
use crate::state::AppState;

/// Seconds a claim keeps other nodes away: a batch sent one by one fits well within it.
const LEASE: i64 = 300;
/// Messages claimed at once (each send is bounded by the transport's command timeouts).
const BATCH: i64 = 5;
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Retry delays: 2 s, doubling up to an hour, plus up to a quarter of jitter.
const FIRST_RETRY: i64 = 2;
const MAX_RETRY: i64 = 3_600;
/// A message not sent this long after it was queued is abandoned (its links have expired).
const RETRY_BUDGET: i64 = 86_400;

static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Asks the worker to look at the outbox now rather than at its next poll.
pub fn wake() {
    WAKE.notify_one();
}

/// Starts the sender, if SMTP is configured; it runs until the process ends.
pub fn spawn(state: AppState) {
    let Some(mailer) = state.mail.clone() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            let now = state.clock.now();
            match state.store.claim_mail(now, LEASE, BATCH).await {
                Ok(batch) if !batch.is_empty() => {
                    for queued in batch {
                        attempt(&state, &mailer, &queued).await;
                    }
                }
                Ok(_) => idle().await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim queued e-mail");
                    idle().await;
                }
            }
        }
    });
}

/// The configured sender: the transport and the `From` address.
pub struct Mailer {
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
    pub from: Mailbox,
}

async fn idle() {
    tokio::select! {
        () = tokio::time::sleep(IDLE_POLL) => {}
        () = WAKE.notified() => {}
    }
}

enum Failure {
    Retry(String),
    Abandon(String),
}

async fn attempt(state: &AppState, mailer: &Arc<Mailer>, queued: &QueuedMail) {
    let outcome = send(state, mailer, queued).await;
    let now = state.clock.now();
    let recorded = match outcome {
        Ok(()) => {
            tracing::info!(mail_id = %queued.id, attempts = queued.attempts + 1, "e-mail sent");
            crate::http::metrics::global().mail("sent");
            state.store.mark_mail_sent(&queued.id, now).await
        }
        Err(Failure::Retry(error)) => {
            crate::http::metrics::global().mail("failed");
            let jitter = i64::from(u16::from_le_bytes(random_bytes::<2>()));
            let next = next_attempt(queued.attempts, queued.created_at, now, jitter);
            match next {
                Some(at) => {
                    tracing::info!(mail_id = %queued.id, attempts = queued.attempts + 1, retry_in = at - now, error = %error, "e-mail not sent; will retry")
                }
                None => abandoned(queued, &error),
            }
            state
                .store
                .mark_mail_failed(&queued.id, &error, next, now)
                .await
        }
        Err(Failure::Abandon(error)) => {
            abandoned(queued, &error);
            state
                .store
                .mark_mail_failed(&queued.id, &error, None, now)
                .await
        }
    };
    if let Err(e) = recorded {
        // The lease lapses and the message is claimed again.
        crate::http::error::internal(&e);
    }
}

fn abandoned(queued: &QueuedMail, error: &str) {
    crate::http::metrics::global().mail("abandoned");
    tracing::warn!(mail_id = %queued.id, attempts = queued.attempts + 1, error = %error, "e-mail abandoned");
}

async fn send(state: &AppState, mailer: &Mailer, queued: &QueuedMail) -> Result<(), Failure> {
    let mail = super::open(&state.mail_key, &queued.id, &queued.message).ok_or_else(|| {
        Failure::Abandon("the message cannot be opened (another master key?)".into())
    })?;
    let message = message(&mailer.from, &mail).map_err(Failure::Abandon)?;
    match mailer.transport.send(message).await {
        Ok(_) => Ok(()),
        // RFC 5321 §4.2.1: a 5yz reply is a permanent refusal; sending again would not help.
        Err(e) if e.is_permanent() => Err(Failure::Abandon(describe(&e))),
        Err(e) => Err(Failure::Retry(describe(&e))),
    }
}

/// The error with its causes (the SMTP server's reply code and text say why).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    crate::http::error::chain(e)
}

/// `multipart/alternative`: the text part first, the HTML part preferred by readers that show it.
fn message(from: &Mailbox, mail: &Mail) -> Result<Message, String> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| format!("the recipient is not an address ({e})"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| format!("the message cannot be built ({e})"))
}

/// When to try again after the failure of attempt number `attempts + 1` (the shared schedule,
/// `latch_core::backoff`, with this outbox's constants); `None`: abandon.
fn next_attempt(
    attempts: i64,
    created_at: UnixTime,
    now: UnixTime,
    jitter: i64,
) -> Option<UnixTime> {
    latch_core::backoff::Backoff {
        first: FIRST_RETRY,
        max: MAX_RETRY,
        budget: RETRY_BUDGET,
    }
    .next_attempt(attempts, created_at, now, jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_at_two_seconds_and_double_up_to_an_hour() {
        let delays: Vec<i64> = (0..14)
            .map(|n| next_attempt(n, 0, 0, 0).unwrap_or(-1))
            .collect();
        assert_eq!(&delays[..5], &[2, 4, 8, 16, 32]);
        assert_eq!(delays[11], 3_600);
        assert_eq!(next_attempt(4, 0, 0, 65_535), Some(32 + 7));
        assert_eq!(next_attempt(30, 0, RETRY_BUDGET - 3_599, 0), None);
    }

    #[test]
    fn messages_carry_text_and_html_from_the_configured_sender() {
        let from: Mailbox = "Latch <no-reply@example.com>".parse().unwrap();
        let mail = Mail {
            to: "a@example.com".into(),
            subject: "Reset your password".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        };
        let raw = String::from_utf8(message(&from, &mail).unwrap().formatted()).unwrap();
        assert!(raw.contains("From: Latch <no-reply@example.com>"), "{raw}");
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("text/plain") && raw.contains("text/html"),
            "{raw}"
        );
        let bad = Mail {
            to: "not an address".into(),
            ..mail
        };
        assert!(message(&from, &bad).is_err());
    }
}
