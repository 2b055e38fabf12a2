//! The audit log (docs/api.md "Audit log"): sign-ins, token issuance, refresh-token reuse, logouts,
//! session ends, client secrets and management changes, each written as a structured log line
//! (target `latch::audit`) and, in batches, to the store (`GET /api/v1/audit-events`).
//!
//! Recording never waits for the database: events go to a bounded in-memory queue that one
//! background task drains, inserting up to `BATCH` events per transaction at least every `EVERY`.
//! A full queue drops the event (counted in `latch_audit_events_dropped_total`, logged at warn;
//! the log line is still written). Graceful shutdown flushes the queue; events still queued when
//! the process is killed (`kill -9`) are lost — the log lines remain.
//!
//! Events carry ids, addresses, outcomes and short reasons: never a secret, password, token or hash.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latch_core::UnixTime;
use latch_core::audit::{ActorType, AuditEvent};
use latch_core::store::{Store, StoreResult};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

/// Events held in memory before recording starts dropping them.
const CAPACITY: usize = 10_000;
/// Events per insert transaction: on SQLite the insert runs on the worker thread, so a batch
/// this size holds requests back for well under a millisecond.
const BATCH: usize = 64;
/// The longest an event waits in the queue while the store is healthy.
const EVERY: Duration = Duration::from_millis(200);
/// How long shutdown waits for the last batch.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// An event being built: `Event::new("login.failure").user(id).ip(ip).failure("wrong_password")`.
#[derive(Debug, Clone)]
pub struct Event {
    kind: &'static str,
    actor: (ActorType, Option<String>),
    user_id: Option<String>,
    client_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    reason: Option<String>,
    details: Map<String, Value>,
}

impl Event {
    /// A successful event acted by the system, with no subject yet.
    pub fn new(kind: &'static str) -> Self {
        Self {
            kind,
            actor: (ActorType::System, None),
            user_id: None,
            client_id: None,
            session_id: None,
            ip: None,
            reason: None,
            details: Map::new(),
        }
    }

    pub fn actor(mut self, kind: ActorType, id: Option<&str>) -> Self {
        self.actor = (kind, id.map(str::to_owned));
        self
    }

    pub fn user(mut self, id: Option<&str>) -> Self {
        self.user_id = id.map(str::to_owned);
        self
    }

    pub fn client(mut self, client_id: Option<&str>) -> Self {
        self.client_id = client_id.map(str::to_owned);
        self
    }

    pub fn session(mut self, sid: Option<&str>) -> Self {
        self.session_id = sid.map(str::to_owned);
        self
    }

    pub fn ip(mut self, ip: Option<IpAddr>) -> Self {
        self.ip = ip.map(|ip| ip.to_string());
        self
    }

    /// Marks the event a failure, for this reason (a short fixed word, never user input).
    pub fn failure(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// A success that still says why (`session.ended` by `logout`, `admin`…).
    pub fn because(mut self, reason: &str) -> Self {
        self.details.insert("reason".into(), reason.into());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    fn finish(self, at: UnixTime) -> AuditEvent {
        AuditEvent {
            id: uuid::Uuid::now_v7().to_string(),
            kind: self.kind.to_owned(),
            at,
            success: self.reason.is_none(),
            actor_type: self.actor.0,
            actor_id: self.actor.1,
            user_id: self.user_id,
            client_id: self.client_id,
            session_id: self.session_id,
            ip: self.ip,
            reason: self.reason,
            details: Value::Object(self.details).to_string(),
        }
    }
}

/// The recorder held in `AppState`: a queue and the background task that drains it.
pub struct Audit {
    tx: mpsc::Sender<AuditEvent>,
    rx: Mutex<Option<mpsc::Receiver<AuditEvent>>>,
    stop: Arc<Notify>,
}

impl Default for Audit {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            stop: Arc::new(Notify::new()),
        }
    }
}

impl Audit {
    /// Logs the event and queues it for the store; never waits.
    pub fn record(&self, event: Event, now: UnixTime) {
        let e = event.finish(now);
        log(&e);
        if let Err(err) = self.tx.try_send(e) {
            crate::http::metrics::global().audit_dropped(1);
            let reason = match err {
                mpsc::error::TrySendError::Full(_) => "queue full",
                mpsc::error::TrySendError::Closed(_) => "writer stopped",
            };
            tracing::warn!(reason, "audit event not stored");
        }
    }

    /// Records `event` once per session in `sids` (the sessions one action ended).
    pub fn record_sessions(&self, event: Event, sids: &[String], now: UnixTime) {
        for sid in sids {
            self.record(event.clone().session(Some(sid)), now);
        }
    }

    /// Starts the writer (once; later calls return `None`).
    pub fn spawn(&self, store: Arc<dyn Store>) -> Option<JoinHandle<()>> {
        let rx = self.rx.lock().ok()?.take()?;
        Some(tokio::spawn(drain(rx, store, self.stop.clone())))
    }

    /// Asks the writer to store what is queued and stop, and waits for it (a few seconds at most).
    pub async fn flush(&self, writer: Option<JoinHandle<()>>) {
        let Some(writer) = writer else { return };
        self.stop.notify_one();
        if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
            tracing::warn!("audit events still queued at shutdown were not stored");
        }
    }
}

async fn drain(mut rx: mpsc::Receiver<AuditEvent>, store: Arc<dyn Store>, stop: Arc<Notify>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.notified() => {
                while let Ok(e) = rx.try_recv() {
                    batch.push(e);
                    if batch.len() >= BATCH {
                        write(store.as_ref(), &mut batch).await;
                    }
                }
                write(store.as_ref(), &mut batch).await;
                return;
            }
            got = rx.recv() => match got {
                Some(e) => {
                    batch.push(e);
                    if batch.len() >= BATCH {
                        write(store.as_ref(), &mut batch).await;
                    }
                }
                None => {
                    write(store.as_ref(), &mut batch).await;
                    return;
                }
            },
            _ = tick.tick() => write(store.as_ref(), &mut batch).await,
        }
    }
}

/// Inserts the batch in one transaction, retrying once after a second; then gives up on it.
async fn write(store: &dyn Store, batch: &mut Vec<AuditEvent>) {
    if batch.is_empty() {
        return;
    }
    let mut result = store.insert_audit_events(batch).await;
    // Let the requests that queued meanwhile run before the next batch.
    tokio::task::yield_now().await;
    if result.is_err() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        result = store.insert_audit_events(batch).await;
    }
    if let Err(e) = result {
        let lost = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        crate::http::metrics::global().audit_dropped(lost);
        tracing::warn!(error = %e, count = batch.len(), "could not store audit events");
    }
    batch.clear();
}

/// Logs and stores one event at once, waiting for the store: for the CLI, which runs no writer.
pub async fn store_now(store: &dyn Store, event: Event, now: UnixTime) -> StoreResult<()> {
    let e = event.finish(now);
    log(&e);
    store.insert_audit_events(std::slice::from_ref(&e)).await
}

/// The structured log line every event also becomes. `details` is the JSON text of an object;
/// `latch`'s JSON log writer turns it back into an object in each line.
fn log(e: &AuditEvent) {
    tracing::info!(
        target: "latch::audit",
        id = %e.id,
        r#type = %e.kind,
        actor_type = e.actor_type.as_str(),
        actor_id = e.actor_id.as_deref(),
        user_id = e.user_id.as_deref(),
        client_id = e.client_id.as_deref(),
        sid = e.session_id.as_deref(),
        ip = e.ip.as_deref(),
        outcome = if e.success { "success" } else { "failure" },
        reason = e.reason.as_deref(),
        details = %e.details,
        "audit event"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests panic on failure")]

    use latch_core::audit::AuditFilter;
    use latch_core::store::PageRequest;

    use super::*;

    #[tokio::test]
    async fn flushing_stores_every_queued_event_before_the_writer_stops() {
        let dir = std::env::temp_dir().join(format!("latch-audit-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("latch.db").display());
        let store = latch_store::open_and_migrate(&url).await.unwrap();
        let audit = Audit::default();
        let writer = audit.spawn(store.clone());
        assert!(audit.spawn(store.clone()).is_none(), "one writer only");
        for i in 0..450 {
            let event = Event::new("login.failure")
                .user(Some(&format!("u{i}")))
                .failure("wrong_password");
            audit.record(event, 1_700_000_000 + i);
        }
        audit.flush(writer).await;
        let page = PageRequest {
            limit: 200,
            after: None,
        };
        let mut stored = 0;
        let mut page = page;
        loop {
            let got = store
                .list_audit_events(&AuditFilter::default(), &page)
                .await
                .unwrap();
            assert!(got.data.iter().all(|e| !e.success));
            stored += got.data.len();
            match got.next_cursor {
                Some(c) => page.after = Some(c),
                None => break,
            }
        }
        assert_eq!(stored, 450);
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
