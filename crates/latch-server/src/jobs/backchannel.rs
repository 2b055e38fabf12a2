//! Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.4–2.8) from the durable
//! outbox that `SessionStore::end_sessions` fills.
//!
//! One loop per node claims due deliveries for a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
//! each is claimed by one node), posts a freshly signed logout token to each, and records the
//! outcome: delivered on 2xx, otherwise retried with exponential back-off and jitter until a
//! bounded budget runs out. A node that dies mid-delivery leaves a lease that lapses, and another
//! claim sends the notification again: delivery is at least once. A claimed delivery that has not
//! started before its lease could lapse is left alone, so two nodes never send it at once.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

use latch_core::UnixTime;
use latch_core::application::Application;
use latch_core::secret::{random_bytes, random_id};
use latch_core::store::BackchannelDelivery;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};

use crate::state::AppState;

/// Seconds a claim keeps other nodes away.
const LEASE: i64 = 30;
/// At most this many deliveries claimed and not finished on one node.
const MAX_CLAIMED: usize = 32;
/// At most this many requests in flight on one node, to all receivers together.
const MAX_IN_FLIGHT: usize = 8;
/// At most this many requests in flight to one back-channel URL.
const MAX_PER_RECEIVER: usize = 2;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A claimed delivery must start this soon, leaving its request time to finish within the lease.
const START_DEADLINE: Duration = Duration::from_secs(LEASE as u64 - 10);
/// Response bodies are read (and discarded) up to this size, never further.
const MAX_RESPONSE_BODY: usize = 4 * 1024;
const IDLE_POLL: Duration = Duration::from_secs(1);
/// `exp - iat` of a logout token (§2.4 recommends a short lifetime; receivers allow some skew).
const TOKEN_TTL: i64 = 120;
/// Retry delays: 1 s, then doubling up to an hour, plus up to a quarter of jitter.
const FIRST_RETRY: i64 = 1;
const MAX_RETRY: i64 = 3600;
/// A delivery not done this long after the session ended is abandoned.
const RETRY_BUDGET: i64 = 86_400;
/// Back-Channel Logout 1.0 §2.4: the `events` member that makes a JWT a logout token.
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

static WAKE: LazyLock<Notify> = LazyLock::new(Notify::new);

/// Asks the worker to look at the outbox now rather than at its next poll (after a logout).
pub fn wake() {
    WAKE.notify_one();
}

/// Starts the delivery loop; it runs until the process ends.
pub fn spawn(state: AppState) {
    let worker = Arc::new(Worker {
        state,
        client: OnceLock::new(),
        claimed: Arc::new(Semaphore::new(MAX_CLAIMED)),
        in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        receivers: Mutex::new(HashMap::new()),
    });
    tokio::spawn(worker.run());
}

struct Worker {
    state: AppState,
    /// Built at the first delivery: loading the system's CA roots costs start-up time and
    /// memory that a server without back-channel URLs never needs.
    client: OnceLock<Result<reqwest::Client, String>>,
    claimed: Arc<Semaphore>,
    in_flight: Arc<Semaphore>,
    /// One semaphore per back-channel URL with deliveries under way.
    receivers: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Why an attempt failed.
enum Failure {
    /// Worth trying again later (network, non-2xx answer, store hiccup).
    Retry(String),
    /// Never deliverable (the application is gone).
    Abandon(String),
}

impl Worker {
    fn client(&self) -> Result<&reqwest::Client, Failure> {
        let built = self.client.get_or_init(|| {
            let allow_private = self.state.settings.backchannel_allow_private;
            crate::outbound::client(crate::outbound::system_resolver(), allow_private, REQUEST_TIMEOUT)
                .map_err(|e| {
                    tracing::error!(error = %e, "cannot build the HTTP client: back-channel logout is not delivered");
                    crate::http::error::chain(&e)
                })
        });
        built
            .as_ref()
            .map_err(|_| Failure::Retry("no HTTP client".into()))
    }

    async fn run(self: Arc<Self>) {
        loop {
            let room = self.claimed.available_permits().min(MAX_CLAIMED);
            if room == 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let now = self.state.clock.now();
            match self
                .state
                .store
                .claim_deliveries(now, LEASE, room as i64)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    batch.into_iter().for_each(|d| self.clone().start(d))
                }
                Ok(_) => idle().await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim back-channel logout deliveries");
                    idle().await;
                }
            }
        }
    }

    fn start(self: Arc<Self>, delivery: BackchannelDelivery) {
        // Only this loop takes claim permits, and it claimed no more than were free.
        let Ok(claim) = self.claimed.clone().try_acquire_owned() else {
            return;
        };
        let receiver = self.receiver(&delivery.url);
        let claimed_at = Instant::now();
        tokio::spawn(async move {
            let _claim = claim;
            let Ok(_turn) = receiver.acquire_owned().await else {
                return;
            };
            let Ok(_slot) = self.in_flight.clone().acquire_owned().await else {
                return;
            };
            if claimed_at.elapsed() > START_DEADLINE {
                // The lease may lapse mid-request: leave the delivery to whoever claims it next.
                return;
            }
            self.attempt(&delivery).await;
        });
    }

    /// The semaphore of `url`, dropping those of receivers with nothing under way.
    fn receiver(&self, url: &str) -> Arc<Semaphore> {
        let mut receivers = match self.receivers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        receivers.retain(|_, s| Arc::strong_count(s) > 1);
        receivers
            .entry(url.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(MAX_PER_RECEIVER)))
            .clone()
    }

    async fn attempt(&self, d: &BackchannelDelivery) {
        let outcome = self.send(d).await;
        let now = self.state.clock.now();
        let store = &self.state.store;
        let recorded = match outcome {
            Ok(()) => {
                tracing::info!(delivery_id = %d.id, client_id = %d.client_id, sid = %d.sid, "back-channel logout delivered");
                crate::http::metrics::global().delivery("delivered");
                store.mark_delivered(&d.id, now).await
            }
            Err(Failure::Retry(error)) => {
                crate::http::metrics::global().delivery("failed");
                let jitter = i64::from(u16::from_le_bytes(random_bytes::<2>()));
                let next = next_attempt(d.attempts, d.created_at, now, jitter);
                match next {
                    Some(at) => {
                        tracing::info!(delivery_id = %d.id, client_id = %d.client_id, url = %d.url, attempts = d.attempts + 1, retry_in = at - now, error = %error, "back-channel logout delivery failed")
                    }
                    None => abandoned(d, &error),
                }
                store.mark_failed(&d.id, &error, next, now).await
            }
            Err(Failure::Abandon(error)) => {
                abandoned(d, &error);
                store.mark_failed(&d.id, &error, None, now).await
            }
        };
        if let Err(e) = recorded {
            // The lease lapses and the delivery is claimed again.
            crate::http::error::internal(&e);
        }
    }

    /// §2.5: `POST` `application/x-www-form-urlencoded` `logout_token=…`; §2.8: 2xx means done.
    async fn send(&self, d: &BackchannelDelivery) -> Result<(), Failure> {
        let store = self.state.store.as_ref();
        let app = self
            .state
            .applications
            .by_client_id(store, &d.client_id)
            .await
            .map_err(|e| {
                crate::http::error::internal(&e);
                Failure::Retry("internal error".into())
            })?;
        let Some(app) = app.filter(|a| a.id == d.application_id) else {
            return Err(Failure::Abandon("the application no longer exists".into()));
        };
        if app.redirects.backchannel_logout.is_none() {
            return Err(Failure::Abandon(
                "the application no longer has a back-channel logout URL".into(),
            ));
        }
        let allow_private = self.state.settings.backchannel_allow_private;
        if !crate::outbound::url_allowed(&d.url, allow_private) {
            return Err(Failure::Retry(crate::outbound::NOT_ALLOWED.into()));
        }
        let token = logout_token(&self.state, &app, d, self.state.clock.now())?;
        let response = self
            .client()?
            .post(&d.url)
            .form(&[("logout_token", token.as_str())])
            .send()
            .await
            .map_err(|e| {
                // The detail goes to the operator's log only; the delivery keeps a generic reason.
                tracing::debug!(delivery_id = %d.id, error = %crate::http::error::chain(&e), "back-channel request failed");
                Failure::Retry(crate::outbound::describe(&e).into())
            })?;
        let status = response.status();
        drain(response).await;
        if status.is_success() {
            Ok(())
        } else {
            Err(Failure::Retry(format!("HTTP {}", status.as_u16())))
        }
    }
}

async fn idle() {
    tokio::select! {
        () = tokio::time::sleep(IDLE_POLL) => {}
        () = WAKE.notified() => {}
    }
}

fn abandoned(d: &BackchannelDelivery, error: &str) {
    crate::http::metrics::global().delivery("abandoned");
    tracing::warn!(
        delivery_id = %d.id,
        application_id = %d.application_id,
        client_id = %d.client_id,
        url = %d.url,
        sid = %d.sid,
        attempts = d.attempts + 1,
        error = %error,
        "back-channel logout delivery abandoned"
    );
}

/// Reads what the receiver sent, up to `MAX_RESPONSE_BODY`, so small answers free the connection.
async fn drain(mut response: reqwest::Response) {
    let mut read = 0;
    while read < MAX_RESPONSE_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
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

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: UnixTime,
    exp: UnixTime,
    jti: String,
    sub: &'a str,
    sid: &'a str,
    events: Value,
}

/// §2.4: `typ: logout+jwt`, signed like the application's ID tokens; `sid` and `sub`; no `nonce`.
fn logout_token(
    state: &AppState,
    app: &Application,
    d: &BackchannelDelivery,
    now: UnixTime,
) -> Result<String, Failure> {
    let alg = app.id_token_signed_response_alg;
    let keys = state.keys.current();
    let key = keys
        .signer(alg)
        .ok_or_else(|| Failure::Retry(format!("no signing key for {}", alg.as_str())))?;
    let claims = LogoutClaims {
        iss: &state.settings.issuer,
        aud: &d.client_id,
        iat: now,
        exp: now + TOKEN_TTL,
        jti: random_id(),
        sub: &d.sub,
        sid: &d.sid,
        events: json!({ LOGOUT_EVENT: {} }),
    };
    key.sign_jwt(Some("logout+jwt"), &claims)
        .map_err(|e| Failure::Retry(format!("signing failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_within_two_seconds_and_double_up_to_an_hour() {
        let delays: Vec<i64> = (0..16)
            .map(|n| next_attempt(n, 0, 0, 0).unwrap_or(-1))
            .collect();
        assert_eq!(&delays[..6], &[1, 2, 4, 8, 16, 32]);
        assert_eq!(delays[12], 3600);
        assert_eq!(delays[15], 3600);
    }

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        assert_eq!(next_attempt(4, 0, 0, 65_535), Some(16 + 3));
        assert_eq!(next_attempt(4, 0, 0, 0), Some(16));
        assert_eq!(next_attempt(12, 0, 0, 65_535), Some(3600 + 899));
    }

    #[test]
    fn a_delivery_is_abandoned_once_the_next_try_falls_outside_the_budget() {
        assert_eq!(
            next_attempt(30, 1_000, 1_000 + RETRY_BUDGET - 3600, 0),
            Some(1_000 + RETRY_BUDGET)
        );
        assert_eq!(
            next_attempt(30, 1_000, 1_000 + RETRY_BUDGET - 3599, 0),
            None
        );
    }
}
