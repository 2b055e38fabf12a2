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
//! Events whose rate only a client's own traffic bounds (`record_counted`: client_credentials
//! issuance) are logged one line each but stored as one row per (type, client, address, outcome)
//! and minute with `details.count` (BENCHMARKS.md, "The tail and the purge": a row per token cost
//! its insert and its purge on the one writer, and terabytes at the default retention). The
//! counts are stored when the minute ends (by the server's clock) and at graceful shutdown.
//!
//! Events carry ids, addresses, outcomes and short reasons: never a secret, password, token or hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latch_core::UnixTime;
use latch_core::audit::{ActorType, AuditEvent};
use latch_core::clock::Clock;
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
/// Counted (client, address…) keys held per minute at most. Past it, an event is stored as its
/// own row: a client with a valid secret calling from ever new addresses cannot grow the map.
const MAX_COUNTED_KEYS: usize = 10_000;

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
    counted: Arc<Mutex<Counts>>,
}

impl Default for Audit {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(CAPACITY);
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
            stop: Arc::new(Notify::new()),
            counted: Arc::default(),
        }
    }
}

/// What one stored row of counted events stands for: the minute, and what the events share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CountKey {
    minute: UnixTime,
    kind: String,
    client_id: Option<String>,
    ip: Option<String>,
    success: bool,
    reason: Option<String>,
}

/// Counted events not yet stored: per key, the first event of its minute and how many there were.
#[derive(Debug, Default)]
struct Counts(HashMap<CountKey, (AuditEvent, u64)>);

impl Counts {
    /// Counts `e`; gives it back if it is to be stored on its own (the map is full).
    fn add(&mut self, e: AuditEvent) -> Option<AuditEvent> {
        let key = CountKey {
            minute: e.at.div_euclid(60),
            kind: e.kind.clone(),
            client_id: e.client_id.clone(),
            ip: e.ip.clone(),
            success: e.success,
            reason: e.reason.clone(),
        };
        if let Some((_, count)) = self.0.get_mut(&key) {
            *count += 1;
            return None;
        }
        if self.0.len() >= MAX_COUNTED_KEYS {
            return Some(e);
        }
        self.0.insert(key, (e, 1));
        None
    }

    /// Takes the rows of every minute before the one `now` is in (all of them with `None`).
    fn take(&mut self, now: Option<UnixTime>) -> Vec<AuditEvent> {
        let due = |key: &CountKey| now.is_none_or(|now| key.minute < now.div_euclid(60));
        let keys: Vec<CountKey> = self.0.keys().filter(|k| due(k)).cloned().collect();
        let mut rows: Vec<AuditEvent> = keys
            .iter()
            .filter_map(|k| self.0.remove(k))
            .map(|(first, count)| counted_row(first, count))
            .collect();
        rows.sort_by_key(|e| e.at);
        rows
    }
}

/// The stored row for `count` events of a minute: the first one's fields and time, a new id
/// (rows are listed by id: a reader paging from a cursor still finds it), `details.count`.
fn counted_row(first: AuditEvent, count: u64) -> AuditEvent {
    let mut details = match serde_json::from_str::<Value>(&first.details) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    details.insert("count".into(), count.into());
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        details: Value::Object(details).to_string(),
        ..first
    }
}

impl Audit {
    /// Logs the event and queues it for the store; never waits.
    pub fn record(&self, event: Event, now: UnixTime) {
        let e = event.finish(now);
        log(&e);
        self.queue(e);
    }

    /// Logs the event (one line, as `record`) and counts it for the store: one row per (type,
    /// client, address, outcome) and minute, with `details.count`, stored when the minute ends.
    /// For events a client can repeat at any rate without a person involved (client_credentials
    /// issuance); never for anything tied to a user or session, which is evidence on its own.
    pub fn record_counted(&self, event: Event, now: UnixTime) {
        let e = event.finish(now);
        log(&e);
        let own_row = match self.counted.lock() {
            Ok(mut counts) => counts.add(e),
            Err(poisoned) => poisoned.into_inner().add(e),
        };
        if let Some(e) = own_row {
            self.queue(e);
        }
    }

    fn queue(&self, e: AuditEvent) {
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

    /// Starts the writer (once; later calls return `None`); `clock` says when a minute of counted
    /// events has ended.
    pub fn spawn(&self, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Option<JoinHandle<()>> {
        let rx = self.rx.lock().ok()?.take()?;
        let counted = Counted {
            counts: self.counted.clone(),
            clock,
        };
        Some(tokio::spawn(drain(rx, store, self.stop.clone(), counted)))
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

/// The writer's view of the counted events: the counts and the clock that ends their minutes.
struct Counted {
    counts: Arc<Mutex<Counts>>,
    clock: Arc<dyn Clock>,
}

impl Counted {
    /// The rows of the minutes that have ended (all of them when `all`).
    fn take(&self, all: bool) -> Vec<AuditEvent> {
        let now = (!all).then(|| self.clock.now());
        match self.counts.lock() {
            Ok(mut counts) => counts.take(now),
            Err(poisoned) => poisoned.into_inner().take(now),
        }
    }
}

async fn drain(
    mut rx: mpsc::Receiver<AuditEvent>,
    store: Arc<dyn Store>,
    stop: Arc<Notify>,
    counted: Counted,
) {
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
                write_all(store.as_ref(), counted.take(true)).await;
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
                    write_all(store.as_ref(), counted.take(true)).await;
                    return;
                }
            },
            _ = tick.tick() => {
                write(store.as_ref(), &mut batch).await;
                write_all(store.as_ref(), counted.take(false)).await;
            }
        }
    }
}

/// Writes `rows` in batches of at most `BATCH`.
async fn write_all(store: &dyn Store, rows: Vec<AuditEvent>) {
    let mut batch = Vec::with_capacity(BATCH.min(rows.len()));
    for e in rows {
        batch.push(e);
        if batch.len() >= BATCH {
            write(store, &mut batch).await;
        }
    }
    write(store, &mut batch).await;
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
        let clock: Arc<dyn Clock> = Arc::new(latch_core::clock::SystemClock);
        let writer = audit.spawn(store.clone(), clock.clone());
        assert!(
            audit.spawn(store.clone(), clock).is_none(),
            "one writer only"
        );
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

    fn issued(client: &str, ip: &str) -> Event {
        Event::new("token.issued")
            .actor(ActorType::Client, Some(client))
            .client(Some(client))
            .ip(Some(ip.parse().unwrap()))
            .detail("grant", "client_credentials")
    }

    #[test]
    fn counted_events_make_one_row_per_client_address_and_minute_once_it_ends() {
        let mut counts = Counts::default();
        let minute = 1_700_000_040; // a minute's start (divisible by 60)
        for i in 0..5 {
            assert!(
                counts
                    .add(issued("c1", "192.0.2.1").finish(minute + i))
                    .is_none()
            );
        }
        assert!(
            counts
                .add(issued("c1", "192.0.2.2").finish(minute + 5))
                .is_none()
        );
        assert!(
            counts
                .add(issued("c2", "192.0.2.1").finish(minute + 59))
                .is_none()
        );
        assert!(
            counts
                .add(issued("c1", "192.0.2.1").finish(minute + 60))
                .is_none()
        );
        // Nothing before the minute ends.
        assert!(counts.take(Some(minute + 59)).is_empty());
        let rows = counts.take(Some(minute + 60));
        let mut seen: Vec<(String, String, i64, Value)> = rows
            .iter()
            .map(|e| {
                let details: Value = serde_json::from_str(&e.details).unwrap();
                (
                    e.client_id.clone().unwrap(),
                    e.ip.clone().unwrap(),
                    e.at,
                    details,
                )
            })
            .collect();
        seen.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let grant = |n: u64| serde_json::json!({"grant": "client_credentials", "count": n});
        assert_eq!(
            seen,
            [
                ("c1".into(), "192.0.2.1".into(), minute, grant(5)),
                ("c1".into(), "192.0.2.2".into(), minute + 5, grant(1)),
                ("c2".into(), "192.0.2.1".into(), minute + 59, grant(1)),
            ]
        );
        assert!(rows.iter().all(|e| e.success && e.kind == "token.issued"));
        // The next minute's count stays until that one ends, or until everything is taken.
        assert!(counts.take(Some(minute + 119)).is_empty());
        let rest = counts.take(None);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].at, minute + 60);
    }

    #[test]
    fn past_the_key_limit_a_counted_event_is_stored_on_its_own() {
        let mut counts = Counts::default();
        let at = 1_700_000_040;
        for i in 0..MAX_COUNTED_KEYS {
            let ip = format!("2001:db8::{:x}", i + 1);
            assert!(counts.add(issued("c1", &ip).finish(at)).is_none());
        }
        // A new address is its own row; a counted one is still counted.
        let own = counts.add(issued("c1", "192.0.2.9").finish(at));
        assert_eq!(own.and_then(|e| e.ip).as_deref(), Some("192.0.2.9"));
        assert!(counts.add(issued("c1", "2001:db8::1").finish(at)).is_none());
        assert_eq!(counts.0.len(), MAX_COUNTED_KEYS);
    }

    /// `details.count` of every stored event, oldest first.
    async fn stored(store: &dyn Store) -> Vec<Value> {
        let page = PageRequest {
            limit: 200,
            after: None,
        };
        let got = store
            .list_audit_events(&AuditFilter::default(), &page)
            .await
            .unwrap();
        got.data
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.details).unwrap()["count"].clone())
            .collect()
    }

    #[tokio::test]
    async fn the_writer_stores_counts_when_their_minute_ends_and_at_shutdown() {
        let dir = std::env::temp_dir().join(format!("latch-audit-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("latch.db").display());
        let store = latch_store::open_and_migrate(&url).await.unwrap();
        let clock = latch_core::clock::ManualClock::new(1_700_000_040);
        let audit = Audit::default();
        let writer = audit.spawn(store.clone(), Arc::new(clock.clone()));
        for _ in 0..3 {
            audit.record_counted(issued("c1", "192.0.2.1"), clock.now());
        }
        tokio::time::sleep(EVERY * 3).await;
        assert!(
            stored(store.as_ref()).await.is_empty(),
            "the minute has not ended"
        );
        clock.advance(60);
        audit.record_counted(issued("c1", "192.0.2.1"), clock.now());
        let mut rows = Vec::new();
        for _ in 0..50 {
            rows = stored(store.as_ref()).await;
            if !rows.is_empty() {
                break;
            }
            tokio::time::sleep(EVERY).await;
        }
        assert_eq!(rows, [Value::from(3)]);
        // The current minute's count is stored at shutdown.
        audit.flush(writer).await;
        assert_eq!(
            stored(store.as_ref()).await,
            [Value::from(3), Value::from(1)]
        );
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
