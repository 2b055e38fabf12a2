//! The backend trait: what the store needs of a database, and nothing more.
//!
//! A backend runs one statement (text with `$1, $2…` placeholders, arguments as typed [`Arg`]s)
//! somewhere ([`Exec`]: a reader, the writer, or a connection held by a transaction) and hands
//! each returned [`Row`] to a [`FromRow`] type. It opens and commits write transactions. The few
//! places where the SQL dialects differ are its associated consts. Two implement it:
//! `sqlite::Sqlite` (the inline rusqlite driver) and `postgres::Postgres` (sqlx).
//!
//! The store (`SqlStore<B>` in `sql`) is ordinary generic code over it; statements are built with
//! [`query`], [`query_as`] and [`query_scalar`], whose arguments are borrowed where the caller has
//! them (nothing is boxed), and each backend keeps its prepared statements cached by text.

use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::DerefMut;

use latch_core::store::{PoolStatus, StoreError};

/// A database the store runs on.
pub(crate) trait Backend: Send + Sync + Sized + 'static {
    /// A connection statements run on, held by a transaction.
    type Conn: Send;
    /// An open write transaction; dropped without `commit`, it rolls back.
    type Tx: DerefMut<Target = Self::Conn> + Send;

    /// Locks the rows of the session aliased `s` that a `SELECT … FROM sessions s JOIN …` in a
    /// transaction reads, until it ends (PostgreSQL `FOR UPDATE OF s`; empty on SQLite, whose one
    /// writer serializes write transactions anyway).
    const LOCK_SESSION_ROW: &'static str;
    /// Locks the rows a sub-select claims, skipping rows another transaction holds (PostgreSQL
    /// `FOR UPDATE SKIP LOCKED`; empty on SQLite).
    const LOCK_SKIP_LOCKED: &'static str;
    /// The physical address of a row, for deleting rows a sub-select found without a second
    /// lookup by key (SQLite `rowid`; PostgreSQL `ctid`, a TID scan). Not for `WITHOUT ROWID`
    /// tables.
    const ROW_ID: &'static str;

    /// Whether `UPDATE`/`INSERT … RETURNING` may run inside `WITH` (PostgreSQL's data-modifying
    /// common table expressions; SQLite has none), so that a read and the writes that follow from
    /// it are one statement: one round trip and one commit. Where it is false the store runs the
    /// same steps as separate statements (on SQLite, reads on a reader beside the one writer).
    const WRITABLE_CTE: bool;

    /// Opens a write transaction (`BEGIN IMMEDIATE` on SQLite, so that a transaction that reads
    /// before it writes cannot fail to upgrade its lock).
    fn begin(&self) -> impl Future<Output = Result<Self::Tx, DbError>> + Send;
    fn commit(tx: Self::Tx) -> impl Future<Output = Result<(), DbError>> + Send;

    /// Runs a statement; answers the number of rows it changed.
    fn execute<'e>(
        on: Exec<'e, Self>,
        statement: Statement<'e>,
    ) -> impl Future<Output = Result<u64, DbError>> + Send + 'e;

    /// Runs a statement and reads the rows it returns: the first only, with `first_only`.
    fn fetch<'e, O: FromRow + 'e>(
        on: Exec<'e, Self>,
        statement: Statement<'e>,
        first_only: bool,
    ) -> impl Future<Output = Result<Vec<O>, DbError>> + Send + 'e;

    /// The connections now, for metrics.
    fn pool_status(&self) -> PoolStatus;
}

/// Where a statement runs.
pub(crate) enum Exec<'e, B: Backend> {
    /// Any connection that reads (SQLite: a pooled reader beside the writer).
    Read(&'e B),
    /// The writer, outside a transaction (the statement commits by itself).
    Write(&'e B),
    /// The connection of an open transaction.
    Conn(&'e mut B::Conn),
}

/// A statement's text and its arguments, the `N`th bound to `$N`.
pub(crate) struct Statement<'q> {
    /// Static but for the few statements that take a dialect's lock clause.
    pub(crate) sql: Cow<'static, str>,
    pub(crate) args: Vec<Arg<'q>>,
}

/// A value bound to a `$N` parameter, typed also when NULL (PostgreSQL types every parameter).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg<'q> {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<Cow<'q, str>>),
    Blob(Option<Cow<'q, [u8]>>),
}

/// Values that `bind` accepts.
pub(crate) trait Encode<'q> {
    fn encode(self) -> Arg<'q>;
}

impl<'q> Encode<'q> for &'q str {
    fn encode(self) -> Arg<'q> {
        Arg::Text(Some(Cow::Borrowed(self)))
    }
}
impl<'q> Encode<'q> for &'q String {
    fn encode(self) -> Arg<'q> {
        Arg::Text(Some(Cow::Borrowed(self)))
    }
}
impl<'q> Encode<'q> for String {
    fn encode(self) -> Arg<'q> {
        Arg::Text(Some(Cow::Owned(self)))
    }
}
impl<'q> Encode<'q> for &'q [u8] {
    fn encode(self) -> Arg<'q> {
        Arg::Blob(Some(Cow::Borrowed(self)))
    }
}
impl<'q> Encode<'q> for &'q Vec<u8> {
    fn encode(self) -> Arg<'q> {
        Arg::Blob(Some(Cow::Borrowed(self)))
    }
}
impl<'q> Encode<'q> for Vec<u8> {
    fn encode(self) -> Arg<'q> {
        Arg::Blob(Some(Cow::Owned(self)))
    }
}
impl<'q> Encode<'q> for i64 {
    fn encode(self) -> Arg<'q> {
        Arg::Int(Some(self))
    }
}
impl<'q> Encode<'q> for &'q i64 {
    fn encode(self) -> Arg<'q> {
        Arg::Int(Some(*self))
    }
}
impl<'q> Encode<'q> for bool {
    fn encode(self) -> Arg<'q> {
        Arg::Bool(Some(self))
    }
}
impl<'q> Encode<'q> for &'q bool {
    fn encode(self) -> Arg<'q> {
        Arg::Bool(Some(*self))
    }
}
impl<'q, T: Encode<'q> + Typed> Encode<'q> for Option<T> {
    fn encode(self) -> Arg<'q> {
        self.map_or(T::NULL, Encode::encode)
    }
}
impl<'q, T: Typed> Encode<'q> for &'q Option<T>
where
    &'q T: Encode<'q>,
{
    fn encode(self) -> Arg<'q> {
        self.as_ref().map_or(T::NULL, Encode::encode)
    }
}

/// The NULL of a type's column kind.
pub(crate) trait Typed {
    const NULL: Arg<'static>;
}
impl<T: Typed + ?Sized> Typed for &T {
    const NULL: Arg<'static> = T::NULL;
}
impl Typed for str {
    const NULL: Arg<'static> = Arg::Text(None);
}
impl Typed for String {
    const NULL: Arg<'static> = Arg::Text(None);
}
impl Typed for [u8] {
    const NULL: Arg<'static> = Arg::Blob(None);
}
impl Typed for Vec<u8> {
    const NULL: Arg<'static> = Arg::Blob(None);
}
impl Typed for i64 {
    const NULL: Arg<'static> = Arg::Int(None);
}
impl Typed for bool {
    const NULL: Arg<'static> = Arg::Bool(None);
}

/// A column type both backends decode: `i64`, `bool`, `String`, `Vec<u8>` and their `Option`s.
pub(crate) trait Value:
    rusqlite::types::FromSql
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + Send
{
}
impl<T> Value for T where
    T: rusqlite::types::FromSql
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + Send
{
}

/// A returned row, read by column name or position.
pub(crate) trait Row {
    fn get<T: Value>(&self, column: &str) -> Result<T, DbError>;
    fn get_at<T: Value>(&self, index: usize) -> Result<T, DbError>;
}

/// A type read from a row: the private row types (`row_type!`), tuples (by position) and
/// `Scalar` (the first column).
pub(crate) trait FromRow: Sized + Send {
    fn from_row(row: &impl Row) -> Result<Self, DbError>;
}

/// The first column of a row (`query_scalar`).
pub(crate) struct Scalar<T>(T);

impl<T: Value> FromRow for Scalar<T> {
    fn from_row(row: &impl Row) -> Result<Self, DbError> {
        row.get_at(0).map(Scalar)
    }
}

impl<A: Value, B: Value> FromRow for (A, B) {
    fn from_row(row: &impl Row) -> Result<Self, DbError> {
        Ok((row.get_at(0)?, row.get_at(1)?))
    }
}
impl<A: Value, B: Value, C: Value> FromRow for (A, B, C) {
    fn from_row(row: &impl Row) -> Result<Self, DbError> {
        Ok((row.get_at(0)?, row.get_at(1)?, row.get_at(2)?))
    }
}
impl<A: Value, B: Value, C: Value, D: Value> FromRow for (A, B, C, D) {
    fn from_row(row: &impl Row) -> Result<Self, DbError> {
        Ok((
            row.get_at(0)?,
            row.get_at(1)?,
            row.get_at(2)?,
            row.get_at(3)?,
        ))
    }
}

/// A statement being built: `query(sql).bind(a).bind(b).execute(on)`.
pub(crate) struct Query<'q> {
    statement: Statement<'q>,
}

/// A statement whose rows are read as `O`.
pub(crate) struct QueryAs<'q, O> {
    statement: Statement<'q>,
    _row: PhantomData<fn() -> O>,
}

/// A statement whose rows' first column is read as `T`.
pub(crate) struct QueryScalar<'q, T> {
    statement: Statement<'q>,
    _value: PhantomData<fn() -> T>,
}

fn statement<'q>(sql: impl Into<Cow<'static, str>>) -> Statement<'q> {
    Statement {
        sql: sql.into(),
        args: Vec::new(),
    }
}

pub(crate) fn query<'q>(sql: impl Into<Cow<'static, str>>) -> Query<'q> {
    Query {
        statement: statement(sql),
    }
}

pub(crate) fn query_as<'q, O: FromRow>(sql: impl Into<Cow<'static, str>>) -> QueryAs<'q, O> {
    QueryAs {
        statement: statement(sql),
        _row: PhantomData,
    }
}

pub(crate) fn query_scalar<'q, T: Value>(sql: impl Into<Cow<'static, str>>) -> QueryScalar<'q, T> {
    QueryScalar {
        statement: statement(sql),
        _value: PhantomData,
    }
}

impl<'q> Query<'q> {
    pub(crate) fn bind(mut self, value: impl Encode<'q>) -> Self {
        self.statement.args.push(value.encode());
        self
    }

    /// Binds a run of arguments several statements share (a helper taking and returning the query).
    pub(crate) fn bind_with(self, bind: impl FnOnce(Self) -> Self) -> Self {
        bind(self)
    }

    /// Runs the statement; answers the number of rows it changed.
    pub(crate) async fn execute<B: Backend>(self, on: Exec<'_, B>) -> Result<u64, DbError> {
        B::execute(on, self.statement).await
    }
}

impl<'q, O: FromRow + 'q> QueryAs<'q, O> {
    pub(crate) fn bind(mut self, value: impl Encode<'q>) -> Self {
        self.statement.args.push(value.encode());
        self
    }

    pub(crate) async fn fetch_all<B: Backend>(self, on: Exec<'_, B>) -> Result<Vec<O>, DbError> {
        B::fetch(on, self.statement, false).await
    }

    pub(crate) async fn fetch_optional<B: Backend>(
        self,
        on: Exec<'_, B>,
    ) -> Result<Option<O>, DbError> {
        Ok(B::fetch(on, self.statement, true).await?.into_iter().next())
    }

    pub(crate) async fn fetch_one<B: Backend>(self, on: Exec<'_, B>) -> Result<O, DbError> {
        self.fetch_optional(on).await?.ok_or(DbError::NoRow)
    }
}

impl<'q, T: Value + 'q> QueryScalar<'q, T> {
    pub(crate) fn bind(mut self, value: impl Encode<'q>) -> Self {
        self.statement.args.push(value.encode());
        self
    }

    pub(crate) async fn fetch_all<B: Backend>(self, on: Exec<'_, B>) -> Result<Vec<T>, DbError> {
        let rows = B::fetch::<Scalar<T>>(on, self.statement, false).await?;
        Ok(rows.into_iter().map(|Scalar(v)| v).collect())
    }

    pub(crate) async fn fetch_optional<B: Backend>(
        self,
        on: Exec<'_, B>,
    ) -> Result<Option<T>, DbError> {
        let rows = B::fetch::<Scalar<T>>(on, self.statement, true).await?;
        Ok(rows.into_iter().next().map(|Scalar(v)| v))
    }

    pub(crate) async fn fetch_one<B: Backend>(self, on: Exec<'_, B>) -> Result<T, DbError> {
        self.fetch_optional(on).await?.ok_or(DbError::NoRow)
    }
}

/// What went wrong in a backend, with the driver's error as its source.
#[derive(Debug)]
pub(crate) enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(sqlx::Error),
    /// SQLite would not put the database in WAL mode (readers beside the one writer need it).
    NotWal {
        mode: String,
    },
    /// A write transaction was asked of a pool of readers.
    NotWriter,
    /// The writer connection was held when it had to be configured.
    WriterBusy,
    /// A parameter of a statement is not written `$N` (N from 1).
    UnnumberedParameter {
        index: usize,
        sql: String,
    },
    /// A statement uses `$number` but only `bound` arguments were bound.
    MissingArgument {
        number: usize,
        bound: usize,
    },
    /// A statement that must return a row returned none.
    NoRow,
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "{e}"),
            Self::Postgres(e) => write!(f, "{e}"),
            Self::NotWal { mode } => write!(f, "journal_mode is {mode}, not wal"),
            Self::NotWriter => f.write_str("a write transaction was asked of the readers"),
            Self::WriterBusy => f.write_str("the writer connection is in use"),
            Self::UnnumberedParameter { index, sql } => {
                write!(f, "parameter {index} is not $N in {sql}")
            }
            Self::MissingArgument { number, bound } => {
                write!(
                    f,
                    "the statement uses ${number} but {bound} arguments were bound"
                )
            }
            Self::NoRow => f.write_str("the statement returned no row"),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sqlite(e) => Some(e),
            Self::Postgres(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self::Postgres(e)
    }
}

/// So that `?` sorts a driver error into the store's classes (`into_store_error`).
impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        e.into_store_error()
    }
}

impl DbError {
    /// Sorted into the store's classes: unique (and primary-key) violations to `Conflict`;
    /// unreachable, saturated or busy databases (and full disks) to `Unavailable`; the rest
    /// `Other`. The driver's error stays the source.
    pub(crate) fn into_store_error(self) -> StoreError {
        match self.class() {
            Class::Conflict(message) => StoreError::Conflict(message),
            Class::Unavailable => StoreError::unavailable(self.to_string(), self),
            Class::Other => StoreError::other(self.to_string(), self),
        }
    }

    fn class(&self) -> Class {
        match self {
            Self::Postgres(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => Class::Unavailable,
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    Class::Conflict(d.message().to_owned())
                }
                // PostgreSQL's "cannot serve now" classes.
                sqlx::Error::Database(d)
                    if d.code()
                        .is_some_and(|c| c.starts_with("57P") || c == "53300") =>
                {
                    Class::Unavailable
                }
                _ => Class::Other,
            },
            Self::Sqlite(e) => {
                use rusqlite::ffi;
                match e {
                    rusqlite::Error::SqliteFailure(f, message) => match f.extended_code {
                        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                            Class::Conflict(message.clone().unwrap_or_else(|| f.to_string()))
                        }
                        code => match code & 0xff {
                            ffi::SQLITE_BUSY
                            | ffi::SQLITE_LOCKED
                            | ffi::SQLITE_FULL
                            | ffi::SQLITE_IOERR
                            | ffi::SQLITE_CANTOPEN => Class::Unavailable,
                            _ => Class::Other,
                        },
                    },
                    _ => Class::Other,
                }
            }
            Self::NotWal { .. } | Self::WriterBusy => Class::Unavailable,
            Self::NotWriter
            | Self::UnnumberedParameter { .. }
            | Self::MissingArgument { .. }
            | Self::NoRow => Class::Other,
        }
    }
}

enum Class {
    Conflict(String),
    Unavailable,
    Other,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn sqlite_failure(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("detail".to_owned()))
    }

    #[test]
    fn driver_errors_are_sorted_and_kept_as_the_source() {
        let busy = DbError::from(sqlite_failure(rusqlite::ffi::SQLITE_BUSY)).into_store_error();
        assert!(matches!(busy, StoreError::Unavailable(_)), "{busy:?}");
        let source = busy.source().expect("a source");
        let db = source
            .downcast_ref::<DbError>()
            .expect("the backend's error");
        assert!(matches!(db, DbError::Sqlite(_)), "{db:?}");
        assert!(db.source().is_some(), "and rusqlite's below it");

        let taken = DbError::from(sqlite_failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE));
        assert!(matches!(
            taken.into_store_error(),
            StoreError::Conflict(m) if m == "detail"
        ));

        let wal = DbError::NotWal {
            mode: "delete".to_owned(),
        }
        .into_store_error();
        assert!(matches!(&wal, StoreError::Unavailable(m) if m.contains("journal_mode is delete")));
        assert!(wal.source().is_some());

        let unnumbered = DbError::UnnumberedParameter {
            index: 1,
            sql: "SELECT :x".to_owned(),
        }
        .into_store_error();
        assert!(matches!(unnumbered, StoreError::Other(_)), "{unnumbered:?}");
    }

    #[test]
    fn nulls_keep_their_column_type() {
        assert_eq!(None::<&str>.encode(), Arg::Text(None));
        assert_eq!(None::<i64>.encode(), Arg::Int(None));
        assert_eq!(None::<bool>.encode(), Arg::Bool(None));
        assert_eq!((&None::<Vec<u8>>).encode(), Arg::Blob(None));
        assert_eq!(
            (&Some("x".to_owned())).encode(),
            Arg::Text(Some("x".into()))
        );
    }
}
