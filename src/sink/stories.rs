//! Story clustering, in a short transaction of its own under one advisory lock, against a cache of
//! the stories kept in the worker between batches and brought up to date from Postgres each time:
//! the pure `StoryCandidates::assign`, then the changed stories and the articles' memberships
//! written back. Batches of several workers cluster one after another and see each other's stories,
//! as a single worker would.
//!
//! Every write to `stories` takes a new `version` from one sequence, under that lock; so once a batch
//! holds the lock, the stories with a version above the cache's are exactly the changes it has not
//! seen (other workers', or ones it lost), and after it commits its own versions are the newest.
//! Postgres stays the truth: a story transaction that fails or rolls back discards the cache, and
//! the next one loads what it needs again.
//!
//! The story transaction commits before the batch's articles are written, so the lock is not held
//! while they are. If the batch's own transaction then fails, its articles are placed again on the
//! retry, or when read again by another worker: `story_members` gives each its story, as for a replay,
//! so no story counts an article twice.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use super::connection::on_connection;
use super::{SinkError, TopicPartition};
use crate::article::{Article, Origin};
use crate::stages::dedup::stories::{Story, StoryCandidates, StoryRule, TermVector, article_time};

/// The advisory lock key of story assignment ("stories" in ASCII).
const STORIES_LOCK: i64 = 0x73_74_6f_72_69_65_73;
/// What is read of a story, in `Story`'s order, then its version.
const STORY_COLUMNS: &str = "SELECT story_id, seq, centroid, articles, first_seen, last_seen, version FROM stories";
/// New stories come after every stored one, in batch order, until they are stored and get their `seq`.
const NEW_STORIES: i64 = i64::MAX / 2;

/// The worker's stories between batches: empty until the first batch, and after any story
/// transaction that did not commit. Shared by the clones of one `PgSink`; held by one batch at a time
/// (the advisory lock serialises them anyway).
#[derive(Debug, Clone, Default)]
pub(super) struct StoryCache(Arc<tokio::sync::Mutex<Option<SyncedStories>>>);

impl StoryCache {
    /// Gives each article of the batch its story and commits that in a transaction of its own;
    /// returns how many stories were opened and how many the cache now holds. Copies must be linked
    /// first (`duplicate_of`).
    pub(super) async fn assign(
        &self,
        pool: &PgPool,
        articles: &mut [(Article, Origin)],
        rule: &StoryRule,
    ) -> Result<(usize, usize), SinkError> {
        let mut cache = self.0.lock().await;
        // Taken, not borrowed: if anything below fails or is cancelled, the cache is gone.
        let cached = cache.take();
        // The batch's timeout (`write_batch`) covers this too: no limit of its own.
        let (opened, synced) =
            on_connection(pool, None, async |connection| assign_and_commit(connection, articles, rule, cached).await)
                .await?;
        let held = synced.candidates.len();
        *cache = Some(synced);
        Ok((opened, held))
    }

    /// The same inside the caller's transaction, which will be rolled back (`replay --dry-run`): the
    /// cache is dropped, since it would hold stories that were never stored.
    pub(super) async fn assign_in(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        articles: &mut [(Article, Origin)],
        rule: &StoryRule,
    ) -> Result<usize, SinkError> {
        let cached = self.0.lock().await.take();
        Ok(assign_stories(tx, articles, rule, cached).await?.0)
    }
}

async fn assign_and_commit(
    connection: &mut PgConnection,
    articles: &mut [(Article, Origin)],
    rule: &StoryRule,
    cached: Option<SyncedStories>,
) -> Result<(usize, SyncedStories), SinkError> {
    let mut tx = connection.begin().await?;
    let assigned = assign_stories(&mut tx, articles, rule, cached).await?;
    tx.commit().await?;
    Ok(assigned)
}

/// Stories as stored at `version`: every story active in `held`, and the stories of copies'
/// canonical articles met outside it.
#[derive(Debug)]
struct SyncedStories {
    candidates: StoryCandidates,
    version: i64,
    held: Spans,
    readings: Readings,
}

/// A range of times; a story is in it when its own span overlaps it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Span {
    fn holds(&self, story: &Story) -> bool {
        story.last_seen >= self.from && story.first_seen <= self.to
    }

    /// The smallest span whose stories include both spans' stories.
    fn hull(self, other: Span) -> Span {
        Span { from: self.from.min(other.from), to: self.to.max(other.to) }
    }

    /// Whether this span reaches more than `slack` beyond `other` on either side.
    fn reaches_beyond(&self, other: Span, slack: chrono::Duration) -> bool {
        self.from < other.from - slack || self.to > other.to + slack
    }
}

/// A union of spans, kept apart, in order, none overlapping another.
#[derive(Debug, Clone, Default, PartialEq)]
struct Spans(Vec<Span>);

impl Spans {
    fn of(spans: impl IntoIterator<Item = Span>) -> Spans {
        let mut spans: Vec<Span> = spans.into_iter().collect();
        spans.sort_by_key(|span| span.from);
        let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
        for span in spans {
            match merged.last_mut() {
                Some(last) if span.from <= last.to => last.to = last.to.max(span.to),
                _ => merged.push(span),
            }
        }
        Spans(merged)
    }

    fn holds(&self, story: &Story) -> bool {
        self.0.iter().any(|span| span.holds(story))
    }

    /// The parts of these spans that `other` does not cover, in order.
    fn beyond(&self, other: &Spans) -> Vec<Span> {
        let mut parts = Vec::new();
        for span in &self.0 {
            let mut from = span.from;
            for cut in other.0.iter().filter(|cut| cut.to >= span.from && cut.from <= span.to) {
                if cut.from > from {
                    parts.push(Span { from, to: cut.from });
                }
                from = from.max(cut.to);
            }
            if from < span.to {
                parts.push(Span { from, to: span.to });
            }
        }
        parts
    }
}

/// After this many batches without an article of a partition, its span is let go: the partition
/// went to another worker, or is quiet (it loads its stories again when it speaks).
const FORGET_AFTER_BATCHES: u64 = 64;

/// Where in time each partition the worker reads has got to: the span its latest batches need.
/// Kept per partition, so that partitions days apart (one lagging behind the others, or replayed
/// from the start) cost their own days' stories each, never the days between them.
#[derive(Debug, Default)]
struct Readings {
    by_partition: HashMap<TopicPartition, Reading>,
    batches: u64,
}

#[derive(Debug)]
struct Reading {
    span: Span,
    last_batch: u64,
}

impl Readings {
    /// Records the span a batch needs for each of its partitions, and returns the union of what
    /// every partition read lately needs. A partition's span grows to take in what it needs until
    /// it reaches more than a quarter window beyond that (the partition moved on); it is then cut
    /// down to what is needed. So for partitions moving forward the cache holds, per partition, the
    /// stories seen within about a window and a quarter, whatever the size of the corpus.
    fn advance(&mut self, needed: HashMap<TopicPartition, Span>, rule: &StoryRule) -> Spans {
        let slack = chrono::Duration::days(rule.window_days) / 4;
        self.batches += 1;
        for (partition, need) in needed {
            let span = match self.by_partition.get(&partition) {
                Some(reading) if !reading.span.reaches_beyond(need, slack) => reading.span.hull(need),
                _ => need,
            };
            self.by_partition.insert(partition, Reading { span, last_batch: self.batches });
        }
        let batches = self.batches;
        self.by_partition.retain(|_, reading| batches - reading.last_batch < FORGET_AFTER_BATCHES);
        Spans::of(self.by_partition.values().map(|reading| reading.span))
    }
}

/// Gives each article of the batch its story; returns how many stories were opened, and the cache as
/// it will be once the transaction commits.
async fn assign_stories(
    tx: &mut Transaction<'_, Postgres>,
    articles: &mut [(Article, Origin)],
    rule: &StoryRule,
    cached: Option<SyncedStories>,
) -> Result<(usize, SyncedStories), SinkError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(STORIES_LOCK).execute(&mut **tx).await?;
    let mut synced = match cached {
        Some(cached) => catch_up(tx, cached).await?,
        None => SyncedStories {
            candidates: StoryCandidates::new(*rule, []),
            version: stored_version(tx).await?,
            held: Spans::default(),
            readings: Readings::default(),
        },
    };
    let mut known_ids: Vec<&str> = articles.iter().map(|(a, _)| a.id.as_str()).collect();
    known_ids.extend(articles.iter().filter_map(|(a, _)| a.duplicate_of.as_deref()));
    let mut story_of: HashMap<String, String> =
        sqlx::query("SELECT article_id, story_id FROM story_members WHERE article_id = ANY($1)")
            .bind(&known_ids)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
    let placed: Vec<usize> = (0..articles.len()).filter(|&i| !story_of.contains_key(&articles[i].0.id)).collect();
    let wanted = synced.readings.advance(needed_spans(placed.iter().map(|&i| &articles[i]), rule), rule);
    cover(tx, &mut synced, wanted).await?;
    let copy_stories: Vec<&str> = placed
        .iter()
        .filter_map(|&i| articles[i].0.duplicate_of.as_ref().and_then(|c| story_of.get(c)))
        .map(String::as_str)
        .filter(|story| !synced.candidates.contains(story))
        .collect();
    if !copy_stories.is_empty() {
        let loaded = load(tx, &format!("{STORY_COLUMNS} WHERE story_id = ANY($1)"), |q| q.bind(&copy_stories)).await?;
        for (story, _) in loaded {
            synced.candidates.replace(story);
        }
    }

    let mut changed = BTreeSet::new();
    let mut members = Vec::new();
    let mut opened = 0;
    for (i, (article, _)) in articles.iter_mut().enumerate() {
        if let Some(story) = story_of.get(&article.id) {
            // A replay keeps its story, and its terms are already in the centroid.
            article.story_id = Some(story.clone());
            continue;
        }
        let copy_story = article.duplicate_of.as_ref().and_then(|c| story_of.get(c)).cloned();
        if article.input.story_terms.is_empty() && copy_story.is_none() {
            continue;
        }
        let before = synced.candidates.len();
        let story = synced.candidates.assign(
            &article.id,
            &article.input.story_terms,
            article_time(article),
            NEW_STORIES + i as i64,
            copy_story.as_deref(),
        );
        opened += usize::from(synced.candidates.len() > before);
        changed.insert(story.clone());
        story_of.insert(article.id.clone(), story.clone());
        members.push(i);
        article.story_id = Some(story);
    }
    let changed: Vec<&Story> = changed.iter().filter_map(|id| synced.candidates.get(id)).collect();
    for (id, order, version) in store_stories(tx, &changed).await? {
        synced.candidates.set_order(&id, order);
        synced.version = synced.version.max(version);
    }
    store_members(tx, members.iter().map(|&i| &articles[i].0)).await?;
    Ok((opened, synced))
}

/// Records which story each newly placed article joined.
async fn store_members(
    tx: &mut Transaction<'_, Postgres>,
    placed: impl Iterator<Item = &Article>,
) -> Result<(), SinkError> {
    let (ids, stories): (Vec<&str>, Vec<&str>) =
        placed.filter_map(|a| Some((a.id.as_str(), a.story_id.as_deref()?))).unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO story_members (article_id, story_id) SELECT * FROM UNNEST($1::text[], $2::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&stories)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The newest version stored: where an empty cache starts.
async fn stored_version(tx: &mut Transaction<'_, Postgres>) -> Result<i64, SinkError> {
    Ok(sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM stories").fetch_one(&mut **tx).await?)
}

/// Applies the stories changed since the cache's version: replaced where cached, added where in its
/// spans, ignored otherwise (a story outside them that is not cached is not needed).
async fn catch_up(tx: &mut Transaction<'_, Postgres>, mut synced: SyncedStories) -> Result<SyncedStories, SinkError> {
    let changed = load(tx, &format!("{STORY_COLUMNS} WHERE version > $1"), |q| q.bind(synced.version)).await?;
    for (story, version) in changed {
        synced.version = synced.version.max(version);
        if synced.candidates.contains(&story.id) || synced.held.holds(&story) {
            synced.candidates.replace(story);
        }
    }
    Ok(synced)
}

/// The times each partition's articles in the batch may find stories in: theirs, widened by the
/// window on each side.
fn needed_spans<'a>(
    articles: impl Iterator<Item = &'a (Article, Origin)>,
    rule: &StoryRule,
) -> HashMap<TopicPartition, Span> {
    let window = chrono::Duration::days(rule.window_days);
    let mut needed: HashMap<TopicPartition, Span> = HashMap::new();
    for (article, origin) in articles {
        let at = article_time(article);
        let point = Span { from: at - window, to: at + window };
        needed
            .entry(TopicPartition::new(origin.topic.as_str(), origin.partition))
            .and_modify(|span| *span = span.hull(point))
            .or_insert(point);
    }
    needed
}

/// Makes the cache hold every story active in `wanted` and, once it held more, only those: the
/// stories outside it are dropped, and those of the parts it did not hold before are loaded.
async fn cover(tx: &mut Transaction<'_, Postgres>, synced: &mut SyncedStories, wanted: Spans) -> Result<(), SinkError> {
    if !synced.held.beyond(&wanted).is_empty() {
        synced.candidates.retain(|story| wanted.holds(story));
    }
    for part in wanted.beyond(&synced.held) {
        let loaded = load(tx, &format!("{STORY_COLUMNS} WHERE last_seen >= $1 AND first_seen <= $2"), |q| {
            q.bind(part.from).bind(part.to)
        })
        .await?;
        for (story, _) in loaded {
            // Cached already, and current: a story of the spans held, or a copy's story met outside them.
            if !synced.candidates.contains(&story.id) {
                synced.candidates.replace(story);
            }
        }
    }
    synced.held = wanted;
    Ok(())
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Stories and their versions, by a `STORY_COLUMNS` query with its parameters bound by `bind`.
async fn load<'q>(
    tx: &mut Transaction<'_, Postgres>,
    sql: &'q str,
    bind: impl FnOnce(Query<'q>) -> Query<'q>,
) -> Result<Vec<(Story, i64)>, SinkError> {
    Ok(bind(sqlx::query(sql))
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|row| {
            let story = Story {
                id: row.get(0),
                order: row.get(1),
                centroid: TermVector::from_bytes(row.get::<&[u8], _>(2)),
                articles: row.get(3),
                first_seen: row.get(4),
                last_seen: row.get(5),
            };
            (story, row.get(6))
        })
        .collect())
}

/// Writes the stories and returns each one's `seq` and new version.
async fn store_stories(
    tx: &mut Transaction<'_, Postgres>,
    stories: &[&Story],
) -> Result<Vec<(String, i64, i64)>, SinkError> {
    if stories.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = stories.iter().map(|s| s.id.as_str()).collect();
    let centroids: Vec<Vec<u8>> = stories.iter().map(|s| s.centroid.to_bytes()).collect();
    let sizes: Vec<i64> = stories.iter().map(|s| s.articles).collect();
    let firsts: Vec<DateTime<Utc>> = stories.iter().map(|s| s.first_seen).collect();
    let lasts: Vec<DateTime<Utc>> = stories.iter().map(|s| s.last_seen).collect();
    Ok(sqlx::query_as(
        "INSERT INTO stories (story_id, centroid, articles, first_seen, last_seen)
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])
         ON CONFLICT (story_id) DO UPDATE SET centroid = EXCLUDED.centroid, articles = EXCLUDED.articles,
             first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
             version = nextval('story_versions'), updated_at = now()
         RETURNING story_id, seq, version",
    )
    .bind(&ids)
    .bind(&centroids)
    .bind(&sizes)
    .bind(&firsts)
    .bind(&lasts)
    .fetch_all(&mut **tx)
    .await?)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn day(n: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2016, 9, n, 0, 0, 0).unwrap()
    }

    fn span(from: u32, to: u32) -> Span {
        Span { from: day(from), to: day(to) }
    }

    /// What a batch with one article per partition, each at its day, needs under a 3-day window.
    fn needs(partitions_at_days: &[(i32, u32)]) -> HashMap<TopicPartition, Span> {
        partitions_at_days
            .iter()
            .map(|&(partition, at)| (TopicPartition::new("t", partition), span(at - 3, at + 3)))
            .collect()
    }

    #[test]
    fn partitions_days_apart_need_their_own_days_and_not_those_between() {
        let mut readings = Readings::default();
        let wanted = readings.advance(needs(&[(0, 5), (1, 25)]), &StoryRule::default());
        assert_eq!(wanted, Spans(vec![span(2, 8), span(22, 28)]));
    }

    #[test]
    fn a_partition_keeps_its_span_until_it_moves_a_quarter_window_beyond_it() {
        let rule = StoryRule::default();
        let mut readings = Readings::default();
        readings.advance(needs(&[(0, 5)]), &rule);
        // Half a day on is within the slack: the span grows.
        let grown =
            readings.advance(HashMap::from([(TopicPartition::new("t", 0), span(2, 8).hull(span(3, 9)))]), &rule);
        assert_eq!(grown, Spans(vec![span(2, 9)]));
        // A day further, the span starts again from what is needed.
        let moved = readings.advance(needs(&[(0, 7)]), &rule);
        assert_eq!(moved, Spans(vec![span(4, 10)]));
    }

    #[test]
    fn a_partition_no_batch_read_from_lately_is_let_go() {
        let rule = StoryRule::default();
        let mut readings = Readings::default();
        readings.advance(needs(&[(0, 5), (1, 25)]), &rule);
        for _ in 1..FORGET_AFTER_BATCHES {
            assert_eq!(readings.advance(needs(&[(1, 25)]), &rule).0.len(), 2);
        }
        assert_eq!(readings.advance(needs(&[(1, 25)]), &rule), Spans(vec![span(22, 28)]));
    }

    #[test]
    fn overlapping_spans_merge_and_the_uncovered_parts_are_what_is_left() {
        let wanted = Spans::of([span(20, 26), span(2, 8), span(6, 12)]);
        assert_eq!(wanted, Spans(vec![span(2, 12), span(20, 26)]));
        let held = Spans(vec![span(1, 4), span(10, 22)]);
        assert_eq!(wanted.beyond(&held), vec![span(4, 10), span(22, 26)]);
        assert_eq!(held.beyond(&wanted), vec![span(1, 2), span(12, 20)]);
        assert!(wanted.beyond(&wanted).is_empty());
    }
}
