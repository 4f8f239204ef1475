//! The worker: consumer events in, stages over each message, batches out to the Postgres sink.
//!
//! Exactly-once effect: a batch's rows, dead letters and the next offset of each of its partitions
//! are one transaction (`PgSink::write_batch`), and partitions resume from those stored offsets. A
//! crash loses only unstored work, which is read again. A worker that lost a partition to another
//! member is fenced by the stored offset (it no longer matches), so it cannot write it twice.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};
use tracing::{info, warn};

use crate::article::{Article, DeadLetter, RawArticle};
use crate::input::envelope::decode;
use crate::input::kafka::{ConsumerEvent, ConsumerHandle, ConsumerRequest, KafkaMessage, spawn_consumer};
use crate::settings::{Settings, WorkerSettings};
use crate::sink::templates::TemplateCache;
use crate::sink::{Batch, BatchReport, PartitionPosition, PgSink, SinkError, TopicPartition};
use crate::stages::Pipeline;
use crate::stages::clean::templates::{SiteTemplates, site_key};

/// A message after decoding and the stages: an article, or a dead letter.
pub enum Outcome {
    Article(Box<Article>),
    Dead(String),
}

/// Decodes a message value and runs the stages, with the templates `site_templates` knows for the
/// article's site. Never panics, whatever the bytes.
pub fn process_message(
    pipeline: &Pipeline,
    payload: &[u8],
    key: Option<&[u8]>,
    fallback_id: impl FnOnce() -> String,
    max_message_bytes: usize,
    site_templates: impl FnOnce(&str) -> Option<Arc<SiteTemplates>>,
) -> Outcome {
    match decode(payload, key, fallback_id, max_message_bytes) {
        Ok(raw) => {
            let templates = site_of(&raw).and_then(|site| site_templates(&site));
            run_stages(pipeline, raw, templates)
        }
        Err(reason) => Outcome::Dead(reason.to_string()),
    }
}

fn site_of(raw: &RawArticle) -> Option<String> {
    site_key(raw.url.as_deref(), raw.source.as_deref())
}

fn run_stages(pipeline: &Pipeline, raw: RawArticle, templates: Option<Arc<SiteTemplates>>) -> Outcome {
    match pipeline.run(raw, templates) {
        Ok(article) => Outcome::Article(Box::new(article)),
        Err(reason) => Outcome::Dead(reason),
    }
}

/// Totals over a worker's run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunSummary {
    pub messages: u64,
    pub batches: u64,
    pub inserted: u64,
    pub updated: u64,
    pub exact_duplicates: u64,
    pub near_duplicates: u64,
    pub new_stories: u64,
    pub dead_letters: u64,
}

impl RunSummary {
    fn add(&mut self, report: &BatchReport) {
        self.batches += 1;
        self.inserted += report.inserted as u64;
        self.updated += report.updated as u64;
        self.exact_duplicates += report.exact_duplicates as u64;
        self.near_duplicates += report.near_duplicates as u64;
        self.new_stories += report.new_stories as u64;
        self.dead_letters += report.dead_letters as u64;
    }
}

/// When the worker stops on its own: on a signal, and optionally once the input has been idle.
pub struct StopWhen {
    pub shutdown: tokio_util::sync::CancellationToken,
    pub idle_for: Option<Duration>,
}

/// Runs the worker until shutdown (or idleness, when asked). Returns what it wrote.
pub async fn run(settings: &Settings, sink: PgSink, stop: StopWhen) -> anyhow::Result<RunSummary> {
    let (events_tx, events) = mpsc::channel(settings.worker.max_in_flight.max(1));
    let sink = sink.with_near_rule(settings.dedup.near).with_story_rule(settings.dedup.stories);
    let sink = if settings.templates.enabled { sink.learning_templates(settings.templates.rule) } else { sink };
    let consumer = spawn_consumer(&settings.kafka, sink.clone(), events_tx)?;
    let mut worker = Worker::new(sink, settings, consumer);
    let result = worker.event_loop(events, stop).await;
    let Worker { consumer, summary, .. } = worker;
    tokio::task::spawn_blocking(move || consumer.join()).await?;
    result.map(|()| summary)
}

struct Worker {
    sink: PgSink,
    settings: WorkerSettings,
    pipeline: Pipeline,
    consumer: ConsumerHandle,
    /// Partitions this worker owns, with the position last stored for each.
    owned: HashMap<TopicPartition, Option<i64>>,
    /// The offset each partition should deliver next, to notice offsets the broker skipped.
    reading_at: HashMap<TopicPartition, i64>,
    batch: Batch,
    batch_bytes: usize,
    batch_started: Option<Instant>,
    summary: RunSummary,
    /// Site templates learned so far, when learning is on.
    templates: Option<TemplateCache>,
}

impl Worker {
    fn new(sink: PgSink, settings: &Settings, consumer: ConsumerHandle) -> Self {
        let templates = &settings.templates;
        Worker {
            sink,
            settings: settings.worker.clone(),
            pipeline: Pipeline::default(),
            consumer,
            owned: HashMap::new(),
            reading_at: HashMap::new(),
            batch: Batch::default(),
            batch_bytes: 0,
            batch_started: None,
            summary: RunSummary::default(),
            templates: templates
                .enabled
                .then(|| TemplateCache::new(Duration::from_secs(templates.refresh_secs), templates.cache_sites)),
        }
    }

    async fn event_loop(&mut self, mut events: mpsc::Receiver<ConsumerEvent>, stop: StopWhen) -> anyhow::Result<()> {
        let linger = Duration::from_millis(self.settings.batch_linger_ms);
        let mut stopping = false;
        let mut last_message = Instant::now();
        loop {
            let flush_at = self.batch_started.map(|started| started + linger);
            // Idle counts only while partitions are owned: joining the group is not idleness.
            let idle_at = stop.idle_for.filter(|_| !self.owned.is_empty()).map(|idle| last_message + idle);
            tokio::select! {
                _ = stop.shutdown.cancelled(), if !stopping => {
                    info!("shutdown requested: finishing the current batch and leaving the group");
                    stopping = true;
                    self.consumer.stop();
                }
                _ = sleep_until(idle_at.unwrap_or_else(far_future)), if idle_at.is_some() && !stopping => {
                    info!(idle_secs = stop.idle_for.unwrap_or_default().as_secs(), "input idle: stopping");
                    stopping = true;
                    self.consumer.stop();
                }
                _ = sleep_until(flush_at.unwrap_or_else(far_future)), if flush_at.is_some() => {
                    self.flush(&stop.shutdown).await?;
                }
                event = events.recv() => match event {
                    None => break,
                    Some(ConsumerEvent::Assigned(starts)) => {
                        last_message = Instant::now();
                        for (partition, stored) in starts {
                            self.own(partition, stored);
                        }
                    }
                    Some(ConsumerEvent::Resynced(partition, stored)) => {
                        // Everything from the stored position on is delivered again.
                        self.batch.remove_partition(&partition);
                        self.own(partition, stored);
                    }
                    Some(ConsumerEvent::Message(message)) => {
                        last_message = Instant::now();
                        self.accept(message).await;
                        if self.batch_is_full() {
                            self.flush(&stop.shutdown).await?;
                        }
                    }
                    Some(ConsumerEvent::Revoked { partitions, done }) => {
                        self.flush(&stop.shutdown).await?;
                        for partition in &partitions {
                            self.owned.remove(partition);
                            self.reading_at.remove(partition);
                        }
                        let _ = done.send(());
                    }
                },
            }
        }
        self.flush(&stop.shutdown).await
    }

    async fn accept(&mut self, message: KafkaMessage) {
        let KafkaMessage { origin, key, payload } = message;
        let partition = TopicPartition::new(&origin.topic, origin.partition);
        if !self.owned.contains_key(&partition) {
            // Read before a revoke or after a fence: another member owns it now.
            return;
        }
        self.note_skipped_offsets(&partition, origin.offset);
        self.summary.messages += 1;
        self.batch_bytes += payload.len();
        self.batch_started.get_or_insert_with(Instant::now);
        let fallback_id = || format!("{}-{}-{}", origin.topic, origin.partition, origin.offset);
        let outcome = match decode(&payload, key.as_deref(), fallback_id, self.settings.max_message_bytes) {
            Ok(raw) => {
                let templates = match (&mut self.templates, site_of(&raw)) {
                    (Some(cache), Some(site)) => cache.get(self.sink.pool(), &site).await,
                    _ => None,
                };
                run_stages(&self.pipeline, raw, templates)
            }
            Err(reason) => Outcome::Dead(reason.to_string()),
        };
        match outcome {
            Outcome::Article(article) => self.batch.articles.push((*article, origin)),
            Outcome::Dead(reason) => {
                warn!(topic = %origin.topic, partition = origin.partition, offset = origin.offset, %reason, "dead letter");
                self.batch.dead_letters.push(DeadLetter { origin, key, payload, reason });
            }
        }
    }

    fn own(&mut self, partition: TopicPartition, stored: Option<i64>) {
        match stored {
            Some(next) => self.reading_at.insert(partition.clone(), next),
            None => self.reading_at.remove(&partition),
        };
        self.owned.insert(partition, stored);
    }

    /// Offsets can legitimately be missing (compacted topics, transaction markers), so a jump is
    /// not an error; but a broker that skips records would lose them silently, so it is logged.
    fn note_skipped_offsets(&mut self, partition: &TopicPartition, offset: i64) {
        if let Some(expected) = self.reading_at.insert(partition.clone(), offset + 1)
            && offset > expected
        {
            warn!(%partition, expected, delivered = offset, skipped = offset - expected, "broker skipped offsets");
        }
    }

    fn batch_is_full(&self) -> bool {
        self.batch.len() >= self.settings.batch_max_rows || self.batch_bytes >= self.settings.batch_max_bytes
    }

    /// Writes the current batch, retrying while Postgres is away. On a fence (the stored position
    /// moved: another member wrote the partition, or an operator rewound it), the partition's
    /// messages leave the batch, the rest is written, and the partition is read again from its
    /// stored position; until then its messages are ignored. The position check in every write is
    /// a compare-and-set, so whoever writes a range first writes it once.
    async fn flush(&mut self, shutdown: &tokio_util::sync::CancellationToken) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        self.batch_started = None;
        batch.positions = self.positions_after(&batch);
        let mut delay = Duration::from_millis(self.settings.retry_initial_ms);
        while !batch.is_empty() {
            match self.sink.write_batch(&mut batch).await {
                Ok(report) => {
                    self.stored(&batch, report);
                    return Ok(());
                }
                Err(SinkError::Fenced { partition, stored, expected }) => {
                    warn!(%partition, ?stored, ?expected, "stored position moved under this worker; reading again from it");
                    self.owned.remove(&partition);
                    self.reading_at.remove(&partition);
                    batch.remove_partition(&partition);
                    let _ = self.consumer.requests.send(ConsumerRequest::Resync(partition));
                }
                Err(error) if shutdown.is_cancelled() && delay.as_millis() as u64 >= self.settings.retry_max_ms => {
                    anyhow::bail!("stopping with an unwritten batch (it will be read again): {error}");
                }
                Err(error) => {
                    warn!(%error, retry_in_ms = delay.as_millis() as u64, rows = batch.len(), "batch not written; retrying");
                    sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_millis(self.settings.retry_max_ms));
                }
            }
        }
        Ok(())
    }

    fn positions_after(&self, batch: &Batch) -> Vec<PartitionPosition> {
        batch
            .next_offsets()
            .into_iter()
            .map(|(partition, next)| PartitionPosition {
                expected: self.owned.get(&partition).copied().flatten(),
                partition,
                next,
            })
            .collect()
    }

    fn stored(&mut self, batch: &Batch, report: BatchReport) {
        self.summary.add(&report);
        if let Some(cache) = &mut self.templates {
            cache.add_learned(&report.learned_templates);
        }
        let mut commits = Vec::with_capacity(batch.positions.len());
        for position in &batch.positions {
            self.owned.insert(position.partition.clone(), Some(position.next));
            commits.push((position.partition.clone(), position.next));
        }
        let _ = self.consumer.requests.send(ConsumerRequest::Commit(commits));
        info!(
            rows = batch.len(),
            inserted = report.inserted,
            updated = report.updated,
            exact_duplicates = report.exact_duplicates,
            near_duplicates = report.near_duplicates,
            new_stories = report.new_stories,
            dead_letters = report.dead_letters,
            templates_learned = report.learned_templates.len(),
            "batch stored"
        );
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
