//! PostgreSQL: the `Backend` on sqlx, and connecting, configuring and migrating. The store is
//! `sql`'s.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use latch_core::store::{PoolStatus, Store, StoreError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, Row as _};

use crate::schema;
use crate::sql::backend::{Arg, Backend, DbError, Exec, FromRow, Statement, Value};
use crate::sql::{self, SqlStore};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long to wait for a connection (including establishing one) before reporting the database
/// unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: u32 = 16;
/// A pooled connection idle this long is checked (a `Sync` and its answer) before it is handed
/// out, so that one PostgreSQL dropped meanwhile (a restart, a failover) is replaced instead of
/// failing a request. sqlx checks every connection by default: a round trip before each
/// statement and each transaction, as many as the statements themselves on the token paths.
const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// The PostgreSQL backend: one sqlx pool serves reads and writes (PostgreSQL handles concurrent
/// writers itself); sqlx caches each connection's prepared statements by their text.
pub(crate) struct Postgres {
    pool: PgPool,
}

type PgQuery = sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The statement with its arguments bound in order.
fn pg_query(statement: Statement<'_>) -> PgQuery {
    let Statement { sql, args } = statement;
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(v),
            Arg::Bool(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::Blob(v) => query.bind(v),
        };
    }
    query
}

impl sql::backend::Row for PgRow {
    fn get<T: Value>(&self, column: &str) -> Result<T, DbError> {
        Ok(self.try_get(column)?)
    }

    fn get_at<T: Value>(&self, index: usize) -> Result<T, DbError> {
        Ok(self.try_get(index)?)
    }
}

fn read_rows<O: FromRow>(rows: Vec<PgRow>) -> Result<Vec<O>, DbError> {
    rows.iter().map(O::from_row).collect()
}

impl Backend for Postgres {
    type Conn = PgConnection;
    type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

    const LOCK_SESSION_ROW: &'static str = "FOR UPDATE OF s";
    const LOCK_SKIP_LOCKED: &'static str = "FOR UPDATE SKIP LOCKED";
    const ROW_ID: &'static str = "ctid";
    const WRITABLE_CTE: bool = true;

    async fn begin(&self) -> Result<Self::Tx, DbError> {
        Ok(self.pool.begin().await?)
    }

    async fn commit(tx: Self::Tx) -> Result<(), DbError> {
        Ok(tx.commit().await?)
    }

    fn execute<'e>(
        on: Exec<'e, Self>,
        statement: Statement<'e>,
    ) -> impl Future<Output = Result<u64, DbError>> + Send + 'e {
        let query = pg_query(statement);
        async move {
            let done = match on {
                Exec::Read(db) | Exec::Write(db) => query.execute(&db.pool).await?,
                Exec::Conn(conn) => query.execute(conn).await?,
            };
            Ok(done.rows_affected())
        }
    }

    fn fetch<'e, O: FromRow + 'e>(
        on: Exec<'e, Self>,
        statement: Statement<'e>,
        first_only: bool,
    ) -> impl Future<Output = Result<Vec<O>, DbError>> + Send + 'e {
        let query = pg_query(statement);
        async move {
            let rows = match (on, first_only) {
                (Exec::Read(db) | Exec::Write(db), false) => query.fetch_all(&db.pool).await?,
                (Exec::Read(db) | Exec::Write(db), true) => {
                    query.fetch_optional(&db.pool).await?.into_iter().collect()
                }
                (Exec::Conn(conn), false) => query.fetch_all(conn).await?,
                (Exec::Conn(conn), true) => query.fetch_optional(conn).await?.into_iter().collect(),
            };
            read_rows(rows)
        }
    }

    fn pool_status(&self) -> PoolStatus {
        PoolStatus {
            open: u64::from(self.pool.size()),
            idle: u64::try_from(self.pool.num_idle()).unwrap_or(u64::MAX),
            waiting: None,
        }
    }
}

/// Opens the database; with `migrate`, applies pending migrations, otherwise requires an
/// up-to-date schema.
pub(crate) async fn open(database_url: &str, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    let options = parse(database_url)?;
    let pool = connect(&options, None).await?;
    finish(pool, &place(&options), migrate).await
}

/// For tests: a store living in `schema` (created if missing) of the database at `url`, every
/// pooled connection with `search_path` set to it, migrated inside it. `schema` must be a plain
/// lower-case identifier.
pub async fn open_postgres_in_schema(
    url: &str,
    schema: &str,
) -> Result<Arc<dyn Store>, StoreError> {
    let plain = !schema.is_empty()
        && schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(StoreError::Other(
            format!("`{schema}` is not a plain lower-case schema name").into(),
        ));
    }
    let options = parse(url)?;
    let mut conn = options.connect().await.map_err(unreachable(&options))?;
    conn.execute(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .await
    .map_err(crate::sql::db_err)?;
    conn.close().await.ok();
    let pool = connect(&options, Some(schema)).await?;
    finish(pool, &format!("{} schema {schema}", place(&options)), true).await
}

fn parse(database_url: &str) -> Result<PgConnectOptions, StoreError> {
    // The URL may hold a password: never echo it.
    PgConnectOptions::from_str(database_url)
        .map(|o| o.disable_statement_logging())
        .map_err(|_| {
            StoreError::Other("the PostgreSQL database URL is malformed".to_owned().into())
        })
}

/// `host:port/database`, for messages (no credentials).
fn place(options: &PgConnectOptions) -> String {
    let db = options.get_database().unwrap_or("");
    format!(
        "PostgreSQL at {}:{}/{db}",
        options.get_host(),
        options.get_port()
    )
}

fn unreachable(options: &PgConnectOptions) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| {
        let cause = e.to_string();
        match sql::db_err(e) {
            StoreError::Other(m) => {
                let message = format!("cannot connect to {}: {cause}", place(options));
                StoreError::Other(m.context(message))
            }
            StoreError::Unavailable(m) => {
                let message = format!("cannot reach {}: {cause}", place(options));
                StoreError::Unavailable(m.context(message))
            }
            StoreError::Conflict(m) => {
                StoreError::Unavailable(format!("cannot reach {}: {m}", place(options)).into())
            }
        }
    }
}

async fn connect(options: &PgConnectOptions, schema: Option<&str>) -> Result<PgPool, StoreError> {
    let mut pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        });
    if let Some(schema) = schema {
        let set_path = format!("SET search_path TO {schema}");
        pool = pool.after_connect(move |conn, _meta| {
            let sql = set_path.clone();
            Box::pin(async move {
                conn.execute(AssertSqlSafe(sql)).await?;
                Ok(())
            })
        });
    }
    pool.connect_with(options.clone())
        .await
        .map_err(unreachable(options))
}

async fn finish(pool: PgPool, place: &str, migrate: bool) -> Result<Arc<dyn Store>, StoreError> {
    if migrate {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(schema::migrate_err(place))?;
    } else {
        let present: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
        )
        .fetch_one(&pool)
        .await
        .map_err(crate::sql::db_err)?;
        let applied: Vec<i64> = if present == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&pool)
                .await
                .map_err(crate::sql::db_err)?
        };
        let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        schema::check_applied(&applied, &known, place)?;
    }
    Ok(Arc::new(SqlStore::new(Postgres { pool })))
}
