//! Where articles come from: Kafka messages (the worker), files (`process`, `produce`), and the
//! decoding of one message value into a `RawArticle` or a dead letter.

pub mod envelope;
pub mod files;
pub mod kafka;
