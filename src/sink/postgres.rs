//! Batched writes through sqlx: one statement per table per batch (UNNEST over arrays), never a
//! round trip per row, and the partition positions checked and advanced in the same transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::types::Json;
use sqlx::{Arguments, Postgres, Row, Transaction};
use thiserror::Error;

use super::batch::{Batch, PartitionPosition, TopicPartition};
use super::connection::{LOOKUP_TIMEOUT, on_connection};
use super::near::{HeldBands, LearnedHolders, link_near, store_signatures};
use super::order::WriteTurn;
use super::stories::StoryCache;
use super::templates::{LearnedTemplate, record_sightings};
use crate::article::{Article, DeadLetter, DuplicateKind, Entities, Origin, PublishedAt, Quote, RemovedLine};
use crate::settings::DatabaseSettings;
use crate::stages::clean::templates::TemplateRule;
use crate::stages::dedup::near::NearRule;
use crate::stages::dedup::stories::StoryRule;
use crate::stages::dedup::{ExactIndex, link_exact_copies};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, Error)]
pub enum SinkError {
    /// The stored position is not the one this worker expected: another worker wrote this
    /// partition since (it was reassigned). The batch's rows from it must not be written.
    #[error("partition {partition} was written by another worker (stored {stored:?}, expected {expected:?})")]
    Fenced { partition: TopicPartition, stored: Option<i64>, expected: Option<i64> },
    /// Work on Postgres still unfinished after its limit (`database.transaction_timeout_ms` for a
    /// batch's write, `LOOKUP_TIMEOUT` for a lookup): given up, its connections closed (Postgres
    /// rolls back what they held); a batch is then retried from the start. `during`: the write's step.
    #[error(
        "no answer from Postgres within {after:?}{}: given up, its connections closed",
        .during.map(|step| format!(" (batch write, step {step})")).unwrap_or_default()
    )]
    TimedOut { after: Duration, during: Option<&'static str> },
    /// The batch before this one in the worker's write order had not committed when this one
    /// checked its positions (it failed and is being retried): this write waits for it, then
    /// starts over (`sink::order`).
    #[error("the batch written before this one had not committed")]
    OutOfTurn,
    /// The batch before this one in the worker's write order was given up (fenced, or stopping):
    /// this one is written again after it.
    #[error("the batch written before this one was given up")]
    PredecessorGivenUp,
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What a committed batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub inserted: usize,
    /// Articles already stored whose row changed (a replay after a stage changed, a re-sent edit).
    pub updated: usize,
    /// Articles already stored exactly as they are now (a replay of the same input): not rewritten.
    pub unchanged: usize,
    /// With `reporting_changes`: how many updated rows changed each column.
    pub changed_columns: Vec<(String, i64)>,
    /// Dead letters this batch retried successfully and removed.
    pub retired_dead_letters: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub new_stories: usize,
    /// Stories held in the worker's story cache after this batch.
    pub cached_stories: usize,
    pub dead_letters: usize,
    /// Lines this batch's articles made templates of their site.
    pub learned_templates: Vec<LearnedTemplate>,
    pub times: SinkTimes,
}

/// Where a batch's transaction spent its time, step by step (summed over batches in a run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkTimes {
    /// Checking (and locking) the partitions' stored positions.
    pub positions: Duration,
    pub exact: Duration,
    pub near: Duration,
    pub stories: Duration,
    pub articles: Duration,
    pub signatures: Duration,
    pub templates: Duration,
    pub dead_letters: Duration,
    /// Storing the new positions and committing.
    pub commit: Duration,
}

impl SinkTimes {
    /// Each step with its name, in transaction order.
    pub fn steps(&self) -> [(&'static str, Duration); 9] {
        [
            ("positions", self.positions),
            ("exact", self.exact),
            ("near", self.near),
            ("stories", self.stories),
            ("articles", self.articles),
            ("signatures", self.signatures),
            ("templates", self.templates),
            ("dead_letters", self.dead_letters),
            ("commit", self.commit),
        ]
    }
}

impl std::ops::AddAssign for SinkTimes {
    fn add_assign(&mut self, other: SinkTimes) {
        self.positions += other.positions;
        self.exact += other.exact;
        self.near += other.near;
        self.stories += other.stories;
        self.articles += other.articles;
        self.signatures += other.signatures;
        self.templates += other.templates;
        self.dead_letters += other.dead_letters;
        self.commit += other.commit;
    }
}

/// What linking a batch did (`PgSink::link_batch`), kept on the batch for its write's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Linked {
    pub new_stories: usize,
    /// Stories the worker's cache held after this batch (none in a dry run, which drops it).
    pub cached_stories: usize,
    /// The exact, near, signatures and stories steps.
    pub times: SinkTimes,
}

/// The step of a batch's write under way, named by a write given up after its timeout.
type StepUnderWay = Mutex<&'static str>;

/// Time per step of a batch's write, and which step is under way.
struct Laps<'a> {
    since: Instant,
    step: &'a StepUnderWay,
}

impl Laps<'_> {
    fn enter(&self, step: &'static str) {
        *self.step.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = step;
    }

    /// Time since the last lap.
    fn lap(&mut self) -> Duration {
        let now = Instant::now();
        let since = now - self.since;
        self.since = now;
        since
    }
}

#[derive(Debug, Clone)]
pub struct PgSink {
    pool: PgPool,
    group: String,
    /// Set when site templates are learned (`learning_templates`).
    template_rule: Option<TemplateRule>,
    near_rule: NearRule,
    story_rule: StoryRule,
    /// The stories of the window, kept between batches (`sink::stories`).
    stories: StoryCache,
    /// Band holders seen committed, kept between batches (`sink::near`).
    held_bands: HeldBands,
    /// Link copies and assign stories (`dedup.enabled`).
    dedup: bool,
    /// Roll every transaction back after doing all its work: `replay --dry-run`.
    dry_run: bool,
    /// Count, per column, how many updated rows changed it (`replay` reports this).
    report_changes: bool,
    /// How long a batch's work may take before it is given up (`database.transaction_timeout_ms`).
    transaction_timeout: Option<Duration>,
}

impl PgSink {
    pub async fn connect(settings: &DatabaseSettings, group: &str) -> Result<Self, SinkError> {
        let mut options: PgConnectOptions = settings.url.parse()?;
        if settings.statement_timeout_ms > 0 {
            // A statement stuck behind a lock or a slow disk fails after this long; the batch is then
            // retried with backoff like any other failed write, instead of holding the worker forever.
            options = options.options([("statement_timeout", format!("{}ms", settings.statement_timeout_ms))]);
        }
        let transaction_timeout =
            (settings.transaction_timeout_ms > 0).then(|| Duration::from_millis(settings.transaction_timeout_ms));
        if let Some(limit) = transaction_timeout {
            // The server's half of the transaction timeout: a session left idle inside a transaction
            // (its client gone silent) is ended, so the position rows it locked are free for the retry
            // or for the partition's next owner.
            options = options.options([("idle_in_transaction_session_timeout", format!("{}ms", limit.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.application_name("article-ingest"));
        Ok(PgSink {
            pool,
            group: group.to_owned(),
            template_rule: None,
            near_rule: NearRule::default(),
            story_rule: StoryRule::default(),
            stories: StoryCache::default(),
            held_bands: HeldBands::default(),
            dedup: true,
            dry_run: false,
            report_changes: false,
            transaction_timeout,
        })
    }

    /// When a candidate counts as a near copy.
    pub fn with_near_rule(mut self, rule: NearRule) -> Self {
        self.near_rule = rule;
        self
    }

    /// Off: no copy links, no stories, no signatures stored; every article is its own.
    pub fn with_dedup(mut self, enabled: bool) -> Self {
        self.dedup = enabled;
        self
    }

    /// When an article joins a story.
    pub fn with_story_rule(mut self, rule: StoryRule) -> Self {
        self.story_rule = rule;
        self
    }

    /// Count each batch's candidate template lines and learn site templates by `rule`.
    pub fn learning_templates(mut self, rule: TemplateRule) -> Self {
        self.template_rule = Some(rule);
        self
    }

    /// Do every batch's work, report it, and roll it back: nothing is stored.
    pub fn rolling_back(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// Report which columns each batch's updates changed (`BatchReport::changed_columns`).
    pub fn reporting_changes(mut self) -> Self {
        self.report_changes = true;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the migrations on a session without `statement_timeout`: rewriting a large table
    /// (a new column, an index) may rightly take longer than any write of a batch.
    pub async fn migrate(&self) -> Result<(), SinkError> {
        let mut session = self.pool.acquire().await?;
        sqlx::query("SET statement_timeout = 0").execute(&mut *session).await?;
        let result = MIGRATOR.run(&mut *session).await;
        sqlx::query("RESET statement_timeout").execute(&mut *session).await?;
        result?;
        Ok(())
    }

    /// Makes sure a position row exists for each partition and returns the stored next offsets
    /// (`None` where nothing was ever written). Called when partitions are assigned.
    pub async fn load_positions(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>, SinkError> {
        on_connection(&self.pool, Some(LOOKUP_TIMEOUT), async |connection| {
            self.load_positions_on(connection, partitions).await
        })
        .await
    }

    async fn load_positions_on(
        &self,
        connection: &mut sqlx::PgConnection,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Option<i64>>, SinkError> {
        let (topics, numbers) = split_partitions(partitions);
        sqlx::query(
            "INSERT INTO kafka_offsets (consumer_group, topic, kafka_partition)
             SELECT $1, t, p FROM UNNEST($2::text[], $3::int[]) AS u(t, p)
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.group)
        .bind(&topics)
        .bind(&numbers)
        .execute(&mut *connection)
        .await?;
        let rows = sqlx::query(
            "SELECT topic, kafka_partition, next_offset FROM kafka_offsets
             WHERE consumer_group = $1 AND (topic, kafka_partition) IN (SELECT * FROM UNNEST($2::text[], $3::int[]))",
        )
        .bind(&self.group)
        .bind(&topics)
        .bind(&numbers)
        .fetch_all(&mut *connection)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (TopicPartition::new(row.get::<String, _>(0), row.get(1)), row.get::<Option<i64>, _>(2)))
            .collect())
    }

    /// Links the batch's copies and gives its articles their stories, and commits that ahead of the
    /// articles (`write_batch`): exact copies against the shared `content_hashes`, near copies
    /// against `lsh_bands` and `article_signatures` (this batch's signatures stored with their
    /// canonical article), in one transaction; stories in a short one of their own
    /// (`sink::stories`). The next batch is then linked against this one while this one's articles
    /// are still being written: the articles' write, the longest step, overlaps the next batch's
    /// links instead of waiting for them.
    ///
    /// What is committed here is keyed by the articles' own ids, so a write that fails afterwards,
    /// or a batch fenced and read again by another worker, finds the same claims and links the
    /// same way. With deduplication off it does nothing; rolling back (`replay --dry-run`), it does
    /// nothing and the write links inside its own transaction, rolled back with the rest. Given up
    /// like a write after `database.transaction_timeout_ms`.
    pub async fn link_batch(&self, batch: &mut Batch) -> Result<(), SinkError> {
        if !self.dedup || self.dry_run {
            return Ok(());
        }
        batch.clear_links();
        let step = StepUnderWay::new("acquire");
        let mut laps = Laps { since: Instant::now(), step: &step };
        let linked = self
            .within_timeout(&step, async {
                let mut linked = on_connection(&self.pool, None, async |connection| {
                    let mut tx = sqlx::Connection::begin(connection).await?;
                    let (linked, learned) =
                        link_in(&mut tx, batch, &self.near_rule, &self.held_bands, &mut laps).await?;
                    tx.commit().await?;
                    self.held_bands.remember(learned);
                    Ok(linked)
                })
                .await?;
                laps.enter("stories");
                (linked.new_stories, linked.cached_stories) =
                    self.stories.assign(&self.pool, &mut batch.articles, &self.story_rule).await?;
                linked.times.stories = laps.lap();
                Ok(linked)
            })
            .await?;
        batch.linked = Some(linked);
        Ok(())
    }

    /// Writes the batch and advances its partitions, all in one transaction. A batch not linked
    /// ahead is linked first (`link_batch`); in a dry run, inside the write's transaction, rolled
    /// back with the rest.
    ///
    /// Work still unfinished after `database.transaction_timeout_ms` is given up with
    /// `SinkError::TimedOut`: its connections are closed, so its transaction never commits, and the
    /// batch can be written again from the start.
    pub async fn write_batch(&self, batch: &mut Batch) -> Result<BatchReport, SinkError> {
        self.write_batch_in_turn(batch, &WriteTurn::alone()).await
    }

    /// `write_batch` at the batch's place in its worker's write order (`sink::order`): the articles
    /// are upserted while the batch before may still be written, the positions checked and stored
    /// only once its transaction has ended. `SinkError::OutOfTurn` when it had not committed then.
    pub async fn write_batch_in_turn(&self, batch: &mut Batch, turn: &WriteTurn) -> Result<BatchReport, SinkError> {
        if batch.linked.is_none() {
            // Linked first, on a connection of its own: a write never needs a second connection
            // while it holds one, so writes at once cannot starve the pool.
            self.link_batch(batch).await?;
        }
        let step = StepUnderWay::new("acquire");
        self.within_timeout(
            &step,
            on_connection(&self.pool, None, async |connection| {
                self.write_batch_on(connection, batch, turn, &step).await
            }),
        )
        .await
    }

    /// `work` given up after `database.transaction_timeout_ms`, naming the step under way.
    async fn within_timeout<T>(
        &self,
        step: &StepUnderWay,
        work: impl Future<Output = Result<T, SinkError>>,
    ) -> Result<T, SinkError> {
        let Some(limit) = self.transaction_timeout else {
            return work.await;
        };
        match tokio::time::timeout(limit, work).await {
            Ok(done) => done,
            Err(_) => Err(SinkError::TimedOut {
                after: limit,
                during: Some(*step.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
            }),
        }
    }

    async fn write_batch_on(
        &self,
        connection: &mut sqlx::PgConnection,
        batch: &mut Batch,
        turn: &WriteTurn,
        step: &StepUnderWay,
    ) -> Result<BatchReport, SinkError> {
        let mut laps = Laps { since: Instant::now(), step };
        laps.enter("positions");
        let mut tx = sqlx::Connection::begin(connection).await?;
        take_turn(&mut tx, turn.key()).await?;
        let waits_for = turn.waits_for();
        if waits_for.is_none() {
            // Nothing before it is still being written: fail fast on a fence.
            self.check_positions_in_turn(&mut tx, &batch.positions, turn).await?;
        }
        let mut positions = laps.lap();
        let linked = match batch.linked {
            Some(linked) => linked,
            None if self.dedup && self.dry_run => self.link_within(&mut tx, batch, &mut laps).await?,
            None => Linked::default(),
        };
        let mut times = linked.times;
        laps.enter("articles");
        let written = last_write_per_id(&batch.articles);
        let rows = ArticleColumns::from_articles(&written);
        let changed_columns =
            if self.report_changes { count_changed_columns(&mut tx, &rows).await? } else { Vec::new() };
        let (inserted_ids, updated_ids) = upsert_articles(&mut tx, &rows).await?;
        write_entities_and_quotes(&mut tx, &rows, &inserted_ids, &updated_ids).await?;
        times.articles = laps.lap();
        if let Some(predecessor) = waits_for {
            laps.enter("turn");
            take_turn(&mut tx, predecessor).await?;
            if let Err(error) = self.check_positions_in_turn(&mut tx, &batch.positions, turn).await {
                // Let go of the predecessor's lock at once: its retry takes it again.
                tx.rollback().await?;
                return Err(error);
            }
            positions += laps.lap();
        }
        times.positions = positions;
        laps.enter("templates");
        let learned_templates = match &self.template_rule {
            Some(rule) => record_sightings(&mut tx, &written, &inserted_ids, rule).await?,
            None => Vec::new(),
        };
        times.templates = laps.lap();
        laps.enter("dead_letters");
        let dead_letters = insert_dead_letters(&mut tx, batch).await?;
        let retired_dead_letters = retire_dead_letters(&mut tx, &batch.retired_dead_letters).await?;
        times.dead_letters = laps.lap();
        laps.enter("commit");
        self.store_positions(&mut tx, &batch.positions).await?;
        if self.dry_run {
            tx.rollback().await?;
        } else {
            tx.commit().await?;
        }
        times.commit = laps.lap();
        let (inserted, updated) = (inserted_ids.len(), updated_ids.len());
        let copies = |kind| batch.articles.iter().filter(|(a, _)| a.duplicate_kind == Some(kind)).count();
        Ok(BatchReport {
            inserted,
            updated,
            unchanged: written.len() - inserted - updated,
            changed_columns,
            retired_dead_letters,
            exact_duplicates: copies(DuplicateKind::Exact),
            near_duplicates: copies(DuplicateKind::Near),
            new_stories: linked.new_stories,
            cached_stories: linked.cached_stories,
            dead_letters,
            learned_templates,
            times,
        })
    }

    /// Links a batch inside its write's transaction, its stories too: a dry run, rolled back whole.
    async fn link_within(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        batch: &mut Batch,
        laps: &mut Laps<'_>,
    ) -> Result<Linked, SinkError> {
        batch.clear_links();
        // Rolled back with the write: its claims are not remembered.
        let (mut linked, _) = link_in(tx, batch, &self.near_rule, &self.held_bands, laps).await?;
        laps.enter("stories");
        linked.new_stories = self.stories.assign_in(tx, &mut batch.articles, &self.story_rule).await?;
        linked.times.stories = laps.lap();
        Ok(linked)
    }

    /// `check_positions`, except that positions left where they were by a predecessor that has not
    /// committed are `SinkError::OutOfTurn`, not a fence.
    async fn check_positions_in_turn(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        positions: &[PartitionPosition],
        turn: &WriteTurn,
    ) -> Result<(), SinkError> {
        // Read before the positions are: a predecessor committing in between leaves them as expected.
        let committed = turn.predecessor_committed();
        match self.check_positions(tx, positions).await {
            Err(SinkError::Fenced { .. }) if !committed => Err(SinkError::OutOfTurn),
            checked => checked,
        }
    }

    /// Locks the batch's position rows and fails if any moved since this worker last saw it.
    async fn check_positions(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        positions: &[PartitionPosition],
    ) -> Result<(), SinkError> {
        if positions.is_empty() {
            return Ok(());
        }
        let partitions: Vec<TopicPartition> = positions.iter().map(|p| p.partition.clone()).collect();
        let (topics, numbers) = split_partitions(&partitions);
        let rows = sqlx::query(
            "SELECT topic, kafka_partition, next_offset FROM kafka_offsets
             WHERE consumer_group = $1 AND (topic, kafka_partition) IN (SELECT * FROM UNNEST($2::text[], $3::int[]))
             ORDER BY topic, kafka_partition
             FOR UPDATE",
        )
        .bind(&self.group)
        .bind(&topics)
        .bind(&numbers)
        .fetch_all(&mut **tx)
        .await?;
        let stored: HashMap<TopicPartition, Option<i64>> = rows
            .into_iter()
            .map(|row| (TopicPartition::new(row.get::<String, _>(0), row.get(1)), row.get(2)))
            .collect();
        for position in positions {
            let now = stored.get(&position.partition).copied().flatten();
            if now != position.expected {
                return Err(SinkError::Fenced {
                    partition: position.partition.clone(),
                    stored: now,
                    expected: position.expected,
                });
            }
        }
        Ok(())
    }

    async fn store_positions(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        positions: &[PartitionPosition],
    ) -> Result<(), SinkError> {
        if positions.is_empty() {
            return Ok(());
        }
        let topics: Vec<&str> = positions.iter().map(|p| p.partition.topic.as_str()).collect();
        let numbers: Vec<i32> = positions.iter().map(|p| p.partition.partition).collect();
        let next: Vec<i64> = positions.iter().map(|p| p.next).collect();
        sqlx::query(
            "INSERT INTO kafka_offsets (consumer_group, topic, kafka_partition, next_offset)
             SELECT $1, t, p, n FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
             ON CONFLICT (consumer_group, topic, kafka_partition)
             DO UPDATE SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        )
        .bind(&self.group)
        .bind(&topics)
        .bind(&numbers)
        .bind(&next)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

fn split_partitions(partitions: &[TopicPartition]) -> (Vec<String>, Vec<i32>) {
    partitions.iter().map(|p| (p.topic.clone(), p.partition)).unzip()
}

/// The holders of the batch's hashes as `content_hashes` records them after this batch's claims.
struct ClaimedHashes(HashMap<String, String>);

impl ExactIndex for ClaimedHashes {
    fn claim(&mut self, hash: &str, id: &str) -> String {
        self.0.get(hash).cloned().unwrap_or_else(|| id.to_owned())
    }
}

/// Claims each new body hash for its first article in the batch, then links every copy to the
/// holder. Claims go in hash order so two workers' batches never wait on each other in a cycle.
async fn link_copies(tx: &mut Transaction<'_, Postgres>, batch: &mut Batch) -> Result<(), SinkError> {
    let mut first_claims: HashMap<&str, &str> = HashMap::new();
    for (article, _) in batch.articles.iter().filter(|(a, _)| crate::stages::dedup::is_dedup_candidate(a)) {
        first_claims.entry(article.content_hash.as_str()).or_insert(article.id.as_str());
    }
    if first_claims.is_empty() {
        return Ok(());
    }
    let mut claims: Vec<(&str, &str)> = first_claims.into_iter().collect();
    claims.sort_unstable();
    let (hashes, ids): (Vec<&str>, Vec<&str>) = claims.into_iter().unzip();
    sqlx::query(
        "INSERT INTO content_hashes (content_hash, article_id)
         SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&hashes)
    .bind(&ids)
    .execute(&mut **tx)
    .await?;
    let holders = sqlx::query("SELECT content_hash, article_id FROM content_hashes WHERE content_hash = ANY($1)")
        .bind(&hashes)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|row| (row.get::<String, _>(0), row.get::<String, _>(1)))
        .collect();
    link_exact_copies(batch.articles.iter_mut().map(|(article, _)| article), &mut ClaimedHashes(holders));
    Ok(())
}

/// Takes the advisory lock of a write turn until the end of `tx`: one's own as the write begins, the
/// predecessor's to wait until its transaction has ended.
async fn take_turn(tx: &mut Transaction<'_, Postgres>, (tag, seq): (i32, i32)) -> Result<(), SinkError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)").bind(tag).bind(seq).execute(&mut **tx).await?;
    Ok(())
}

/// Links the batch's exact and near copies and stores its signatures, in `tx`. The signatures go in
/// before the articles: two workers writing the same articles at once meet first on their
/// `content_hashes` claims (taken in hash order), so the second waits there for the first to commit.
async fn link_in(
    tx: &mut Transaction<'_, Postgres>,
    batch: &mut Batch,
    near_rule: &NearRule,
    held_bands: &HeldBands,
    laps: &mut Laps<'_>,
) -> Result<(Linked, LearnedHolders), SinkError> {
    let mut times = SinkTimes::default();
    laps.enter("exact");
    link_copies(tx, batch).await?;
    times.exact = laps.lap();
    laps.enter("near");
    let learned = link_near(tx, &mut batch.articles, near_rule, held_bands).await?;
    times.near = laps.lap();
    laps.enter("signatures");
    store_signatures(tx, &last_write_per_id(&batch.articles), &batch.articles).await?;
    times.signatures = laps.lap();
    Ok((Linked { new_stories: 0, cached_stories: 0, times }, learned))
}

/// The same id twice in one batch (a re-sent article): the later message wins, as it would across
/// batches, and a single statement never touches one row twice. Sorted by id, so two workers'
/// batches lock shared rows in one order and never wait on each other in a cycle.
fn last_write_per_id(articles: &[(Article, Origin)]) -> Vec<&(Article, Origin)> {
    let mut seen = HashSet::new();
    let mut kept: Vec<&(Article, Origin)> = articles.iter().rev().filter(|(a, _)| seen.insert(a.id.as_str())).collect();
    kept.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id));
    kept
}

/// Inserts new articles and rewrites those whose row would change, in one statement; a row
/// that would come out the same is left alone (no new row version, no revision). Returns the ids
/// inserted and the ids updated.
async fn upsert_articles(
    tx: &mut Transaction<'_, Postgres>,
    rows: &ArticleColumns<'_>,
) -> Result<(HashSet<String>, Vec<String>), SinkError> {
    if rows.id.is_empty() {
        return Ok((HashSet::new(), Vec::new()));
    }
    let outcomes: Vec<(String, bool)> =
        sqlx::query_as_with(&UPSERT_ARTICLES, rows.arguments()?).fetch_all(&mut **tx).await?;
    let (inserted, updated): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|(_, inserted)| *inserted);
    Ok((inserted.into_iter().map(|(id, _)| id).collect(), updated.into_iter().map(|(id, _)| id).collect()))
}

/// How many of the batch's already-stored articles would change each column.
async fn count_changed_columns(
    tx: &mut Transaction<'_, Postgres>,
    rows: &ArticleColumns<'_>,
) -> Result<Vec<(String, i64)>, SinkError> {
    if rows.id.is_empty() {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as_with(&COUNT_CHANGED_COLUMNS, rows.arguments()?).fetch_all(&mut **tx).await?)
}

/// Rewrites the article_entities and article_quotes rows of the articles just inserted or updated,
/// in set-based statements (no per-row round trips), from the batch's own values: reading them
/// back out of the stored JSON cost Postgres a primary-key lookup and a decompression per article.
/// Only updated articles can have rows to delete (the rows reference their article), so a new
/// one's id is not looked up in the indexes for nothing: with ids in no particular order, that
/// lookup is a random page of an index that outgrows the cache, and it was a tenth of Postgres's
/// busy time 200,000 articles into a bench run.
async fn write_entities_and_quotes(
    tx: &mut Transaction<'_, Postgres>,
    rows: &ArticleColumns<'_>,
    inserted: &HashSet<String>,
    updated: &[String],
) -> Result<(), SinkError> {
    if !updated.is_empty() {
        sqlx::query("DELETE FROM article_entities WHERE article_id = ANY($1)").bind(updated).execute(&mut **tx).await?;
        sqlx::query("DELETE FROM article_quotes WHERE article_id = ANY($1)").bind(updated).execute(&mut **tx).await?;
    }
    let updated: HashSet<&str> = updated.iter().map(String::as_str).collect();
    let children = ChildRows::of(rows, |id| inserted.contains(id) || updated.contains(id));
    if !children.entity_article.is_empty() {
        sqlx::query(
            "INSERT INTO article_entities (article_id, kind, name)
             SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&children.entity_article)
        .bind(&children.entity_kind)
        .bind(&children.entity_name)
        .execute(&mut **tx)
        .await?;
    }
    if !children.quote_article.is_empty() {
        sqlx::query(
            "INSERT INTO article_quotes (article_id, ordinal, speaker, quote)
             SELECT unnest($1::text[]), unnest($2::int[]), unnest($3::text[]), unnest($4::text[])",
        )
        .bind(&children.quote_article)
        .bind(&children.quote_ordinal)
        .bind(&children.quote_speaker)
        .bind(&children.quote_text)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The article_entities and article_quotes rows of some of a batch's articles, one array per column.
#[derive(Default)]
struct ChildRows<'a> {
    entity_article: Vec<&'a str>,
    entity_kind: Vec<&'static str>,
    entity_name: Vec<&'a str>,
    quote_article: Vec<&'a str>,
    /// From 1, in the article's order of quotes.
    quote_ordinal: Vec<i32>,
    quote_speaker: Vec<Option<&'a str>>,
    quote_text: Vec<&'a str>,
}

impl<'a> ChildRows<'a> {
    fn of(rows: &ArticleColumns<'a>, written: impl Fn(&str) -> bool) -> Self {
        let mut children = ChildRows::default();
        for ((&id, Json(entities)), Json(quotes)) in rows.id.iter().zip(&rows.entities).zip(&rows.quotes) {
            if !written(id) {
                continue;
            }
            let kinds =
                [("person", &entities.people), ("place", &entities.places), ("organization", &entities.organizations)];
            for (kind, names) in kinds {
                for name in names.iter() {
                    children.entity_article.push(id);
                    children.entity_kind.push(kind);
                    children.entity_name.push(name);
                }
            }
            for (ordinal, quote) in (1..).zip(quotes.iter()) {
                children.quote_article.push(id);
                children.quote_ordinal.push(ordinal);
                children.quote_speaker.push(quote.speaker.as_deref());
                children.quote_text.push(&quote.text);
            }
        }
        children
    }
}

/// Every stored column of an article (revision and timestamps aside) with the type of the array
/// it is bound as, in bind order (`ArticleColumns::arguments`: $1…$25). Authors and keywords come as
/// JSON arrays, since a `text[][]` must be rectangular, and `BATCH_ROWS` makes them `text[]`.
const ARTICLE_COLUMNS: [(&str, &str); 25] = [
    ("id", "text"),
    ("url", "text"),
    ("source", "text"),
    ("title", "text"),
    ("body", "text"),
    ("removed", "jsonb"),
    ("published_date", "date"),
    ("published_at", "timestamptz"),
    ("authors", "jsonb"),
    ("agency", "text"),
    ("dateline", "text"),
    ("language", "text"),
    ("word_count", "int"),
    ("entities", "jsonb"),
    ("quotes", "jsonb"),
    ("keywords", "jsonb"),
    ("content_hash", "text"),
    ("duplicate_of", "text"),
    ("duplicate_kind", "text"),
    ("similarity", "real"),
    ("story_id", "text"),
    ("fetched_at", "timestamptz"),
    ("kafka_topic", "text"),
    ("kafka_partition", "int"),
    ("kafka_offset", "bigint"),
];

/// The batch's rows, from one array per column. The arrays are unnested in a select list, where
/// Postgres steps through them together a row at a time; `FROM UNNEST(…)` first copies each array's
/// values into a tuplestore of its own, and a batch's bodies outgrew `work_mem` there: 2.6 GB of
/// temporary files in a 100,000-article `make bench`.
static BATCH_ROWS: LazyLock<String> = LazyLock::new(|| {
    let unnested: Vec<String> = (1..)
        .zip(ARTICLE_COLUMNS)
        .map(|(number, (column, kind))| format!("unnest(${number}::{kind}[]) AS {column}"))
        .collect();
    let selected: Vec<String> = ARTICLE_COLUMNS
        .iter()
        .map(|(column, kind)| match *kind {
            "jsonb" if matches!(*column, "authors" | "keywords") => {
                format!("ARRAY(SELECT jsonb_array_elements_text(r.{column})) AS {column}")
            }
            _ => format!("r.{column}"),
        })
        .collect();
    format!("SELECT {} FROM (SELECT {}) AS r", selected.join(", "), unnested.join(", "))
});

static UPSERT_ARTICLES: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = ARTICLE_COLUMNS.iter().map(|(column, _)| *column).collect();
    let columns = names.join(", ");
    let updatable = &names[1..];
    let set: Vec<String> = updatable.iter().map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let old: Vec<String> = updatable.iter().map(|c| format!("articles.{c}")).collect();
    let new: Vec<String> = updatable.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO articles ({columns}) {}
         ON CONFLICT (id) DO UPDATE SET {}, revision = articles.revision + 1, updated_at = now()
         WHERE ({}) IS DISTINCT FROM ({})
         RETURNING id, (xmax = 0)",
        *BATCH_ROWS,
        set.join(", "),
        old.join(", "),
        new.join(", "),
    )
});

static COUNT_CHANGED_COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let checks: Vec<String> =
        ARTICLE_COLUMNS[1..].iter().map(|(c, _)| format!("('{c}', a.{c} IS DISTINCT FROM r.{c})")).collect();
    format!(
        "SELECT c.name, count(*) FROM ({}) r
         JOIN articles a ON a.id = r.id
         CROSS JOIN LATERAL (VALUES {}) AS c(name, changed)
         WHERE c.changed
         GROUP BY c.name ORDER BY c.name",
        *BATCH_ROWS,
        checks.join(", ")
    )
});

/// The batch as one array per column, the form UNNEST takes. Borrowed from the articles, and the
/// JSON columns serialised straight into the bind buffer: no copy of a body, no `Value` tree.
#[derive(Default)]
struct ArticleColumns<'a> {
    id: Vec<&'a str>,
    url: Vec<Option<&'a str>>,
    source: Vec<Option<&'a str>>,
    title: Vec<Option<&'a str>>,
    body: Vec<&'a str>,
    removed: Vec<Json<&'a [RemovedLine]>>,
    published_date: Vec<Option<NaiveDate>>,
    published_at: Vec<Option<DateTime<Utc>>>,
    authors: Vec<Json<&'a [String]>>,
    agency: Vec<Option<&'a str>>,
    dateline: Vec<Option<&'a str>>,
    language: Vec<Option<&'a str>>,
    word_count: Vec<i32>,
    entities: Vec<Json<&'a Entities>>,
    quotes: Vec<Json<&'a [Quote]>>,
    keywords: Vec<Json<&'a [String]>>,
    content_hash: Vec<&'a str>,
    duplicate_of: Vec<Option<&'a str>>,
    duplicate_kind: Vec<Option<&'static str>>,
    similarity: Vec<Option<f32>>,
    story_id: Vec<Option<&'a str>>,
    fetched_at: Vec<Option<DateTime<Utc>>>,
    kafka_topic: Vec<&'a str>,
    kafka_partition: Vec<i32>,
    kafka_offset: Vec<i64>,
    /// About the bytes the columns take encoded (`encoded_size`).
    encoded_size: usize,
}

impl<'a> ArticleColumns<'a> {
    /// The columns as $1…$25, in `BATCH_ROWS` order, encoded into one buffer sized for them up
    /// front: a batch's rows are megabytes, and a buffer grown by doubling copied them again at
    /// every step and faulted in fresh pages each time (the kernel's page clearing under this
    /// encoding was 1.5 % of the worker's samples in `make bench`).
    fn arguments(&self) -> Result<PgArguments, sqlx::Error> {
        let mut a = PgArguments::default();
        a.reserve(ARTICLE_COLUMNS.len(), self.encoded_size);
        let added = [
            a.add(&self.id),
            a.add(&self.url),
            a.add(&self.source),
            a.add(&self.title),
            a.add(&self.body),
            a.add(&self.removed),
            a.add(&self.published_date),
            a.add(&self.published_at),
            a.add(&self.authors),
            a.add(&self.agency),
            a.add(&self.dateline),
            a.add(&self.language),
            a.add(&self.word_count),
            a.add(&self.entities),
            a.add(&self.quotes),
            a.add(&self.keywords),
            a.add(&self.content_hash),
            a.add(&self.duplicate_of),
            a.add(&self.duplicate_kind),
            a.add(&self.similarity),
            a.add(&self.story_id),
            a.add(&self.fetched_at),
            a.add(&self.kafka_topic),
            a.add(&self.kafka_partition),
            a.add(&self.kafka_offset),
        ];
        added.into_iter().collect::<Result<(), _>>().map_err(sqlx::Error::Encode)?;
        Ok(a)
    }

    fn from_articles(articles: &[&'a (Article, Origin)]) -> Self {
        let mut c = ArticleColumns::default();
        for (a, origin) in articles.iter().map(|pair| (&pair.0, &pair.1)) {
            c.id.push(&a.id);
            c.url.push(a.url.as_deref());
            c.source.push(a.source.as_deref());
            c.title.push(a.title.as_deref());
            c.body.push(&a.body);
            c.removed.push(Json(&a.removed));
            c.published_date.push(a.published_at.map(PublishedAt::date));
            c.published_at.push(match a.published_at {
                Some(PublishedAt::DateTime(at)) => Some(at.to_utc()),
                _ => None,
            });
            c.authors.push(Json(&a.authors));
            c.agency.push(a.agency.as_deref());
            c.dateline.push(a.dateline.as_deref());
            c.language.push(a.language.as_deref());
            c.word_count.push(i32::try_from(a.word_count).unwrap_or(i32::MAX));
            c.entities.push(Json(&a.entities));
            c.quotes.push(Json(&a.quotes));
            c.keywords.push(Json(&a.keywords));
            c.content_hash.push(&a.content_hash);
            c.duplicate_of.push(a.duplicate_of.as_deref());
            c.duplicate_kind.push(a.duplicate_kind.map(|k| k.as_str()));
            c.similarity.push(a.similarity);
            c.story_id.push(a.story_id.as_deref());
            c.fetched_at.push(a.input.fetched_at);
            c.kafka_topic.push(&origin.topic);
            c.kafka_partition.push(origin.partition);
            c.kafka_offset.push(origin.offset);
            c.encoded_size += encoded_size(a, origin);
        }
        c
    }
}

/// About the bytes an article's row takes in `ArticleColumns::arguments`: its text and the JSON
/// of its lists, a little over for escapes, and a fixed part for the numbers, dates and lengths.
fn encoded_size(article: &Article, origin: &Origin) -> usize {
    let texts = |texts: &[String]| texts.iter().map(|t| t.len() + 4).sum::<usize>();
    let optional = |text: &Option<String>| text.as_ref().map_or(0, String::len);
    let removed: usize = article.removed.iter().map(|r| r.line.len() + r.reason.len() + 24).sum();
    let quotes: usize = article.quotes.iter().map(|q| q.text.len() + optional(&q.speaker) + 28).sum();
    let entities =
        texts(&article.entities.people) + texts(&article.entities.places) + texts(&article.entities.organizations);
    let text = article.id.len()
        + article.body.len()
        + optional(&article.url)
        + optional(&article.source)
        + optional(&article.title)
        + optional(&article.agency)
        + optional(&article.dateline)
        + optional(&article.duplicate_of)
        + optional(&article.story_id)
        + article.content_hash.len()
        + origin.topic.len()
        + removed
        + quotes
        + entities
        + texts(&article.authors)
        + texts(&article.keywords);
    text + text / 16 + 256
}

/// Stores dead letters whole; a replayed one (same topic, partition, offset) is not stored twice.
async fn insert_dead_letters(tx: &mut Transaction<'_, Postgres>, batch: &Batch) -> Result<usize, SinkError> {
    if batch.dead_letters.is_empty() {
        return Ok(0);
    }
    // One statement must not touch a row twice: keep the last of a message read twice.
    let mut seen = HashSet::new();
    let mut dead: Vec<&DeadLetter> = batch.dead_letters.iter().rev().filter(|d| seen.insert(&d.origin)).collect();
    dead.reverse();
    let topics: Vec<&str> = dead.iter().map(|d| d.origin.topic.as_str()).collect();
    let partitions: Vec<i32> = dead.iter().map(|d| d.origin.partition).collect();
    let offsets: Vec<i64> = dead.iter().map(|d| d.origin.offset).collect();
    let keys: Vec<Option<&[u8]>> = dead.iter().map(|d| d.key.as_deref()).collect();
    let payloads: Vec<&[u8]> = dead.iter().map(|d| d.payload.as_slice()).collect();
    let kinds: Vec<&str> = dead.iter().map(|d| d.kind).collect();
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    let result = sqlx::query(
        "INSERT INTO dead_letters (topic, kafka_partition, kafka_offset, key, payload, kind, reason)
         SELECT * FROM UNNEST($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[], $7::text[])
         ON CONFLICT (topic, kafka_partition, kafka_offset)
         DO UPDATE SET kind = EXCLUDED.kind, reason = EXCLUDED.reason, created_at = now()",
    )
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .bind(&keys)
    .bind(&payloads)
    .bind(&kinds)
    .bind(&reasons)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() as usize)
}

/// Removes the dead letters a retry turned into articles (or into dead letters again: those are
/// rewritten by `insert_dead_letters`, so only the ones now stored as articles are passed here).
async fn retire_dead_letters(tx: &mut Transaction<'_, Postgres>, origins: &[Origin]) -> Result<usize, SinkError> {
    if origins.is_empty() {
        return Ok(0);
    }
    let topics: Vec<&str> = origins.iter().map(|o| o.topic.as_str()).collect();
    let partitions: Vec<i32> = origins.iter().map(|o| o.partition).collect();
    let offsets: Vec<i64> = origins.iter().map(|o| o.offset).collect();
    let result = sqlx::query(
        "DELETE FROM dead_letters d USING UNNEST($1::text[], $2::int[], $3::bigint[]) AS r(t, p, o)
         WHERE d.topic = r.t AND d.kafka_partition = r.p AND d.kafka_offset = r.o",
    )
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() as usize)
}
