//! The Postgres sink: one transaction per batch holding its articles, its dead letters and the next
//! offset of every partition it covers — so a crash anywhere leaves either all of it or none of it.
//! Only its links are committed just before (`PgSink::link_batch`): the copy claims and signatures in
//! one short transaction, the stories its articles join in another (`stories`). Both are keyed by the
//! articles' own ids and recorded per article, so a retry, or another worker reading the batch
//! again, finds them and places nothing twice.

mod batch;
mod connection;
pub mod maintenance;
mod near;
mod order;
mod postgres;
mod stories;
pub mod templates;

pub use batch::{Batch, PartitionPosition, TopicPartition};
pub use order::{WriteOrder, WriteTurn};
pub use postgres::{BatchReport, Linked, PgSink, SinkError, SinkTimes};
