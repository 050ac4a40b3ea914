//! Calls, their reports and per-rule outcomes: upload bookkeeping, listing with filters,
//! transcript search and the QA aggregates, all scoped to one tenant.


use super::{Arg, Args, Backend, BeginWrite, Store, bind_args, new_id, now_secs, parse_json, to_json_text, with_pool};
use crate::error::{Result, WorkersError, is_unique_violation};
use crate::queue::JobKind;

/// Where a call is in its life; mirrors the state of its latest analysis job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    Running,
    Analyzed,
    Failed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Running => "running",
            CallStatus::Analyzed => "analyzed",
            CallStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<CallStatus> {
        Some(match text {
            "queued" => CallStatus::Queued,
            "running" => CallStatus::Running,
            "analyzed" => CallStatus::Analyzed,
            "failed" => CallStatus::Failed,
            _ => return None,
        })
    }
}

/// An accepted upload, as the API hands it over. `id` comes from [`super::new_id`] so the API
/// can store the audio under the call's id before the row exists.
#[derive(Debug, Clone, Default)]
pub struct NewCall {
    pub id: String,
    pub external_call_id: Option<String>,
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub customer_id: Option<String>,
    pub script_id: Option<String>,
    pub script_version: Option<i64>,
    pub language_hint: Option<String>,
    pub channel_layout: Option<String>,
    pub metadata: serde_json::Value,
    pub audio_path: String,
    pub audio_bytes: i64,
    pub audio_sha256: String,
}

/// A stored call with its analysis summary (summary fields are `None` until analysed).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub id: String,
    pub tenant: String,
    pub external_call_id: Option<String>,
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub customer_id: Option<String>,
    pub script_id: Option<String>,
    pub script_version: Option<i64>,
    pub language_hint: Option<String>,
    pub channel_layout: Option<String>,
    pub metadata: serde_json::Value,
    pub audio_path: String,
    pub audio_bytes: i64,
    pub audio_sha256: String,
    pub status: CallStatus,
    pub error: Option<String>,
    pub created_at: i64,
    pub analyzed_at: Option<i64>,
    pub duration_secs: Option<f64>,
    pub flagged: Option<bool>,
    pub compliance_score: Option<f64>,
    pub failed_rules: Option<i64>,
    pub customer_sentiment_label: Option<String>,
    pub customer_sentiment_score: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct CallRow {
    id: String,
    tenant: String,
    external_call_id: Option<String>,
    agent_id: Option<String>,
    team: Option<String>,
    customer_id: Option<String>,
    script_id: Option<String>,
    script_version: Option<i64>,
    language_hint: Option<String>,
    channel_layout: Option<String>,
    metadata: String,
    audio_path: String,
    audio_bytes: i64,
    audio_sha256: String,
    status: String,
    error: Option<String>,
    created_at: i64,
    analyzed_at: Option<i64>,
    duration_secs: Option<f64>,
    flagged: Option<bool>,
    compliance_score: Option<f64>,
    failed_rules: Option<i64>,
    customer_sentiment_label: Option<String>,
    customer_sentiment_score: Option<f64>,
}

pub(crate) const CALL_COLUMNS: &str = "id, tenant, external_call_id, agent_id, team, customer_id, script_id, \
     script_version, language_hint, channel_layout, metadata, audio_path, audio_bytes, audio_sha256, status, error, \
     created_at, analyzed_at, duration_secs, flagged, compliance_score, failed_rules, customer_sentiment_label, \
     customer_sentiment_score";

impl TryFrom<CallRow> for CallRecord {
    type Error = WorkersError;
    fn try_from(row: CallRow) -> Result<CallRecord> {
        let status = CallStatus::parse(&row.status)
            .ok_or_else(|| WorkersError::Corrupt { what: "call status", reason: row.status.clone() })?;
        Ok(CallRecord {
            metadata: parse_json("call metadata", &row.metadata)?,
            id: row.id,
            tenant: row.tenant,
            external_call_id: row.external_call_id,
            agent_id: row.agent_id,
            team: row.team,
            customer_id: row.customer_id,
            script_id: row.script_id,
            script_version: row.script_version,
            language_hint: row.language_hint,
            channel_layout: row.channel_layout,
            audio_path: row.audio_path,
            audio_bytes: row.audio_bytes,
            audio_sha256: row.audio_sha256,
            status,
            error: row.error,
            created_at: row.created_at,
            analyzed_at: row.analyzed_at,
            duration_secs: row.duration_secs,
            flagged: row.flagged,
            compliance_score: row.compliance_score,
            failed_rules: row.failed_rules,
            customer_sentiment_label: row.customer_sentiment_label,
            customer_sentiment_score: row.customer_sentiment_score,
        })
    }
}

/// The ids the API answers an accepted upload with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueuedCall {
    pub call_id: String,
    pub job_id: String,
}

/// What a finished analysis writes: the report, its searchable text, one row per script rule
/// and the summary columns the call list filters and sorts on.
#[derive(Debug, Clone)]
pub struct AnalysisRecord {
    /// The versioned JSON report (`api::report::CallReport`), stored as given.
    pub report: serde_json::Value,
    /// Plain transcript text for full-text search.
    pub transcript_text: String,
    pub rule_outcomes: Vec<RuleOutcome>,
    pub summary: CallSummary,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleOutcome {
    pub rule_id: String,
    pub passed: bool,
    pub severity: Option<String>,
    pub score: Option<f64>,
    /// Words and timestamps that support the verdict (JSON, shape owned by the report).
    pub evidence: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallSummary {
    pub duration_secs: f64,
    pub flagged: bool,
    pub compliance_score: Option<f64>,
    pub customer_sentiment_label: Option<String>,
    pub customer_sentiment_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub call_id: String,
    pub report: serde_json::Value,
    pub transcript_text: String,
    pub updated_at: i64,
}

/// Filters of the call list; `None` means "any". Times are Unix seconds, `created_before` exclusive.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub agent_id: Option<String>,
    pub team: Option<String>,
    pub script_id: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
    pub flagged: Option<bool>,
    /// Only calls where this script rule was evaluated and failed.
    pub failed_rule_id: Option<String>,
    pub customer_sentiment_label: Option<String>,
    pub status: Option<CallStatus>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CallSort {
    #[default]
    NewestFirst,
    OldestFirst,
    /// Flagged first, then most failed rules, then lowest compliance score, then newest.
    MostSevereFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: 50, offset: 0 }
    }
}

/// One page of calls and how many match in total.
#[derive(Debug, Clone, PartialEq)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub call_id: String,
    /// A short excerpt with the matches in `[` `]`.
    pub snippet: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Agent,
    Team,
    Script,
    /// UTC calendar day of the upload, `YYYY-MM-DD`.
    Day,
}

/// Half-open time range `[from, before)` in Unix seconds over the call's `created_at`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub before: Option<i64>,
}

/// Which analysed calls an aggregate covers: a time range and, optionally, one agent, team or
/// script (a dashboard scoped to one of them, e.g. one team's compliance over time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregateScope {
    pub range: TimeRange,
    pub agent: Option<String>,
    pub team: Option<String>,
    pub script: Option<String>,
}

impl From<TimeRange> for AggregateScope {
    fn from(range: TimeRange) -> Self {
        Self { range, ..Self::default() }
    }
}

/// Compliance of one group (agent, team, script or day) over analysed calls.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplianceBucket {
    /// The group's value; `None` for calls without one (e.g. no agent id).
    pub key: Option<String>,
    pub calls: i64,
    pub flagged_calls: i64,
    /// Rule evaluations and how many failed.
    pub rule_checks: i64,
    pub rule_failures: i64,
    /// Passed checks / all checks; `None` when no rule was evaluated.
    pub compliance_rate: Option<f64>,
    pub mean_compliance_score: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RuleFailureCount {
    pub group_key: Option<String>,
    pub rule_id: String,
    pub checks: i64,
    pub failures: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SentimentDayCount {
    pub day: String,
    /// `None` for analysed calls without a customer sentiment (no customer speech).
    pub label: Option<String>,
    pub calls: i64,
}

/// Handle time and silence of one group (agent, team, script or day) over analysed calls.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HandlingBucket {
    pub group_key: Option<String>,
    pub calls: i64,
    pub mean_duration_secs: Option<f64>,
    /// Mean time in which no party speaks (the report's `metrics.non_talk_secs`).
    pub mean_silence_secs: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct CallBucketRow {
    group_key: Option<String>,
    calls: i64,
    flagged_calls: i64,
    rule_checks: i64,
    rule_failures: i64,
    mean_compliance_score: Option<f64>,
}

type OutcomeRow = (String, bool, Option<String>, Option<f64>, Option<String>);

const INSERT_CALL: &str = "INSERT INTO calls (id, tenant, external_call_id, agent_id, team, customer_id, script_id, \
     script_version, language_hint, channel_layout, metadata, audio_path, audio_bytes, audio_sha256, status, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'queued', $15)";

pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (id, tenant, call_id, kind, state, attempts, max_attempts, \
     not_before, created_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $6, $6)";

pub(crate) const COUNT_QUEUED: &str = "SELECT COUNT(*) FROM jobs WHERE state = 'queued'";

impl Store {
    /// Stores an accepted upload and its analysis job in one transaction, so a call the API
    /// acknowledged always has a job. Refuses with `QueueFull` when the queue is at its limit and
    /// with `DuplicateCall` when the tenant already has the external call id.
    pub async fn insert_call_and_enqueue(&self, tenant: &str, call: &NewCall) -> Result<EnqueuedCall> {
        if call.id.is_empty() {
            return Err(WorkersError::Invalid { field: "call id", reason: "must not be empty".into() });
        }
        let job_id = new_id();
        let now = now_secs();
        let inserted: Result<()> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(limit) = self.queue.max_queued_jobs {
                let queued: i64 = sqlx::query_scalar(COUNT_QUEUED).fetch_one(&mut *tx).await?;
                if queued >= limit {
                    return Err(WorkersError::QueueFull { queued, limit, retry_after_secs: self.queue.retry_after_secs });
                }
            }
            let result = sqlx::query(INSERT_CALL)
                .bind(&call.id)
                .bind(tenant)
                .bind(&call.external_call_id)
                .bind(&call.agent_id)
                .bind(&call.team)
                .bind(&call.customer_id)
                .bind(&call.script_id)
                .bind(call.script_version)
                .bind(&call.language_hint)
                .bind(&call.channel_layout)
                .bind(to_json_text(&call.metadata))
                .bind(&call.audio_path)
                .bind(call.audio_bytes)
                .bind(&call.audio_sha256)
                .bind(now)
                .execute(&mut *tx)
                .await;
            match result {
                Err(e) if is_unique_violation(&e) => Err(WorkersError::Conflict { what: "calls" }),
                Err(e) => Err(e.into()),
                Ok(_) => {
                    sqlx::query(INSERT_JOB)
                        .bind(&job_id)
                        .bind(tenant)
                        .bind(&call.id)
                        .bind(JobKind::Analyze.as_str())
                        .bind(self.queue.default_max_attempts)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        });
        match inserted {
            Ok(()) => Ok(EnqueuedCall { call_id: call.id.clone(), job_id }),
            // Name the existing call so a client retrying an upload can pick it up.
            Err(WorkersError::Conflict { .. }) => match &call.external_call_id {
                Some(external) => match self.find_call_by_external_id(tenant, external).await? {
                    Some(existing) => Err(WorkersError::DuplicateCall {
                        external_call_id: external.clone(),
                        existing_call_id: existing.id,
                    }),
                    None => Err(WorkersError::Conflict { what: "calls" }),
                },
                None => Err(WorkersError::Conflict { what: "calls" }),
            },
            Err(e) => Err(e),
        }
    }

    pub async fn get_call(&self, tenant: &str, call_id: &str) -> Result<Option<CallRecord>> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE tenant = $1 AND id = $2");
        let row: Option<CallRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(call_id).fetch_optional(pool).await?
        });
        row.map(CallRecord::try_from).transpose()
    }

    pub async fn find_call_by_external_id(&self, tenant: &str, external_call_id: &str) -> Result<Option<CallRecord>> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE tenant = $1 AND external_call_id = $2");
        let row: Option<CallRow> = with_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(external_call_id).fetch_optional(pool).await?
        });
        row.map(CallRecord::try_from).transpose()
    }

    /// Deletes a call with its report, outcomes, reviews and jobs; returns the audio path so the
    /// caller can remove the file. `NotFound` if the tenant has no such call.
    pub async fn delete_call(&self, tenant: &str, call_id: &str) -> Result<String> {
        let path: Option<String> = with_pool!(self, pool => {
            sqlx::query_scalar("DELETE FROM calls WHERE tenant = $1 AND id = $2 RETURNING audio_path")
                .bind(tenant)
                .bind(call_id)
                .fetch_optional(pool)
                .await?
        });
        path.ok_or(WorkersError::NotFound { what: "call" })
    }

    /// A page of the tenant's calls matching `filter`, in `sort` order, with the total count.
    pub async fn list_calls(&self, tenant: &str, filter: &CallFilter, sort: CallSort, page: Page) -> Result<CallPage> {
        let mut args = Args::default();
        let mut conditions = vec![format!("tenant = {}", args.push(Arg::Text(tenant.to_string())))];
        let mut eq = |column: &str, value: &Option<String>, args: &mut Args| {
            if let Some(value) = value {
                conditions.push(format!("{column} = {}", args.push(Arg::Text(value.clone()))));
            }
        };
        eq("agent_id", &filter.agent_id, &mut args);
        eq("team", &filter.team, &mut args);
        eq("script_id", &filter.script_id, &mut args);
        eq("customer_sentiment_label", &filter.customer_sentiment_label, &mut args);
        eq("status", &filter.status.map(|s| s.as_str().to_string()), &mut args);
        if let Some(from) = filter.created_from {
            conditions.push(format!("created_at >= {}", args.push(Arg::Int(from))));
        }
        if let Some(before) = filter.created_before {
            conditions.push(format!("created_at < {}", args.push(Arg::Int(before))));
        }
        if let Some(flagged) = filter.flagged {
            conditions.push(format!("flagged = {}", args.push(Arg::Bool(flagged))));
        }
        if let Some(rule_id) = &filter.failed_rule_id {
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM call_rule_outcomes o WHERE o.call_id = calls.id AND o.tenant = calls.tenant \
                 AND o.rule_id = {} AND NOT o.passed)",
                args.push(Arg::Text(rule_id.clone()))
            ));
        }
        let where_clause = conditions.join(" AND ");
        let order = match sort {
            CallSort::NewestFirst => "created_at DESC, id DESC",
            CallSort::OldestFirst => "created_at ASC, id ASC",
            CallSort::MostSevereFirst => {
                "flagged DESC NULLS LAST, failed_rules DESC NULLS LAST, compliance_score ASC NULLS LAST, created_at DESC, id DESC"
            }
        };
        let count_sql = format!("SELECT COUNT(*) FROM calls WHERE {where_clause}");
        let limit = args.push(Arg::Int(page.limit.clamp(0, 1000)));
        let offset = args.push(Arg::Int(page.offset.max(0)));
        let list_sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE {where_clause} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let n_filter_args = args.0.len() - 2;
        let (total, rows): (i64, Vec<CallRow>) = with_pool!(self, pool => {
            let total = bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)), &args.0[..n_filter_args])
                .fetch_one(pool)
                .await?;
            let rows = bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(list_sql)), &args.0).fetch_all(pool).await?;
            (total, rows)
        });
        let calls = rows.into_iter().map(CallRecord::try_from).collect::<Result<Vec<_>>>()?;
        Ok(CallPage { calls, total })
    }

    pub async fn get_report(&self, tenant: &str, call_id: &str) -> Result<Option<StoredReport>> {
        let row: Option<(String, String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT call_id, report, transcript_text, updated_at FROM reports WHERE tenant = $1 AND call_id = $2")
                .bind(tenant)
                .bind(call_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(call_id, report, transcript_text, updated_at)| {
            Ok(StoredReport { call_id, report: parse_json("report", &report)?, transcript_text, updated_at })
        })
        .transpose()
    }

    pub async fn list_rule_outcomes(&self, tenant: &str, call_id: &str) -> Result<Vec<RuleOutcome>> {
        let rows: Vec<OutcomeRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT rule_id, passed, severity, score, evidence FROM call_rule_outcomes \
                 WHERE tenant = $1 AND call_id = $2 ORDER BY rule_id",
            )
            .bind(tenant)
            .bind(call_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(rule_id, passed, severity, score, evidence)| {
                Ok(RuleOutcome {
                    rule_id,
                    passed,
                    severity,
                    score,
                    evidence: evidence.map(|e| parse_json("rule evidence", &e)).transpose()?,
                })
            })
            .collect()
    }

    /// Calls whose transcript contains all words of `query` (any order), best match first.
    /// Words are taken literally: search syntax in the query is not interpreted.
    pub async fn search_transcripts(&self, tenant: &str, query: &str, limit: i64) -> Result<Vec<SearchHit>> {
        let words: Vec<String> =
            query.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let limit = limit.clamp(1, 1000);
        let rows: Vec<(String, String)> = match self.backend() {
            Backend::Sqlite => {
                // Each word quoted, so FTS5 operators typed by a user are plain words.
                let fts_query = words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
                with_pool!(self, pool => {
                    sqlx::query_as(
                        "SELECT r.call_id, snippet(reports_fts, 0, '[', ']', '...', 12) FROM reports_fts \
                         JOIN reports r ON r.rowid = reports_fts.rowid \
                         WHERE reports_fts MATCH $1 AND r.tenant = $2 ORDER BY bm25(reports_fts), r.call_id LIMIT $3",
                    )
                    .bind(fts_query)
                    .bind(tenant)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
                })
            }
            Backend::Postgres => with_pool!(self, pool => {
                sqlx::query_as(
                    "SELECT r.call_id, ts_headline('simple', r.transcript_text, q, \
                     'StartSel=[, StopSel=], MaxWords=12, MinWords=4, MaxFragments=1') \
                     FROM reports r, plainto_tsquery('simple', $1) q \
                     WHERE r.tenant = $2 AND to_tsvector('simple', r.transcript_text) @@ q \
                     ORDER BY ts_rank(to_tsvector('simple', r.transcript_text), q) DESC, r.call_id LIMIT $3",
                )
                .bind(words.join(" "))
                .bind(tenant)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }),
        };
        Ok(rows.into_iter().map(|(call_id, snippet)| SearchHit { call_id, snippet }).collect())
    }

    /// The SQL of a group's key. Days are grouped by their number since 1970-01-01 (integer
    /// division: formatting a date per row costs more than the rest of the query) and named
    /// `YYYY-MM-DD` afterwards by [`day_keys_to_dates`].
    fn group_key_sql(group: GroupBy) -> &'static str {
        match group {
            GroupBy::Agent => "c.agent_id",
            GroupBy::Team => "c.team",
            GroupBy::Script => "c.script_id",
            GroupBy::Day => "CAST(c.created_at / 86400 AS TEXT)",
        }
    }

    /// ` AND ...` conditions on the calls `c` for a scope.
    fn scope_sql(scope: &AggregateScope, args: &mut Args) -> String {
        let mut sql = String::new();
        if let Some(from) = scope.range.from {
            sql.push_str(&format!(" AND c.created_at >= {}", args.push(Arg::Int(from))));
        }
        if let Some(before) = scope.range.before {
            sql.push_str(&format!(" AND c.created_at < {}", args.push(Arg::Int(before))));
        }
        for (column, value) in [("c.agent_id", &scope.agent), ("c.team", &scope.team), ("c.script_id", &scope.script)] {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} = {}", args.push(Arg::Text(value.clone()))));
            }
        }
        sql
    }

    /// Checks and failures per script rule within each group, over analysed calls. Reads every
    /// rule outcome in scope: the dashboard asks for it once (per script), not per grouping.
    pub async fn rule_failure_counts(
        &self,
        tenant: &str,
        group: GroupBy,
        scope: &AggregateScope,
    ) -> Result<Vec<RuleFailureCount>> {
        let mut args = Args::default();
        let tenant_arg = args.push(Arg::Text(tenant.to_string()));
        let scope_sql = Store::scope_sql(scope, &mut args);
        let sql = format!(
            "SELECT {key} AS group_key, o.rule_id AS rule_id, COUNT(*) AS checks, \
             SUM(CASE WHEN o.passed THEN 0 ELSE 1 END) AS failures \
             FROM call_rule_outcomes o JOIN calls c ON c.id = o.call_id \
             WHERE o.tenant = {tenant_arg} AND c.tenant = {tenant_arg} AND c.status = 'analyzed'{scope_sql} \
             GROUP BY group_key, o.rule_id ORDER BY group_key, o.rule_id",
            key = Store::group_key_sql(group)
        );
        let mut counts: Vec<RuleFailureCount> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args.0).fetch_all(pool).await?
        });
        if group == GroupBy::Day {
            for count in &mut counts {
                count.group_key = day_keys_to_dates(count.group_key.take());
            }
        }
        Ok(counts)
    }

    /// Compliance per group: calls, flagged calls, rule checks and failures, pass rate. Reads the
    /// calls' summary columns only (`rule_checks` and `failed_rules` are written with the
    /// outcomes, in the same transaction).
    pub async fn compliance_summary(
        &self,
        tenant: &str,
        group: GroupBy,
        scope: &AggregateScope,
    ) -> Result<Vec<ComplianceBucket>> {
        let mut args = Args::default();
        let tenant_arg = args.push(Arg::Text(tenant.to_string()));
        let scope_sql = Store::scope_sql(scope, &mut args);
        let sql = format!(
            "SELECT {key} AS group_key, COUNT(*) AS calls, \
             SUM(CASE WHEN c.flagged THEN 1 ELSE 0 END) AS flagged_calls, \
             CAST(COALESCE(SUM(c.rule_checks), 0) AS BIGINT) AS rule_checks, \
             CAST(COALESCE(SUM(c.failed_rules), 0) AS BIGINT) AS rule_failures, \
             AVG(c.compliance_score) AS mean_compliance_score \
             FROM calls c WHERE c.tenant = {tenant_arg} AND c.status = 'analyzed'{scope_sql} \
             GROUP BY group_key ORDER BY group_key",
            key = Store::group_key_sql(group)
        );
        let rows: Vec<CallBucketRow> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args.0).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|row| ComplianceBucket {
                key: if group == GroupBy::Day { day_keys_to_dates(row.group_key) } else { row.group_key },
                calls: row.calls,
                flagged_calls: row.flagged_calls,
                rule_checks: row.rule_checks,
                rule_failures: row.rule_failures,
                compliance_rate: (row.rule_checks > 0)
                    .then(|| (row.rule_checks - row.rule_failures) as f64 / row.rule_checks as f64),
                mean_compliance_score: row.mean_compliance_score,
            })
            .collect())
    }

    /// Analysed calls per UTC day and customer sentiment label.
    pub async fn sentiment_by_day(&self, tenant: &str, scope: &AggregateScope) -> Result<Vec<SentimentDayCount>> {
        let mut args = Args::default();
        let tenant_arg = args.push(Arg::Text(tenant.to_string()));
        let scope_sql = Store::scope_sql(scope, &mut args);
        let sql = format!(
            "SELECT {day} AS day, c.customer_sentiment_label AS label, COUNT(*) AS calls \
             FROM calls c WHERE c.tenant = {tenant_arg} AND c.status = 'analyzed'{scope_sql} \
             GROUP BY day, label ORDER BY day, label",
            day = Store::group_key_sql(GroupBy::Day)
        );
        let counts: Vec<SentimentDayCount> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args.0).fetch_all(pool).await?
        });
        Ok(counts
            .into_iter()
            .map(|count| SentimentDayCount { day: day_keys_to_dates(Some(count.day)).unwrap_or_default(), ..count })
            .collect())
    }

    /// Average handle time (call duration) and silence (time nobody speaks: the report's
    /// `metrics.non_talk_secs`, which a trigger copies into `calls.silence_secs`) per group, over
    /// analysed calls.
    pub async fn handling_summary(&self, tenant: &str, group: GroupBy, scope: &AggregateScope) -> Result<Vec<HandlingBucket>> {
        let mut args = Args::default();
        let tenant_arg = args.push(Arg::Text(tenant.to_string()));
        let scope_sql = Store::scope_sql(scope, &mut args);
        let sql = format!(
            "SELECT {key} AS group_key, COUNT(*) AS calls, AVG(c.duration_secs) AS mean_duration_secs, \
             AVG(c.silence_secs) AS mean_silence_secs \
             FROM calls c WHERE c.tenant = {tenant_arg} AND c.status = 'analyzed'{scope_sql} \
             GROUP BY group_key ORDER BY group_key",
            key = Store::group_key_sql(group)
        );
        let mut buckets: Vec<HandlingBucket> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args.0).fetch_all(pool).await?
        });
        if group == GroupBy::Day {
            for bucket in &mut buckets {
                bucket.group_key = day_keys_to_dates(bucket.group_key.take());
            }
        }
        Ok(buckets)
    }
}

/// A day key from [`Store::group_key_sql`] (days since 1970-01-01, as text) as `YYYY-MM-DD` (UTC).
/// Days in the same order sort the same either way (the stored ones are all 5-digit numbers).
fn day_keys_to_dates(key: Option<String>) -> Option<String> {
    let key = key?;
    match key.parse::<i64>() {
        Ok(days) => Some(callsight_pipeline::calendar::iso_date(days)),
        Err(_) => Some(key),
    }
}
