//! `callsight speakers ...`: enrol, verify, identify, watchlist and delete voiceprints on the
//! embedded stores under `--data-dir` (or the configured PostgreSQL / Qdrant server). Every
//! operation is written to the audit trail, as through the API.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use callsight_api::server::speaker_service::{EnrolInput, SpeakerKind, SpeakerService, SpeakerServiceError};
use callsight_workers::store::{NewAuditEntry, Store};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::json;

use callsight_service::biometrics::{BiometricsEngine, open_voiceprint_index};
use crate::cli::ModelArgs;
use crate::config::Config;
use crate::engines::{load_speaker_embedder, load_vad, model_store};

#[derive(Debug, Args)]
pub struct SpeakersArgs {
    #[command(subcommand)]
    pub command: SpeakersCommand,
    #[command(flatten)]
    pub common: SpeakersCommon,
}

#[derive(Debug, Args)]
pub struct SpeakersCommon {
    /// Where the database and the voiceprint index live [default: server.data_dir].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Tenant the voiceprints belong to.
    #[arg(long, global = true, default_value = "default")]
    pub tenant: String,
    #[arg(long, global = true, value_enum, default_value_t = SpeakersFormat::Text)]
    pub format: SpeakersFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum SpeakersFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum EnrolKind {
    Customer,
    Agent,
}

#[derive(Debug, Subcommand)]
pub enum SpeakersCommand {
    /// Enrol (or re-enrol) a speaker from one or more recordings of their voice alone.
    Enroll {
        #[arg(long)]
        id: String,
        #[arg(long, value_enum, default_value_t = EnrolKind::Customer)]
        kind: EnrolKind,
        /// Net speech the enrolment needs [default: biometrics.min_enrol_net_speech_secs, 20 s].
        #[arg(long, value_name = "SECS")]
        min_net_speech: Option<f64>,
        /// Add this audio to the speaker's existing voiceprint (weighted by net speech) instead of
        /// replacing it; the stored speech counts towards the minimum.
        #[arg(long)]
        add: bool,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Verify a claimed identity (1:1) and screen the voice against the watchlist.
    Verify {
        #[arg(long)]
        id: String,
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Find who is speaking among the enrolled customers (1:N), with watchlist screening.
    Identify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Manage the fraudster watchlist.
    Watchlist {
        #[command(subcommand)]
        command: WatchlistCommand,
    },
    /// Delete every voiceprint and stored embedding of a speaker (right to erasure).
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum WatchlistCommand {
    /// Put a fraudster's voice on the watchlist.
    Add {
        #[arg(long)]
        id: String,
        #[arg(long, value_name = "SECS")]
        min_net_speech: Option<f64>,
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

pub fn database_url(config: &Config, data_dir: &Path) -> String {
    config.server.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", data_dir.join("callsight.db").display()))
}

pub fn run(args: SpeakersArgs, models: &ModelArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let data_dir = args.common.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let store = runtime.block_on(Store::connect(&database_url(config, &data_dir)))?;
    let threads = models.threads.unwrap_or_else(crate::cli::default_threads);
    let index = open_voiceprint_index(&config.voiceprints, &data_dir)?;
    let vad = load_vad(models, 1)?;
    let embedder = load_speaker_embedder(&model_store(models), &config.biometrics.model, 1, threads)?;
    let engine = Arc::new(BiometricsEngine::new(embedder, vad, index, &config.biometrics)?);
    let tenant = args.common.tenant.as_str();
    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));

    let (action, speaker_id, result): (&str, Option<String>, Result<serde_json::Value, SpeakerServiceError>) =
        match args.command {
            SpeakersCommand::Enroll { id, kind, min_net_speech, add, files } => {
                let clips = files.iter().map(read).collect::<anyhow::Result<Vec<_>>>()?;
                let kind = match kind {
                    EnrolKind::Customer => SpeakerKind::Customer,
                    EnrolKind::Agent => SpeakerKind::Agent,
                };
                let input = EnrolInput { tenant: tenant.into(), speaker_id: id.clone(), kind, clips, min_net_speech_secs: min_net_speech };
                // The same two calls as the API's `mode=add` / `mode=replace`.
                let outcome = if add { engine.enrol_more(input) } else { engine.enrol(input) };
                if let Ok(enrolled) = &outcome
                    && !enrolled.voiceprint_ids.is_empty()
                {
                    runtime.block_on(store.upsert_speaker(tenant, &id, kind.as_str(), &enrolled.voiceprint_ids))?;
                }
                ("enrol", Some(id), to_json(outcome))
            }
            SpeakersCommand::Verify { id, file } => {
                let audio = read(&file)?;
                ("verify", Some(id.clone()), to_json(engine.verify(tenant, &id, &audio)))
            }
            SpeakersCommand::Identify { file } => {
                let audio = read(&file)?;
                ("identify", None, to_json(engine.identify(tenant, &audio)))
            }
            SpeakersCommand::Watchlist { command: WatchlistCommand::Add { id, min_net_speech, files } } => {
                let clips = files.iter().map(read).collect::<anyhow::Result<Vec<_>>>()?;
                let outcome = engine.watchlist_add(tenant, &id, clips, min_net_speech);
                if let Ok(enrolled) = &outcome
                    && !enrolled.voiceprint_ids.is_empty()
                {
                    runtime.block_on(store.upsert_speaker(tenant, &id, "fraudster", &enrolled.voiceprint_ids))?;
                }
                ("watchlist_add", Some(id), to_json(outcome))
            }
            SpeakersCommand::Delete { id } => {
                let outcome = engine.delete(tenant, &id);
                if outcome.is_ok() {
                    runtime.block_on(store.delete_speaker(tenant, &id))?;
                }
                ("delete", Some(id.clone()), outcome.map(|()| json!({"speaker_id": id, "deleted": true})))
            }
        };

    let (outcome_label, score) = match &result {
        Ok(value) => (audit_outcome(action, value), value["score"].as_f64()),
        Err(error) => (format!("error: {error}"), None),
    };
    let details = match &result {
        // Decisions and reasons, never audio or embeddings.
        Ok(value) => json!({"source": "cli", "decision": value.get("decision"), "status": value.get("status"),
            "reasons": value.get("reasons"), "watchlist_hits": value.get("watchlist_hits")}),
        Err(_) => json!({"source": "cli"}),
    };
    runtime.block_on(store.append_audit(
        tenant,
        &NewAuditEntry { actor_key_id: None, action: action.into(), speaker_id, outcome: outcome_label, score, details },
    ))?;

    let value = result.map_err(|error| anyhow::anyhow!(error))?;
    match args.common.format {
        SpeakersFormat::Json => println!("{}", serde_json::to_string_pretty(&value)?),
        SpeakersFormat::Text => println!("{}", summary(action, &value)),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn to_json<T: Serialize>(outcome: Result<T, SpeakerServiceError>) -> Result<serde_json::Value, SpeakerServiceError> {
    outcome.and_then(|value| serde_json::to_value(value).map_err(|e| SpeakerServiceError::Internal(e.to_string())))
}

fn audit_outcome(action: &str, value: &serde_json::Value) -> String {
    match action {
        "verify" => value["decision"].as_str().unwrap_or("unknown").to_string(),
        "enrol" | "watchlist_add" => value["status"].as_str().unwrap_or("unknown").to_string(),
        "identify" => if value["candidates"].as_array().is_some_and(|c| !c.is_empty()) { "match" } else { "no_match" }.into(),
        _ => "done".into(),
    }
}

/// One or two lines a person reads at a glance.
fn summary(action: &str, value: &serde_json::Value) -> String {
    let reasons: Vec<String> = value["reasons"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["message"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let hits: Vec<String> = value["watchlist_hits"]
        .as_array()
        .map(|h| h.iter().filter_map(|x| x["speaker_id"].as_str().map(|s| format!("WATCHLIST HIT: {s}"))).collect())
        .unwrap_or_default();
    let head = match action {
        "verify" => format!(
            "{} speaker {}: score {} (threshold {:.2}), {:.1} s net speech",
            value["decision"].as_str().unwrap_or("?").to_uppercase(),
            value["speaker_id"].as_str().unwrap_or("?"),
            value["score"].as_f64().map_or("n/a".into(), |s| format!("{s:.2}")),
            value["threshold"].as_f64().unwrap_or(0.0),
            value["net_speech_secs"].as_f64().unwrap_or(0.0)
        ),
        "enrol" | "watchlist_add" => format!(
            "{} {} ({}): {:.1} s net speech{}",
            value["status"].as_str().unwrap_or("?").to_uppercase(),
            value["speaker_id"].as_str().unwrap_or("?"),
            value["kind"].as_str().unwrap_or("?"),
            value["net_speech_secs"].as_f64().unwrap_or(0.0),
            match value["missing_speech_secs"].as_f64() {
                Some(missing) if missing > 0.0 => format!(", {missing:.1} s more needed"),
                _ => String::new(),
            }
        ),
        "identify" => match value["candidates"].as_array().and_then(|c| c.first()) {
            Some(best) => format!(
                "IDENTIFIED {} (score {:.2}, threshold {:.2})",
                best["speaker_id"].as_str().unwrap_or("?"),
                best["score"].as_f64().unwrap_or(0.0),
                value["threshold"].as_f64().unwrap_or(0.0)
            ),
            None => "NO MATCH among enrolled customers".into(),
        },
        _ => format!("DELETED {}", value["speaker_id"].as_str().unwrap_or("?")),
    };
    std::iter::once(head).chain(hits).chain(reasons.into_iter().map(|r| format!("  {r}"))).collect::<Vec<_>>().join("\n")
}
