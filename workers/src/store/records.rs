//! Versioned compliance scripts, human reviews of calls, the biometric audit trail and speaker
//! bookkeeping: the smaller tables the HTTP API reads and writes directly.

use super::{Arg, Args, BeginWrite, Store, bind_args, new_id, now_secs, parse_json, to_json_text, with_pool};
use crate::error::{Result, WorkersError, is_unique_violation};

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptVersion {
    pub tenant: String,
    pub script_id: String,
    pub version: i64,
    /// The script definition as the API received it (parsed by `pipeline::compliance`).
    pub body: serde_json::Value,
    pub created_at: i64,
}

/// A reviewer's verdicts on a call's rule results: `{"rule_id": "agree" | "disagree", ...}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub id: String,
    pub tenant: String,
    pub call_id: String,
    pub reviewer_key_id: String,
    pub verdicts: serde_json::Value,
    pub note: Option<String>,
    pub created_at: i64,
}

/// One biometric operation, for the audit trail. Never audio or voiceprints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewAuditEntry {
    pub actor_key_id: Option<String>,
    /// `enrol`, `verify`, `identify`, `delete`, `watchlist_add`, ...
    pub action: String,
    pub speaker_id: Option<String>,
    /// e.g. `accepted`, `rejected`, `match`, `no_match`, `error`.
    pub outcome: String,
    pub score: Option<f64>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub tenant: String,
    pub actor_key_id: Option<String>,
    pub action: String,
    pub speaker_id: Option<String>,
    pub outcome: String,
    pub score: Option<f64>,
    pub details: serde_json::Value,
    pub created_at: i64,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub speaker_id: Option<String>,
    pub action: Option<String>,
    /// Entries about this call (`"call_id"` in their details: call screening, passive enrolment).
    pub call_id: Option<String>,
    pub created_from: Option<i64>,
    pub created_before: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpeakerRecord {
    pub tenant: String,
    pub speaker_id: String,
    /// e.g. `agent`, `customer`, `watchlist`.
    pub kind: String,
    /// Ids of this speaker's voiceprints in the voiceprint index.
    pub voiceprint_ids: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
}

type ScriptRow = (String, String, i64, String, i64);
type AuditRow = (String, String, Option<String>, String, Option<String>, String, Option<f64>, String, i64);
type ReviewRow = (String, String, String, String, String, Option<String>, i64);
type SpeakerRow = (String, String, String, String, i64, i64, Option<i64>);

fn script_from_row((tenant, script_id, version, body, created_at): ScriptRow) -> Result<ScriptVersion> {
    Ok(ScriptVersion { tenant, script_id, version, body: parse_json("script body", &body)?, created_at })
}

fn speaker_from_row(row: SpeakerRow) -> Result<SpeakerRecord> {
    let (tenant, speaker_id, kind, voiceprint_ids, created_at, updated_at, deleted_at) = row;
    let voiceprint_ids = serde_json::from_str(&voiceprint_ids)
        .map_err(|e| WorkersError::Corrupt { what: "speaker voiceprint ids", reason: e.to_string() })?;
    Ok(SpeakerRecord { tenant, speaker_id, kind, voiceprint_ids, created_at, updated_at, deleted_at })
}

impl Store {
    /// Stores `body` as the next version of the script (1 for a new script) and returns it.
    /// A deleted script id starts again after its last version, so old versions stay readable
    /// for calls analysed against them.
    pub async fn create_script_version(
        &self,
        tenant: &str,
        script_id: &str,
        body: &serde_json::Value,
    ) -> Result<ScriptVersion> {
        if script_id.is_empty() {
            return Err(WorkersError::Invalid { field: "script id", reason: "must not be empty".into() });
        }
        let now = now_secs();
        let version: i64 = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let current: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM scripts WHERE tenant = $1 AND script_id = $2")
                    .bind(tenant)
                    .bind(script_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let version = current.unwrap_or(0) + 1;
            let result = sqlx::query(
                "INSERT INTO scripts (tenant, script_id, version, body, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(tenant)
            .bind(script_id)
            .bind(version)
            .bind(to_json_text(body))
            .bind(now)
            .execute(&mut *tx)
            .await;
            match result {
                Err(e) if is_unique_violation(&e) => return Err(WorkersError::Conflict { what: "scripts" }),
                other => other?,
            };
            tx.commit().await?;
            version
        });
        Ok(ScriptVersion {
            tenant: tenant.to_string(),
            script_id: script_id.to_string(),
            version,
            body: body.clone(),
            created_at: now,
        })
    }

    /// A given version (deleted or not, so old calls stay explainable), or with `None` the
    /// latest version of a script that is not deleted.
    pub async fn get_script(
        &self,
        tenant: &str,
        script_id: &str,
        version: Option<i64>,
    ) -> Result<Option<ScriptVersion>> {
        let row: Option<ScriptRow> = with_pool!(self, pool => {
            match version {
                Some(version) => sqlx::query_as(
                    "SELECT tenant, script_id, version, body, created_at FROM scripts \
                     WHERE tenant = $1 AND script_id = $2 AND version = $3",
                )
                .bind(tenant)
                .bind(script_id)
                .bind(version)
                .fetch_optional(pool)
                .await?,
                None => sqlx::query_as(
                    "SELECT tenant, script_id, version, body, created_at FROM scripts \
                     WHERE tenant = $1 AND script_id = $2 AND deleted_at IS NULL ORDER BY version DESC LIMIT 1",
                )
                .bind(tenant)
                .bind(script_id)
                .fetch_optional(pool)
                .await?,
            }
        });
        row.map(script_from_row).transpose()
    }

    /// All versions of a script, oldest first (deleted ones included).
    pub async fn list_script_versions(&self, tenant: &str, script_id: &str) -> Result<Vec<ScriptVersion>> {
        let rows: Vec<ScriptRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT tenant, script_id, version, body, created_at FROM scripts \
                 WHERE tenant = $1 AND script_id = $2 ORDER BY version",
            )
            .bind(tenant)
            .bind(script_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(script_from_row).collect()
    }

    /// The latest version of each script that is not deleted, by script id.
    pub async fn list_scripts(&self, tenant: &str) -> Result<Vec<ScriptVersion>> {
        let rows: Vec<ScriptRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.tenant, s.script_id, s.version, s.body, s.created_at FROM scripts s \
                 WHERE s.tenant = $1 AND s.deleted_at IS NULL AND s.version = \
                 (SELECT MAX(t.version) FROM scripts t WHERE t.tenant = s.tenant AND t.script_id = s.script_id) \
                 ORDER BY s.script_id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(script_from_row).collect()
    }

    /// Marks every version of the script deleted; `NotFound` if none is live.
    pub async fn delete_script(&self, tenant: &str, script_id: &str) -> Result<()> {
        let affected = with_pool!(self, pool => {
            sqlx::query("UPDATE scripts SET deleted_at = $1 WHERE tenant = $2 AND script_id = $3 AND deleted_at IS NULL")
                .bind(now_secs())
                .bind(tenant)
                .bind(script_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(WorkersError::NotFound { what: "script" });
        }
        Ok(())
    }

    /// Records a review of one of the tenant's calls; `NotFound` if the call is not theirs.
    pub async fn add_review(
        &self,
        tenant: &str,
        call_id: &str,
        reviewer_key_id: &str,
        verdicts: &serde_json::Value,
        note: Option<&str>,
    ) -> Result<Review> {
        let id = new_id();
        let now = now_secs();
        // INSERT ... SELECT from the tenant's call: no row is written for another tenant's call.
        let affected = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO reviews (id, tenant, call_id, reviewer_key_id, verdicts, note, created_at) \
                 SELECT $1, tenant, id, $2, $3, $4, $5 FROM calls WHERE tenant = $6 AND id = $7",
            )
            .bind(&id)
            .bind(reviewer_key_id)
            .bind(to_json_text(verdicts))
            .bind(note)
            .bind(now)
            .bind(tenant)
            .bind(call_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if affected == 0 {
            return Err(WorkersError::NotFound { what: "call" });
        }
        Ok(Review {
            id,
            tenant: tenant.to_string(),
            call_id: call_id.to_string(),
            reviewer_key_id: reviewer_key_id.to_string(),
            verdicts: verdicts.clone(),
            note: note.map(str::to_string),
            created_at: now,
        })
    }

    /// Reviews of a call, oldest first.
    pub async fn list_reviews(&self, tenant: &str, call_id: &str) -> Result<Vec<Review>> {
        let rows: Vec<ReviewRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, tenant, call_id, reviewer_key_id, verdicts, note, created_at FROM reviews \
                 WHERE tenant = $1 AND call_id = $2 ORDER BY id",
            )
            .bind(tenant)
            .bind(call_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(id, tenant, call_id, reviewer_key_id, verdicts, note, created_at)| {
                Ok(Review {
                    id,
                    tenant,
                    call_id,
                    reviewer_key_id,
                    verdicts: parse_json("review verdicts", &verdicts)?,
                    note,
                    created_at,
                })
            })
            .collect()
    }

    /// Appends to the audit trail (there is no update or delete of audit rows).
    pub async fn append_audit(&self, tenant: &str, entry: &NewAuditEntry) -> Result<AuditEntry> {
        let id = new_id();
        let now = now_secs();
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO audit (id, tenant, actor_key_id, action, speaker_id, outcome, score, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(tenant)
            .bind(&entry.actor_key_id)
            .bind(&entry.action)
            .bind(&entry.speaker_id)
            .bind(&entry.outcome)
            .bind(entry.score)
            .bind(to_json_text(&entry.details))
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(AuditEntry {
            id,
            tenant: tenant.to_string(),
            actor_key_id: entry.actor_key_id.clone(),
            action: entry.action.clone(),
            speaker_id: entry.speaker_id.clone(),
            outcome: entry.outcome.clone(),
            score: entry.score,
            details: entry.details.clone(),
            created_at: now,
        })
    }

    /// Appends an audit entry made while running job `job_id`, unless that job already wrote one
    /// with the same action: a job taken over after its worker died (or lost its lease) runs
    /// again from the start, and its biometric actions must still be audited once. The job id is
    /// recorded in the entry's details; `None` when the entry was already there.
    pub async fn append_audit_once_per_job(
        &self,
        tenant: &str,
        job_id: &str,
        entry: &NewAuditEntry,
    ) -> Result<Option<AuditEntry>> {
        let mut entry = entry.clone();
        if let serde_json::Value::Object(details) = &mut entry.details {
            details.insert("job_id".into(), serde_json::Value::String(job_id.to_string()));
        }
        // Job ids are UUIDs: no LIKE wildcard characters in them.
        let marker = format!("%\"job_id\":\"{job_id}\"%");
        let existing: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM audit WHERE tenant = $1 AND action = $2 AND details LIKE $3 LIMIT 1")
                .bind(tenant)
                .bind(&entry.action)
                .bind(&marker)
                .fetch_optional(pool)
                .await?
        });
        if existing.is_some() {
            return Ok(None);
        }
        self.append_audit(tenant, &entry).await.map(Some)
    }

    /// Audit entries, newest first.
    pub async fn list_audit(&self, tenant: &str, filter: &AuditFilter, page: super::Page) -> Result<Vec<AuditEntry>> {
        let mut args = Args::default();
        let mut sql = format!(
            "SELECT id, tenant, actor_key_id, action, speaker_id, outcome, score, details, created_at FROM audit \
             WHERE tenant = {}",
            args.push(Arg::Text(tenant.to_string()))
        );
        if let Some(speaker_id) = &filter.speaker_id {
            sql.push_str(&format!(" AND speaker_id = {}", args.push(Arg::Text(speaker_id.clone()))));
        }
        if let Some(action) = &filter.action {
            sql.push_str(&format!(" AND action = {}", args.push(Arg::Text(action.clone()))));
        }
        if let Some(call_id) = &filter.call_id {
            // Details are compact JSON written by serde_json: the pair appears verbatim.
            let pair = serde_json::json!({ "call_id": call_id }).to_string();
            let needle = pair.trim_start_matches('{').trim_end_matches('}');
            let pattern = format!("%{}%", needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            sql.push_str(&format!(" AND details LIKE {} ESCAPE '\\'", args.push(Arg::Text(pattern))));
        }
        if let Some(from) = filter.created_from {
            sql.push_str(&format!(" AND created_at >= {}", args.push(Arg::Int(from))));
        }
        if let Some(before) = filter.created_before {
            sql.push_str(&format!(" AND created_at < {}", args.push(Arg::Int(before))));
        }
        sql.push_str(&format!(
            " ORDER BY id DESC LIMIT {} OFFSET {}",
            args.push(Arg::Int(page.limit.clamp(0, 1000))),
            args.push(Arg::Int(page.offset.max(0)))
        ));
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &args.0).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(id, tenant, actor_key_id, action, speaker_id, outcome, score, details, created_at)| {
                Ok(AuditEntry {
                    id,
                    tenant,
                    actor_key_id,
                    action,
                    speaker_id,
                    outcome,
                    score,
                    details: parse_json("audit details", &details)?,
                    created_at,
                })
            })
            .collect()
    }

    /// Creates the speaker or replaces its kind and voiceprint ids (re-enrolment also revives a
    /// deleted speaker id).
    pub async fn upsert_speaker(
        &self,
        tenant: &str,
        speaker_id: &str,
        kind: &str,
        voiceprint_ids: &[String],
    ) -> Result<()> {
        let ids = serde_json::to_string(voiceprint_ids)
            .map_err(|e| WorkersError::Invalid { field: "voiceprint ids", reason: e.to_string() })?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO speakers (tenant, speaker_id, kind, voiceprint_ids, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5) \
                 ON CONFLICT (tenant, speaker_id) DO UPDATE SET kind = excluded.kind, \
                 voiceprint_ids = excluded.voiceprint_ids, updated_at = excluded.updated_at, deleted_at = NULL",
            )
            .bind(tenant)
            .bind(speaker_id)
            .bind(kind)
            .bind(ids)
            .bind(now_secs())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The speaker, unless deleted.
    pub async fn get_speaker(&self, tenant: &str, speaker_id: &str) -> Result<Option<SpeakerRecord>> {
        let row: Option<SpeakerRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT tenant, speaker_id, kind, voiceprint_ids, created_at, updated_at, deleted_at FROM speakers \
                 WHERE tenant = $1 AND speaker_id = $2 AND deleted_at IS NULL",
            )
            .bind(tenant)
            .bind(speaker_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(speaker_from_row).transpose()
    }

    /// Live speakers by id.
    pub async fn list_speakers(&self, tenant: &str) -> Result<Vec<SpeakerRecord>> {
        let rows: Vec<SpeakerRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT tenant, speaker_id, kind, voiceprint_ids, created_at, updated_at, deleted_at FROM speakers \
                 WHERE tenant = $1 AND deleted_at IS NULL ORDER BY speaker_id",
            )
            .bind(tenant)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(speaker_from_row).collect()
    }

    /// Marks the speaker deleted and forgets its voiceprint ids; returns the ids it had so the
    /// caller removes them from the voiceprint index. `NotFound` if not live.
    pub async fn delete_speaker(&self, tenant: &str, speaker_id: &str) -> Result<Vec<String>> {
        let ids: Option<String> = with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let ids: Option<String> = sqlx::query_scalar(
                "SELECT voiceprint_ids FROM speakers WHERE tenant = $1 AND speaker_id = $2 AND deleted_at IS NULL",
            )
            .bind(tenant)
            .bind(speaker_id)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query("UPDATE speakers SET deleted_at = $1, voiceprint_ids = '[]' WHERE tenant = $2 AND speaker_id = $3")
                .bind(now_secs())
                .bind(tenant)
                .bind(speaker_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            ids
        });
        let ids = ids.ok_or(WorkersError::NotFound { what: "speaker" })?;
        serde_json::from_str(&ids)
            .map_err(|e| WorkersError::Corrupt { what: "speaker voiceprint ids", reason: e.to_string() })
    }
}
