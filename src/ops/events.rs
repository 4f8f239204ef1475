//! Typed internal events: what happened, reported once, logged and counted in one place.

use std::time::Duration;

use tracing::{info, warn};

use super::Ops;
use super::metrics::{KindLabel, OutcomeLabel, StepLabel, TopicLabel};
use crate::article::DeadLetter;
use crate::sink::{Batch, BatchReport, SinkError, TopicPartition};

pub trait InternalEvent {
    fn emit(self, ops: &Ops);
}

pub struct MessageConsumed<'a> {
    pub topic: &'a str,
}

impl InternalEvent for MessageConsumed<'_> {
    fn emit(self, ops: &Ops) {
        ops.metrics.messages_consumed.get_or_create(&TopicLabel { topic: self.topic.to_owned() }).inc();
    }
}

/// The group gave this member partitions, each with the position stored for it.
pub struct PartitionsAssigned<'a> {
    pub partitions: &'a [(TopicPartition, Option<i64>)],
}

impl InternalEvent for PartitionsAssigned<'_> {
    fn emit(self, ops: &Ops) {
        for (partition, stored) in self.partitions {
            ops.metrics.stored_position(partition, *stored);
        }
        ops.metrics.assigned_partitions.inc_by(self.partitions.len() as i64);
        ops.readiness.set_assigned(true);
    }
}

pub struct PartitionsRevoked<'a> {
    pub partitions: &'a [TopicPartition],
}

impl InternalEvent for PartitionsRevoked<'_> {
    fn emit(self, ops: &Ops) {
        for partition in self.partitions {
            ops.metrics.forget_partition(partition);
        }
        ops.metrics.assigned_partitions.dec_by(self.partitions.len() as i64);
    }
}

/// A message that will be stored as a dead letter.
pub struct DeadLettered<'a> {
    pub dead: &'a DeadLetter,
}

impl InternalEvent for DeadLettered<'_> {
    fn emit(self, _ops: &Ops) {
        let origin = &self.dead.origin;
        warn!(
            topic = %origin.topic,
            partition = origin.partition,
            offset = origin.offset,
            kind = self.dead.kind,
            reason = %self.dead.reason,
            "dead letter"
        );
    }
}

/// A batch came out of the stages.
pub struct BatchStaged {
    pub took: Duration,
    /// Sites in the worker's template cache, when it learns templates.
    pub cached_sites: Option<usize>,
}

impl InternalEvent for BatchStaged {
    fn emit(self, ops: &Ops) {
        ops.metrics.batch_stages_seconds.observe(self.took.as_secs_f64());
        if let Some(sites) = self.cached_sites {
            ops.metrics.template_cache_sites.set(sites as i64);
        }
    }
}

/// A batch's transaction committed (or, in a dry run, was rolled back after doing everything).
pub struct BatchStored<'a> {
    pub batch: &'a Batch,
    pub report: &'a BatchReport,
    pub took: Duration,
}

impl InternalEvent for BatchStored<'_> {
    fn emit(self, ops: &Ops) {
        let (metrics, report) = (&ops.metrics, self.report);
        for (outcome, count) in
            [("inserted", report.inserted), ("updated", report.updated), ("unchanged", report.unchanged)]
        {
            metrics.articles_written.get_or_create(&OutcomeLabel { outcome }).inc_by(count as u64);
        }
        metrics.duplicates.get_or_create(&KindLabel { kind: "exact" }).inc_by(report.exact_duplicates as u64);
        metrics.duplicates.get_or_create(&KindLabel { kind: "near" }).inc_by(report.near_duplicates as u64);
        metrics.stories_opened.inc_by(report.new_stories as u64);
        metrics.story_cache_stories.set(report.cached_stories as i64);
        for dead in &self.batch.dead_letters {
            metrics.dead_letters.get_or_create(&KindLabel { kind: dead.kind }).inc();
        }
        metrics.templates_learned.inc_by(report.learned_templates.len() as u64);
        metrics.batch_rows.observe(self.batch.len() as f64);
        metrics.batch_bytes.observe(self.batch.bytes as f64);
        metrics.sink_seconds.observe(self.took.as_secs_f64());
        for (step, took) in report.times.steps() {
            metrics.sink_step_seconds.get_or_create(&StepLabel { step }).observe(took.as_secs_f64());
        }
        for position in &self.batch.positions {
            metrics.stored_position(&position.partition, Some(position.next));
        }
        info!(
            rows = self.batch.len(),
            inserted = report.inserted,
            updated = report.updated,
            unchanged = report.unchanged,
            exact_duplicates = report.exact_duplicates,
            near_duplicates = report.near_duplicates,
            new_stories = report.new_stories,
            dead_letters = report.dead_letters,
            templates_learned = report.learned_templates.len(),
            write_ms = self.took.as_millis() as u64,
            "batch stored"
        );
    }
}

/// A batch write failed and will be tried again.
pub struct BatchWriteFailed<'a> {
    pub error: &'a SinkError,
    /// "link" (copies and stories, ahead of the write) or "write".
    pub step: &'static str,
    pub rows: usize,
    pub retry_in: Duration,
}

impl InternalEvent for BatchWriteFailed<'_> {
    fn emit(self, ops: &Ops) {
        ops.metrics.sink_retries.inc();
        warn!(error = %self.error, step = self.step, retry_in_ms = self.retry_in.as_millis() as u64, rows = self.rows, "batch not written; retrying");
    }
}

/// Another worker stored this partition since this one last did: it reads again from there.
pub struct WriteFenced<'a> {
    pub partition: &'a TopicPartition,
    pub stored: Option<i64>,
    pub expected: Option<i64>,
}

impl InternalEvent for WriteFenced<'_> {
    fn emit(self, ops: &Ops) {
        ops.metrics.fenced.inc();
        ops.metrics.forget_partition(self.partition);
        warn!(partition = %self.partition, stored = ?self.stored, expected = ?self.expected, "stored position moved under this worker; reading again from it");
    }
}
