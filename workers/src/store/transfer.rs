//! Moving a database between backends: copy every table of an embedded SQLite database into
//! another store (normally PostgreSQL) and fingerprint tables (row count and an order-independent
//! checksum of every value) so a copy can be verified on both sides. Copies are resumable: rows
//! already at the destination (same primary key) are skipped.

use std::path::Path;
use std::str::FromStr;

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::error::{Result, WorkersError};

use super::{DbPool, QueueConfig, Store, with_pool};

/// Every table of the schema, parents before children (foreign keys), with its primary key.
/// A table the source has that is neither here nor in [`TRANSIENT_TABLES`] stops the copy, so a
/// new table cannot be left behind silently: add it here.
pub const COPIED_TABLES: &[&str] = &[
    "api_keys",
    "calls",
    "reports",
    "call_rule_outcomes",
    "scripts",
    "reviews",
    "audit",
    "speakers",
    "webhooks",
    "webhook_deliveries",
    "jobs",
    "web_sessions",
];

/// Rate-limit buckets and stream slots: state of running processes, not data.
pub const TRANSIENT_TABLES: &[&str] = &["limit_buckets", "capacity_slots"];

/// Rows per INSERT statement.
const COPY_BATCH_ROWS: i64 = 100;

/// How a column's values are read and bound (the schema uses only these four types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Int,
    Float,
    Bool,
}

impl ColumnKind {
    fn of_declared(table: &str, column: &str, declared: &str) -> Result<ColumnKind> {
        match declared.to_ascii_uppercase().as_str() {
            "TEXT" => Ok(ColumnKind::Text),
            "BIGINT" | "INTEGER" => Ok(ColumnKind::Int),
            "DOUBLE PRECISION" | "REAL" => Ok(ColumnKind::Float),
            "BOOLEAN" => Ok(ColumnKind::Bool),
            other => Err(WorkersError::Invalid {
                field: "table schema",
                reason: format!("column {table}.{column} has type {other:?}, which the copy does not know"),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null(ColumnKind),
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    /// Feeds a type-tagged, length-prefixed encoding into `hasher` (unambiguous across columns).
    fn hash_into(&self, hasher: &mut Sha256) {
        match self {
            Value::Null(_) => hasher.update([0u8]),
            Value::Text(text) => {
                hasher.update([1u8]);
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
            Value::Int(number) => {
                hasher.update([2u8]);
                hasher.update(number.to_le_bytes());
            }
            Value::Float(number) => {
                hasher.update([3u8]);
                hasher.update(number.to_bits().to_le_bytes());
            }
            Value::Bool(flag) => hasher.update([4u8, u8::from(*flag)]),
        }
    }
}

/// Row count and checksum of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFingerprint {
    pub rows: i64,
    /// Hex of the lane-wise wrapping sum of every row's SHA-256: independent of row order (the
    /// backends sort text differently) and of which side computed it.
    pub checksum: String,
}

/// Order-independent sum of row hashes.
#[derive(Default)]
struct ChecksumAccumulator {
    rows: i64,
    lanes: [u64; 4],
}

impl ChecksumAccumulator {
    fn add_row(&mut self, values: &[Value]) {
        let mut hasher = Sha256::new();
        for value in values {
            value.hash_into(&mut hasher);
        }
        let digest = hasher.finalize();
        for (lane, chunk) in self.lanes.iter_mut().zip(digest.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.rows += 1;
    }

    fn finish(&self) -> TableFingerprint {
        TableFingerprint { rows: self.rows, checksum: self.lanes.iter().map(|lane| format!("{lane:016x}")).collect() }
    }
}

/// What happened to one table in [`Store::copy_sqlite_tables_into`].
#[derive(Debug, Clone)]
pub struct TableCopy {
    pub table: String,
    /// Rows inserted by this run (rows already there are skipped).
    pub inserted_rows: u64,
    pub source: TableFingerprint,
    pub destination: TableFingerprint,
}

impl TableCopy {
    pub fn verified(&self) -> bool {
        self.source == self.destination
    }
}

fn sqlite_value(row: &sqlx::sqlite::SqliteRow, index: usize, kind: ColumnKind) -> Result<Value> {
    // Unchecked: SQLite's column affinity may store e.g. a whole DOUBLE as an integer.
    Ok(match kind {
        ColumnKind::Text => row.try_get_unchecked::<Option<String>, _>(index)?.map_or(Value::Null(kind), Value::Text),
        ColumnKind::Int => row.try_get_unchecked::<Option<i64>, _>(index)?.map_or(Value::Null(kind), Value::Int),
        ColumnKind::Float => row.try_get_unchecked::<Option<f64>, _>(index)?.map_or(Value::Null(kind), Value::Float),
        ColumnKind::Bool => row.try_get_unchecked::<Option<bool>, _>(index)?.map_or(Value::Null(kind), Value::Bool),
    })
}

fn postgres_value(row: &sqlx::postgres::PgRow, index: usize, kind: ColumnKind) -> Result<Value> {
    Ok(match kind {
        ColumnKind::Text => row.try_get::<Option<String>, _>(index)?.map_or(Value::Null(kind), Value::Text),
        ColumnKind::Int => row.try_get::<Option<i64>, _>(index)?.map_or(Value::Null(kind), Value::Int),
        ColumnKind::Float => row.try_get::<Option<f64>, _>(index)?.map_or(Value::Null(kind), Value::Float),
        ColumnKind::Bool => row.try_get::<Option<bool>, _>(index)?.map_or(Value::Null(kind), Value::Bool),
    })
}

/// Binds one value with its column's SQL type (a NULL too: PostgreSQL wants typed parameters).
macro_rules! bind_value {
    ($query:expr, $value:expr) => {
        match $value {
            Value::Null(ColumnKind::Text) => $query.bind(None::<String>),
            Value::Null(ColumnKind::Int) => $query.bind(None::<i64>),
            Value::Null(ColumnKind::Float) => $query.bind(None::<f64>),
            Value::Null(ColumnKind::Bool) => $query.bind(None::<bool>),
            Value::Text(text) => $query.bind(text.clone()),
            Value::Int(number) => $query.bind(*number),
            Value::Float(number) => $query.bind(*number),
            Value::Bool(flag) => $query.bind(*flag),
        }
    };
}

fn column_list(columns: &[Column]) -> String {
    columns.iter().map(|column| format!("\"{}\"", column.name)).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Opens an existing SQLite database file read-only and without running migrations, so the
    /// source of a copy or backup is never changed.
    pub async fn open_sqlite_read_only(path: &Path) -> Result<Store> {
        if !path.is_file() {
            return Err(WorkersError::DataDir {
                path: path.display().to_string(),
                reason: "no SQLite database there".into(),
            });
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .read_only(true)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(2).connect_with(options).await?;
        Ok(Store { pool: std::sync::Arc::new(DbPool::Sqlite(pool)), queue: QueueConfig::default() })
    }

    /// The tables of this SQLite database (not SQLite's own, not the FTS index, not sqlx's
    /// migration log).
    async fn sqlite_tables(&self) -> Result<Vec<String>> {
        let DbPool::Sqlite(pool) = &*self.pool else {
            return Err(WorkersError::Invalid { field: "copy source", reason: "must be a SQLite database".into() });
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx_%' AND name NOT LIKE 'reports_fts%' ORDER BY name",
        )
        .fetch_all(pool)
        .await?;
        Ok(names)
    }

    /// Columns of `table` in this SQLite database, with the types the migrations declared.
    pub async fn sqlite_columns(&self, table: &str) -> Result<Vec<Column>> {
        let DbPool::Sqlite(pool) = &*self.pool else {
            return Err(WorkersError::Invalid { field: "copy source", reason: "must be a SQLite database".into() });
        };
        let rows = sqlx::query("SELECT name, type FROM pragma_table_info($1) ORDER BY cid").bind(table).fetch_all(pool).await?;
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                let declared: String = row.try_get(1)?;
                let kind = ColumnKind::of_declared(table, &name, &declared)?;
                Ok(Column { name, kind })
            })
            .collect()
    }

    /// Row count and checksum of `columns` of `table`, on either backend.
    pub async fn table_fingerprint(&self, table: &str, columns: &[Column]) -> Result<TableFingerprint> {
        check_table_name(table)?;
        let sql = format!("SELECT {} FROM \"{table}\"", column_list(columns));
        let mut accumulator = ChecksumAccumulator::default();
        let mut values = Vec::with_capacity(columns.len());
        match &*self.pool {
            DbPool::Sqlite(pool) => {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool);
                while let Some(row) = rows.try_next().await? {
                    values.clear();
                    for (index, column) in columns.iter().enumerate() {
                        values.push(sqlite_value(&row, index, column.kind)?);
                    }
                    accumulator.add_row(&values);
                }
            }
            DbPool::Postgres(pool) => {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(pool);
                while let Some(row) = rows.try_next().await? {
                    values.clear();
                    for (index, column) in columns.iter().enumerate() {
                        values.push(postgres_value(&row, index, column.kind)?);
                    }
                    accumulator.add_row(&values);
                }
            }
        }
        Ok(accumulator.finish())
    }

    /// Copies every table of this SQLite database into `destination` (its schema made by its own
    /// migrations), in foreign-key order, then fingerprints both sides of each table. A table
    /// whose fingerprints already agree is not read again (re-running after a completed copy is
    /// cheap); otherwise rows already present (same primary key) are skipped, so an interrupted
    /// copy resumes. `progress` sees each table as it finishes.
    pub async fn copy_sqlite_tables_into(
        &self,
        destination: &Store,
        progress: &mut (dyn FnMut(&TableCopy) + Send),
    ) -> Result<Vec<TableCopy>> {
        let tables = self.sqlite_tables().await?;
        if let Some(unknown) =
            tables.iter().find(|table| !COPIED_TABLES.contains(&table.as_str()) && !TRANSIENT_TABLES.contains(&table.as_str()))
        {
            return Err(WorkersError::Invalid {
                field: "copy source",
                reason: format!("table {unknown:?} is not known to this build's copy; refusing to leave it behind"),
            });
        }
        let mut copies = Vec::new();
        for table in COPIED_TABLES.iter().filter(|table| tables.iter().any(|name| name == *table)) {
            let columns = self.sqlite_columns(table).await?;
            let source = self.table_fingerprint(table, &columns).await?;
            let before = destination.table_fingerprint(table, &columns).await?;
            let inserted_rows = if before == source { 0 } else { self.copy_rows(table, &columns, destination).await? };
            let after = if inserted_rows == 0 { before } else { destination.table_fingerprint(table, &columns).await? };
            let copy = TableCopy { table: table.to_string(), inserted_rows, source, destination: after };
            progress(&copy);
            copies.push(copy);
        }
        Ok(copies)
    }

    /// Pages through `table` by rowid and inserts each page with `ON CONFLICT DO NOTHING`.
    async fn copy_rows(&self, table: &str, columns: &[Column], destination: &Store) -> Result<u64> {
        let DbPool::Sqlite(source) = &*self.pool else {
            return Err(WorkersError::Invalid { field: "copy source", reason: "must be a SQLite database".into() });
        };
        check_table_name(table)?;
        let select = format!("SELECT rowid, {} FROM \"{table}\" WHERE rowid > $1 ORDER BY rowid LIMIT $2", column_list(columns));
        let mut after_rowid = i64::MIN;
        let mut inserted = 0u64;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(select.clone()))
                .bind(after_rowid)
                .bind(COPY_BATCH_ROWS)
                .fetch_all(source)
                .await?;
            let Some(last) = rows.last() else { break };
            after_rowid = last.try_get(0)?;
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut values = Vec::with_capacity(columns.len());
                for (index, column) in columns.iter().enumerate() {
                    values.push(sqlite_value(row, index + 1, column.kind)?);
                }
                page.push(values);
            }
            let mut placeholders = Vec::with_capacity(page.len());
            let mut n = 0;
            for _ in &page {
                let row: Vec<String> = columns
                    .iter()
                    .map(|_| {
                        n += 1;
                        format!("${n}")
                    })
                    .collect();
                placeholders.push(format!("({})", row.join(", ")));
            }
            let insert = format!(
                "INSERT INTO \"{table}\" ({}) VALUES {} ON CONFLICT DO NOTHING",
                column_list(columns),
                placeholders.join(", ")
            );
            inserted += with_pool!(destination, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(insert));
                for value in page.iter().flatten() {
                    query = bind_value!(query, value);
                }
                query.execute(pool).await?.rows_affected()
            });
        }
        Ok(inserted)
    }

    /// `VACUUM INTO`: a consistent copy of this SQLite database at `target`, taken online (other
    /// processes keep reading and writing meanwhile). `target` must not exist.
    pub async fn sqlite_backup_into(&self, target: &Path) -> Result<()> {
        let DbPool::Sqlite(pool) = &*self.pool else {
            return Err(WorkersError::Invalid { field: "backup source", reason: "must be a SQLite database".into() });
        };
        if target.exists() {
            return Err(WorkersError::DataDir { path: target.display().to_string(), reason: "already exists".into() });
        }
        sqlx::query("VACUUM INTO $1").bind(target.display().to_string()).execute(pool).await?;
        Ok(())
    }

    /// Fingerprints of every copied table present in this database (for a backup's manifest
    /// and for checking a restore against it).
    pub async fn fingerprint_tables(&self, columns_from: &Store) -> Result<Vec<(String, TableFingerprint)>> {
        let tables = columns_from.sqlite_tables().await?;
        let mut fingerprints = Vec::new();
        for table in COPIED_TABLES.iter().filter(|table| tables.iter().any(|name| name == *table)) {
            let columns = columns_from.sqlite_columns(table).await?;
            fingerprints.push((table.to_string(), self.table_fingerprint(table, &columns).await?));
        }
        Ok(fingerprints)
    }
}

impl Store {
    /// Points calls' audio paths under `old_prefix` to `new_prefix` (a restored data directory
    /// in another place); returns how many were changed.
    pub async fn rebase_audio_paths(&self, old_prefix: &str, new_prefix: &str) -> Result<u64> {
        if old_prefix.is_empty() || old_prefix == new_prefix {
            return Ok(0);
        }
        let prefix_chars = i64::try_from(old_prefix.chars().count()).unwrap_or(i64::MAX);
        let changed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE calls SET audio_path = $2 || substr(audio_path, CAST($3 AS INTEGER)) \
                 WHERE substr(audio_path, 1, CAST($4 AS INTEGER)) = $1",
            )
            .bind(old_prefix)
            .bind(new_prefix)
            .bind(prefix_chars + 1)
            .bind(prefix_chars)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(changed)
    }
}

/// Table names go into SQL text: only the schema's own names pass.
fn check_table_name(table: &str) -> Result<()> {
    if COPIED_TABLES.contains(&table) || TRANSIENT_TABLES.contains(&table) {
        Ok(())
    } else {
        Err(WorkersError::Invalid { field: "table", reason: format!("{table:?} is not a table of the schema") })
    }
}

#[cfg(test)]
mod tests {
    use super::{ChecksumAccumulator, ColumnKind, Value};

    #[test]
    fn checksums_ignore_row_order_but_not_values() {
        let rows = [
            vec![Value::Text("a".into()), Value::Int(1), Value::Null(ColumnKind::Float)],
            vec![Value::Text("b".into()), Value::Int(2), Value::Float(0.5)],
        ];
        let mut forward = ChecksumAccumulator::default();
        let mut backward = ChecksumAccumulator::default();
        for row in &rows {
            forward.add_row(row);
        }
        for row in rows.iter().rev() {
            backward.add_row(row);
        }
        assert_eq!(forward.finish(), backward.finish());
        let mut changed = ChecksumAccumulator::default();
        changed.add_row(&rows[0]);
        changed.add_row(&[Value::Text("b".into()), Value::Int(2), Value::Float(0.25)]);
        assert_ne!(forward.finish(), changed.finish());
        // Column boundaries count: ("ab", "") is not ("a", "b").
        let mut joined = ChecksumAccumulator::default();
        joined.add_row(&[Value::Text("ab".into()), Value::Text(String::new())]);
        let mut split = ChecksumAccumulator::default();
        split.add_row(&[Value::Text("a".into()), Value::Text("b".into())]);
        assert_ne!(joined.finish(), split.finish());
    }
}
