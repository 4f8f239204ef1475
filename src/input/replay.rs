//! Reading a bounded range of a topic for `replay`: manual assignment, outside any consumer group,
//! so the live group's members, assignment and committed offsets are never touched.
//!
//! The range ends at each partition's high watermark when the replay starts: messages produced
//! meanwhile are the live worker's. `--from TIME` and `--to TIME` select by each record's own
//! timestamp: the broker's time index (ListOffsets) is asked where to start only as a shortcut,
//! and every record is still checked, because brokers answer that question differently (the mock
//! cluster cannot, Tansu answers from segment write times) and CreateTime is not monotonic.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, Timestamp};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::kafka::{ConsumerEvent, ConsumerHandle, KafkaMessage, log_librdkafka};
use crate::settings::KafkaSettings;
use crate::sink::TopicPartition;

/// Broker requests made while planning (metadata, watermarks, time lookups).
const PLANNING_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a replay starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayFrom {
    /// Each partition's first retained message.
    Earliest,
    /// The first records whose timestamp is at or after this time.
    Time(DateTime<Utc>),
    /// Only these partitions, from these offsets.
    Offsets(Vec<(i32, i64)>),
}

/// Where a replay stops (always at the latest by the high watermark when the replay starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayTo {
    Latest,
    /// Records whose timestamp is before this time.
    Time(DateTime<Utc>),
}

impl FromStr for ReplayFrom {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "earliest" {
            return Ok(ReplayFrom::Earliest);
        }
        if let Ok(time) = DateTime::parse_from_rfc3339(text) {
            return Ok(ReplayFrom::Time(time.to_utc()));
        }
        let offsets: Result<Vec<(i32, i64)>, String> = text.split(',').map(parse_partition_offset).collect();
        match offsets {
            Ok(offsets) if !offsets.is_empty() => Ok(ReplayFrom::Offsets(offsets)),
            _ => Err(format!(
                "`{text}` is not `earliest`, an RFC 3339 time (2016-09-30T00:00:00Z) or partition:offset pairs (0:120,3:0)"
            )),
        }
    }
}

fn parse_partition_offset(pair: &str) -> Result<(i32, i64), String> {
    let (partition, offset) = pair.trim().split_once(':').ok_or_else(|| format!("`{pair}` has no colon"))?;
    let partition: i32 = partition.parse().map_err(|_| format!("bad partition in `{pair}`"))?;
    let offset: i64 = offset.parse().map_err(|_| format!("bad offset in `{pair}`"))?;
    if partition < 0 || offset < 0 {
        return Err(format!("negative number in `{pair}`"));
    }
    Ok((partition, offset))
}

impl FromStr for ReplayTo {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text == "latest" {
            return Ok(ReplayTo::Latest);
        }
        DateTime::parse_from_rfc3339(text)
            .map(|time| ReplayTo::Time(time.to_utc()))
            .map_err(|_| format!("`{text}` is not `latest` or an RFC 3339 time"))
    }
}

/// One partition's share of the range: offsets `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

/// The resolved range, ready to read.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    pub topic: String,
    pub partitions: Vec<PartitionRange>,
    /// Records before this time (ms since the epoch) are skipped.
    pub from_time: Option<i64>,
    /// Records at or after this time are skipped.
    pub to_time: Option<i64>,
}

impl ReplayPlan {
    /// Messages the range spans (skipped ones included).
    pub fn messages(&self) -> u64 {
        self.partitions.iter().map(|p| (p.end - p.start).max(0) as u64).sum()
    }

    /// Whether a record with this timestamp (ms) is in the range; a record without one is.
    fn selects(&self, timestamp: Option<i64>) -> bool {
        let Some(at) = timestamp else { return true };
        self.from_time.is_none_or(|from| at >= from) && self.to_time.is_none_or(|to| at < to)
    }
}

/// What the reader has done so far, for progress reports.
#[derive(Debug, Default)]
pub struct ReplayCounters {
    /// Messages read from the broker, skipped ones included.
    pub read: AtomicU64,
    /// Messages read but outside the time range.
    pub skipped: AtomicU64,
}

struct ReplayContext;

impl ClientContext for ReplayContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        log_librdkafka(level, fac, log_message);
    }
}

impl rdkafka::consumer::ConsumerContext for ReplayContext {}

/// A consumer that reads by manual assignment only: no group, no commits.
pub struct ReplayReader {
    consumer: BaseConsumer<ReplayContext>,
    pub plan: ReplayPlan,
}

impl ReplayReader {
    /// Resolves the range against the broker. Blocking: call from a blocking thread.
    pub fn plan(settings: &KafkaSettings, topic: &str, from: &ReplayFrom, to: ReplayTo) -> anyhow::Result<Self> {
        let consumer: BaseConsumer<ReplayContext> =
            reader_config(settings).create_with_context(ReplayContext).context("creating the replay consumer")?;
        let metadata = consumer.fetch_metadata(Some(topic), PLANNING_TIMEOUT).context("reading topic metadata")?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            bail!("topic `{topic}` does not exist or has no partitions");
        }
        let chosen: Vec<(i32, Option<i64>)> = match from {
            ReplayFrom::Offsets(offsets) => {
                for (partition, _) in offsets {
                    if !partitions.contains(partition) {
                        bail!("topic `{topic}` has no partition {partition}");
                    }
                }
                offsets.iter().map(|&(partition, offset)| (partition, Some(offset))).collect()
            }
            ReplayFrom::Time(time) => {
                let hints = time_index_hints(&consumer, topic, &partitions, time.timestamp_millis());
                partitions.iter().map(|p| (*p, hints.get(p).copied())).collect()
            }
            ReplayFrom::Earliest => partitions.iter().map(|p| (*p, None)).collect(),
        };
        let mut ranges = Vec::with_capacity(chosen.len());
        for (partition, wanted) in chosen {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, PLANNING_TIMEOUT)
                .with_context(|| format!("reading the watermarks of {topic}[{partition}]"))?;
            let start = wanted.unwrap_or(low).clamp(low, high);
            ranges.push(PartitionRange { partition, start, end: high });
        }
        let plan = ReplayPlan {
            topic: topic.to_owned(),
            partitions: ranges,
            from_time: match from {
                ReplayFrom::Time(time) => Some(time.timestamp_millis()),
                _ => None,
            },
            to_time: match to {
                ReplayTo::Time(time) => Some(time.timestamp_millis()),
                ReplayTo::Latest => None,
            },
        };
        Ok(ReplayReader { consumer, plan })
    }

    /// Starts reading on a thread of its own. The worker hears `Assigned` for the range's
    /// partitions (with no stored position: a replay stores none), then the selected messages;
    /// the channel closes when every partition reached its end.
    pub fn spawn(
        self,
        events: mpsc::Sender<ConsumerEvent>,
        counters: Arc<ReplayCounters>,
    ) -> anyhow::Result<ConsumerHandle> {
        let ReplayReader { consumer, plan } = self;
        let mut assignment = TopicPartitionList::new();
        for range in plan.partitions.iter().filter(|r| r.start < r.end) {
            assignment.add_partition_offset(&plan.topic, range.partition, Offset::Offset(range.start))?;
        }
        consumer.assign(&assignment).context("assigning the replay range")?;
        let stop = Arc::new(AtomicBool::new(false));
        let (requests, _ignored) = std_mpsc::channel();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("kafka-replay".into())
            .spawn(move || read_range(consumer, plan, events, counters, thread_stop))?;
        Ok(ConsumerHandle::new(stop, thread, requests))
    }
}

/// The replay reader's librdkafka settings: `kafka.options` (security and the like), and a group id
/// of its own, which librdkafka needs to assign partitions at all: a manually assigned consumer
/// never joins that group, and the reader never commits, so the live group sees nothing of it.
fn reader_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in settings.options.iter().filter(|(key, _)| !key.starts_with("group.")) {
        config.set(key, value);
    }
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", format!("{}.replay", settings.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true");
    config
}

/// The broker's answer to "first offset at or after `at_ms`" per partition, where it has one.
fn time_index_hints(
    consumer: &BaseConsumer<ReplayContext>,
    topic: &str,
    partitions: &[i32],
    at_ms: i64,
) -> HashMap<i32, i64> {
    let mut query = TopicPartitionList::new();
    for partition in partitions {
        let _ = query.add_partition_offset(topic, *partition, Offset::Offset(at_ms));
    }
    match consumer.offsets_for_times(query, PLANNING_TIMEOUT) {
        Ok(answer) => answer
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) if offset >= 0 => Some((e.partition(), offset)),
                _ => None,
            })
            .collect(),
        Err(error) => {
            warn!(%error, "the broker's time index is not available: reading each partition from its start");
            HashMap::new()
        }
    }
}

fn read_range(
    consumer: BaseConsumer<ReplayContext>,
    plan: ReplayPlan,
    events: mpsc::Sender<ConsumerEvent>,
    counters: Arc<ReplayCounters>,
    stop: Arc<AtomicBool>,
) {
    let mut open: HashMap<i32, i64> =
        plan.partitions.iter().filter(|r| r.start < r.end).map(|r| (r.partition, r.end)).collect();
    let assigned = plan.partitions.iter().map(|r| (TopicPartition::new(&plan.topic, r.partition), None)).collect();
    if events.blocking_send(ConsumerEvent::Assigned(assigned)).is_err() {
        return;
    }
    while !open.is_empty() && !stop.load(Ordering::SeqCst) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let partition = message.partition();
                let Some(&end) = open.get(&partition) else { continue };
                if message.offset() >= end {
                    finish_partition(&consumer, &plan.topic, partition, &mut open);
                    continue;
                }
                counters.read.fetch_add(1, Ordering::Relaxed);
                if message.offset() + 1 >= end {
                    finish_partition(&consumer, &plan.topic, partition, &mut open);
                }
                if !plan.selects(record_time(message.timestamp())) {
                    counters.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if events.blocking_send(ConsumerEvent::Message(KafkaMessage::copied_from(&message))).is_err() {
                    return;
                }
            }
            // The end of what the partition holds now, which is at or past the planned end: offsets
            // the log no longer has (compaction, transaction markers) never arrive one by one.
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                finish_partition(&consumer, &plan.topic, partition, &mut open)
            }
            Some(Err(error)) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) => {
                warn!(%error, "part of the range is no longer retained");
            }
            Some(Err(error)) => warn!(%error, "kafka consumer error while replaying"),
        }
    }
    info!("replay range read");
}

fn finish_partition(consumer: &BaseConsumer<ReplayContext>, topic: &str, partition: i32, open: &mut HashMap<i32, i64>) {
    if open.remove(&partition).is_some() {
        let mut done = TopicPartitionList::new();
        let _ = done.add_partition(topic, partition);
        let _ = consumer.pause(&done);
    }
}

fn record_time(timestamp: Timestamp) -> Option<i64> {
    match timestamp {
        Timestamp::CreateTime(ms) | Timestamp::LogAppendTime(ms) => Some(ms),
        Timestamp::NotAvailable => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_accepts_earliest_a_time_or_partition_offsets() {
        assert_eq!("earliest".parse::<ReplayFrom>().unwrap(), ReplayFrom::Earliest);
        let time = "2016-09-30T12:00:00+02:00".parse::<ReplayFrom>().unwrap();
        assert_eq!(time, ReplayFrom::Time("2016-09-30T10:00:00Z".parse().unwrap()));
        assert_eq!("0:120, 3:0".parse::<ReplayFrom>().unwrap(), ReplayFrom::Offsets(vec![(0, 120), (3, 0)]));
        for bad in ["", "yesterday", "0:", "a:1", "1:-4", "0:1,"] {
            assert!(bad.parse::<ReplayFrom>().is_err(), "{bad}");
        }
    }

    #[test]
    fn to_accepts_latest_or_a_time() {
        assert_eq!("latest".parse::<ReplayTo>().unwrap(), ReplayTo::Latest);
        assert!(matches!("2016-10-01T00:00:00Z".parse::<ReplayTo>().unwrap(), ReplayTo::Time(_)));
        assert!("0:1".parse::<ReplayTo>().is_err());
    }

    #[test]
    fn a_time_range_selects_records_from_its_start_up_to_before_its_end() {
        let plan = ReplayPlan { topic: "t".into(), partitions: vec![], from_time: Some(1_000), to_time: Some(2_000) };
        assert!(!plan.selects(Some(999)));
        assert!(plan.selects(Some(1_000)));
        assert!(plan.selects(Some(1_999)));
        assert!(!plan.selects(Some(2_000)));
        assert!(plan.selects(None), "a record without a timestamp cannot be judged: it is replayed");
    }
}
