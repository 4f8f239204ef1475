//! The Postgres sink: one transaction per batch holding its articles, its dead letters and the next
//! offset of every partition it covers — so a crash anywhere leaves either all of it or none of it.
//! Only the stories the batch's articles join are committed just before, in a short transaction of
//! their own (`stories`), recorded per article so that a retry places nothing twice.

mod batch;
mod connection;
mod near;
mod postgres;
mod stories;
pub mod templates;

pub use batch::{Batch, PartitionPosition, TopicPartition};
pub use postgres::{BatchReport, PgSink, SinkError, SinkTimes};
