//! The Kafka consumer: a group member on a thread of its own, feeding a bounded channel.
//!
//! Positions live in Postgres, not in Kafka. When partitions are assigned, the rebalance callback
//! reads their stored next offsets and assigns from exactly there (`auto_offset_reset` only where
//! nothing was ever stored). When partitions are revoked, the callback hands the worker a
//! `Revoked` event and waits until the worker has written everything it read from them, so no
//! other member can start on a partition before its last batch is stored. Kafka commits are sent
//! after each stored batch, for lag monitoring only. When a write is fenced (the stored position
//! moved under this worker), the thread seeks the partition back to the stored position.
//!
//! A plain thread with a `BaseConsumer` keeps librdkafka's callbacks synchronous, which is what
//! the revoke-then-flush handshake needs; the bounded channel is the backpressure: when the worker
//! is behind, the thread blocks and stops fetching.
//!
//! Each assigned partition is read from a queue of its own, one message from each in turn, so the
//! partitions with a backlog advance at the same pace whatever order the broker fills fetches in
//! (Tansu 0.6 fills them from the first partition it lists). With one shared queue, messages come in
//! the order fetches arrive, and a favoured partition ran days ahead of the others in `make bench`.
//! The prefetch limit (`queued.max.messages.kbytes`) then also holds per partition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::article::Origin;
use crate::ops::{Ops, broker_state_is_up};
use crate::settings::{KafkaSettings, OffsetReset};
use crate::sink::{PgSink, TopicPartition};

/// One consumed message, owned.
#[derive(Debug, Clone)]
pub struct KafkaMessage {
    pub origin: Origin,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl KafkaMessage {
    /// An owned copy of a message librdkafka lent out.
    pub fn copied_from(message: &impl Message) -> Self {
        KafkaMessage {
            origin: Origin {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
            },
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        }
    }
}

/// What the consumer thread tells the worker, in order.
#[derive(Debug)]
pub enum ConsumerEvent {
    /// Partitions assigned, with the stored position each resumes from (`None`: never written).
    Assigned(Vec<(TopicPartition, Option<i64>)>),
    Message(KafkaMessage),
    /// Partitions about to be let go: write what was read from them, then answer on `done`.
    Revoked {
        partitions: Vec<TopicPartition>,
        done: oneshot::Sender<()>,
    },
    /// After a `Resync` request: the partition now reads from its stored position (`None`: never written).
    Resynced(TopicPartition, Option<i64>),
}

/// What the worker asks of the consumer thread.
#[derive(Debug)]
pub enum ConsumerRequest {
    /// Offsets to commit to Kafka, informational only.
    Commit(Vec<(TopicPartition, i64)>),
    /// Move the partition back to the position stored in Postgres (after a fence).
    Resync(TopicPartition),
}

pub struct ConsumerHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub requests: std_mpsc::Sender<ConsumerRequest>,
}

impl ConsumerHandle {
    /// A handle over a consumer thread that watches `stop` and reads `requests` (or ignores them).
    pub fn new(stop: Arc<AtomicBool>, thread: JoinHandle<()>, requests: std_mpsc::Sender<ConsumerRequest>) -> Self {
        ConsumerHandle { stop, thread: Some(thread), requests }
    }
}

impl ConsumerHandle {
    /// Asks the thread to leave the group; its revoke handshake still runs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn join(mut self) {
        self.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct IngestContext {
    sink: PgSink,
    ops: Arc<Ops>,
    runtime: Handle,
    events: mpsc::Sender<ConsumerEvent>,
    reset: OffsetReset,
    stop: Arc<AtomicBool>,
    /// Set by a rebalance: the partitions' own queues must be split off again (`assign` undoes them).
    assignment_changed: AtomicBool,
}

impl ClientContext for IngestContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }

    fn stats(&self, statistics: Statistics) {
        observe_statistics(&self.ops, &statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        note_client_error(&self.ops, &error, reason);
    }
}

/// librdkafka's own log lines, at the matching level.
pub fn log_librdkafka(level: RDKafkaLogLevel, fac: &str, log_message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            error!(target: "librdkafka", facility = fac, "{log_message}")
        }
        RDKafkaLogLevel::Warning => warn!(target: "librdkafka", facility = fac, "{log_message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            info!(target: "librdkafka", facility = fac, "{log_message}")
        }
        RDKafkaLogLevel::Debug => debug!(target: "librdkafka", facility = fac, "{log_message}"),
    }
}

/// Broker connectivity for `/readyz`, and each owned partition's broker offsets for the lag gauge.
fn observe_statistics(ops: &Ops, statistics: &Statistics) {
    let connected = statistics.brokers.values().any(|broker| broker_state_is_up(&broker.state));
    ops.readiness.set_kafka_connected(connected);
    for (topic, stats) in &statistics.topics {
        for (&number, partition) in &stats.partitions {
            let owned = TopicPartition::new(topic.as_str(), number);
            if number < 0 || !ops.metrics.tracks_partition(&owned) {
                continue;
            }
            // The last stable offset is where a read_committed consumer (the default) can read to.
            let end = if partition.ls_offset >= 0 { partition.ls_offset } else { partition.hi_offset };
            if end >= 0 {
                ops.metrics.broker_offsets(&owned, partition.lo_offset.max(0), end);
            }
        }
    }
}

fn note_client_error(ops: &Ops, error: &KafkaError, reason: &str) {
    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
        ops.readiness.set_kafka_connected(false);
    }
    error!(%error, reason, "kafka client error");
}

impl ConsumerContext for IngestContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => self.on_assign(consumer, tpl),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => self.on_revoke(consumer, tpl),
            other => {
                error!(error = ?other, "rebalance failed; dropping the assignment");
                self.on_revoke(consumer, tpl);
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(error) = result {
            debug!(%error, "informational Kafka commit failed");
        }
    }
}

impl IngestContext {
    fn on_assign(&self, consumer: &BaseConsumer<Self>, tpl: &mut TopicPartitionList) {
        let partitions = partitions_of(tpl);
        let Some(stored) = self.load_positions_retrying(&partitions) else { return };
        let mut starts = Vec::with_capacity(partitions.len());
        for partition in &partitions {
            let next = stored.get(partition).copied().flatten();
            let offset = self.start_offset(next);
            if let Err(error) = tpl.set_partition_offset(&partition.topic, partition.partition, offset) {
                error!(%partition, %error, "cannot set start offset");
            }
            starts.push((partition.clone(), next));
        }
        info!(partitions = ?starts, "partitions assigned; resuming from positions stored in Postgres");
        if self.events.blocking_send(ConsumerEvent::Assigned(starts)).is_err() {
            return;
        }
        if let Err(error) = consumer.assign(tpl) {
            error!(%error, "assign failed");
        }
        // Nothing is fetched until the partitions have their own queues (`poll_loop` resumes them).
        if let Err(error) = consumer.pause(tpl) {
            warn!(%error, "cannot hold the partitions back until they have queues of their own");
        }
        self.assignment_changed.store(true, Ordering::SeqCst);
    }

    /// Where a partition starts: its stored position, else `auto_offset_reset`.
    fn start_offset(&self, stored: Option<i64>) -> Offset {
        match (stored, self.reset) {
            (Some(next), _) => Offset::Offset(next),
            (None, OffsetReset::Earliest) => Offset::Beginning,
            (None, OffsetReset::Latest) => Offset::End,
        }
    }

    /// Seeks a partition back to its stored position. A partition no longer assigned is left
    /// alone: its new owner reads it from the same stored position.
    fn resync(&self, consumer: &BaseConsumer<Self>, partition: TopicPartition) {
        let Some(stored) = self.load_positions_retrying(std::slice::from_ref(&partition)) else { return };
        let next = stored.get(&partition).copied().flatten();
        match consumer.seek(&partition.topic, partition.partition, self.start_offset(next), Duration::from_secs(10)) {
            Ok(()) => {
                info!(%partition, ?next, "partition moved back to its stored position");
                let _ = self.events.blocking_send(ConsumerEvent::Resynced(partition, next));
            }
            Err(error) => warn!(%partition, %error, "cannot move the partition to its stored position"),
        }
    }

    /// Postgres may be briefly away during a rebalance: keep trying, unless the worker is stopping.
    fn load_positions_retrying(
        &self,
        partitions: &[TopicPartition],
    ) -> Option<std::collections::HashMap<TopicPartition, Option<i64>>> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.runtime.block_on(self.sink.load_positions(partitions)) {
                Ok(stored) => return Some(stored),
                Err(error) if !self.stop.load(Ordering::SeqCst) => {
                    warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot read stored positions");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(error) => {
                    error!(%error, "stopping without an assignment");
                    return None;
                }
            }
        }
    }

    fn on_revoke(&self, consumer: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let partitions = partitions_of(tpl);
        info!(?partitions, "partitions revoked; writing what was read from them");
        let (done, flushed) = oneshot::channel();
        if self.events.blocking_send(ConsumerEvent::Revoked { partitions, done }).is_ok() {
            let _ = flushed.blocking_recv();
        }
        if let Err(error) = consumer.unassign() {
            warn!(%error, "unassign failed");
        }
        self.assignment_changed.store(true, Ordering::SeqCst);
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements().iter().map(|e| TopicPartition::new(e.topic(), e.partition())).collect()
}

/// The librdkafka settings for a worker consumer: `kafka.options` first, then what exactly-once
/// relies on (no auto commit, eager assignment so the callback assigns from stored positions).
pub fn consumer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in &settings.options {
        config.set(key, value);
    }
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("partition.assignment.strategy", "range,roundrobin")
        .set("session.timeout.ms", settings.session_timeout_ms.to_string());
    if !settings.options.contains_key("statistics.interval.ms") {
        // Lag and broker connectivity come from librdkafka's statistics.
        config.set("statistics.interval.ms", DEFAULT_STATISTICS_INTERVAL_MS);
    }
    for (key, value) in [
        ("queued.max.messages.kbytes", DEFAULT_QUEUED_KBYTES_PER_PARTITION),
        ("fetch.max.bytes", DEFAULT_FETCH_MAX_BYTES),
    ] {
        if !settings.options.contains_key(key) {
            config.set(key, value);
        }
    }
    config
}

/// The most one fetch brings back, unless `kafka.options` says (librdkafka's default is 50 MB).
/// librdkafka lists the partitions of each fetch starting one further each time, but a broker may
/// fill a fetch from the first partition it lists, ignoring the per-partition limit (Tansu 0.6
/// does): with 50 MB a fetch was one partition's whole backlog, and in `make bench` the four
/// partitions of a 40,000-article topic were read one after another, so the stories of early days
/// were loaded again for each. With 1 MB they were read side by side at the same rate.
const DEFAULT_FETCH_MAX_BYTES: &str = "1048576";

/// How much librdkafka prefetches per partition, unless `kafka.options` says (its default is 64 MB).
/// The worker keeps its own bounded queue (`worker.max_in_flight`) and batches, so a deep prefetch
/// only adds memory for every partition assigned; 4 MB still holds several fetches' worth.
const DEFAULT_QUEUED_KBYTES_PER_PARTITION: &str = "4096";

/// How often librdkafka reports partition offsets and broker states, unless `kafka.options` says.
const DEFAULT_STATISTICS_INTERVAL_MS: &str = "5000";

/// Starts the consumer thread. Events arrive on `events`; the handle stops it and carries commits.
pub fn spawn_consumer(
    settings: &KafkaSettings,
    sink: PgSink,
    ops: Arc<Ops>,
    events: mpsc::Sender<ConsumerEvent>,
) -> anyhow::Result<ConsumerHandle> {
    let stop = Arc::new(AtomicBool::new(false));
    let context = IngestContext {
        sink,
        ops,
        runtime: Handle::current(),
        events: events.clone(),
        reset: settings.auto_offset_reset,
        stop: stop.clone(),
        assignment_changed: AtomicBool::new(false),
    };
    let consumer: Arc<BaseConsumer<IngestContext>> = Arc::new(consumer_config(settings).create_with_context(context)?);
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    let (requests, incoming_requests) = std_mpsc::channel();
    let thread_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name("kafka-consumer".into())
        .spawn(move || poll_loop(consumer, events, incoming_requests, thread_stop))?;
    Ok(ConsumerHandle { stop, thread: Some(thread), requests })
}

/// How long the thread waits on the main queue when no partition had a message, before looking
/// at the partitions' queues again: the most a message waits for a thread that was idle.
const IDLE_WAIT: Duration = Duration::from_millis(10);

fn poll_loop(
    consumer: Arc<BaseConsumer<IngestContext>>,
    events: mpsc::Sender<ConsumerEvent>,
    requests: std_mpsc::Receiver<ConsumerRequest>,
    stop: Arc<AtomicBool>,
) {
    let mut queues: Vec<PartitionQueue<IngestContext>> = Vec::new();
    let mut idle = false;
    while !stop.load(Ordering::SeqCst) {
        for request in requests.try_iter() {
            match request {
                ConsumerRequest::Commit(offsets) => commit_informational(&consumer, &offsets),
                ConsumerRequest::Resync(partition) => consumer.context().resync(&consumer, partition),
            }
        }
        // The main queue serves the callbacks (rebalances, statistics, errors), and holds what was
        // fetched for a partition before its own queue was split off.
        let mut read = match pass_on(&events, consumer.poll(if idle { IDLE_WAIT } else { Duration::ZERO })) {
            Some(read) => read,
            None => break,
        };
        if consumer.context().assignment_changed.swap(false, Ordering::SeqCst) {
            queues = split_partition_queues(&consumer);
            resume_assigned(&consumer);
            // Whatever the main queue got of a partition before it was paused comes before anything
            // its own queue gets.
            loop {
                match pass_on(&events, consumer.poll(Duration::ZERO)) {
                    Some(true) => read = true,
                    Some(false) => break,
                    None => return close(queues, consumer),
                }
            }
        }
        for queue in &queues {
            match pass_on(&events, queue.poll(Duration::ZERO)) {
                Some(one) => read |= one,
                None => return close(queues, consumer),
            }
        }
        idle = !read;
    }
    close(queues, consumer);
}

/// A queue of its own for each assigned partition. A partition whose queue cannot be split off
/// keeps coming through the main queue.
fn split_partition_queues(consumer: &Arc<BaseConsumer<IngestContext>>) -> Vec<PartitionQueue<IngestContext>> {
    let assignment = match consumer.assignment() {
        Ok(assignment) => assignment,
        Err(error) => {
            warn!(%error, "cannot read the assignment; partitions are read from one queue");
            return Vec::new();
        }
    };
    partitions_of(&assignment)
        .into_iter()
        .filter_map(|partition| {
            let queue = consumer.split_partition_queue(&partition.topic, partition.partition);
            if queue.is_none() {
                warn!(%partition, "cannot give the partition a queue of its own");
            }
            queue
        })
        .collect()
}

fn resume_assigned(consumer: &BaseConsumer<IngestContext>) {
    if let Err(error) = consumer.assignment().and_then(|assignment| consumer.resume(&assignment)) {
        error!(%error, "cannot resume the assigned partitions");
    }
}

/// Hands a polled message to the worker: whether there was one, or `None` once the worker is gone.
fn pass_on(events: &mpsc::Sender<ConsumerEvent>, polled: Option<KafkaResult<BorrowedMessage<'_>>>) -> Option<bool> {
    match polled {
        None => Some(false),
        Some(Ok(message)) => {
            events.blocking_send(ConsumerEvent::Message(KafkaMessage::copied_from(&message))).ok()?;
            Some(true)
        }
        Some(Err(error)) => {
            warn!(%error, "kafka consumer error");
            Some(false)
        }
    }
}

fn close(queues: Vec<PartitionQueue<IngestContext>>, consumer: Arc<BaseConsumer<IngestContext>>) {
    info!("leaving the consumer group");
    // The queues hold the consumer too; once they are gone, dropping it closes it on this thread,
    // where the revoke handshake runs.
    drop(queues);
    drop(consumer);
}

fn commit_informational(consumer: &BaseConsumer<IngestContext>, request: &[(TopicPartition, i64)]) {
    let mut tpl = TopicPartitionList::new();
    for (partition, next) in request {
        let _ = tpl.add_partition_offset(&partition.topic, partition.partition, Offset::Offset(*next));
    }
    if let Err(error) = consumer.commit(&tpl, CommitMode::Async) {
        debug!(%error, "informational Kafka commit not sent");
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::settings::Settings;

    fn kafka_settings(options: &[(&str, &str)]) -> KafkaSettings {
        let mut settings = Settings::load(None, &BTreeMap::new()).expect("defaults load").kafka;
        settings.options.extend(options.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        settings
    }

    #[test]
    fn fetches_are_small_and_prefetch_shallow_unless_the_options_say_otherwise() {
        let config = consumer_config(&kafka_settings(&[]));
        assert_eq!(config.get("fetch.max.bytes"), Some("1048576"));
        assert_eq!(config.get("queued.max.messages.kbytes"), Some("4096"));

        let config = consumer_config(&kafka_settings(&[("fetch.max.bytes", "52428800")]));
        assert_eq!(config.get("fetch.max.bytes"), Some("52428800"));
    }

    #[test]
    fn options_never_turn_off_what_exactly_once_relies_on() {
        let config = consumer_config(&kafka_settings(&[("enable.auto.commit", "true")]));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        assert_eq!(config.get("enable.auto.offset.store"), Some("false"));
    }
}
