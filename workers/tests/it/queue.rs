//! Queue and worker-loop tests on real SQLite and real PostgreSQL: leases, takeover after a
//! crash, retries with backoff, dead letters, idempotent completion, graceful shutdown.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use crate::common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use callsight_workers::store::CallStatus;
use callsight_workers::{
    ClaimedJob, JobError, JobHandler, JobKind, JobOutcome, JobState, QueueConfig, Retry, WorkerConfig, WorkersError,
    now_secs, run_workers,
};
use common::{Db, analysis, new_call, open};
use tokio_util::sync::CancellationToken;

both_backends!(
    claim_is_exclusive_under_concurrent_claimers,
    claim_takes_oldest_and_filters_kinds,
    expired_lease_is_reclaimed,
    heartbeat_keeps_the_lease,
    fail_backs_off_then_dead_letters,
    permanent_failure_dead_letters_at_once,
    crash_on_last_attempt_dead_letters,
    completion_is_idempotent_across_takeover,
    release_requeues_without_counting,
    counts_by_state,
    worker_loop_runs_jobs,
    worker_loop_records_failures,
    shutdown_releases_unfinished_jobs,
);

/// Lease expiry is checked in whole seconds: wait until `lease_expires_at < now`.
async fn outlive_lease() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

async fn claim_is_exclusive_under_concurrent_claimers(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut expected = HashSet::new();
    for _ in 0..24 {
        expected.insert(store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap().job_id);
    }
    let mut claimers = tokio::task::JoinSet::new();
    for claimer_idx in 0..8 {
        let store = store.store.clone();
        claimers.spawn(async move {
            let mut claimed = Vec::new();
            let worker = format!("w{claimer_idx}");
            while let Some(job) = store.claim(&worker, 60, &[]).await.unwrap() {
                assert_eq!(job.lease_owner.as_deref(), Some(worker.as_str()));
                claimed.push(job.id);
            }
            claimed
        });
    }
    let mut all = Vec::new();
    while let Some(claimed) = claimers.join_next().await {
        all.extend(claimed.unwrap());
    }
    // PostgreSQL's SKIP LOCKED may make a claimer see "nothing" early; sweep what is left.
    while let Some(job) = store.claim("sweeper", 60, &[]).await.unwrap() {
        all.push(job.id);
    }
    assert_eq!(all.len(), 24, "every job claimed exactly once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), expected);
    assert_eq!(store.job_counts().await.unwrap().running, 24);
}

async fn claim_takes_oldest_and_filters_kinds(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let first = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let second = store.insert_call_and_enqueue("globex", &new_call("a", "t")).await.unwrap();
    let rescore = store.enqueue_job("acme", &first.call_id, JobKind::Rescore).await.unwrap();
    let job = store.claim("w", 60, &[JobKind::Rescore]).await.unwrap().unwrap();
    assert_eq!((job.id.as_str(), job.kind), (rescore.as_str(), JobKind::Rescore));
    assert!(store.claim("w", 60, &[JobKind::Rescore]).await.unwrap().is_none());
    let job = store.claim("w", 60, &[JobKind::Analyze]).await.unwrap().unwrap();
    assert_eq!(job.id, first.job_id);
    assert_eq!((job.attempts, job.state), (1, JobState::Running));
    assert_eq!(store.get_call("acme", &first.call_id).await.unwrap().unwrap().status, CallStatus::Running);
    assert_eq!(store.claim("w", 60, &[]).await.unwrap().unwrap().id, second.job_id);
}

async fn expired_lease_is_reclaimed(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let job = store.claim("crashed", 0, &[]).await.unwrap().unwrap();
    assert!(store.claim("rescuer", 60, &[]).await.unwrap().is_none(), "lease still valid this second");
    outlive_lease().await;
    // The "kill -9" case: nobody heartbeats, so another worker takes the job over.
    let taken = store.claim("rescuer", 60, &[]).await.unwrap().unwrap();
    assert_eq!(taken.id, job.id);
    assert_eq!(taken.attempts, 2);
    assert_eq!(taken.lease_owner.as_deref(), Some("rescuer"));
    assert!(!store.heartbeat(&job.id, "crashed", 60).await.unwrap());
    assert!(matches!(
        store.fail(&job.id, "crashed", "late", Retry::Allowed).await,
        Err(WorkersError::LeaseLost { .. })
    ));
    assert!(matches!(store.release(&job.id, "crashed").await, Err(WorkersError::LeaseLost { .. })));
    store.complete(&enqueued.job_id, "rescuer").await.unwrap();
    assert_eq!(store.get_job("acme", &job.id).await.unwrap().unwrap().state, JobState::Done);
}

async fn heartbeat_keeps_the_lease(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let job = store.claim("w1", 0, &[]).await.unwrap().unwrap();
    assert!(store.heartbeat(&job.id, "w1", 60).await.unwrap());
    assert!(!store.heartbeat(&job.id, "w2", 60).await.unwrap(), "only the owner renews");
    outlive_lease().await;
    assert!(store.claim("w2", 60, &[]).await.unwrap().is_none());
    let current = store.get_job("acme", &job.id).await.unwrap().unwrap();
    assert!(current.lease_expires_at.unwrap() >= now_secs() + 58);
    assert_eq!(current.lease_owner.as_deref(), Some("w1"));
}

async fn fail_backs_off_then_dead_letters(db: Db) {
    // A long backoff first: the failed job must not be claimable before its time.
    let slow = open(db, QueueConfig { backoff_base_secs: 100, ..QueueConfig::default() }).await;
    slow.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let job = slow.claim("w", 60, &[]).await.unwrap().unwrap();
    assert_eq!(slow.fail(&job.id, "w", "out of memory", Retry::Allowed).await.unwrap(), JobState::Queued);
    let after = slow.get_job("acme", &job.id).await.unwrap().unwrap();
    assert!(after.not_before >= now_secs() + 99, "first retry after the base backoff");
    assert_eq!(
        (after.state, after.last_error.as_deref(), after.lease_owner),
        (JobState::Queued, Some("out of memory"), None)
    );
    assert!(slow.claim("w", 60, &[]).await.unwrap().is_none());
    assert_eq!(slow.get_call("acme", &job.call_id).await.unwrap().unwrap().status, CallStatus::Queued);

    // No backoff: retry until max_attempts, then dead with the reason, call failed.
    let store = open(db, QueueConfig { backoff_base_secs: 0, default_max_attempts: 3, ..QueueConfig::default() }).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    for attempt in 1..=3 {
        let job = store.claim("w", 60, &[]).await.unwrap().unwrap();
        assert_eq!(job.attempts, attempt);
        let state = store.fail(&job.id, "w", &format!("decoder crashed {attempt}"), Retry::Allowed).await.unwrap();
        assert_eq!(state, if attempt < 3 { JobState::Queued } else { JobState::Dead });
    }
    assert!(store.claim("w", 60, &[]).await.unwrap().is_none());
    let dead = store.list_dead_jobs("acme", 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id.as_str(), dead[0].last_error.as_deref()),
        (enqueued.job_id.as_str(), Some("decoder crashed 3"))
    );
    let call = store.get_call("acme", &enqueued.call_id).await.unwrap().unwrap();
    assert_eq!((call.status, call.error.as_deref()), (CallStatus::Failed, Some("decoder crashed 3")));
    assert!(store.list_dead_jobs("globex", 10).await.unwrap().is_empty());
}

async fn permanent_failure_dead_letters_at_once(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let job = store.claim("w", 60, &[]).await.unwrap().unwrap();
    assert_eq!(store.fail(&job.id, "w", "not audio", Retry::Never).await.unwrap(), JobState::Dead);
    assert_eq!(store.get_job("acme", &job.id).await.unwrap().unwrap().attempts, 1);
}

async fn crash_on_last_attempt_dead_letters(db: Db) {
    let store = open(db, QueueConfig { default_max_attempts: 1, ..QueueConfig::default() }).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    store.claim("w1", 0, &[]).await.unwrap().unwrap();
    outlive_lease().await;
    // A job that kills its worker every time must not be retried forever.
    assert!(store.claim("w2", 60, &[]).await.unwrap().is_none());
    let job = store.get_job("acme", &enqueued.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Dead);
    assert!(job.last_error.unwrap().contains("lease expired"));
    assert_eq!(store.get_call("acme", &enqueued.call_id).await.unwrap().unwrap().status, CallStatus::Failed);
}

async fn completion_is_idempotent_across_takeover(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    store.claim("slow", 0, &[]).await.unwrap().unwrap();
    outlive_lease().await;
    store.claim("fast", 60, &[]).await.unwrap().unwrap();
    let fast_result = analysis("fast worker transcript", &[("r1", true)], false, "positive");
    let slow_result = analysis("slow worker transcript", &[("r1", false), ("r2", false)], true, "negative");
    store.complete_with_analysis(&enqueued.job_id, "fast", &fast_result).await.unwrap();
    // The worker that lost its lease finishes too: refused, nothing overwritten.
    assert!(matches!(
        store.complete_with_analysis(&enqueued.job_id, "slow", &slow_result).await,
        Err(WorkersError::LeaseLost { .. })
    ));
    // And a second completion by the holder is refused as well.
    assert!(matches!(
        store.complete_with_analysis(&enqueued.job_id, "fast", &fast_result).await,
        Err(WorkersError::LeaseLost { .. })
    ));
    let report = store.get_report("acme", &enqueued.call_id).await.unwrap().unwrap();
    assert_eq!(report.transcript_text, "fast worker transcript");
    assert_eq!(store.list_rule_outcomes("acme", &enqueued.call_id).await.unwrap().len(), 1);
    assert_eq!(store.search_transcripts("acme", "transcript", 10).await.unwrap().len(), 1, "one report row");
    assert!(store.search_transcripts("acme", "slow", 10).await.unwrap().is_empty());

    // A rescore of the same call replaces the report in place (upsert by call id).
    let rescore = store.enqueue_job("acme", &enqueued.call_id, JobKind::Rescore).await.unwrap();
    store.claim("w", 60, &[]).await.unwrap().unwrap();
    store.complete_with_analysis(&rescore, "w", &slow_result).await.unwrap();
    assert_eq!(store.search_transcripts("acme", "transcript", 10).await.unwrap().len(), 1);
    assert_eq!(
        store.get_report("acme", &enqueued.call_id).await.unwrap().unwrap().transcript_text,
        "slow worker transcript"
    );
    assert_eq!(store.list_rule_outcomes("acme", &enqueued.call_id).await.unwrap().len(), 2);
    assert_eq!(store.get_call("acme", &enqueued.call_id).await.unwrap().unwrap().failed_rules, Some(2));
}

async fn release_requeues_without_counting(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let job = store.claim("w1", 60, &[]).await.unwrap().unwrap();
    store.release(&job.id, "w1").await.unwrap();
    let released = store.get_job("acme", &job.id).await.unwrap().unwrap();
    assert_eq!((released.state, released.attempts, released.lease_owner), (JobState::Queued, 0, None));
    assert_eq!(store.get_call("acme", &job.call_id).await.unwrap().unwrap().status, CallStatus::Queued);
    assert_eq!(store.claim("w2", 60, &[]).await.unwrap().unwrap().id, job.id);
}

async fn counts_by_state(db: Db) {
    let store = open(db, QueueConfig { backoff_base_secs: 0, ..QueueConfig::default() }).await;
    for _ in 0..4 {
        store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    }
    let a = store.claim("w", 60, &[]).await.unwrap().unwrap();
    let b = store.claim("w", 60, &[]).await.unwrap().unwrap();
    store.claim("w", 60, &[]).await.unwrap().unwrap();
    store.complete(&a.id, "w").await.unwrap();
    store.fail(&b.id, "w", "bad", Retry::Never).await.unwrap();
    let counts = store.job_counts().await.unwrap();
    assert_eq!((counts.queued, counts.running, counts.done, counts.dead), (1, 1, 1, 1));
    assert_eq!(store.queue_depth().await.unwrap(), 1);
}

/// Analyses every call it gets; counts calls; optionally fails or blocks.
struct TestHandler {
    handled: AtomicUsize,
    behaviour: Behaviour,
}

enum Behaviour {
    Succeed,
    FailPermanently,
    /// Runs until cancelled (or 30 s), like a long inference that ignores nothing.
    BlockUntilCancelled,
}

impl JobHandler for TestHandler {
    fn handle(&self, job: &ClaimedJob) -> Result<JobOutcome, JobError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Succeed => {
                let script = job.script.as_ref().map(|s| s.script_id.clone()).unwrap_or_default();
                let text =
                    format!("analysed call of {} with script {script}", job.call.agent_id.clone().unwrap_or_default());
                Ok(JobOutcome::Analyzed(analysis(&text, &[("greeting", true)], false, "positive")))
            }
            Behaviour::FailPermanently => Err(JobError::permanent("audio is not a recording")),
            Behaviour::BlockUntilCancelled => {
                let started = std::time::Instant::now();
                while !job.cancel.is_cancelled() && started.elapsed() < Duration::from_secs(30) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(JobError::transient("cancelled"))
            }
        }
    }
}

fn test_worker_config() -> WorkerConfig {
    WorkerConfig {
        worker_id: "test".into(),
        concurrency: 3,
        lease_secs: 30,
        heartbeat_interval: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(300),
        kinds: Vec::new(),
    }
}

async fn wait_for(mut condition: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached within 20 s");
}

async fn worker_loop_runs_jobs(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    store.create_script_version("acme", "s1", &serde_json::json!({"rules": []})).await.unwrap();
    let mut call_ids = Vec::new();
    for idx in 0..7 {
        let mut call = new_call(&format!("agent{idx}"), "t");
        call.script_id = Some("s1".into());
        call_ids.push(store.insert_call_and_enqueue("acme", &call).await.unwrap().call_id);
    }
    let handler = Arc::new(TestHandler { handled: AtomicUsize::new(0), behaviour: Behaviour::Succeed });
    let shutdown = CancellationToken::new();
    let workers =
        tokio::spawn(run_workers(store.store.clone(), handler.clone(), test_worker_config(), shutdown.clone()));
    wait_for(async || store.job_counts().await.unwrap().done == 7).await;
    shutdown.cancel();
    workers.await.unwrap().unwrap();
    assert_eq!(handler.handled.load(Ordering::SeqCst), 7);
    for (idx, call_id) in call_ids.iter().enumerate() {
        let call = store.get_call("acme", call_id).await.unwrap().unwrap();
        assert_eq!(call.status, CallStatus::Analyzed);
        let report = store.get_report("acme", call_id).await.unwrap().unwrap();
        assert_eq!(report.transcript_text, format!("analysed call of agent{idx} with script s1"));
    }
}

async fn worker_loop_records_failures(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let mut missing_script = new_call("a", "t");
    missing_script.script_id = Some("nope".into());
    let bad_script = store.insert_call_and_enqueue("acme", &missing_script).await.unwrap();
    let bad_audio = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let handler = Arc::new(TestHandler { handled: AtomicUsize::new(0), behaviour: Behaviour::FailPermanently });
    let shutdown = CancellationToken::new();
    let workers =
        tokio::spawn(run_workers(store.store.clone(), handler.clone(), test_worker_config(), shutdown.clone()));
    wait_for(async || store.job_counts().await.unwrap().dead == 2).await;
    shutdown.cancel();
    workers.await.unwrap().unwrap();
    assert_eq!(handler.handled.load(Ordering::SeqCst), 1, "a job without its script never reaches the handler");
    let job = store.get_job("acme", &bad_script.job_id).await.unwrap().unwrap();
    assert_eq!(job.last_error.as_deref(), Some("script nope not found"));
    let call = store.get_call("acme", &bad_audio.call_id).await.unwrap().unwrap();
    assert_eq!((call.status, call.error.as_deref()), (CallStatus::Failed, Some("audio is not a recording")));
}

async fn shutdown_releases_unfinished_jobs(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let handler = Arc::new(TestHandler { handled: AtomicUsize::new(0), behaviour: Behaviour::BlockUntilCancelled });
    let shutdown = CancellationToken::new();
    let workers =
        tokio::spawn(run_workers(store.store.clone(), handler.clone(), test_worker_config(), shutdown.clone()));
    wait_for(async || store.job_counts().await.unwrap().running == 1).await;
    shutdown.cancel();
    workers.await.unwrap().unwrap();
    // Grace over: the job is back in the queue for another worker, attempt not counted.
    let job = store.get_job("acme", &enqueued.job_id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts, job.lease_owner), (JobState::Queued, 0, None));
    assert_eq!(store.claim("other", 60, &[]).await.unwrap().unwrap().id, enqueued.job_id);
}
