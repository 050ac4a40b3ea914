//! Several processes on one database: limits they share (request-rate and quota buckets, capacity
//! slots) on SQLite and PostgreSQL, two `Store`s standing for two API processes; and workers
//! riding out outages: a store that does not answer is waited for, never a reason to dead-letter.

#![allow(clippy::unwrap_used)] // a panic is how a test reports failure

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use callsight_workers::store::{Admission, CallStatus};
use callsight_workers::{
    ClaimedJob, JobError, JobHandler, JobOutcome, JobState, QueueConfig, Store, WorkerConfig, run_workers,
};
use common::pg::PgCluster;
use common::{Db, TestDb, analysis, new_call, open};
use tokio_util::sync::CancellationToken;

both_backends!(
    a_bucket_is_shared_by_every_process,
    concurrent_takes_never_exceed_the_capacity,
    refused_takes_say_when_to_retry_and_give_backs_make_room,
    capacity_slots_are_shared_and_released,
    an_outage_never_dead_letters_a_job,
);

/// A second handle on the same database, as a second API process would have.
async fn second_process(first: &TestDb) -> Store {
    Store::connect_with(&first.url, QueueConfig::default()).await.unwrap()
}

async fn a_bucket_is_shared_by_every_process(db: Db) {
    let first = open(db, QueueConfig::default()).await;
    let second = second_process(&first).await;
    // 5 per minute: three here and two there use it up for both.
    for store in [&first.store, &first.store, &first.store, &second, &second] {
        assert!(matches!(store.take_from_bucket("rate:k1", 1, 5, 60_000).await.unwrap(), Admission::Admitted { .. }));
    }
    for store in [&first.store, &second] {
        let refused = store.take_from_bucket("rate:k1", 1, 5, 60_000).await.unwrap();
        assert!(matches!(refused, Admission::Refused { retry_after_secs: Some(secs) } if (1..=60).contains(&secs)), "{refused:?}");
    }
    // Another scope has its own bucket.
    assert!(matches!(second.take_from_bucket("rate:k2", 1, 5, 60_000).await.unwrap(), Admission::Admitted { .. }));
}

async fn concurrent_takes_never_exceed_the_capacity(db: Db) {
    let first = open(db, QueueConfig::default()).await;
    let second = second_process(&first).await;
    let mut takers = tokio::task::JoinSet::new();
    for taker_idx in 0..24 {
        let store = if taker_idx % 2 == 0 { first.store.clone() } else { second.clone() };
        takers.spawn(async move { store.take_from_bucket("upload_audio:acme", 1_000, 10_000, 3_600_000).await.unwrap() });
    }
    let mut admitted = 0;
    while let Some(answer) = takers.join_next().await {
        if matches!(answer.unwrap(), Admission::Admitted { .. }) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10, "10 s of audio per hour admits exactly ten 1-second uploads, whichever process takes them");
}

async fn refused_takes_say_when_to_retry_and_give_backs_make_room(db: Db) {
    let store = open(db, QueueConfig::default()).await;
    // Half the hourly quota, then all of it: the second is refused.
    let Admission::Admitted { cost_ms } = store.take_from_bucket("upload_audio:t", 1_800, 3_600, 3_600_000).await.unwrap() else {
        panic!("the first half fits");
    };
    let refused = store.take_from_bucket("upload_audio:t", 3_600, 3_600, 3_600_000).await.unwrap();
    let Admission::Refused { retry_after_secs: Some(retry_after_secs) } = refused else { panic!("{refused:?}") };
    // Room for the whole quota again once the first half has refilled (about half an hour).
    assert!((1_700..=1_800).contains(&retry_after_secs), "{retry_after_secs}");
    // More than the whole capacity can never fit.
    assert_eq!(
        store.take_from_bucket("upload_audio:t", 3_601, 3_600, 3_600_000).await.unwrap(),
        Admission::Refused { retry_after_secs: None }
    );
    // The first upload was refused later after all: giving it back makes room at once.
    store.give_back_to_bucket("upload_audio:t", cost_ms).await.unwrap();
    assert!(matches!(
        store.take_from_bucket("upload_audio:t", 3_600, 3_600, 3_600_000).await.unwrap(),
        Admission::Admitted { .. }
    ));
}

async fn capacity_slots_are_shared_and_released(db: Db) {
    let first = open(db, QueueConfig::default()).await;
    let second = second_process(&first).await;
    assert!(first.acquire_slot("live_streams", "stream-a", 2, 60).await.unwrap());
    assert!(second.acquire_slot("live_streams", "stream-b", 2, 60).await.unwrap());
    assert!(!first.acquire_slot("live_streams", "stream-c", 2, 60).await.unwrap(), "both slots are taken");
    // Holding a slot already is not a second one.
    assert!(first.acquire_slot("live_streams", "stream-a", 2, 60).await.unwrap());
    assert_eq!(second.slots_in_use("live_streams").await.unwrap(), 2);
    assert!(second.renew_slot("live_streams", "stream-b", 60).await.unwrap());
    first.release_slot("live_streams", "stream-a").await.unwrap();
    assert!(second.acquire_slot("live_streams", "stream-c", 2, 60).await.unwrap());
    assert!(!second.renew_slot("live_streams", "stream-a", 60).await.unwrap(), "a released slot cannot be renewed");
    // Concurrent acquisitions from both processes: never more than the limit.
    let mut takers = tokio::task::JoinSet::new();
    for taker_idx in 0..16 {
        let store = if taker_idx % 2 == 0 { first.store.clone() } else { second.clone() };
        takers.spawn(async move { store.acquire_slot("per_key:k", &format!("s{taker_idx}"), 5, 60).await.unwrap() });
    }
    let mut acquired = 0;
    while let Some(answer) = takers.join_next().await {
        acquired += usize::from(answer.unwrap());
    }
    assert_eq!(acquired, 5);
}

/// Fails with "store unreachable" on its first `outages` calls, then succeeds.
struct FlakyStoreHandler {
    outages: usize,
    handled: AtomicUsize,
}

impl JobHandler for FlakyStoreHandler {
    fn handle(&self, _job: &ClaimedJob) -> Result<JobOutcome, JobError> {
        let call_idx = self.handled.fetch_add(1, Ordering::SeqCst);
        if call_idx < self.outages {
            Err(JobError::unavailable("voiceprint index (qdrant-server) is unreachable: connection refused"))
        } else {
            Ok(JobOutcome::Analyzed(analysis("after the outage", &[], false, "neutral")))
        }
    }
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        worker_id: "outage".into(),
        concurrency: 1,
        lease_secs: 30,
        heartbeat_interval: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        shutdown_grace: Duration::from_millis(300),
        kinds: Vec::new(),
    }
}

async fn wait_for(limit: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("condition not reached within {} s", limit.as_secs());
}

async fn an_outage_never_dead_letters_a_job(db: Db) {
    // One attempt allowed: any counted failure would dead-letter the job at once.
    let queue = QueueConfig { default_max_attempts: 1, backoff_base_secs: 1, ..QueueConfig::default() };
    let store = open(db, queue).await;
    let enqueued = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let handler = Arc::new(FlakyStoreHandler { outages: 3, handled: AtomicUsize::new(0) });
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn(run_workers(store.store.clone(), handler.clone(), worker_config(), shutdown.clone()));
    wait_for(Duration::from_secs(60), async || store.job_counts().await.unwrap().done == 1).await;
    shutdown.cancel();
    workers.await.unwrap().unwrap();
    assert_eq!(handler.handled.load(Ordering::SeqCst), 4, "three outages, then the analysis");
    let job = store.get_job("acme", &enqueued.job_id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Done, 1), "the outages were not counted as attempts");
    let call = store.get_call("acme", &enqueued.call_id).await.unwrap().unwrap();
    assert_eq!(call.status, CallStatus::Analyzed);
}

/// Waits until `release` says go, then succeeds: a job that is running while the database goes
/// away and comes back.
struct GatedHandler {
    started: tokio::sync::mpsc::UnboundedSender<()>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    handled: AtomicUsize,
}

impl JobHandler for GatedHandler {
    fn handle(&self, _job: &ClaimedJob) -> Result<JobOutcome, JobError> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let _ = self.started.send(());
        let release = self.release.lock().unwrap();
        let _ = release.recv_timeout(Duration::from_secs(120));
        Ok(JobOutcome::Analyzed(analysis("finished during the outage", &[], false, "neutral")))
    }
}

/// PostgreSQL stops while a job runs and while workers poll, then starts again: the finished
/// job's result is stored once the database is back (not thrown away, not counted again), and
/// jobs enqueued after the restart are claimed by the same worker loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_ride_out_a_postgresql_restart() {
    let cluster = PgCluster::start();
    let url = cluster.create_database();
    let queue = QueueConfig { default_max_attempts: 1, ..QueueConfig::default() };
    let store = Store::connect_with(&url, queue).await.unwrap();
    let first = store.insert_call_and_enqueue("acme", &new_call("a", "t")).await.unwrap();
    let (started_sender, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (release_sender, release) = std::sync::mpsc::channel();
    let handler = Arc::new(GatedHandler {
        started: started_sender,
        release: std::sync::Mutex::new(release),
        handled: AtomicUsize::new(0),
    });
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn(run_workers(store.clone(), handler.clone(), worker_config(), shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(30), started.recv()).await.expect("the job starts").unwrap();

    cluster.stop();
    // The job finishes while the database is down; the worker must hold on to its result.
    release_sender.send(()).unwrap();
    // Long enough for the result write to fail and back off at least once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.restart();

    wait_for(Duration::from_secs(60), async || matches!(store.job_counts().await, Ok(counts) if counts.done == 1)).await;
    let job = store.get_job("acme", &first.job_id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempts), (JobState::Done, 1));
    assert_eq!(handler.handled.load(Ordering::SeqCst), 1, "analysed once");

    // The loop kept running through the outage: a new job is taken.
    let second = store.insert_call_and_enqueue("acme", &new_call("b", "t")).await.unwrap();
    release_sender.send(()).unwrap();
    wait_for(Duration::from_secs(60), async || store.job_counts().await.unwrap().done == 2).await;
    let job = store.get_job("acme", &second.job_id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(store.job_counts().await.unwrap().dead, 0);
    shutdown.cancel();
    workers.await.unwrap().unwrap();
    store.close().await;
}
