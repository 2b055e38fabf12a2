//! PostgreSQL: connecting, configuring and migrating. The store methods come from `sql`.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use latch_core::store::{Store, StoreError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};

use crate::schema;

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long to wait for a connection (including establishing one) before reporting the database
/// unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CONNECTIONS: u32 = 16;

pub(crate) struct PostgresStore {
    pool: PgPool,
    /// The same pool: PostgreSQL handles concurrent writers itself.
    writer: PgPool,
}

/// The sqlx items the store's method bodies use, by the names `sqlite::driver` gives them.
mod pg {
    pub(crate) use sqlx::{query, query_as, query_scalar};
    pub(crate) type Connection = sqlx::PgConnection;
    pub(crate) type Transaction = sqlx::Transaction<'static, sqlx::Postgres>;
}

crate::sql::impl_store!(
    PostgresStore,
    pg,
    begin = "BEGIN",
    claim_lock = "FOR UPDATE SKIP LOCKED",
    row_lock = "FOR UPDATE OF s"
);

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
        return Err(StoreError::Other(format!(
            "`{schema}` is not a plain lower-case schema name"
        )));
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
        .map_err(|_| StoreError::Other("the PostgreSQL database URL is malformed".to_owned()))
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
    move |e| match crate::sql::db_err(e) {
        StoreError::Other(m) => {
            StoreError::Other(format!("cannot connect to {}: {m}", place(options)))
        }
        StoreError::Unavailable(m) | StoreError::Conflict(m) => {
            StoreError::Unavailable(format!("cannot reach {}: {m}", place(options)))
        }
    }
}

async fn connect(options: &PgConnectOptions, schema: Option<&str>) -> Result<PgPool, StoreError> {
    let mut pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(CONNECT_TIMEOUT);
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
    Ok(Arc::new(PostgresStore {
        writer: pool.clone(),
        pool,
    }))
}
