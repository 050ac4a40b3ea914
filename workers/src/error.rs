//! The crate's one error type for storage, queue and worker loop (batch mode keeps its own).

/// Everything the store, the queue and the worker loop can fail with. The HTTP layer maps each
/// variant to a status code; `Database`/`Migrate` details belong in the log, not the response.
#[derive(Debug, thiserror::Error)]
pub enum WorkersError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database url {0:?}: expected sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("cannot create data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    /// The bounded queue refused a job; answer 429/503 with `Retry-After: retry_after_secs`.
    #[error("job queue is full: {queued} jobs waiting, limit {limit}")]
    QueueFull { queued: i64, limit: i64, retry_after_secs: u64 },
    /// The tenant already has a call with this external id (re-upload); answer 409.
    #[error("call with external id {external_call_id} already exists as {existing_call_id}")]
    DuplicateCall { external_call_id: String, existing_call_id: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The worker no longer holds the job (lease expired and taken over, released, or finished).
    #[error("job {job_id} is not leased by worker {worker_id}")]
    LeaseLost { job_id: String, worker_id: String },
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A stored value that this code cannot read back (hand-edited row, newer schema).
    #[error("stored {what} is malformed: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// Another writer created the same row at the same moment (e.g. two new script versions).
    #[error("conflicting concurrent write to {what}, retry")]
    Conflict { what: &'static str },
}

pub type Result<T, E = WorkersError> = std::result::Result<T, E>;

impl WorkersError {
    /// The database did not answer (connection refused or dropped, pool timed out, server
    /// shutting down or starting up): an outage to wait out, not a fault of the data.
    pub fn is_connection_failure(&self) -> bool {
        let WorkersError::Database(error) = self else { return false };
        match error {
            // Protocol: a connection cut mid-message (the server was killed) reads as one.
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => true,
            // SQLSTATE class 08 (connection exception) and 57P01-03 (admin/crash shutdown,
            // cannot connect now), as PostgreSQL reports a server going away or still starting.
            sqlx::Error::Database(database) => database
                .code()
                .is_some_and(|code| code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")),
            _ => false,
        }
    }
}

/// True for a unique-constraint violation on either backend.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
