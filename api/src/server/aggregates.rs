//! Dashboard aggregates: compliance by agent / team / script / day, sentiment by day, handle time
//! and silence.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use callsight_workers::store::{AggregateScope, GroupBy};

use super::AppState;
use super::auth::{Action, Caller};
use super::error::{ApiResult, ErrorBody};
use super::util;
use super::wire::{
    ComplianceAggregate, ComplianceBucketView, ComplianceQuery, GroupByParam, HandlingQuery, RuleFailureView, SentimentAggregate,
    SentimentDay, SentimentQuery,
};

/// Compliance rate, flagged calls and failures per rule, grouped, over analysed calls.
#[utoipa::path(
    get, path = "/v1/aggregates/compliance", tag = "aggregates",
    params(ComplianceQuery),
    responses(
        (status = 200, description = "One bucket per group", body = ComplianceAggregate),
        (status = 400, description = "Invalid group_by or dates", body = ErrorBody),
        (status = 422, description = "A date that does not exist (e.g. 2026-02-30)", body = ErrorBody),
    )
)]
pub(crate) async fn compliance(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ComplianceQuery>, QueryRejection>,
) -> ApiResult<Json<ComplianceAggregate>> {
    caller.require(Action::ReadAggregates)?;
    let query = util::query(query)?;
    let (group, group_name) = grouping(query.group_by);
    let scope = scope(query.from.as_deref(), query.to.as_deref(), query.agent, query.team, query.script)?;
    let buckets = state.store.compliance_summary(&caller.tenant, group, &scope).await?;
    let counts = match query.rules {
        Some(false) => Vec::new(),
        _ => state.store.rule_failure_counts(&caller.tenant, group, &scope).await?,
    };
    let mut failures: BTreeMap<Option<String>, Vec<RuleFailureView>> = BTreeMap::new();
    for count in counts {
        failures.entry(count.group_key).or_default().push(RuleFailureView {
            rule_id: count.rule_id,
            checks: count.checks,
            failures: count.failures,
        });
    }
    Ok(Json(ComplianceAggregate {
        group_by: group_name.to_string(),
        buckets: buckets
            .into_iter()
            .map(|bucket| ComplianceBucketView {
                rules: failures.remove(&bucket.key).unwrap_or_default(),
                key: bucket.key,
                calls: bucket.calls,
                flagged_calls: bucket.flagged_calls,
                rule_checks: bucket.rule_checks,
                rule_failures: bucket.rule_failures,
                compliance_rate: bucket.compliance_rate,
                mean_compliance_score: bucket.mean_compliance_score,
            })
            .collect(),
    }))
}

/// Analysed calls per UTC day by customer sentiment label.
#[utoipa::path(
    get, path = "/v1/aggregates/sentiment", tag = "aggregates",
    params(SentimentQuery),
    responses(
        (status = 200, description = "One entry per day", body = SentimentAggregate),
        (status = 400, description = "Invalid dates", body = ErrorBody),
        (status = 422, description = "A date that does not exist (e.g. 2026-02-30)", body = ErrorBody),
    )
)]
pub(crate) async fn sentiment(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SentimentQuery>, QueryRejection>,
) -> ApiResult<Json<SentimentAggregate>> {
    caller.require(Action::ReadAggregates)?;
    let query = util::query(query)?;
    let scope = scope(query.from.as_deref(), query.to.as_deref(), query.agent, query.team, query.script)?;
    let mut days: BTreeMap<String, SentimentDay> = BTreeMap::new();
    for count in state.store.sentiment_by_day(&caller.tenant, &scope).await? {
        let day = days.entry(count.day.clone()).or_insert_with(|| SentimentDay {
            day: count.day.clone(),
            calls: 0,
            by_label: BTreeMap::new(),
        });
        day.calls += count.calls;
        *day.by_label.entry(count.label.unwrap_or_else(|| "none".into())).or_insert(0) += count.calls;
    }
    Ok(Json(SentimentAggregate { days: days.into_values().collect() }))
}

/// Average handle time and silence of one group.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HandlingBucketView {
    /// The group's value (agent, team, script or `YYYY-MM-DD`); `null` for calls without one.
    pub key: Option<String>,
    pub calls: i64,
    /// Mean call duration in seconds.
    pub mean_duration_secs: Option<f64>,
    /// Mean time in which no party speaks, in seconds.
    pub mean_silence_secs: Option<f64>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HandlingAggregate {
    pub group_by: String,
    pub buckets: Vec<HandlingBucketView>,
}

/// Average handle time and silence per group, over analysed calls.
#[utoipa::path(
    get, path = "/v1/aggregates/handling", tag = "aggregates",
    params(HandlingQuery),
    responses(
        (status = 200, description = "One bucket per group", body = HandlingAggregate),
        (status = 400, description = "Invalid group_by or dates", body = ErrorBody),
        (status = 422, description = "A date that does not exist (e.g. 2026-02-30)", body = ErrorBody),
    )
)]
pub(crate) async fn handling(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<HandlingQuery>, QueryRejection>,
) -> ApiResult<Json<HandlingAggregate>> {
    caller.require(Action::ReadAggregates)?;
    let query = util::query(query)?;
    let (group, group_name) = grouping(query.group_by);
    let scope = scope(query.from.as_deref(), query.to.as_deref(), query.agent, query.team, query.script)?;
    let buckets = state.store.handling_summary(&caller.tenant, group, &scope).await?;
    Ok(Json(HandlingAggregate {
        group_by: group_name.to_string(),
        buckets: buckets
            .into_iter()
            .map(|bucket| HandlingBucketView {
                key: bucket.group_key,
                calls: bucket.calls,
                mean_duration_secs: bucket.mean_duration_secs,
                mean_silence_secs: bucket.mean_silence_secs,
            })
            .collect(),
    }))
}

/// The calls an aggregate covers, from the query's date range and agent / team / script filters.
fn scope(
    from: Option<&str>,
    to: Option<&str>,
    agent: Option<String>,
    team: Option<String>,
    script: Option<String>,
) -> ApiResult<AggregateScope> {
    Ok(AggregateScope { range: util::parse_range(from, to)?, agent, team, script })
}

/// The store's grouping and its name in the response (`day` when not given).
fn grouping(param: Option<GroupByParam>) -> (GroupBy, &'static str) {
    match param {
        None | Some(GroupByParam::Day) => (GroupBy::Day, "day"),
        Some(GroupByParam::Agent) => (GroupBy::Agent, "agent"),
        Some(GroupByParam::Team) => (GroupBy::Team, "team"),
        Some(GroupByParam::Script) => (GroupBy::Script, "script"),
    }
}
