//! Where articles come from: Kafka messages (the worker's group consumer, and the bounded reader
//! `replay` uses), files (`process`, `produce`), and the decoding of one message value into a
//! `RawArticle` or a dead letter.

pub mod envelope;
pub mod files;
pub mod kafka;
pub mod replay;
