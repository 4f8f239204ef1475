//! The worker: consumer events in, stages over each message, batches out to the Postgres sink.
//!
//! Exactly-once effect: a batch's rows, dead letters and the next offset of each of its partitions
//! are one transaction (`PgSink::write_batch`), and partitions resume from those stored offsets. A
//! crash loses only unstored work, which is read again. A worker that lost a partition to another
//! member is fenced by the stored position (it no longer matches), so it cannot write it twice.
//!
//! Four steps overlap: the event loop decodes messages as they arrive; a sealed batch runs through
//! the stages on every core (rayon, order kept); the batch before it has its copies and stories
//! linked and committed (`PgSink::link_batch`, short); and the one before that has its articles
//! written (the longest step), `worker.concurrent_writes` at a time, each in a transaction on its
//! own connection. Batches are linked one at a time in arrival order, so each is linked against
//! every batch before it. Writes start in the same order and commit in it (`sink::order`): a write's
//! positions continue from the write before it, and are checked and stored only once that one has
//! committed, so positions advance in order. When a write is fenced or given up, the writes after it
//! are written again after it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::article::{Article, DeadLetter, Origin, RawArticle, STAGE_FAILED};
use crate::input::envelope::decode;
use crate::input::kafka::{ConsumerEvent, ConsumerHandle, ConsumerRequest, KafkaMessage, spawn_consumer};
use crate::input::replay::{ReplayCounters, ReplayReader};
use crate::ops::Ops;
use crate::ops::events::{
    BatchStaged, BatchStored, BatchWriteFailed, DeadLettered, InternalEvent, MessageConsumed, PartitionsAssigned,
    PartitionsRevoked, WriteFenced,
};
use crate::ops::metrics::StageLabel;
use crate::settings::{Settings, TemplateSettings, WorkerSettings};
use crate::sink::templates::TemplateCache;
use crate::sink::{
    Batch, BatchReport, PartitionPosition, PgSink, SinkError, SinkTimes, TopicPartition, WriteOrder, WriteTurn,
};
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

/// Totals over a worker's run, and where its time went.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub messages: u64,
    pub batches: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// How many updated rows changed each column (only when the sink reports changes).
    pub changed_columns: BTreeMap<String, i64>,
    /// Stored dead letters retried into articles and removed.
    pub retired_dead_letters: u64,
    pub exact_duplicates: u64,
    pub near_duplicates: u64,
    pub new_stories: u64,
    pub dead_letters: u64,
    /// Decoding messages, in the event loop.
    pub decode_time: Duration,
    /// Each stage, summed over the threads that ran it.
    pub stage_times: Vec<(&'static str, Duration)>,
    /// Linking batches ahead of their writes (`PgSink::link_batch`), retries included.
    pub link_time: Duration,
    /// Whole batch writes, retries included.
    pub write_time: Duration,
    pub sink_times: SinkTimes,
}

impl RunSummary {
    fn add(&mut self, report: &BatchReport) {
        self.batches += 1;
        self.inserted += report.inserted as u64;
        self.updated += report.updated as u64;
        self.unchanged += report.unchanged as u64;
        self.retired_dead_letters += report.retired_dead_letters as u64;
        for (column, count) in &report.changed_columns {
            *self.changed_columns.entry(column.clone()).or_default() += count;
        }
        self.exact_duplicates += report.exact_duplicates as u64;
        self.near_duplicates += report.near_duplicates as u64;
        self.new_stories += report.new_stories as u64;
        self.dead_letters += report.dead_letters as u64;
        self.sink_times += report.times;
    }
}

/// When the worker stops on its own: on a signal, and optionally once the input has been idle.
pub struct StopWhen {
    pub shutdown: CancellationToken,
    pub idle_for: Option<Duration>,
}

/// Called after each stored batch with the totals so far (`replay`'s progress bar).
pub type Progress = Box<dyn FnMut(&RunSummary) + Send>;

/// Runs the worker until shutdown (or idleness, when asked). Returns what it wrote.
pub async fn run(settings: &Settings, sink: PgSink, stop: StopWhen) -> anyhow::Result<RunSummary> {
    run_observed(settings, sink, stop, Arc::new(Ops::default())).await
}

/// `run`, reporting to `ops` (served on /metrics, /readyz by the caller).
pub async fn run_observed(
    settings: &Settings,
    sink: PgSink,
    stop: StopWhen,
    ops: Arc<Ops>,
) -> anyhow::Result<RunSummary> {
    let (events_tx, events) = mpsc::channel(settings.worker.max_in_flight.max(1));
    let sink = with_rules(sink, settings);
    let consumer = spawn_consumer(&settings.kafka, sink.clone(), ops.clone(), events_tx)?;
    let worker = Worker::new(sink, settings, consumer, stop.shutdown.clone(), ops, Positions::Stored);
    worker.run(events, stop).await
}

/// Runs the stages over a bounded range read by `reader` and upserts the results, storing no
/// position: the live group's positions are not the replay's to move, and upserts by id make a
/// range replayed twice land once. Ends when the range is read (or on shutdown).
pub async fn replay(
    settings: &Settings,
    sink: PgSink,
    reader: ReplayReader,
    counters: Arc<ReplayCounters>,
    stop: StopWhen,
    progress: Progress,
) -> anyhow::Result<RunSummary> {
    let (events_tx, events) = mpsc::channel(settings.worker.max_in_flight.max(1));
    let sink = with_rules(sink, settings);
    let consumer = reader.spawn(events_tx, counters)?;
    let ops = Arc::new(Ops::default());
    let mut worker = Worker::new(sink, settings, consumer, stop.shutdown.clone(), ops, Positions::NotStored);
    worker.progress = Some(progress);
    worker.run(events, stop).await
}

/// The sink with the dedup rules and, when learning is on, the template rule of `settings`.
pub fn with_rules(sink: PgSink, settings: &Settings) -> PgSink {
    let sink = sink
        .with_near_rule(settings.dedup.near)
        .with_story_rule(settings.dedup.stories)
        .with_dedup(settings.dedup.enabled);
    if settings.templates.enabled { sink.learning_templates(settings.templates.rule) } else { sink }
}

/// The cache of learned site templates, when learning is on.
pub fn template_cache(settings: &TemplateSettings) -> Option<TemplateCache> {
    settings.enabled.then(|| TemplateCache::new(Duration::from_secs(settings.refresh_secs), settings.cache_sites))
}

/// Whether batches store their partitions' next offsets (the group worker) or not (a replay).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Positions {
    Stored,
    NotStored,
}

/// Batches through the stages that may wait to be linked, and linked batches that may wait for the
/// writer.
const MAX_WAITING_BATCHES: usize = 1;

/// A message decoded in the event loop, waiting for the stages.
enum Decoded {
    Raw { raw: RawArticle, templates: Option<Arc<SiteTemplates>>, message: KafkaMessage },
    Dead(DeadLetter),
}

/// What a sink task hands back: the batch (what is left of it), how its link or write went, and how
/// long it took, retries included.
type Done<T> = (Batch, Result<T, SinkError>, Duration);
type Linked = Done<()>;
type Written = Done<BatchReport>;

struct Worker {
    sink: PgSink,
    ops: Arc<Ops>,
    positions: Positions,
    progress: Option<Progress>,
    settings: WorkerSettings,
    pipeline: Arc<Pipeline>,
    consumer: ConsumerHandle,
    shutdown: CancellationToken,
    /// Partitions this worker owns, with the position last stored for each.
    owned: HashMap<TopicPartition, Option<i64>>,
    /// The offset each partition should deliver next, to notice offsets the broker skipped.
    reading_at: HashMap<TopicPartition, i64>,
    /// Decoded messages of the batch being filled.
    pending: Vec<Decoded>,
    pending_bytes: usize,
    batch_started: Option<Instant>,
    /// The batch in the stages, if any.
    staging: Option<JoinHandle<(Batch, Duration)>>,
    /// Batches through the stages, waiting to be linked, oldest first.
    staged: VecDeque<Batch>,
    /// The batch being linked, if any.
    linking: Option<JoinHandle<Linked>>,
    /// Linked batches waiting for the writer, oldest first.
    linked: VecDeque<Batch>,
    /// Batches being written, oldest first.
    writing: VecDeque<InFlight>,
    /// Hands each write its turn in the commit order.
    order: WriteOrder,
    /// Batches whose write did not commit (fenced, or after one that was), oldest first: written
    /// again, before any other, once every write under way has ended.
    requeued: Vec<Batch>,
    summary: RunSummary,
    /// Site templates learned so far, when learning is on.
    templates: Option<TemplateCache>,
}

impl Worker {
    fn new(
        sink: PgSink,
        settings: &Settings,
        consumer: ConsumerHandle,
        shutdown: CancellationToken,
        ops: Arc<Ops>,
        positions: Positions,
    ) -> Self {
        let histograms = ops.clone();
        let pipeline = Pipeline::with_dedup(settings.dedup.enabled)
            .observed(move |stage| histograms.metrics.stage_seconds.get_or_create(&StageLabel { stage }).clone());
        Worker {
            sink,
            ops,
            positions,
            progress: None,
            settings: settings.worker.clone(),
            pipeline: Arc::new(pipeline),
            consumer,
            shutdown,
            owned: HashMap::new(),
            reading_at: HashMap::new(),
            pending: Vec::new(),
            pending_bytes: 0,
            batch_started: None,
            staging: None,
            staged: VecDeque::new(),
            linking: None,
            linked: VecDeque::new(),
            writing: VecDeque::new(),
            order: WriteOrder::default(),
            requeued: Vec::new(),
            summary: RunSummary::default(),
            templates: template_cache(&settings.templates),
        }
    }

    /// The event loop, then the consumer thread's end; the summary with the stages' times.
    async fn run(mut self, events: mpsc::Receiver<ConsumerEvent>, stop: StopWhen) -> anyhow::Result<RunSummary> {
        let result = self.event_loop(events, stop).await;
        let Worker { consumer, mut summary, pipeline, .. } = self;
        summary.stage_times = pipeline.stage_times();
        tokio::task::spawn_blocking(move || consumer.join()).await?;
        result.map(|()| summary)
    }

    async fn event_loop(&mut self, mut events: mpsc::Receiver<ConsumerEvent>, stop: StopWhen) -> anyhow::Result<()> {
        let linger = Duration::from_millis(self.settings.batch_linger_ms);
        let mut stopping = false;
        let mut last_message = Instant::now();
        loop {
            let seal_at = self.batch_started.filter(|_| self.can_seal()).map(|started| started + linger);
            // Idle counts only while partitions are owned: joining the group is not idleness.
            let idle_at = stop.idle_for.filter(|_| !self.owned.is_empty()).map(|idle| last_message + idle);
            tokio::select! {
                _ = stop.shutdown.cancelled(), if !stopping => {
                    info!("shutdown requested: finishing the current batches and leaving the group");
                    stopping = true;
                    self.consumer.stop();
                }
                _ = sleep_until(idle_at.unwrap_or_else(far_future)), if idle_at.is_some() && !stopping => {
                    info!(idle_secs = stop.idle_for.unwrap_or_default().as_secs(), "input idle: stopping");
                    stopping = true;
                    self.consumer.stop();
                }
                _ = sleep_until(seal_at.unwrap_or_else(far_future)), if seal_at.is_some() => self.seal(),
                staged = join(&mut self.staging), if self.staging.is_some() => self.staged_batch(staged),
                linked = join(&mut self.linking), if self.linking.is_some() => self.linked_batch(linked)?,
                written = join_oldest(&mut self.writing), if !self.writing.is_empty() => {
                    self.written(written)?;
                }
                event = events.recv(), if !self.backed_up() => match event {
                    None => break,
                    Some(ConsumerEvent::Assigned(starts)) => {
                        last_message = Instant::now();
                        PartitionsAssigned { partitions: &starts }.emit(&self.ops);
                        for (partition, stored) in starts {
                            self.own(partition, stored);
                        }
                    }
                    Some(ConsumerEvent::Resynced(partition, stored)) => {
                        // Everything from the stored position on is delivered again.
                        self.finish_staging().await;
                        self.finish_linking().await?;
                        self.finish_writes().await?;
                        self.forget_read(&partition);
                        self.ops.metrics.stored_position(&partition, stored);
                        self.own(partition, stored);
                    }
                    Some(ConsumerEvent::Message(message)) => {
                        last_message = Instant::now();
                        self.accept(message).await;
                    }
                    Some(ConsumerEvent::Revoked { partitions, done }) => {
                        self.drain().await?;
                        PartitionsRevoked { partitions: &partitions }.emit(&self.ops);
                        for partition in &partitions {
                            self.owned.remove(partition);
                            self.reading_at.remove(partition);
                        }
                        let _ = done.send(());
                    }
                },
            }
            self.advance();
        }
        self.drain().await
    }

    /// Moves work along: a full batch into the stages, a staged batch to be linked, a linked batch
    /// to the writer.
    fn advance(&mut self) {
        if self.batch_is_full() {
            self.seal();
        }
        self.feed_sink();
    }

    /// Starts the next link and the next write, where there is room for them.
    fn feed_sink(&mut self) {
        self.link_next();
        self.write_next();
        // The write just started may have made room for the next link.
        self.link_next();
    }

    /// Starts linking the oldest staged batch, unless a link is under way or a linked batch already
    /// waits for the writer. A batch left empty (its partitions went to another member) is skipped.
    fn link_next(&mut self) {
        while self.linking.is_none()
            && self.linked.len() < MAX_WAITING_BATCHES
            && let Some(batch) = self.staged.pop_front()
        {
            self.start_link(batch);
        }
    }

    /// Starts writing the oldest linked batches, up to `worker.concurrent_writes` at once. After a
    /// write that did not commit, none starts until every write under way has ended; then the
    /// batches to write again go first. A batch left empty (its partitions went to another member)
    /// is skipped for the next.
    fn write_next(&mut self) {
        if !self.requeued.is_empty() {
            if !self.writing.is_empty() {
                return;
            }
            for batch in std::mem::take(&mut self.requeued).into_iter().rev() {
                self.linked.push_front(batch);
            }
        }
        while self.writing.len() < self.settings.concurrent_writes.max(1)
            && let Some(batch) = self.linked.pop_front()
        {
            self.start_write(batch);
        }
    }

    /// Stop reading while the batch being filled is full and cannot be sealed yet: the consumer
    /// thread then blocks on the bounded channel and stops fetching. A batch never grows past its
    /// limits, and at most 5 + `worker.concurrent_writes` are in memory (filling, in the stages,
    /// waiting to be linked, being linked, waiting for a writer, being written).
    fn backed_up(&self) -> bool {
        self.batch_is_full() && !self.can_seal()
    }

    /// A batch goes into the stages when none is there and at most one waits to be linked.
    fn can_seal(&self) -> bool {
        self.staging.is_none() && self.staged.len() < MAX_WAITING_BATCHES
    }

    async fn accept(&mut self, message: KafkaMessage) {
        let partition = TopicPartition::new(&message.origin.topic, message.origin.partition);
        if !self.owned.contains_key(&partition) {
            // Read before a revoke or after a fence: another member owns it now.
            return;
        }
        self.note_skipped_offsets(&partition, message.origin.offset);
        MessageConsumed { topic: &partition.topic }.emit(&self.ops);
        self.summary.messages += 1;
        self.pending_bytes += message.payload.len();
        self.batch_started.get_or_insert_with(Instant::now);
        let max_bytes = self.settings.max_message_bytes;
        let (decoded, took) = decode_message(message, max_bytes, &mut self.templates, self.sink.pool()).await;
        self.summary.decode_time += took;
        self.pending.push(decoded);
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
        self.pending.len() >= self.settings.batch_max_rows || self.pending_bytes >= self.settings.batch_max_bytes
    }

    /// Sends the batch being filled through the stages, unless a batch is already there.
    fn seal(&mut self) {
        if self.pending.is_empty() {
            // Everything read was dropped (`forget_read`): nothing to seal, nothing to wait for.
            self.pending_bytes = 0;
            self.batch_started = None;
        }
        if self.pending.is_empty() || !self.can_seal() {
            return;
        }
        let messages = std::mem::take(&mut self.pending);
        let bytes = std::mem::take(&mut self.pending_bytes);
        self.batch_started = None;
        let pipeline = self.pipeline.clone();
        self.staging = Some(tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut batch = run_batch_stages(&pipeline, messages);
            batch.bytes = bytes;
            (batch, started.elapsed())
        }));
    }

    /// A batch out of the stages: queued for the writer.
    fn staged_batch(&mut self, (batch, took): (Batch, Duration)) {
        let cached_sites = self.templates.as_ref().map(TemplateCache::len);
        BatchStaged { took, cached_sites }.emit(&self.ops);
        for dead in &batch.dead_letters {
            DeadLettered { dead }.emit(&self.ops);
        }
        self.staged.push_back(batch);
    }

    /// Waits for the batch in the stages, if any, and queues it for the writer.
    async fn finish_staging(&mut self) {
        if self.staging.is_some() {
            let staged = join(&mut self.staging).await;
            self.staged_batch(staged);
        }
    }

    /// Waits for the batch being linked, if any, and queues it for the writer.
    async fn finish_linking(&mut self) -> anyhow::Result<()> {
        if self.linking.is_some() {
            let linked = join(&mut self.linking).await;
            self.linked_batch(linked)?;
        }
        Ok(())
    }

    /// Waits for every write under way, oldest first, and takes in how each went.
    async fn finish_writes(&mut self) -> anyhow::Result<()> {
        while !self.writing.is_empty() {
            let written = join_oldest(&mut self.writing).await;
            self.written(written)?;
        }
        Ok(())
    }

    /// Writes everything read so far, waiting for each link and write: before partitions are let
    /// go, and before stopping.
    async fn drain(&mut self) -> anyhow::Result<()> {
        loop {
            self.seal();
            self.finish_staging().await;
            self.feed_sink();
            if !self.writing.is_empty() {
                let written = join_oldest(&mut self.writing).await;
                self.written(written)?;
            } else if self.linking.is_some() {
                self.finish_linking().await?;
            } else if self.pending.is_empty()
                && self.staged.is_empty()
                && self.linked.is_empty()
                && self.requeued.is_empty()
            {
                return Ok(());
            }
        }
    }

    /// Drops what was read from `partition` and not yet written: it will be delivered again.
    fn forget_read(&mut self, partition: &TopicPartition) {
        let from = |origin: &Origin| origin.topic == partition.topic && origin.partition == partition.partition;
        self.pending.retain(|decoded| match decoded {
            Decoded::Raw { message, .. } => !from(&message.origin),
            Decoded::Dead(dead) => !from(&dead.origin),
        });
        for batch in self.staged.iter_mut().chain(&mut self.linked).chain(&mut self.requeued) {
            batch.remove_partition(partition);
        }
    }

    /// Starts linking `batch`. Messages from partitions this worker no longer owns are left out.
    fn start_link(&mut self, mut batch: Batch) {
        batch.retain_partitions(|p| self.owned.contains_key(p));
        if batch.is_empty() {
            return;
        }
        let (sink, retry, shutdown, ops) = self.sink_task();
        self.linking = Some(tokio::spawn(until_done(sink, batch, retry, shutdown, ops, LinkStep)));
    }

    /// A linked batch (or one that could not be linked while stopping): queued for the writer.
    fn linked_batch(&mut self, (batch, result, took): Linked) -> anyhow::Result<()> {
        self.summary.link_time += took;
        if let Err(error) = result {
            anyhow::bail!("stopping with an unwritten batch (it will be read again): {error}");
        }
        self.linked.push_back(batch);
        Ok(())
    }

    /// Starts writing `batch` with the positions it advances, from where the writes before it
    /// leave them. Messages from partitions this worker no longer owns are left out.
    fn start_write(&mut self, mut batch: Batch) {
        batch.retain_partitions(|p| self.owned.contains_key(p));
        if batch.is_empty() {
            return;
        }
        if self.positions == Positions::Stored {
            batch.positions = self.positions_after(&batch);
        }
        let positions = batch.positions.clone();
        let (sink, retry, shutdown, ops) = self.sink_task();
        let step = WriteStep { turn: self.order.next_turn() };
        let task = tokio::spawn(until_done(sink, batch, retry, shutdown, ops, step));
        self.writing.push_back(InFlight { task, positions });
    }

    /// What a link or write task needs of the worker.
    fn sink_task(&self) -> (PgSink, Retry, CancellationToken, Arc<Ops>) {
        (self.sink.clone(), Retry::from(&self.settings), self.shutdown.clone(), self.ops.clone())
    }

    /// After a write: count it and commit to Kafka; on a fence, let the partition go and write the
    /// rest; on an error while stopping, give up (the batch will be read again).
    fn written(&mut self, (mut batch, result, took): Written) -> anyhow::Result<()> {
        self.summary.write_time += took;
        match result {
            Ok(report) => {
                self.stored(&batch, report, took);
                Ok(())
            }
            Err(SinkError::Fenced { partition, stored, expected }) => {
                WriteFenced { partition: &partition, stored, expected }.emit(&self.ops);
                self.owned.remove(&partition);
                self.reading_at.remove(&partition);
                batch.remove_partition(&partition);
                self.forget_read(&partition);
                let _ = self.consumer.requests.send(ConsumerRequest::Resync(partition));
                self.requeued.push(batch);
                Ok(())
            }
            Err(SinkError::PredecessorGivenUp) => {
                self.requeued.push(batch);
                Ok(())
            }
            Err(error) => anyhow::bail!("stopping with an unwritten batch (it will be read again): {error}"),
        }
    }

    fn positions_after(&self, batch: &Batch) -> Vec<PartitionPosition> {
        batch
            .next_offsets()
            .into_iter()
            .map(|(partition, next)| PartitionPosition { expected: self.position_before(&partition), partition, next })
            .collect()
    }

    /// Where `partition` stands once the writes under way have committed: the next offset of the
    /// latest of them that covers it, else the last stored position.
    fn position_before(&self, partition: &TopicPartition) -> Option<i64> {
        let in_flight = self.writing.iter().rev().flat_map(|write| &write.positions);
        match in_flight.into_iter().find(|p| &p.partition == partition) {
            Some(written) => Some(written.next),
            None => self.owned.get(partition).copied().flatten(),
        }
    }

    fn stored(&mut self, batch: &Batch, report: BatchReport, took: Duration) {
        BatchStored { batch, report: &report, took }.emit(&self.ops);
        self.summary.add(&report);
        if let Some(progress) = &mut self.progress {
            progress(&self.summary);
        }
        if let Some(cache) = &mut self.templates {
            cache.add_learned(&report.learned_templates);
        }
        let mut commits = Vec::with_capacity(batch.positions.len());
        for position in &batch.positions {
            self.owned.insert(position.partition.clone(), Some(position.next));
            commits.push((position.partition.clone(), position.next));
        }
        if !commits.is_empty() {
            let _ = self.consumer.requests.send(ConsumerRequest::Commit(commits));
        }
    }
}

/// Decodes and stages messages outside the event loop (dead-letter retries), with the site
/// templates `templates` holds for each article's site, on every core.
pub async fn stage_messages(
    pipeline: Arc<Pipeline>,
    pool: &sqlx::PgPool,
    templates: &mut Option<TemplateCache>,
    messages: Vec<KafkaMessage>,
    max_message_bytes: usize,
) -> anyhow::Result<Batch> {
    let mut decoded = Vec::with_capacity(messages.len());
    let mut bytes = 0;
    for message in messages {
        bytes += message.payload.len();
        decoded.push(decode_message(message, max_message_bytes, templates, pool).await.0);
    }
    let mut batch = tokio::task::spawn_blocking(move || run_batch_stages(&pipeline, decoded)).await?;
    batch.bytes = bytes;
    Ok(batch)
}

/// Decodes one message and finds its site's templates (when learning them): what the stages need,
/// or a dead letter. Also returns the time decoding took (the template lookup aside).
async fn decode_message(
    message: KafkaMessage,
    max_message_bytes: usize,
    templates: &mut Option<TemplateCache>,
    pool: &sqlx::PgPool,
) -> (Decoded, Duration) {
    let decoding = std::time::Instant::now();
    let origin = &message.origin;
    let fallback_id = || format!("{}-{}-{}", origin.topic, origin.partition, origin.offset);
    let decoded = decode(&message.payload, message.key.as_deref(), fallback_id, max_message_bytes);
    let took = decoding.elapsed();
    let decoded = match decoded {
        Ok(raw) => {
            let site_templates = match (templates.as_mut(), site_of(&raw)) {
                (Some(cache), Some(site)) => cache.get(pool, &site).await,
                _ => None,
            };
            Decoded::Raw { raw, templates: site_templates, message }
        }
        Err(reason) => Decoded::Dead(dead_letter(message, reason.kind(), reason.to_string())),
    };
    (decoded, took)
}

/// The stages over a batch's messages on every core, in arrival order.
fn run_batch_stages(pipeline: &Pipeline, messages: Vec<Decoded>) -> Batch {
    enum Staged {
        Article(Box<(Article, Origin)>),
        Dead(DeadLetter),
    }
    let outcomes: Vec<Staged> = messages
        .into_par_iter()
        .map(|decoded| match decoded {
            Decoded::Dead(dead) => Staged::Dead(dead),
            Decoded::Raw { raw, templates, message } => match pipeline.run(raw, templates) {
                Ok(article) => Staged::Article(Box::new((article, message.origin))),
                Err(reason) => Staged::Dead(dead_letter(message, STAGE_FAILED, reason)),
            },
        })
        .collect();
    let mut batch = Batch::default();
    for outcome in outcomes {
        match outcome {
            Staged::Article(article) => batch.articles.push(*article),
            Staged::Dead(dead) => batch.dead_letters.push(dead),
        }
    }
    batch
}

fn dead_letter(message: KafkaMessage, kind: &'static str, reason: String) -> DeadLetter {
    let KafkaMessage { origin, key, payload } = message;
    DeadLetter { origin, key, payload, kind, reason }
}

/// Backoff between attempts while Postgres is unreachable.
#[derive(Clone, Copy)]
struct Retry {
    initial: Duration,
    max: Duration,
}

impl From<&WorkerSettings> for Retry {
    fn from(settings: &WorkerSettings) -> Self {
        Retry {
            initial: Duration::from_millis(settings.retry_initial_ms),
            max: Duration::from_millis(settings.retry_max_ms),
        }
    }
}

/// What a sink task does with its batch.
trait SinkStep: Send + 'static {
    type Output: Send + 'static;
    const NAME: &'static str;
    fn attempt(&self, sink: &PgSink, batch: &mut Batch)
    -> impl Future<Output = Result<Self::Output, SinkError>> + Send;

    /// After `SinkError::OutOfTurn`: waits until the write before is over; true to try again.
    fn predecessor_committed(&mut self) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }

    /// The work is over: committed, or given up.
    fn finished(&self, _committed: bool) {}
}

/// Links copies and stories ahead of the write (`PgSink::link_batch`).
struct LinkStep;

impl SinkStep for LinkStep {
    type Output = ();
    const NAME: &'static str = "link";
    fn attempt(&self, sink: &PgSink, batch: &mut Batch) -> impl Future<Output = Result<(), SinkError>> + Send {
        sink.link_batch(batch)
    }
}

/// Writes the batch's articles, dead letters and positions at its turn (`PgSink::write_batch_in_turn`).
struct WriteStep {
    turn: WriteTurn,
}

impl SinkStep for WriteStep {
    type Output = BatchReport;
    const NAME: &'static str = "write";
    fn attempt(&self, sink: &PgSink, batch: &mut Batch) -> impl Future<Output = Result<BatchReport, SinkError>> + Send {
        sink.write_batch_in_turn(batch, &self.turn)
    }

    fn predecessor_committed(&mut self) -> impl Future<Output = bool> + Send {
        self.turn.predecessor_outcome()
    }

    fn finished(&self, committed: bool) {
        if committed {
            self.turn.committed();
        } else {
            self.turn.given_up();
        }
    }
}

/// Links or writes the batch, retrying with backoff while Postgres is away. Returns on success, on
/// a fence, when the write before it was given up, or on an error once shutdown was asked and the
/// backoff reached its longest.
async fn until_done<S: SinkStep>(
    sink: PgSink,
    mut batch: Batch,
    retry: Retry,
    shutdown: CancellationToken,
    ops: Arc<Ops>,
    mut step: S,
) -> Done<S::Output> {
    let started = Instant::now();
    let mut delay = retry.initial;
    let result = loop {
        match step.attempt(&sink, &mut batch).await {
            Ok(done) => break Ok(done),
            Err(SinkError::OutOfTurn) => {
                if !step.predecessor_committed().await {
                    break Err(SinkError::PredecessorGivenUp);
                }
            }
            Err(fenced @ SinkError::Fenced { .. }) => break Err(fenced),
            Err(error) if shutdown.is_cancelled() && delay >= retry.max => break Err(error),
            Err(error) => {
                BatchWriteFailed { error: &error, step: S::NAME, rows: batch.len(), retry_in: delay }.emit(&ops);
                sleep(delay).await;
                delay = (delay * 2).min(retry.max);
            }
        }
    };
    step.finished(result.is_ok());
    (batch, result, started.elapsed())
}

/// A batch being written, and the positions it will store.
struct InFlight {
    task: JoinHandle<Written>,
    positions: Vec<PartitionPosition>,
}

/// The oldest write's result, removing it from `writing` once in. Cancel-safe, like `join`.
async fn join_oldest(writing: &mut VecDeque<InFlight>) -> Written {
    let oldest = writing.front_mut().expect("a write to wait for");
    let written = task_result((&mut oldest.task).await);
    writing.pop_front();
    written
}

/// The result of the task held in `slot` (which must hold one), emptying the slot once it is in.
/// Cancel-safe: dropped before the task ends, it leaves the task in the slot. A panic in the task
/// is a bug: re-raised.
async fn join<T>(slot: &mut Option<JoinHandle<T>>) -> T {
    let value = task_result(slot.as_mut().expect("a task to wait for").await);
    *slot = None;
    value
}

/// A finished task's value; its panic, a bug, re-raised.
fn task_result<T>(joined: Result<T, tokio::task::JoinError>) -> T {
    joined.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()))
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}
