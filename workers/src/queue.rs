//! The durable job queue: jobs are rows; a worker claims one with a lease it must renew; a lease
//! that runs out (a worker killed with -9) makes the job claimable again; failures retry with
//! exponential backoff until the job is dead-lettered with its reason.
//!
//! Only the current lease holder can finish, fail or release a job, so a worker that lost its
//! lease cannot overwrite the result of the worker that took the job over.

use crate::error::{Result, WorkersError};
use crate::store::{
    AnalysisRecord, Arg, Args, Backend, BeginWrite, CallStatus, Store, bind_args, new_id, now_secs, with_pool,
};
use crate::store::{COUNT_QUEUED, INSERT_JOB, backoff_secs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Full analysis of an uploaded call.
    Analyze,
    /// Re-evaluate an analysed call (e.g. against a new script version) from its transcript.
    Rescore,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Analyze => "analyze",
            JobKind::Rescore => "rescore",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        match text {
            "analyze" => Some(JobKind::Analyze),
            "rescore" => Some(JobKind::Rescore),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Done,
    /// Dead letter: out of attempts or failed permanently; `last_error` says why.
    Dead,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<JobState> {
        match text {
            "queued" => Some(JobState::Queued),
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "dead" => Some(JobState::Dead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: String,
    pub tenant: String,
    pub call_id: String,
    pub kind: JobKind,
    pub state: JobState,
    /// Claims so far, including the current one.
    pub attempts: i64,
    pub max_attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    /// Not claimable before this time (retry backoff).
    pub not_before: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    tenant: String,
    call_id: String,
    kind: String,
    state: String,
    attempts: i64,
    max_attempts: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    not_before: i64,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const JOB_COLUMNS: &str = "id, tenant, call_id, kind, state, attempts, max_attempts, lease_owner, lease_expires_at, \
     not_before, last_error, created_at, updated_at";

impl TryFrom<JobRow> for JobRecord {
    type Error = WorkersError;
    fn try_from(row: JobRow) -> Result<JobRecord> {
        Ok(JobRecord {
            kind: JobKind::parse(&row.kind)
                .ok_or_else(|| WorkersError::Corrupt { what: "job kind", reason: row.kind.clone() })?,
            state: JobState::parse(&row.state)
                .ok_or_else(|| WorkersError::Corrupt { what: "job state", reason: row.state.clone() })?,
            id: row.id,
            tenant: row.tenant,
            call_id: row.call_id,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            lease_owner: row.lease_owner,
            lease_expires_at: row.lease_expires_at,
            not_before: row.not_before,
            last_error: row.last_error,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Whether a failure may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Transient (out of memory, database hiccup): retry after backoff while attempts remain.
    Allowed,
    /// Retrying cannot help (undecodable audio, unknown script): dead-letter now.
    Never,
    /// Not the job's fault: a store it needs (the voiceprint server, the database) did not
    /// answer. Queued again after the base backoff **without counting the attempt**, so an
    /// outage of any length never dead-letters a job.
    AfterOutage,
}

/// Jobs per state, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
}

impl Store {
    /// Queues another job for an existing call of the tenant (e.g. a rescore). Refuses with
    /// `QueueFull` at the queue limit, `NotFound` if the call is not the tenant's.
    pub async fn enqueue_job(&self, tenant: &str, call_id: &str, kind: JobKind) -> Result<String> {
        let job_id = new_id();
        let now = now_secs();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(limit) = self.queue.max_queued_jobs {
                let queued: i64 = sqlx::query_scalar(COUNT_QUEUED).fetch_one(&mut *tx).await?;
                if queued >= limit {
                    return Err(WorkersError::QueueFull { queued, limit, retry_after_secs: self.queue.retry_after_secs });
                }
            }
            let exists: Option<String> = sqlx::query_scalar("SELECT id FROM calls WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(call_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(WorkersError::NotFound { what: "call" });
            }
            sqlx::query(INSERT_JOB)
                .bind(&job_id)
                .bind(tenant)
                .bind(call_id)
                .bind(kind.as_str())
                .bind(self.queue.default_max_attempts)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // A re-analysis shows as queued (the previous report stays readable until the new
            // one replaces it); a rescore keeps the call `analyzed`, its transcript is unchanged.
            if kind == JobKind::Analyze {
                sqlx::query("UPDATE calls SET status = 'queued', error = NULL WHERE id = $1")
                    .bind(call_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(job_id)
    }

    /// Pins the tenant's calls on `script_id` to `version` (so a rescore scores them against
    /// that version, and the call records which version its outcomes came from).
    pub async fn pin_script_version(&self, tenant: &str, call_ids: &[String], version: i64) -> Result<()> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for call_id in call_ids {
                sqlx::query("UPDATE calls SET script_version = $1 WHERE tenant = $2 AND id = $3")
                    .bind(version)
                    .bind(tenant)
                    .bind(call_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Atomically takes the oldest runnable job of one of `kinds` (all kinds if empty): queued
    /// and due, or running with an expired lease (its worker died). The claim counts as an
    /// attempt; a job whose lease expired on its last attempt is dead-lettered instead.
    pub async fn claim(&self, worker_id: &str, lease_secs: i64, kinds: &[JobKind]) -> Result<Option<JobRecord>> {
        let now = now_secs();
        let mut args = Args::default();
        let worker_arg = args.push(Arg::Text(worker_id.to_string()));
        let expires_arg = args.push(Arg::Int(now + lease_secs.max(0)));
        let now_arg = args.push(Arg::Int(now));
        let kind_filter = if kinds.is_empty() {
            String::new()
        } else {
            let placeholders: Vec<String> =
                kinds.iter().map(|k| args.push(Arg::Text(k.as_str().to_string()))).collect();
            format!(" AND kind IN ({})", placeholders.join(", "))
        };
        // PostgreSQL: concurrent claimers skip each other's locked rows instead of queueing on
        // them. SQLite: the statement runs under the single write lock, so it is exclusive.
        let skip_locked = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let claim_sql = format!(
            "UPDATE jobs SET state = 'running', lease_owner = {worker_arg}, lease_expires_at = {expires_arg}, \
             attempts = attempts + 1, updated_at = {now_arg} \
             WHERE id = (SELECT id FROM jobs WHERE ((state = 'queued' AND not_before <= {now_arg}) \
             OR (state = 'running' AND lease_expires_at < {now_arg} AND attempts < max_attempts)){kind_filter} \
             ORDER BY created_at, id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}"
        );
        // Skipping locked rows here too keeps two PostgreSQL claimers from reaping the same
        // rows in different orders (a deadlock).
        let reap_sql = format!(
            "UPDATE jobs SET state = 'dead', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1, \
             last_error = 'lease expired on the last attempt (worker stopped or crashed)' \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < $1 \
             AND attempts >= max_attempts ORDER BY id{skip_locked}) RETURNING call_id, kind"
        );
        let row: Option<JobRow> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // Expired on its last attempt: the worker died on it every time (a poison job).
            let dead_calls: Vec<(String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(reap_sql.clone()))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            for (call_id, kind) in &dead_calls {
                if kind == JobKind::Analyze.as_str() {
                    sqlx::query("UPDATE calls SET status = 'failed', error = $1 WHERE id = $2")
                        .bind("analysis did not finish: the worker stopped or crashed on every attempt")
                        .bind(call_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            let row: Option<JobRow> = bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(claim_sql)), &args.0)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(job) = &row && job.kind == JobKind::Analyze.as_str() {
                sqlx::query("UPDATE calls SET status = 'running' WHERE id = $1")
                    .bind(&job.call_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            row
        });
        row.map(JobRecord::try_from).transpose()
    }

    /// Extends the lease to `lease_secs` from now. `false` when the worker no longer holds the
    /// job: it should stop and drop its result.
    pub async fn heartbeat(&self, job_id: &str, worker_id: &str, lease_secs: i64) -> Result<bool> {
        let now = now_secs();
        let affected = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET lease_expires_at = $1, updated_at = $2 \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(now + lease_secs.max(0))
            .bind(now)
            .bind(job_id)
            .bind(worker_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(affected == 1)
    }

    /// Marks a job done without writing a report (jobs whose handler stored its own results).
    /// `LeaseLost` if `worker_id` does not hold it.
    pub async fn complete(&self, job_id: &str, worker_id: &str) -> Result<()> {
        let now = now_secs();
        let affected = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
            )
            .bind(now)
            .bind(job_id)
            .bind(worker_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(lease_lost(job_id, worker_id));
        }
        Ok(())
    }

    /// Finishes a job and stores its analysis in one transaction: the report (upsert by call
    /// id), the rule outcomes (replaced), the call's summary columns and status `analyzed`.
    /// Only the current lease holder gets through (`LeaseLost` otherwise), so a job finished
    /// twice after a lease takeover leaves one report, the takeover's.
    pub async fn complete_with_analysis(&self, job_id: &str, worker_id: &str, analysis: &AnalysisRecord) -> Result<()> {
        let now = now_secs();
        let report_text = analysis.report.to_string();
        let rule_checks = analysis.rule_outcomes.len() as i64;
        let failed_rules = analysis.rule_outcomes.iter().filter(|o| !o.passed).count() as i64;
        let summary = &analysis.summary;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let owned: Option<(String, String)> = sqlx::query_as(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, updated_at = $1 \
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running' RETURNING tenant, call_id",
            )
            .bind(now)
            .bind(job_id)
            .bind(worker_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((tenant, call_id)) = owned else {
                return Err(lease_lost(job_id, worker_id));
            };
            sqlx::query(
                "INSERT INTO reports (call_id, tenant, report, transcript_text, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (call_id) DO UPDATE SET report = excluded.report, \
                 transcript_text = excluded.transcript_text, updated_at = excluded.updated_at",
            )
            .bind(&call_id)
            .bind(&tenant)
            .bind(&report_text)
            .bind(&analysis.transcript_text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM call_rule_outcomes WHERE call_id = $1")
                .bind(&call_id)
                .execute(&mut *tx)
                .await?;
            for outcome in &analysis.rule_outcomes {
                sqlx::query(
                    "INSERT INTO call_rule_outcomes (call_id, tenant, rule_id, passed, severity, score, evidence) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&call_id)
                .bind(&tenant)
                .bind(&outcome.rule_id)
                .bind(outcome.passed)
                .bind(&outcome.severity)
                .bind(outcome.score)
                .bind(outcome.evidence.as_ref().map(|e| e.to_string()))
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "UPDATE calls SET status = 'analyzed', error = NULL, analyzed_at = $1, duration_secs = $2, flagged = $3, \
                 compliance_score = $4, failed_rules = $5, customer_sentiment_label = $6, customer_sentiment_score = $7, \
                 rule_checks = $8 WHERE id = $9 AND tenant = $10",
            )
            .bind(now)
            .bind(summary.duration_secs)
            .bind(summary.flagged)
            .bind(summary.compliance_score)
            .bind(failed_rules)
            .bind(&summary.customer_sentiment_label)
            .bind(summary.customer_sentiment_score)
            .bind(rule_checks)
            .bind(&call_id)
            .bind(&tenant)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records a failed attempt. With `Retry::Allowed` and attempts left the job is queued again
    /// after an exponential backoff; otherwise it is dead-lettered with `error` and an analysis
    /// job's call is marked failed. Returns the job's new state; `LeaseLost` if not the holder.
    pub async fn fail(&self, job_id: &str, worker_id: &str, error: &str, retry: Retry) -> Result<JobState> {
        let now = now_secs();
        let state: JobState = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let held: Option<(i64, i64, String, String)> = sqlx::query_as(
                "SELECT attempts, max_attempts, call_id, kind FROM jobs WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
            )
            .bind(job_id)
            .bind(worker_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((attempts, max_attempts, call_id, kind)) = held else {
                return Err(lease_lost(job_id, worker_id));
            };
            let outage = retry == Retry::AfterOutage;
            let dead = retry == Retry::Never || (!outage && attempts >= max_attempts);
            let (state, not_before, call_status) = if dead {
                (JobState::Dead, now, CallStatus::Failed)
            } else if outage {
                (JobState::Queued, now + self.queue.backoff_base_secs.max(1), CallStatus::Queued)
            } else {
                (JobState::Queued, now + backoff_secs(attempts, &self.queue), CallStatus::Queued)
            };
            let attempts_after = if outage { (attempts - 1).max(0) } else { attempts };
            let affected = sqlx::query(
                "UPDATE jobs SET state = $1, not_before = $2, last_error = $3, lease_owner = NULL, lease_expires_at = NULL, \
                 updated_at = $4, attempts = $7 WHERE id = $5 AND lease_owner = $6 AND state = 'running'",
            )
            .bind(state.as_str())
            .bind(not_before)
            .bind(error)
            .bind(now)
            .bind(job_id)
            .bind(worker_id)
            .bind(attempts_after)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if affected == 0 {
                return Err(lease_lost(job_id, worker_id));
            }
            // A failed rescore keeps the call's previous analysis.
            if kind == JobKind::Analyze.as_str() {
                sqlx::query("UPDATE calls SET status = $1, error = $2 WHERE id = $3")
                    .bind(call_status.as_str())
                    .bind(dead.then_some(error))
                    .bind(&call_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            state
        });
        Ok(state)
    }

    /// Gives a job back without counting the attempt (graceful shutdown): queued, claimable now.
    pub async fn release(&self, job_id: &str, worker_id: &str) -> Result<()> {
        let now = now_secs();
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let released: Option<(String, String)> = sqlx::query_as(
                "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, not_before = $1, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = $1 \
                 WHERE id = $2 AND lease_owner = $3 AND state = 'running' RETURNING call_id, kind",
            )
            .bind(now)
            .bind(job_id)
            .bind(worker_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((call_id, kind)) = released else {
                return Err(lease_lost(job_id, worker_id));
            };
            if kind == JobKind::Analyze.as_str() {
                sqlx::query("UPDATE calls SET status = 'queued' WHERE id = $1")
                    .bind(&call_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn get_job(&self, tenant: &str, job_id: &str) -> Result<Option<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = $1 AND id = $2");
        let row: Option<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(job_id).fetch_optional(pool).await?
        });
        row.map(JobRecord::try_from).transpose()
    }

    /// A call's jobs, oldest first.
    pub async fn list_jobs_for_call(&self, tenant: &str, call_id: &str) -> Result<Vec<JobRecord>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = $1 AND call_id = $2 ORDER BY created_at, id");
        let rows: Vec<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(call_id).fetch_all(pool).await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// The tenant's dead-lettered jobs, newest first.
    pub async fn list_dead_jobs(&self, tenant: &str, limit: i64) -> Result<Vec<JobRecord>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE tenant = $1 AND state = 'dead' ORDER BY updated_at DESC, id DESC LIMIT $2"
        );
        let rows: Vec<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(limit.clamp(1, 1000)).fetch_all(pool).await?
        });
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    /// Jobs waiting to be claimed (all tenants), the queue depth for metrics and backpressure.
    pub async fn queue_depth(&self) -> Result<i64> {
        Ok(with_pool!(self, pool => { sqlx::query_scalar(COUNT_QUEUED).fetch_one(pool).await? }))
    }

    /// Jobs per state (all tenants), for metrics.
    pub async fn job_counts(&self) -> Result<JobCounts> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetch_all(pool).await?
        });
        let mut counts = JobCounts::default();
        for (state, n) in rows {
            match JobState::parse(&state) {
                Some(JobState::Queued) => counts.queued = n,
                Some(JobState::Running) => counts.running = n,
                Some(JobState::Done) => counts.done = n,
                Some(JobState::Dead) => counts.dead = n,
                None => return Err(WorkersError::Corrupt { what: "job state", reason: state }),
            }
        }
        Ok(counts)
    }
}

fn lease_lost(job_id: &str, worker_id: &str) -> WorkersError {
    WorkersError::LeaseLost { job_id: job_id.to_string(), worker_id: worker_id.to_string() }
}
