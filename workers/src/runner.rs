//! The worker loop: `concurrency` slots each claim a job, run the handler on the blocking pool
//! (inference is CPU-bound), renew the lease while it runs and record the outcome. Shutdown
//! stops claiming, lets running jobs finish within a grace period and releases the rest.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{Result, WorkersError};
use crate::queue::{JobKind, JobRecord, Retry};
use crate::store::{AnalysisRecord, CallRecord, ScriptVersion, Store};

/// What a handler gets: the job, its call, the script the call is scored against.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub job: JobRecord,
    pub call: CallRecord,
    /// The call's pinned script version, else the latest live version; `None` without a script.
    pub script: Option<ScriptVersion>,
    /// Cancelled when the lease was lost or the shutdown grace ran out: the result will be
    /// dropped, so a handler that checks it between stages can stop early.
    pub cancel: CancellationToken,
}

/// A handler's success.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// Stored with the job's completion in one transaction.
    Analyzed(AnalysisRecord),
    /// Nothing to store (the handler wrote its own results).
    Done,
}

/// A handler's failure: the message is what the dead letter and the call's `error` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    pub message: String,
    pub retry: Retry,
}

impl JobError {
    /// May succeed on another attempt.
    pub fn transient(message: impl Into<String>) -> JobError {
        JobError { message: message.into(), retry: Retry::Allowed }
    }

    /// Cannot succeed (undecodable audio, malformed script): dead-letter now.
    pub fn permanent(message: impl Into<String>) -> JobError {
        JobError { message: message.into(), retry: Retry::Never }
    }

    /// A store the job needs did not answer (voiceprint server, database): put the job back
    /// after a delay without counting the attempt.
    pub fn unavailable(message: impl Into<String>) -> JobError {
        JobError { message: message.into(), retry: Retry::AfterOutage }
    }
}

/// Runs one job to completion on the calling (blocking-pool) thread. Implemented by the binary
/// over the pipeline and the models.
pub trait JobHandler: Send + Sync + 'static {
    fn handle(&self, job: &ClaimedJob) -> Result<JobOutcome, JobError>;
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Identifies this process in leases (e.g. `host:pid`); slots append `/N`.
    pub worker_id: String,
    /// Jobs run at once (each is one blocking thread).
    pub concurrency: usize,
    /// Lease length; a worker that stops heartbeating loses the job after this long.
    pub lease_secs: i64,
    /// Lease renewal interval; well below `lease_secs`.
    pub heartbeat_interval: Duration,
    /// Wait between claims when the queue is empty.
    pub poll_interval: Duration,
    /// How long running jobs may finish after shutdown before their leases are released.
    pub shutdown_grace: Duration,
    /// Job kinds this worker takes; empty means all.
    pub kinds: Vec<JobKind>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            worker_id: format!("worker-{}", std::process::id()),
            concurrency: 1,
            lease_secs: 120,
            heartbeat_interval: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            kinds: Vec::new(),
        }
    }
}

/// Runs the worker slots until `shutdown` is cancelled and every slot has finished or released
/// its job. Database errors are logged and retried; they do not stop the loop.
pub async fn run_workers(
    store: Store,
    handler: Arc<dyn JobHandler>,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> Result<()> {
    if config.concurrency == 0 {
        return Err(WorkersError::Invalid { field: "worker concurrency", reason: "must be at least 1".into() });
    }
    if config.heartbeat_interval.as_secs_f64() >= config.lease_secs as f64 {
        return Err(WorkersError::Invalid {
            field: "heartbeat interval",
            reason: format!("must be shorter than the lease ({} s)", config.lease_secs),
        });
    }
    let config = Arc::new(config);
    let mut slots = tokio::task::JoinSet::new();
    for slot_idx in 0..config.concurrency {
        let worker_id = format!("{}/{slot_idx}", config.worker_id);
        slots.spawn(run_slot(store.clone(), handler.clone(), config.clone(), shutdown.clone(), worker_id));
    }
    while let Some(joined) = slots.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "worker slot ended abnormally");
        }
    }
    Ok(())
}

async fn run_slot(
    store: Store,
    handler: Arc<dyn JobHandler>,
    config: Arc<WorkerConfig>,
    shutdown: CancellationToken,
    worker_id: String,
) {
    // Consecutive failed claims: the wait doubles from the poll interval up to
    // `MAX_OUTAGE_BACKOFF` so a database outage is not hammered by every slot of every worker.
    let mut failed_claims: u32 = 0;
    while !shutdown.is_cancelled() {
        let claimed = store.claim(&worker_id, config.lease_secs, &config.kinds).await;
        if claimed.is_ok() && failed_claims > 0 {
            tracing::info!(worker_id, failed_claims, "the database answers again; claiming jobs");
            failed_claims = 0;
        }
        match claimed {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", job_id = %job.id, call_id = %job.call_id, kind = job.kind.as_str(), attempt = job.attempts);
                run_job(&store, &handler, &config, &shutdown, &worker_id, job).instrument(span).await;
            }
            Ok(None) => {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(config.poll_interval) => {}
                }
            }
            Err(e) => {
                failed_claims = failed_claims.saturating_add(1);
                let wait = outage_backoff(config.poll_interval, failed_claims);
                tracing::warn!(error = %e, worker_id, retry_in_secs = wait.as_secs_f64(), "claiming a job failed; backing off");
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Longest wait between retries while the database does not answer.
const MAX_OUTAGE_BACKOFF: Duration = Duration::from_secs(30);

/// `base × 2^(failures-1)`, at most [`MAX_OUTAGE_BACKOFF`].
fn outage_backoff(base: Duration, failures: u32) -> Duration {
    let factor = 2_u32.saturating_pow(failures.saturating_sub(1).min(16));
    base.max(Duration::from_millis(100)).saturating_mul(factor).min(MAX_OUTAGE_BACKOFF)
}

async fn run_job(
    store: &Store,
    handler: &Arc<dyn JobHandler>,
    config: &WorkerConfig,
    shutdown: &CancellationToken,
    worker_id: &str,
    job: JobRecord,
) {
    // Results may be stored until the lease would run out; after that another worker owns the job.
    let mut lease_deadline = tokio::time::Instant::now() + Duration::from_secs(config.lease_secs.max(1) as u64);
    let claimed = match load_job_inputs(store, job).await {
        Ok(Ok(claimed)) => Arc::new(claimed),
        Ok(Err((job, reason))) => {
            record_failure(store, &job.id, worker_id, &JobError::permanent(reason), lease_deadline).await;
            return;
        }
        Err((job, e)) => {
            let message = format!("loading the job's inputs failed: {e}");
            let error =
                if e.is_connection_failure() { JobError::unavailable(message) } else { JobError::transient(message) };
            record_failure(store, &job.id, worker_id, &error, lease_deadline).await;
            return;
        }
    };
    let job_id = claimed.job.id.clone();
    tracing::info!("job started");
    let started = std::time::Instant::now();
    let task = {
        let handler = handler.clone();
        let claimed = claimed.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(|| handler.handle(&claimed)))
    };
    tokio::pin!(task);
    let mut heartbeat = tokio::time::interval(config.heartbeat_interval);
    heartbeat.tick().await; // the first tick is immediate; the claim just set the lease
    let mut grace_deadline: Option<tokio::time::Instant> = None;
    let result = loop {
        let grace = async {
            match grace_deadline {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = &mut task => break joined,
            _ = heartbeat.tick() => {
                match store.heartbeat(&job_id, worker_id, config.lease_secs).await {
                    Ok(true) => lease_deadline = tokio::time::Instant::now() + Duration::from_secs(config.lease_secs.max(1) as u64),
                    Ok(false) => {
                        // Someone else owns the job now; let the handler stop, drop its result.
                        tracing::warn!("lease lost; abandoning the job");
                        claimed.cancel.cancel();
                        let _ = (&mut task).await;
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed; retrying at the next interval"),
                }
            }
            _ = shutdown.cancelled(), if grace_deadline.is_none() => {
                tracing::info!(grace_secs = config.shutdown_grace.as_secs_f64(), "shutdown: letting the job finish");
                grace_deadline = Some(tokio::time::Instant::now() + config.shutdown_grace);
            }
            _ = grace => {
                // The blocking thread cannot be killed; tell it to stop and hand the job back.
                tracing::warn!("shutdown grace over; releasing the job");
                claimed.cancel.cancel();
                if let Err(e) = store.release(&job_id, worker_id).await {
                    tracing::warn!(error = %e, "releasing the job failed; its lease will expire instead");
                }
                return;
            }
        }
    };
    let elapsed_secs = started.elapsed().as_secs_f64();
    let recorded = match result {
        Ok(Ok(JobOutcome::Analyzed(analysis))) => {
            retry_while_unreachable("storing the job's result", lease_deadline, || {
                store.complete_with_analysis(&job_id, worker_id, &analysis)
            })
            .await
        }
        Ok(Ok(JobOutcome::Done)) => {
            retry_while_unreachable("completing the job", lease_deadline, || store.complete(&job_id, worker_id)).await
        }
        Ok(Err(error)) => {
            record_failure(store, &job_id, worker_id, &error, lease_deadline).await;
            return;
        }
        Err(join_error) => {
            let error = JobError::transient(format!("job handler panicked: {join_error}"));
            record_failure(store, &job_id, worker_id, &error, lease_deadline).await;
            return;
        }
    };
    match recorded {
        Ok(()) => tracing::info!(elapsed_secs, "job done"),
        Err(WorkersError::LeaseLost { .. }) => {
            tracing::warn!(elapsed_secs, "job finished after its lease was taken over; result dropped")
        }
        Err(e) => {
            tracing::error!(error = %e, "storing the job's result failed; it will run again after the lease expires")
        }
    }
}

type LoadResult = std::result::Result<std::result::Result<ClaimedJob, (JobRecord, String)>, (JobRecord, WorkersError)>;

/// The call and script of a job. Inner `Err`: missing inputs (permanent); outer: database error.
async fn load_job_inputs(store: &Store, job: JobRecord) -> LoadResult {
    let call = match store.get_call(&job.tenant, &job.call_id).await {
        Ok(Some(call)) => call,
        Ok(None) => return Ok(Err((job, "the call no longer exists".to_string()))),
        Err(e) => return Err((job, e)),
    };
    let script = match &call.script_id {
        None => None,
        Some(script_id) => match store.get_script(&job.tenant, script_id, call.script_version).await {
            Ok(Some(script)) => Some(script),
            Ok(None) => {
                let version = call.script_version.map(|v| format!(" version {v}")).unwrap_or_default();
                return Ok(Err((job, format!("script {script_id}{version} not found"))));
            }
            Err(e) => return Err((job, e)),
        },
    };
    Ok(Ok(ClaimedJob { job, call, script, cancel: CancellationToken::new() }))
}

/// Runs a store write again, with backoff, while the database does not answer and the lease
/// still holds: a finished analysis survives a database restart instead of being thrown away
/// (and the job run, and counted, again). Other errors return at once.
async fn retry_while_unreachable<T, F, Fut>(what: &str, lease_deadline: tokio::time::Instant, mut write: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut failures: u32 = 0;
    loop {
        match write().await {
            Err(error) if error.is_connection_failure() => {
                failures = failures.saturating_add(1);
                let wait = outage_backoff(Duration::from_millis(500), failures);
                if tokio::time::Instant::now() + wait >= lease_deadline {
                    return Err(error);
                }
                tracing::warn!(%error, retry_in_secs = wait.as_secs_f64(), "{what}: the database does not answer; retrying");
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

async fn record_failure(
    store: &Store,
    job_id: &str,
    worker_id: &str,
    error: &JobError,
    lease_deadline: tokio::time::Instant,
) {
    let recorded = retry_while_unreachable("recording the job's failure", lease_deadline, || {
        store.fail(job_id, worker_id, &error.message, error.retry)
    })
    .await;
    match recorded {
        Ok(state) => tracing::warn!(error = %error.message, next_state = state.as_str(), "job failed"),
        Err(e) => tracing::error!(error = %e, job_error = %error.message, "recording the job failure failed"),
    }
}
