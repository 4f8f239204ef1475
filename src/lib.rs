//! article-ingest: Kafka → clean → dedup → metadata → PostgreSQL, exactly once.
//!
//! The modules follow the flow: `input` (Kafka consumer, envelope decoding, files) → `stages`
//! (one module each, pure steps over an `Article`) → `sink` (Postgres) , with `worker` joining
//! them and `commands` behind the CLI.

pub mod article;
pub mod cli;
pub mod commands;
pub mod input;
pub mod ops;
pub mod settings;
pub mod sink;
pub mod stages;
pub mod telemetry;
pub mod worker;
