//! A small SQLite driver on rusqlite: a pool of readers, one writer, write transactions, and
//! `Connection::run` (one statement, its arguments, a callback per row), on which `Sqlite`
//! implements the store's `Backend`.
//!
//! Statements run **on the calling task's thread**, inside the future's first poll: a statement
//! on a local file costs microseconds, far less than handing it to a connection thread and back
//! (sqlx's SQLite driver does that for every statement; on one core those thread switches were
//! most of a token request's cost). Nothing here blocks for long:
//!
//! - connections never sleep in SQLite's busy handler (`busy_timeout = 0`); a statement or
//!   `BEGIN IMMEDIATE` answered `SQLITE_BUSY` (another process holds the write lock, e.g. the CLI)
//!   is retried after an async sleep (1, 2, 4 … 50 ms, up to `BUSY_TIMEOUT`);
//! - WAL checkpoints (which write pages back to the database file and fsync it) run on their own
//!   threads (`checkpoints`, `restarts`), never inside a commit (`wal_autocheckpoint = 0`), and
//!   hold the writer only when the WAL has grown past `RESTART_AFTER_FRAMES`.
//!
//! The writer is one connection behind an async mutex: writes queue in memory instead of
//! contending for SQLite's lock. Readers are pooled connections (WAL lets them run beside the
//! writer). Parameters are written `$1, $2…` as in PostgreSQL and bound by number.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{ErrorCode, OpenFlags, ToSql};

use crate::sql::backend::{Arg, DbError as Error};

/// How long a statement keeps retrying while another process holds the database's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection (the store has about 150 distinct statements).
const STATEMENT_CACHE: usize = 256;
/// Idle reader connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// How often the checkpointer looks for new commits.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(1000);
/// Commits after which the checkpointer is woken early (keeps each PASSIVE round short).
const CHECKPOINT_AFTER_COMMITS: u64 = 2000;
/// Checkpoint at least this many `CHECKPOINT_EVERY` ticks apart even without counted commits.
const IDLE_CHECKPOINT_TICKS: u32 = 5;
/// PASSIVE checkpoint rounds at most per wake-up.
const PASSIVE_ROUNDS: usize = 4;
/// A PASSIVE round this short leaves little for another.
const SHORT_ROUND: Duration = Duration::from_millis(2);
/// WAL frames (pages; 256 MiB of the default 4 KiB pages) past which the WAL is made to start
/// over: the restarter copies the rest while it holds the writer. Below it the WAL only grows
/// while writes never pause; it starts over by itself at the first write after a PASSIVE round
/// that found nothing written meanwhile. Each restart holds every write for two fsyncs (about
/// 7 ms on the benchmark's disk), and at 85 % busy the queue behind it takes some 50 ms to drain:
/// at 64 MiB a refresh or code-flow load at 70 % of capacity restarted every 2–3 s and those
/// windows made its p99; 256 MiB makes them four times rarer (BENCHMARKS.md, issue 21). Only the
/// frames not yet copied are searched by readers, so a long WAL costs disk, not lookups.
const RESTART_AFTER_FRAMES: i64 = 65_536;
/// `journal_size_limit`: a WAL file that grew past this (a reader held an old snapshot through
/// restarts) is cut back to it when the WAL starts over; below it the file is reused as it is.
const JOURNAL_SIZE_LIMIT: i64 = 256 << 20;
/// The checkpointer's nice value (Linux): its copying yields the core to requests at once.
const CHECKPOINT_NICE: i32 = 10;

/// Statement texts whose parameter order is remembered per connection, at most.
const MAX_PARAMETER_ORDERS: usize = 512;

/// An open connection (rusqlite's, with its statement cache) and the parameter order of each
/// statement it ran.
pub(crate) struct Connection(rusqlite::Connection, RefCell<ParameterOrders>);

/// For each statement text, the argument number (`N` of `$N`, from 1) bound to each parameter
/// index. SQLite gives `$N` parameters indexes in order of first appearance and finds a
/// parameter's name by scanning a list, so reading every name is quadratic in the number of
/// parameters (a 16-row audit `INSERT` has about 180): the names are read once per text.
#[derive(Default)]
struct ParameterOrders(HashMap<Box<str>, Arc<[usize]>>);

impl ParameterOrders {
    fn of(&mut self, sql: &str, stmt: &rusqlite::Statement<'_>) -> Result<Arc<[usize]>, Error> {
        if let Some(order) = self.0.get(sql) {
            return Ok(order.clone());
        }
        let order = (1..=stmt.parameter_count())
            .map(|index| {
                stmt.parameter_name(index)
                    .and_then(|name| name.strip_prefix('$'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Error::UnnumberedParameter {
                        index,
                        sql: sql.to_owned(),
                    })
            })
            .collect::<Result<Arc<[usize]>, Error>>()?;
        if self.0.len() >= MAX_PARAMETER_ORDERS {
            self.0.clear();
        }
        self.0.insert(sql.into(), order.clone());
        Ok(order)
    }
}

impl Connection {
    fn open(path: &Path, flags: OpenFlags) -> Result<Self, Error> {
        Self::wrap(rusqlite::Connection::open_with_flags(path, flags)?)
    }

    fn wrap(conn: rusqlite::Connection) -> Result<Self, Error> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // busy_timeout = 0: SQLITE_BUSY comes back at once and is retried without blocking
        // the thread (see the module doc).
        conn.execute_batch("PRAGMA busy_timeout = 0; PRAGMA foreign_keys = ON;")?;
        // The query-planner stability guarantee: plans do not depend on bound values, so a
        // cached statement is not prepared again whenever its arguments change (STAT4 is on in
        // the bundled SQLite).
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        Ok(Self(conn, RefCell::default()))
    }

    /// Runs one statement with `args`, calling `on_row` for each row it returns (at most
    /// `limit`); answers the number of rows it changed.
    pub(crate) fn run(
        &self,
        sql: &str,
        args: &[Arg<'_>],
        limit: Option<usize>,
        mut on_row: impl FnMut(&rusqlite::Row<'_>) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let order = self.1.borrow_mut().of(sql, &stmt)?;
        for (index, &number) in order.iter().enumerate() {
            let arg = args.get(number - 1).ok_or(Error::MissingArgument {
                number,
                bound: args.len(),
            })?;
            stmt.raw_bind_parameter(index + 1, arg)?;
        }
        let mut rows = stmt.raw_query();
        let mut seen = 0;
        while limit.is_none_or(|l| seen < l) {
            match rows.next()? {
                Some(row) => on_row(row)?,
                None => break,
            }
            seen += 1;
        }
        drop(rows);
        Ok(self.0.changes())
    }
}

/// Whether a statement failed only because another connection holds a lock: nothing happened,
/// so it may run again.
fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Sqlite(e) if is_sqlite_busy(e))
}

fn is_sqlite_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` until it is not answered `SQLITE_BUSY` or `BUSY_TIMEOUT` has passed, sleeping
/// asynchronously in between.
pub(crate) async fn retry_busy<R>(
    conn: &mut Connection,
    mut f: impl FnMut(&Connection) -> Result<R, Error>,
) -> Result<R, Error> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match f(conn) {
            Err(e) if is_busy(&e) && start.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

/// How connections are opened, and what the checkpointer watches.
struct Shared {
    path: PathBuf,
    flags: OpenFlags,
    /// Commits so far (writes through `Pool::acquire` are not counted).
    commits: AtomicU64,
    /// WAL frames past which the restarter is woken (`RESTART_AFTER_FRAMES`; less in tests).
    restart_after_frames: i64,
    /// Set when the writer pool is dropped: the checkpointer and the restarter stop.
    stop: AtomicBool,
    checkpointer: OnceLock<std::thread::Thread>,
    restarter: OnceLock<std::thread::Thread>,
    /// Tasks queued for the writer (metrics).
    writer_waiting: AtomicU64,
    /// Reader connections lent out now (metrics).
    readers_in_use: AtomicU64,
}

/// Counts one in a counter until dropped (a task queued for the writer, also when its future is
/// cancelled meanwhile; a reader lent out).
struct Queued<'a>(&'a AtomicU64);

impl<'a> Queued<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Pool {
    /// The connections of the readers and the writer now.
    pub(crate) fn status(readers: &Self, writer: &Self) -> latch_core::store::PoolStatus {
        let shared = &writer.shared;
        let idle_readers = match &readers.kind {
            Kind::Readers(idle) => match idle.lock() {
                Ok(idle) => idle.len() as u64,
                Err(poisoned) => poisoned.into_inner().len() as u64,
            },
            Kind::Writer(_) => 0,
        };
        let writer_idle = match &writer.kind {
            Kind::Writer(w) => u64::from(w.try_lock().is_ok()),
            Kind::Readers(_) => 0,
        };
        let in_use = shared.readers_in_use.load(Ordering::Relaxed);
        latch_core::store::PoolStatus {
            open: 1 + idle_readers + in_use,
            idle: idle_readers + writer_idle,
            waiting: Some(shared.writer_waiting.load(Ordering::Relaxed)),
        }
    }
}

impl Shared {
    fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(CHECKPOINT_AFTER_COMMITS)
            && let Some(thread) = self.checkpointer.get()
        {
            thread.unpark();
        }
    }
}

enum Kind {
    /// The one writer connection.
    Writer(Arc<tokio::sync::Mutex<Connection>>),
    /// Idle reader connections; more are opened when all are in use.
    Readers(Mutex<Vec<Connection>>),
}

/// A pool of connections to one database file: the writer (one connection) or the readers.
pub(crate) struct Pool {
    kind: Kind,
    shared: Arc<Shared>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Kind::Writer(_) = self.kind {
            self.shared.stop.store(true, Ordering::Relaxed);
            for thread in [&self.shared.checkpointer, &self.shared.restarter] {
                if let Some(thread) = thread.get() {
                    thread.unpark();
                }
            }
        }
    }
}

impl Pool {
    /// The writer of the database at `path` (WAL, `synchronous = NORMAL`), and the thread
    /// that checkpoints its WAL.
    pub(crate) fn writer(path: &Path, create: bool) -> Result<Self, Error> {
        Self::writer_restarting_after(path, create, RESTART_AFTER_FRAMES)
    }

    fn writer_restarting_after(
        path: &Path,
        create: bool,
        restart_after_frames: i64,
    ) -> Result<Self, Error> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open(path, flags)?;
        let mode: String = conn
            .0
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::NotWal { mode });
        }
        // NORMAL in WAL mode: a commit is in the WAL (the OS page cache) before it is
        // acknowledged, so it survives kill -9 of the server; only an OS crash or power loss can
        // lose the last commits. FULL would fsync every commit.
        conn.0.execute_batch(&format!(
            "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
             PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT};"
        ))?;
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            flags: flags - OpenFlags::SQLITE_OPEN_CREATE,
            commits: AtomicU64::new(0),
            restart_after_frames,
            stop: AtomicBool::new(false),
            checkpointer: OnceLock::new(),
            restarter: OnceLock::new(),
            writer_waiting: AtomicU64::new(0),
            readers_in_use: AtomicU64::new(0),
        });
        let writer = Arc::new(tokio::sync::Mutex::new(conn));
        // The restarter first: the checkpointer wakes it.
        let restarter = std::thread::Builder::new()
            .name("latch-wal-restart".into())
            .spawn({
                let (shared, writer) = (shared.clone(), writer.clone());
                move || restarts(&shared, &writer)
            });
        let checkpointer = restarter.and_then(|restarter| {
            let _ = shared.restarter.set(restarter.thread().clone());
            std::thread::Builder::new()
                .name("latch-checkpoint".into())
                .spawn({
                    let shared = shared.clone();
                    move || checkpoints(&shared)
                })
        });
        match checkpointer {
            Ok(handle) => {
                let _ = shared.checkpointer.set(handle.thread().clone());
            }
            // No threads for it: SQLite checkpoints inside commits, as by default (a restarter
            // already started only waits, and stops with the pool).
            Err(_) => writer
                .try_lock()
                .map_err(|_| Error::WriterBusy)?
                .0
                .execute_batch("PRAGMA wal_autocheckpoint = 1000;")?,
        }
        Ok(Self {
            kind: Kind::Writer(writer),
            shared,
        })
    }

    /// Reader connections to the writer's database.
    pub(crate) fn readers(writer: &Pool) -> Self {
        Self {
            kind: Kind::Readers(Mutex::new(Vec::new())),
            shared: writer.shared.clone(),
        }
    }

    fn take_reader(&self, idle: &Mutex<Vec<Connection>>) -> Result<Connection, Error> {
        let pooled = match idle.lock() {
            Ok(mut idle) => idle.pop(),
            Err(poisoned) => poisoned.into_inner().pop(),
        };
        match pooled {
            Some(conn) => Ok(conn),
            None => {
                let conn = Connection::open(&self.shared.path, self.shared.flags)?;
                conn.0.execute_batch("PRAGMA synchronous = NORMAL;")?;
                Ok(conn)
            }
        }
    }

    fn give_back(idle: &Mutex<Vec<Connection>>, conn: Connection) {
        let mut idle = match idle.lock() {
            Ok(idle) => idle,
            Err(poisoned) => poisoned.into_inner(),
        };
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
    }

    /// Runs `f` on a connection of this pool, retrying while the database is busy.
    pub(crate) async fn with<R>(
        &self,
        f: impl FnMut(&Connection) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match &self.kind {
            Kind::Writer(writer) => {
                let queued = Queued::new(&self.shared.writer_waiting);
                let mut conn = writer.lock().await;
                drop(queued);
                let result = retry_busy(&mut conn, f).await;
                self.shared.committed();
                result
            }
            Kind::Readers(idle) => {
                let mut conn = ReaderGuard {
                    conn: Some(self.take_reader(idle)?),
                    idle,
                    _lent: Queued::new(&self.shared.readers_in_use),
                };
                retry_busy(&mut conn, f).await
            }
        }
    }

    /// Opens a write transaction with `begin` (`BEGIN IMMEDIATE`), waiting for the writer.
    pub(crate) async fn begin_with(&self, begin: &'static str) -> Result<Transaction, Error> {
        let Kind::Writer(writer) = &self.kind else {
            return Err(Error::NotWriter);
        };
        let queued = Queued::new(&self.shared.writer_waiting);
        let mut conn = writer.clone().lock_owned().await;
        drop(queued);
        retry_busy(&mut conn, |c| Ok(c.0.execute_batch(begin)?)).await?;
        Ok(Transaction {
            conn,
            open: true,
            shared: self.shared.clone(),
        })
    }
}

/// A reader connection, returned to the pool when dropped.
pub(crate) struct ReaderGuard<'p> {
    conn: Option<Connection>,
    idle: &'p Mutex<Vec<Connection>>,
    /// Counted in `readers_in_use` while lent.
    _lent: Queued<'p>,
}

impl Deref for ReaderGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl DerefMut for ReaderGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            Pool::give_back(self.idle, conn);
        }
    }
}

/// A write transaction on the writer connection; rolled back when dropped uncommitted.
pub(crate) struct Transaction {
    conn: tokio::sync::OwnedMutexGuard<Connection>,
    open: bool,
    shared: Arc<Shared>,
}

impl Transaction {
    pub(crate) async fn commit(mut self) -> Result<(), Error> {
        self.open = false;
        self.conn.0.execute_batch("COMMIT")?;
        self.shared.committed();
        Ok(())
    }
}

impl Deref for Transaction {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Transaction {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // After some errors SQLite has already rolled back; then this fails harmlessly.
        if self.open && !self.conn.0.is_autocommit() {
            let _ = self.conn.0.execute_batch("ROLLBACK");
        }
    }
}

/// The checkpointer's loop: whenever there were commits (at most every `CHECKPOINT_EVERY`, or
/// sooner after `CHECKPOINT_AFTER_COMMITS`), copies the WAL back into the database file with
/// PASSIVE checkpoints on its own connection, beside running reads and writes, so that no request
/// waits for that copy or the file's fsync; until the writer pool is dropped.
///
/// It runs at a lower CPU priority (`CHECKPOINT_NICE`): on a server with one core for everything,
/// a round copying megabytes would otherwise hold that core for milliseconds while requests wait
/// for their turn. That is safe because this thread never holds anything a request waits for (a
/// PASSIVE checkpoint takes no lock writers or readers need); whatever needs the writer is the
/// restarter's, at normal priority (a low-priority thread holding SQLite's one writer would stall
/// every write behind it).
///
/// Under steady writing a PASSIVE round never reaches the end of the WAL, and SQLite starts the
/// WAL over only once everything in it has been copied: when the WAL passes
/// `RESTART_AFTER_FRAMES` it wakes the restarter.
fn checkpoints(shared: &Shared) {
    lower_priority(CHECKPOINT_NICE);
    let mut done = 0;
    let mut idle_ticks = 0;
    let mut own = None;
    loop {
        std::thread::park_timeout(CHECKPOINT_EVERY);
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let commits = shared.commits.load(Ordering::Relaxed);
        idle_ticks += 1;
        if commits == done && idle_ticks < IDLE_CHECKPOINT_TICKS {
            continue;
        }
        idle_ticks = 0;
        if own.is_none() {
            own = Connection::open(&shared.path, shared.flags).ok();
        }
        let Some(c) = &own else { continue };
        let round = passive_rounds(c, "wal_checkpoint");
        tracing::debug!(
            frames = round.log,
            copied = round.copied,
            rounds = round.rounds,
            ms = round.took.as_secs_f64() * 1e3,
            "SQLite checkpoint"
        );
        if round.rounds > 0 {
            done = commits;
        }
        if round.log >= shared.restart_after_frames
            && let Some(restarter) = shared.restarter.get()
        {
            restarter.unpark();
        }
    }
}

/// The restarter's loop (normal priority): woken when the WAL has grown past
/// `RESTART_AFTER_FRAMES`, it catches up with PASSIVE rounds on its own connection, then copies the
/// rest on the writer connection itself, held like any writer (requests wait for it in the async
/// queue: one copy of the last few milliseconds' pages and two fsyncs, the WAL's and the
/// database file's), so that the next write starts the WAL from the beginning again instead of
/// growing it without bound. It does not wait for readers (RESTART would, while every writer
/// waits): a reader still on an older snapshot only postpones the start-over to the next time.
fn restarts(shared: &Shared, writer: &tokio::sync::Mutex<Connection>) {
    let mut own = None;
    loop {
        std::thread::park();
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if own.is_none() {
            own = Connection::open(&shared.path, shared.flags).ok();
        }
        let catch_up = own.as_ref().map(|c| passive_rounds(c, "wal_checkpoint"));
        let conn = writer.blocking_lock();
        let held = crate::timing::Timer::start("wal_restart_writer_held");
        let last = conn
            .0
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1));
        drop(held);
        drop(conn);
        tracing::debug!(
            frames = catch_up.map(|r| r.log),
            catch_up_ms = catch_up.map(|r| r.took.as_secs_f64() * 1e3),
            "SQLite WAL made to start over"
        );
        match last {
            Ok(_) => {}
            Err(e) if is_sqlite_busy(&e) => {}
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

/// What `passive_rounds` did.
#[derive(Debug, Clone, Copy)]
struct Rounds {
    /// Frames in the WAL after the last round (since it last started over).
    log: i64,
    /// Frames of those copied into the database file.
    copied: i64,
    /// Rounds that ran (0: another checkpoint was running, or it failed).
    rounds: usize,
    took: Duration,
}

/// Up to `PASSIVE_ROUNDS` PASSIVE checkpoints on `c`, each timed as `operation`: each round copies
/// what was written during the one before, until one is short. PASSIVE never waits for anyone;
/// BUSY only means another checkpoint runs.
fn passive_rounds(c: &Connection, operation: &'static str) -> Rounds {
    let started = Instant::now();
    let mut out = Rounds {
        log: 0,
        copied: 0,
        rounds: 0,
        took: Duration::ZERO,
    };
    for _ in 0..PASSIVE_ROUNDS {
        let round = Instant::now();
        let timer = crate::timing::Timer::start(operation);
        let result = c.0.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        drop(timer);
        match result {
            Ok((log, copied)) => (out.log, out.copied) = (log, copied),
            Err(e) if is_sqlite_busy(&e) => break,
            Err(e) => {
                tracing::warn!(error = %e, "SQLite checkpoint failed");
                break;
            }
        }
        out.rounds += 1;
        if out.copied >= out.log || round.elapsed() < SHORT_ROUND {
            break;
        }
    }
    out.took = started.elapsed();
    out
}

/// Lowers the calling thread's CPU priority to `nice` (Linux, where a nice value is per thread;
/// best effort: without it the thread runs at normal priority, as before).
fn lower_priority(nice: i32) {
    #[cfg(target_os = "linux")]
    {
        let tid = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
            tracing::debug!(error = %e, "could not lower the checkpointer's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}

impl crate::sql::backend::Row for rusqlite::Row<'_> {
    fn get<T: crate::sql::backend::Value>(&self, column: &str) -> Result<T, Error> {
        Ok(rusqlite::Row::get(self, column)?)
    }

    fn get_at<T: crate::sql::backend::Value>(&self, index: usize) -> Result<T, Error> {
        Ok(rusqlite::Row::get(self, index)?)
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Arg::Int(Some(i)) => ValueRef::Integer(*i),
            Arg::Bool(Some(b)) => ValueRef::Integer(i64::from(*b)),
            Arg::Text(Some(s)) => ValueRef::Text(s.as_bytes()),
            Arg::Blob(Some(b)) => ValueRef::Blob(b),
            Arg::Int(None) | Arg::Bool(None) | Arg::Text(None) | Arg::Blob(None) => ValueRef::Null,
        }))
    }
}

/// Opens a connection for a one-off look at a file (read-only, or creating it), without the
/// pool's settings.
pub(crate) fn open_plain(
    path: &Path,
    read_only: bool,
) -> Result<rusqlite::Connection, rusqlite::Error> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    rusqlite::Connection::open_with_flags(path, flags)
}

impl Connection {
    /// Runs several statements without arguments (migrations).
    pub(crate) fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        Ok(self.0.execute_batch(sql)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_queued_for_the_writer_are_counted_until_they_get_it() {
        let dir = std::env::temp_dir().join(format!("latch-pool-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let writer = Arc::new(Pool::writer(&dir.join("x.db"), true).unwrap());
        let readers = Pool::readers(&writer);
        let held = writer.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let status = Pool::status(&readers, &writer);
        assert_eq!((status.idle, status.waiting), (0, Some(0)), "{status:?}");
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .with(|c| c.run("SELECT 1", &[], None, |_| Ok(())))
                        .await
                        .map(|_| ())
                })
            })
            .collect();
        for _ in 0..100 {
            if Pool::status(&readers, &writer).waiting == Some(3) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(Pool::status(&readers, &writer).waiting, Some(3));
        drop(held);
        for q in queued {
            q.await.unwrap().unwrap();
        }
        let status = Pool::status(&readers, &writer);
        assert_eq!((status.idle, status.waiting), (1, Some(0)), "{status:?}");
        drop(readers);
        drop(writer);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn writer_held_count() -> u64 {
        crate::timing::snapshot()
            .into_iter()
            .find(|(name, _)| *name == "wal_restart_writer_held")
            .map_or(0, |(_, h)| h.count)
    }

    #[tokio::test]
    async fn a_wal_past_its_limit_is_made_to_start_over_with_the_writer_held_once() {
        let dir = std::env::temp_dir().join(format!("latch-wal-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let writer = Pool::writer_restarting_after(&dir.join("x.db"), true, 64).unwrap();
        let write = |sql: &'static str| writer.with(move |c| c.run(sql, &[], None, |_| Ok(())));
        write("CREATE TABLE t (b BLOB)").await.unwrap();
        let before = writer_held_count();
        // About 40 pages a commit: the WAL passes 64 frames at the second.
        for _ in 0..10 {
            write("INSERT INTO t VALUES (zeroblob(160000))")
                .await
                .unwrap();
        }
        // The checkpointer looks within a second, copies, and wakes the restarter.
        let mut held = before;
        for _ in 0..100 {
            held = writer_held_count();
            if held > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(held > before, "the restarter never held the writer");
        // Everything was copied: the next write starts the WAL over.
        write("INSERT INTO t VALUES (zeroblob(160000))")
            .await
            .unwrap();
        let frames = writer
            .with(|c| {
                Ok(c.0.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))?)
            })
            .await
            .unwrap();
        assert!(frames < 100, "the WAL did not start over: {frames} frames");
        drop(writer);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn uuid_like() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    fn text(s: &str) -> Arg<'_> {
        Arg::Text(Some(s.into()))
    }

    fn memory() -> Connection {
        Connection::wrap(rusqlite::Connection::open_in_memory().unwrap()).unwrap()
    }

    fn texts(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        conn.run(sql, args, None, |row| {
            out.push(row.get::<_, String>(0)?);
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn arguments_bind_by_their_number_whatever_the_order_they_appear_in() {
        let conn = memory();
        let sql = "SELECT $2 || '-' || $1 || '-' || $2";
        let args = [text("a"), text("b")];
        assert_eq!(texts(&conn, sql, &args).unwrap(), ["b-a-b"]);
        // The second run takes the remembered order and binds the new arguments.
        let args = [text("x"), text("y")];
        assert_eq!(texts(&conn, sql, &args).unwrap(), ["y-x-y"]);
    }

    #[test]
    fn a_missing_argument_or_a_parameter_not_named_dollar_n_is_an_error() {
        let conn = memory();
        let one = [text("a")];
        assert!(matches!(
            texts(&conn, "SELECT $1 || $2", &one),
            Err(Error::MissingArgument {
                number: 2,
                bound: 1
            })
        ));
        assert!(matches!(
            texts(&conn, "SELECT :name", &one),
            Err(Error::UnnumberedParameter { .. })
        ));
        assert!(matches!(
            texts(&conn, "SELECT $0", &one),
            Err(Error::UnnumberedParameter { .. })
        ));
    }

    #[test]
    fn the_remembered_orders_stay_bounded() {
        let conn = memory();
        for i in 0..MAX_PARAMETER_ORDERS + 10 {
            let sql = format!("SELECT $1 || '{i}'");
            assert_eq!(texts(&conn, &sql, &[text("v")]).unwrap(), [format!("v{i}")]);
        }
        assert!(conn.1.borrow().0.len() <= MAX_PARAMETER_ORDERS);
    }
}
