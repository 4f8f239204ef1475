//! The worker's metrics, in the Prometheus/OpenMetrics text format.
//!
//! `prometheus-client` (the Prometheus project's own Rust client) rather than the `metrics` facade:
//! its registry is a value, not a process-wide global, so each worker (and each test running
//! several workers in one process) serves exactly its own figures, and the metric families are
//! typed fields here rather than names repeated at every call site.
//!
//! The worker does not touch these fields directly: it reports typed events (`ops::events`), each
//! of which knows which metrics it moves.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::sink::TopicPartition;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds from 50 µs to about 13 minutes: a stage on one article sits at the bottom, a batch
/// write retried while Postgres is away at the top.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 24))
}

/// Rows per batch, 1 to 8,192.
fn rows_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 14))
}

/// Bytes per batch, 1 KiB to 256 MiB.
fn bytes_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1024.0, 4.0, 10))
}

pub struct Metrics {
    registry: Registry,
    pub messages_consumed: Family<TopicLabel, Counter>,
    pub articles_written: Family<OutcomeLabel, Counter>,
    pub duplicates: Family<KindLabel, Counter>,
    pub stories_opened: Counter,
    pub dead_letters: Family<KindLabel, Counter>,
    pub templates_learned: Counter,
    pub story_cache_stories: Gauge,
    pub template_cache_sites: Gauge,
    pub batch_rows: Histogram,
    pub batch_bytes: Histogram,
    pub stage_seconds: HistogramFamily<StageLabel>,
    pub batch_stages_seconds: Histogram,
    pub sink_seconds: Histogram,
    pub sink_step_seconds: HistogramFamily<StepLabel>,
    pub sink_retries: Counter,
    pub fenced: Counter,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub assigned_partitions: Gauge,
    lag: Mutex<HashMap<TopicPartition, LagInputs>>,
}

/// What a partition's lag is computed from: the broker's offsets (from librdkafka statistics)
/// and the position stored in Postgres (from the worker).
#[derive(Debug, Default, Clone, Copy)]
struct LagInputs {
    /// Log start and end (the last stable offset under read_committed).
    broker: Option<(i64, i64)>,
    /// The next offset to read, as stored with the rows; `None`: nothing stored yet.
    stored: Option<i64>,
}

impl LagInputs {
    /// Messages on the broker not yet stored in Postgres.
    fn lag(&self) -> Option<i64> {
        let (start, end) = self.broker?;
        Some((end - self.stored.unwrap_or(start).max(start)).max(0))
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("article_ingest");
        let metrics = Metrics {
            messages_consumed: Family::default(),
            articles_written: Family::default(),
            duplicates: Family::default(),
            stories_opened: Counter::default(),
            dead_letters: Family::default(),
            templates_learned: Counter::default(),
            story_cache_stories: Gauge::default(),
            template_cache_sites: Gauge::default(),
            batch_rows: rows_histogram(),
            batch_bytes: bytes_histogram(),
            stage_seconds: Family::new_with_constructor(seconds_histogram),
            batch_stages_seconds: seconds_histogram(),
            sink_seconds: seconds_histogram(),
            sink_step_seconds: Family::new_with_constructor(seconds_histogram),
            sink_retries: Counter::default(),
            fenced: Counter::default(),
            consumer_lag: Family::default(),
            assigned_partitions: Gauge::default(),
            lag: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("messages_consumed", "Messages read from Kafka", metrics.messages_consumed.clone());
        r.register(
            "articles_written",
            "Articles landed in Postgres: inserted, updated (content changed) or unchanged",
            metrics.articles_written.clone(),
        );
        r.register(
            "duplicates",
            "Articles linked to an earlier copy, by kind (exact, near)",
            metrics.duplicates.clone(),
        );
        r.register("stories_opened", "Articles that opened a new story", metrics.stories_opened.clone());
        r.register("dead_letters", "Messages stored as dead letters, by kind", metrics.dead_letters.clone());
        r.register("templates_learned", "Lines learned as a site's template", metrics.templates_learned.clone());
        r.register(
            "story_cache_stories",
            "Stories held in the worker's story cache (active within the window around where each partition is reading)",
            metrics.story_cache_stories.clone(),
        );
        r.register(
            "template_cache_sites",
            "Sites whose templates the worker holds (at most templates.cache_sites)",
            metrics.template_cache_sites.clone(),
        );
        r.register("batch_rows", "Messages per written batch", metrics.batch_rows.clone());
        r.register("batch_bytes", "Message bytes per written batch", metrics.batch_bytes.clone());
        r.register("stage_seconds", "Time one article spent in a stage", metrics.stage_seconds.clone());
        r.register(
            "batch_stages_seconds",
            "Wall time a batch spent in the stages (all cores)",
            metrics.batch_stages_seconds.clone(),
        );
        r.register("sink_seconds", "Time to write one batch, retries included", metrics.sink_seconds.clone());
        r.register("sink_step_seconds", "Time per step of a batch's transaction", metrics.sink_step_seconds.clone());
        r.register("sink_retries", "Batch writes retried after a database error", metrics.sink_retries.clone());
        r.register("fenced", "Writes refused because another worker stored the partition", metrics.fenced.clone());
        r.register(
            "consumer_lag",
            "Messages on the broker not yet stored in Postgres, per partition",
            metrics.consumer_lag.clone(),
        );
        r.register("assigned_partitions", "Partitions this worker owns", metrics.assigned_partitions.clone());
        Metrics { registry, ..metrics }
    }

    /// The registry in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// The broker's offsets for a partition this worker reads (librdkafka statistics).
    pub fn broker_offsets(&self, partition: &TopicPartition, log_start: i64, log_end: i64) {
        self.update_lag(partition, |inputs| inputs.broker = Some((log_start, log_end)));
    }

    /// The position stored in Postgres for a partition, after a batch or on assignment.
    pub fn stored_position(&self, partition: &TopicPartition, next: Option<i64>) {
        self.update_lag(partition, |inputs| inputs.stored = next);
    }

    /// A partition let go: its lag is another member's to report.
    pub fn forget_partition(&self, partition: &TopicPartition) {
        self.lag.lock().expect("lag lock").remove(partition);
        self.consumer_lag.remove(&partition_labels(partition));
    }

    /// Whether this worker tracks the partition (assigned and not yet let go).
    pub fn tracks_partition(&self, partition: &TopicPartition) -> bool {
        self.lag.lock().expect("lag lock").contains_key(partition)
    }

    fn update_lag(&self, partition: &TopicPartition, change: impl FnOnce(&mut LagInputs)) {
        let mut lag = self.lag.lock().expect("lag lock");
        let inputs = lag.entry(partition.clone()).or_default();
        change(inputs);
        if let Some(value) = inputs.lag() {
            self.consumer_lag.get_or_create(&partition_labels(partition)).set(value);
        }
    }
}

fn partition_labels(partition: &TopicPartition) -> PartitionLabels {
    PartitionLabels { topic: partition.topic.clone(), partition: partition.partition }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_broker_end_minus_the_stored_position() {
        let metrics = Metrics::new();
        let partition = TopicPartition::new("articles", 3);
        metrics.stored_position(&partition, Some(40));
        assert!(!metrics.render().contains("consumer_lag{"), "no lag before the broker's offsets are known");
        metrics.broker_offsets(&partition, 0, 100);
        assert!(metrics.render().contains(r#"article_ingest_consumer_lag{topic="articles",partition="3"} 60"#));
        metrics.stored_position(&partition, Some(100));
        assert!(metrics.render().contains(r#"article_ingest_consumer_lag{topic="articles",partition="3"} 0"#));
    }

    #[test]
    fn a_partition_never_stored_lags_by_everything_the_broker_still_holds() {
        let metrics = Metrics::new();
        let partition = TopicPartition::new("articles", 0);
        metrics.stored_position(&partition, None);
        metrics.broker_offsets(&partition, 10, 25);
        assert!(metrics.render().contains(r#"article_ingest_consumer_lag{topic="articles",partition="0"} 15"#));
    }

    #[test]
    fn a_forgotten_partition_leaves_the_lag_gauge() {
        let metrics = Metrics::new();
        let partition = TopicPartition::new("articles", 1);
        metrics.broker_offsets(&partition, 0, 5);
        metrics.forget_partition(&partition);
        assert!(!metrics.render().contains("partition=\"1\""));
        assert!(!metrics.tracks_partition(&partition));
    }

    #[test]
    fn counters_render_with_the_prefix_and_total_suffix() {
        let metrics = Metrics::new();
        metrics.articles_written.get_or_create(&OutcomeLabel { outcome: "inserted" }).inc_by(3);
        let text = metrics.render();
        assert!(text.contains(r#"article_ingest_articles_written_total{outcome="inserted"} 3"#), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
