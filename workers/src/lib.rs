//! Running analysis jobs: a batch of files with bounded parallelism, where one bad file never
//! stops the others (`batch`), and the service's side: the database (`store`), the durable job
//! queue with leases (`queue`) and the worker loop (`runner`).

pub mod batch;
pub mod error;
pub mod queue;
pub mod runner;
pub mod store;

pub use error::{Result, WorkersError};
pub use queue::{JobCounts, JobKind, JobRecord, JobState, Retry};
pub use runner::{ClaimedJob, JobError, JobHandler, JobOutcome, WorkerConfig, run_workers};
pub use store::{Backend, QueueConfig, Store, new_id, now_secs};
