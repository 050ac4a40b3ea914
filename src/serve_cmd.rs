//! `callsight serve`, `callsight worker` and `callsight keys create`: wiring the store, the models,
//! the HTTP API and the worker pool together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use callsight_api::server::auth::Role;
use callsight_api::server::listener::ConnectionLimits;
use callsight_api::server::metrics::Metrics;
use callsight_api::server::{ApiConfig, AppState, WebhookDeliveryConfig, app, run_webhook_deliveries_with};
use callsight_pipeline::analyze::AnalyzeOptions;
use callsight_workers::runner::{WorkerConfig, run_workers};
use callsight_workers::store::{QueueConfig, Store};
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use callsight_service::biometrics::{BiometricsEngine, ServerReachability, open_voiceprint_index_with};
use crate::cli::ModelArgs;
use crate::config::Config;
use crate::engines::{WhisperModel, load_engines, load_speaker_embedder, load_vad, model_store};
use callsight_service::jobs::AnalysisJobHandler;
use crate::speakers_cmd::database_url;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Database, uploaded audio and the embedded voiceprint index [default: server.data_dir].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on [default: server.listen, 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Calls analysed at once by this process [default: workers.concurrency]; 0 serves the API only.
    #[arg(long)]
    pub workers: Option<usize>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The same data directory (or database URL in the configuration) as the server.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Calls analysed at once [default: workers.concurrency].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Analyse without the voiceprint index: no watchlist screening, no passive enrolment and
    /// no agent naming on mono calls. For a worker beside a server that holds the embedded index.
    #[arg(long)]
    pub without_biometrics: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key; the key is printed once, as the last line.
    Create {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        tenant: String,
        /// admin, qa, manager, ivr or ingest.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        label: String,
    },
}

struct Service {
    store: Store,
    data_dir: PathBuf,
}

async fn open_store(config: &Config, data_dir: &std::path::Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let queue = QueueConfig {
        max_queued_jobs: Some(config.server.max_queued_jobs as i64),
        default_max_attempts: i64::from(config.workers.max_attempts),
        ..QueueConfig::default()
    };
    let url = database_url(config, data_dir);
    Store::connect_with(&url, queue).await.with_context(|| "opening the database".to_string())
}

fn worker_config(config: &Config, concurrency: usize) -> WorkerConfig {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    WorkerConfig {
        worker_id: format!("{host}:{}", std::process::id()),
        concurrency,
        lease_secs: config.workers.lease_secs as i64,
        heartbeat_interval: Duration::from_secs(config.workers.heartbeat_secs),
        ..WorkerConfig::default()
    }
}

/// Loads the models for `concurrency` parallel analyses, never more inference threads than cores.
fn job_handler(
    models: &ModelArgs,
    config: &Config,
    concurrency: usize,
    biometrics: Option<Arc<BiometricsEngine>>,
    metrics: Metrics,
    service: &Service,
) -> anyhow::Result<Arc<AnalysisJobHandler>> {
    let cores = models.threads.unwrap_or_else(crate::cli::default_threads);
    let threads_per_job = config.workers.threads_per_job.unwrap_or((cores / concurrency.max(1)).max(1));
    let whisper = WhisperModel::from_config(&config.analysis.model)?;
    let engines = load_engines(models, whisper, threads_per_job, concurrency)?;
    let base_options = AnalyzeOptions {
        allowed_languages: config.analysis.languages.clone(),
        vad: config.analysis.vad.clone(),
        hallucination: config.analysis.hallucination.clone(),
        metrics: config.analysis.metrics.clone(),
        matching: config.analysis.matching.clone(),
        diarization: config.analysis.diarization.clone(),
        ..AnalyzeOptions::default()
    };
    Ok(Arc::new(AnalysisJobHandler {
        engines,
        base_options,
        biometrics,
        store: service.store.clone(),
        runtime: tokio::runtime::Handle::current(),
        metrics,
        redaction: config.redaction.clone(),
    }))
}

/// Loads the biometric engine. Called from the service's async context: `block_in_place` tells
/// the runtime this thread blocks (model loading, the index's first health check), so other tasks
/// move to other threads meanwhile. Nothing here enters a runtime of its own.
fn biometrics_engine(models: &ModelArgs, config: &Config, service: &Service) -> anyhow::Result<Arc<BiometricsEngine>> {
    tokio::task::block_in_place(|| load_biometrics_engine(models, config, service))
}

fn load_biometrics_engine(models: &ModelArgs, config: &Config, service: &Service) -> anyhow::Result<Arc<BiometricsEngine>> {
    // One single-threaded session per core: under concurrent IVR load, requests run side by side
    // instead of fighting over intra-op threads.
    let cores = models.threads.unwrap_or_else(crate::cli::default_threads);
    // A Qdrant server that is down at start leaves the service not ready instead of stopping it.
    let index = open_voiceprint_index_with(&config.voiceprints, &service.data_dir, ServerReachability::AwaitedLater)?;
    let vad = load_vad(models, cores)?;
    let embedder = load_speaker_embedder(&model_store(models), &config.biometrics.model, cores, 1)?;
    Ok(Arc::new(BiometricsEngine::new(embedder, vad, index, &config.biometrics)?))
}

/// Cancels `token` on Ctrl-C or SIGTERM.
fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: no new requests or jobs; finishing or releasing running jobs");
        token.cancel();
    });
}

pub fn serve(args: ServeArgs, models: &ModelArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let data_dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
        let listen: SocketAddr = match args.listen {
            Some(addr) => addr,
            None => config.server.listen.parse().context("server.listen")?,
        };
        let service = Service { store: open_store(config, &data_dir).await?, data_dir: data_dir.clone() };
        let metrics = Metrics::default();
        let biometrics = biometrics_engine(models, config, &service)?;
        let concurrency = args.workers.unwrap_or(config.workers.concurrency);
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());

        let mut background = tokio::task::JoinSet::new();
        // The live-stream engine shares the analysis' sentiment model when this process has one.
        let mut analysis_engines = None;
        if concurrency > 0 {
            let handler = job_handler(models, config, concurrency, Some(biometrics.clone()), metrics.clone(), &service)?;
            analysis_engines = Some(handler.engines.clone());
            background.spawn(run_workers(service.store.clone(), handler, worker_config(config, concurrency), shutdown.clone()));
        }
        let deliveries = run_webhook_deliveries_with(
            service.store.clone(),
            WebhookDeliveryConfig {
                allow_private_targets: config.server.webhooks_allow_private_targets,
                ..WebhookDeliveryConfig::default()
            },
            Some(metrics.clone()),
            shutdown.clone(),
        );
        background.spawn(async move {
            deliveries.await;
            Ok(())
        });

        let api_config = ApiConfig {
            max_upload_bytes: config.server.max_upload_bytes,
            max_queued_jobs: Some(config.server.max_queued_jobs as i64),
            request_timeout: Duration::from_secs(config.server.request_timeout_secs),
            rate_limit_per_minute: config.server.rate_limit_per_minute,
            upload_quota_audio_hours_per_hour: config.server.upload_quota_audio_hours_per_hour,
            max_live_streams_total: config.streams.max_total,
            allow_private_webhook_targets: config.server.webhooks_allow_private_targets,
            metrics_token: config.server.metrics_token.clone(),
            // One request per embedder session (one per core, see `biometrics_engine`).
            max_concurrent_biometrics: config
                .biometrics
                .max_concurrent_requests
                .unwrap_or_else(|| models.threads.unwrap_or_else(crate::cli::default_threads)),
            ..ApiConfig::with_audio_dir(data_dir.join("audio"))
        };
        std::fs::create_dir_all(&api_config.audio_dir)?;
        // Streams a crash cut short (their `.wav.partial` recordings) become calls before new
        // streams are served.
        let recovered = callsight_api::server::streams::recover_interrupted_streams(&service.store, &api_config.audio_dir).await;
        if recovered > 0 {
            tracing::warn!(recovered, "recorded streams that a crash cut short");
        }
        let mut state = AppState::new(service.store.clone(), biometrics.clone(), api_config, metrics);
        if config.streams.enabled {
            let engine =
                crate::streams::load_stream_engine(models, config, biometrics, analysis_engines.as_ref())?;
            state = state.with_limited_streams(Arc::new(engine), config.streams.limits());
        }
        let live_streams = state.streams.clone();
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        // The bound address (port 0 picks a free one), for scripts and tests to read.
        println!("listening on http://{}", listener.local_addr()?);
        let token = shutdown.clone();
        let streams_to_end = live_streams.clone();
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
            max_connections_per_peer: config.server.max_connections_per_peer,
        };
        callsight_api::server::listener::serve(listener, app(state), limits, async move {
            token.cancelled().await;
            // Open streams end as on `stop` (their audio is stored and queued); upgraded
            // connections are not waited for by the listener, so they are waited for below.
            if let Some(streams) = streams_to_end {
                streams.shut_down();
            }
        })
        .await;
        shutdown.cancel();
        if let Some(streams) = live_streams {
            streams.shut_down();
            // Within the grace running jobs get: a stream's end is its last pass plus storing.
            let grace = worker_config(config, concurrency.max(1)).shutdown_grace;
            if !streams.wait_until_ended(grace).await {
                tracing::error!(open = streams.active(), grace_secs = grace.as_secs(), "streams still open after the shutdown grace; their audio stays in .partial files");
            }
        }
        while let Some(done) = background.join_next().await {
            if let Ok(Err(error)) = done {
                tracing::error!(%error, "background task failed");
            }
        }
        service.store.close().await;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

pub fn worker(args: WorkerArgs, models: &ModelArgs, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let data_dir = args.data_dir.clone().unwrap_or_else(|| config.server.data_dir.clone());
        let service = Service { store: open_store(config, &data_dir).await?, data_dir };
        let concurrency = args.concurrency.unwrap_or(config.workers.concurrency).max(1);
        let biometrics = if args.without_biometrics {
            tracing::warn!("biometrics off: calls are not screened against the watchlist by this worker");
            None
        } else {
            Some(biometrics_engine(models, config, &service)?)
        };
        let handler = job_handler(models, config, concurrency, biometrics, Metrics::default(), &service)?;
        let shutdown = CancellationToken::new();
        cancel_on_signal(shutdown.clone());
        eprintln!("worker {} running {concurrency} job(s) at once", std::process::id());
        run_workers(service.store.clone(), handler, worker_config(config, concurrency), shutdown).await?;
        service.store.close().await;
        Ok(std::process::ExitCode::SUCCESS)
    })
}

pub fn keys(command: KeysCommand, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let KeysCommand::Create { data_dir, tenant, role, label } = command;
    let known = || Role::ALL.map(Role::as_str).join(", ");
    let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}: expected one of {}", known()))?.as_str();
    anyhow::ensure!(!tenant.trim().is_empty(), "the tenant must not be empty");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let data_dir = data_dir.unwrap_or_else(|| config.server.data_dir.clone());
        let store = open_store(config, &data_dir).await?;
        let created = store.create_key(&tenant, role, &label).await?;
        eprintln!("created {role} key {} for tenant {tenant}; it is shown only once:", created.info.id);
        println!("{}", created.plaintext);
        store.close().await;
        Ok(std::process::ExitCode::SUCCESS)
    })
}
