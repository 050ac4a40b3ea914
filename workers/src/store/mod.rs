//! The service's database: one `Store` over SQLite (single node, the default) or PostgreSQL
//! (several API nodes and workers). Both backends run the same SQL text with `$N` placeholders;
//! only the full-text search and the job claim differ, and say so where they do.

mod calls;
mod keys;
mod limits;
mod records;
mod sessions;
pub mod transfer;
mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::error::{Result, WorkersError};

pub use calls::*;
pub use keys::*;
pub use limits::*;
pub use records::*;
pub use sessions::*;
pub use webhooks::*;

/// Runs `$body` with `$pool` bound to the concrete pool. The body is compiled once per backend,
/// which is how one SQL text serves both without the `Any` driver's narrower type support.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &*$store.pool {
            $crate::store::DbPool::Sqlite($pool) => $body,
            $crate::store::DbPool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Binds a slice of `Arg`s (built alongside dynamic SQL) onto a query, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::Arg::Text(v) => query.bind(v.clone()),
                $crate::store::Arg::Int(v) => query.bind(*v),
                $crate::store::Arg::Bool(v) => query.bind(*v),
            };
        }
        query
    }};
}
pub(crate) use bind_args;

/// A bind value for SQL assembled at run time (list filters).
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// Collects `$N` placeholders and their values while a WHERE clause is built.
#[derive(Debug, Default)]
pub(crate) struct Args(pub Vec<Arg>);

impl Args {
    /// Adds a value and returns its placeholder (`$1`, `$2`, ...).
    pub fn push(&mut self, arg: Arg) -> String {
        self.0.push(arg);
        format!("${}", self.0.len())
    }
}

pub(crate) enum DbPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Which database a `Store` talks to (for the few statements that differ, and for metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Limits of the durable job queue; the binary fills this from its config.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `enqueue` refuses (`WorkersError::QueueFull`) when this many jobs are already queued.
    pub max_queued_jobs: Option<i64>,
    /// Attempts before a job goes to the dead letter state.
    pub default_max_attempts: i64,
    /// Retry delay after the first failure; doubles per attempt up to `backoff_max_secs`.
    pub backoff_base_secs: i64,
    pub backoff_max_secs: i64,
    /// What `QueueFull` suggests as `Retry-After`.
    pub retry_after_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_queued_jobs: None,
            default_max_attempts: 3,
            backoff_base_secs: 10,
            backoff_max_secs: 3600,
            retry_after_secs: 30,
        }
    }
}

/// The database handle. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: std::sync::Arc<DbPool>,
    pub(crate) queue: QueueConfig,
}

impl Store {
    /// Connects to `sqlite://PATH` (file and parent directories created if missing, WAL mode,
    /// busy timeout) or `postgres://...`, and runs the embedded migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Store::connect_with(url, QueueConfig::default()).await
    }

    pub async fn connect_with(url: &str, queue: QueueConfig) -> Result<Store> {
        let pool = if url.starts_with("sqlite:") {
            DbPool::Sqlite(connect_sqlite(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DbPool::Postgres(connect_postgres(url).await?)
        } else {
            return Err(WorkersError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store { pool: std::sync::Arc::new(pool), queue })
    }

    pub fn backend(&self) -> Backend {
        match &*self.pool {
            DbPool::Sqlite(_) => Backend::Sqlite,
            DbPool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn queue_config(&self) -> &QueueConfig {
        &self.queue
    }

    /// Checks that the database answers (readiness probe).
    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Waits for connections to be returned and closes them (graceful shutdown).
    pub async fn close(&self) {
        match &*self.pool {
            DbPool::Sqlite(pool) => pool.close().await,
            DbPool::Postgres(pool) => pool.close().await,
        }
    }
}

async fn connect_sqlite(url: &str) -> Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // Writers queue behind SQLite's single write lock; wait rather than fail.
        .busy_timeout(Duration::from_secs(10))
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true);
    let path = options.get_filename().to_path_buf();
    let in_memory = path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:");
    if !in_memory && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| WorkersError::DataDir { path: parent.display().to_string(), reason: e.to_string() })?;
    }
    // An in-memory database exists per connection, so it must be a single one.
    let max_connections = if in_memory { 1 } else { 8 };
    let pool = SqlitePoolOptions::new().max_connections(max_connections).connect_with(options).await?;
    sqlx::migrate!("migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

async fn connect_postgres(url: &str) -> Result<PgPool> {
    let pool = PgPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(10)).connect(url).await?;
    sqlx::migrate!("migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// The URL without its password, for error messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => format!("{}://***{}", &url[..scheme_end], &url[at..]),
        _ => url.to_string(),
    }
}

/// Starts a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so a
/// transaction that reads before it writes cannot fail with SQLITE_BUSY on lock upgrade.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.begin().await?)
    }
}

/// Current time as Unix seconds, the unit of every time column.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A fresh id: UUID v7 text, so ids sort by creation time on both backends.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn to_json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

pub(crate) fn parse_json(what: &'static str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| WorkersError::Corrupt { what, reason: e.to_string() })
}
