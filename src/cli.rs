//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "article-ingest",
    version,
    about = "Turns a Kafka stream of raw news articles into clean, deduplicated rows in PostgreSQL.",
    long_about = "Turns a Kafka stream of raw news articles into clean, deduplicated rows in PostgreSQL.\n\n\
        Each message runs through three stages — boilerplate stripping, deduplication, metadata \
        extraction — and lands in Postgres exactly once: rows and partition positions are written \
        in one transaction.\n\n\
        Configuration: built-in defaults (config/default.toml), then --config FILE, then \
        ARTICLE_INGEST__<SECTION>__<KEY> environment variables, then DATABASE_URL."
)]
pub struct Cli {
    /// A TOML file layered over the built-in defaults.
    #[arg(long, global = true, env = "ARTICLE_INGEST_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker: consume the topics, run the stages, write to Postgres until stopped.
    Run(RunArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Publish .txt/.html/.jsonl files (or directories of them) to a topic.
    Produce(ProduceArgs),
    /// Offline: run the stages over JSONL envelopes or .txt/.html files, one JSON article per line on stdout.
    Process(ProcessArgs),
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Host an in-process Kafka mock cluster (librdkafka's) for demos and local trials.
    DevBroker(DevBrokerArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Stop (exit 0) once no message has arrived for this many seconds while partitions are
    /// assigned: drain a topic and exit.
    #[arg(long, value_name = "SECONDS")]
    pub exit_on_idle: Option<u64>,

    /// Do not apply migrations on start, whatever database.migrate_on_start says.
    #[arg(long)]
    pub no_migrate: bool,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Files or directories to publish; `-` reads JSONL from stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Topic to publish to [default: the first of kafka.topics].
    #[arg(long)]
    pub topic: Option<String>,

    /// bootstrap.servers [default: kafka.brokers].
    #[arg(long)]
    pub brokers: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// JSONL files, .txt/.html files or directories; none or `-` reads JSONL from stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DevBrokerArgs {
    /// Topic to create.
    #[arg(long, default_value = "articles")]
    pub topic: String,

    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,

    /// Also write the bootstrap servers to this file (for scripts).
    #[arg(long, value_name = "FILE")]
    pub brokers_file: Option<PathBuf>,
}
