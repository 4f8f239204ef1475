//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::input::replay::{ReplayFrom, ReplayTo};
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
    /// Re-read a range of a topic through the stages and upsert the results, outside the live
    /// group (its position is untouched): backfill a new database or re-process after a change.
    Replay(ReplayArgs),
    /// List stored dead letters, or retry them through the pipeline after a fix.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
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
pub struct ReplayArgs {
    /// Topic to replay [default: the first of kafka.topics].
    #[arg(long)]
    pub topic: Option<String>,

    /// `earliest`, an RFC 3339 time (records whose timestamp is at or after it), or
    /// partition:offset pairs (`0:1200,3:0`: only those partitions, from those offsets).
    #[arg(long, value_name = "START", default_value = "earliest")]
    pub from: ReplayFrom,

    /// `latest` (each partition's end when the replay starts) or an RFC 3339 time (records whose
    /// timestamp is before it).
    #[arg(long, value_name = "END", default_value = "latest")]
    pub to: ReplayTo,

    /// Run everything, report what would change (new, updated and unchanged rows, the columns that
    /// change), and store nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not apply migrations first, whatever database.migrate_on_start says.
    #[arg(long)]
    pub no_migrate: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Print stored dead letters, oldest first, and the count of each kind.
    List(DeadLetterFilter),
    /// Run stored dead letters through the pipeline again; those that now become articles are
    /// stored and removed, the others keep their (updated) reason.
    Retry {
        #[command(flatten)]
        filter: DeadLetterFilter,
        /// Report what would happen and store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct DeadLetterFilter {
    /// Only dead letters of this kind (`broken_json`, `too_large`, …) or whose reason contains this text.
    #[arg(long)]
    pub reason: Option<String>,

    /// At most this many dead letters.
    #[arg(long, default_value_t = 1000)]
    pub limit: i64,
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
