//! Running analysis jobs: a batch of files with bounded parallelism, where one bad file never
//! stops the others. The durable queue of the service will live here too.

pub mod batch;
