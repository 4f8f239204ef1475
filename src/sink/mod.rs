//! The Postgres sink: one transaction per batch holding its articles, its dead letters and the next
//! offset of every partition it covers — so a crash anywhere leaves either all of it or none of it.

mod batch;
mod near;
mod postgres;
mod stories;
pub mod templates;

pub use batch::{Batch, PartitionPosition, TopicPartition};
pub use postgres::{BatchReport, PgSink, SinkError, SinkTimes};
