//! What one transaction writes.

use std::collections::BTreeMap;

use super::postgres::Linked;
use crate::article::{Article, DeadLetter, Origin};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition { topic: topic.into(), partition }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// A partition's stored position before the batch (`expected`: what this worker last read or
/// wrote; `None` when nothing was ever stored) and after it (`next`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPosition {
    pub partition: TopicPartition,
    pub expected: Option<i64>,
    pub next: i64,
}

/// Articles and dead letters in arrival order, and the positions they advance.
#[derive(Debug, Default)]
pub struct Batch {
    pub articles: Vec<(Article, Origin)>,
    pub dead_letters: Vec<DeadLetter>,
    pub positions: Vec<PartitionPosition>,
    /// Stored dead letters this batch retried into articles: removed in the same transaction.
    pub retired_dead_letters: Vec<Origin>,
    /// Message bytes the batch was made from.
    pub bytes: usize,
    /// Set once the batch's copies and stories are linked and committed (`PgSink::link_batch`): its
    /// write then stores the articles as linked. Unset, the write links them first (in a dry run,
    /// inside its own transaction).
    pub linked: Option<Linked>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.articles.is_empty() && self.dead_letters.is_empty()
    }

    pub fn len(&self) -> usize {
        self.articles.len() + self.dead_letters.len()
    }

    /// Forgets the copy links and stories a write attempt gave the articles: a retry after an attempt
    /// that did not commit starts from the batch as the stages left it, not from that attempt's links
    /// (a near copy would otherwise be counted again as an exact one).
    pub fn clear_links(&mut self) {
        self.linked = None;
        for (article, _) in &mut self.articles {
            article.duplicate_of = None;
            article.duplicate_kind = None;
            article.similarity = None;
            article.story_id = None;
        }
    }

    /// Drops everything read from `partition` (used when another worker owns it now).
    pub fn remove_partition(&mut self, partition: &TopicPartition) {
        let from = |origin: &Origin| origin.topic == partition.topic && origin.partition == partition.partition;
        self.articles.retain(|(_, origin)| !from(origin));
        self.dead_letters.retain(|dead| !from(&dead.origin));
        self.positions.retain(|p| &p.partition != partition);
    }

    /// Keeps only what was read from partitions `keep` accepts.
    pub fn retain_partitions(&mut self, keep: impl Fn(&TopicPartition) -> bool) {
        let from = |origin: &Origin| keep(&TopicPartition::new(&origin.topic, origin.partition));
        self.articles.retain(|(_, origin)| from(origin));
        self.dead_letters.retain(|dead| from(&dead.origin));
        self.positions.retain(|p| keep(&p.partition));
    }

    /// The highest offset seen per partition, plus one: where each partition resumes after this batch.
    pub fn next_offsets(&self) -> BTreeMap<TopicPartition, i64> {
        let origins = self.articles.iter().map(|(_, o)| o).chain(self.dead_letters.iter().map(|d| &d.origin));
        let mut next = BTreeMap::new();
        for origin in origins {
            let entry = next.entry(TopicPartition::new(&origin.topic, origin.partition)).or_insert(0);
            *entry = (*entry).max(origin.offset + 1);
        }
        next
    }
}
