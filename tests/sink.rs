//! The Postgres sink against a real database: one transaction per batch, positions fenced, copies linked.

mod common;

use std::time::Duration;

use article_ingest::article::{Article, DeadLetter, Origin};
use article_ingest::sink::maintenance::{VACUUM_LOCK, vacuum_churned_tables};
use article_ingest::sink::{Batch, PartitionPosition, PgSink, SinkError, TopicPartition, WriteOrder, WriteTurn};
use article_ingest::stages::Pipeline;
use article_ingest::stages::clean::templates::TemplateRule;
use article_ingest::worker::{Outcome, process_message};
use common::{TestDb, eventually};
use sqlx::Connection;

fn article_batch(items: &[(&str, &str, i32, i64)]) -> Batch {
    fetched_batch(items, None)
}

/// The articles as fetched at `fetched_at` (RFC 3339), or without a fetch time.
fn fetched_batch(items: &[(&str, &str, i32, i64)], fetched_at: Option<&str>) -> Batch {
    let pipeline = Pipeline::default();
    let mut batch = Batch::default();
    for (id, body, partition, offset) in items {
        let payload = serde_json::json!({"id": id, "text": body, "fetched_at": fetched_at}).to_string();
        let Outcome::Article(article) =
            process_message(&pipeline, payload.as_bytes(), None, || unreachable!(), 1 << 20, |_| None)
        else {
            panic!("fixture article is valid")
        };
        batch.articles.push((*article, Origin { topic: "t".into(), partition: *partition, offset: *offset }));
    }
    batch
}

fn position(partition: i32, expected: Option<i64>, next: i64) -> PartitionPosition {
    PartitionPosition { partition: TopicPartition::new("t", partition), expected, next }
}

const BODY_A: &str = "Portugal closed its ports on Sunday as a storm hit the coast.\nFerries were cancelled.";
const BODY_B: &str = "Spain put Galicia on red alert on Monday as the storm moved north.";

#[tokio::test]
async fn rows_dead_letters_and_positions_are_stored_together() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    sink.load_positions(&[TopicPartition::new("t", 0)]).await.unwrap();
    let mut batch = article_batch(&[("a", BODY_A, 0, 0), ("b", BODY_B, 0, 2)]);
    batch.dead_letters.push(DeadLetter {
        origin: Origin { topic: "t".into(), partition: 0, offset: 1 },
        key: Some(b"k".to_vec()),
        payload: b"{broken".to_vec(),
        kind: "broken_json",
        reason: "broken JSON envelope: EOF".into(),
    });
    batch.positions = vec![position(0, None, 3)];
    let report = sink.write_batch(&mut batch).await.unwrap();
    assert_eq!((report.inserted, report.updated, report.dead_letters), (2, 0, 1));
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 2);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters WHERE payload = '{broken'::bytea").await, 1);
    assert_eq!(db.count("SELECT next_offset FROM kafka_offsets WHERE topic = 't' AND kafka_partition = 0").await, 3);
}

#[tokio::test]
async fn a_batch_for_a_partition_another_worker_advanced_is_refused_whole() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut first = article_batch(&[("a", BODY_A, 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut first).await.unwrap();

    // A zombie that still believes nothing was stored tries to write the same range.
    let mut zombie = article_batch(&[("a", BODY_A, 0, 0), ("b", BODY_B, 1, 0)]);
    zombie.positions = vec![position(0, None, 1), position(1, None, 1)];
    let error = sink.write_batch(&mut zombie).await.unwrap_err();
    assert!(
        matches!(error, SinkError::Fenced { ref partition, stored: Some(1), expected: None } if partition.partition == 0)
    );
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 1, "nothing of the refused batch is stored");
    assert_eq!(db.count("SELECT max(revision)::bigint FROM articles").await, 1);
}

#[tokio::test]
async fn writing_the_same_article_again_leaves_its_row_alone_and_an_edit_updates_it_in_place() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut first = article_batch(&[("a", BODY_A, 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut first).await.unwrap();
    let mut again = article_batch(&[("a", BODY_A, 0, 0)]);
    again.positions = vec![position(0, Some(1), 1)];
    let report = sink.write_batch(&mut again).await.unwrap();
    assert_eq!((report.inserted, report.updated, report.unchanged), (0, 0, 1));
    let revision_and_copy = || async {
        sqlx::query_as::<_, (i32, Option<String>)>("SELECT revision, duplicate_of FROM articles WHERE id = 'a'")
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    assert_eq!(revision_and_copy().await, (1, None), "an identical write is no new revision and no self-copy");

    let edited = format!("{BODY_A}\nA correction was appended to this report later that day.");
    let mut edit = article_batch(&[("a", &edited, 0, 1)]);
    edit.positions = vec![position(0, Some(1), 2)];
    let report = sink.write_batch(&mut edit).await.unwrap();
    assert_eq!((report.inserted, report.updated, report.unchanged), (0, 1, 0));
    assert_eq!(revision_and_copy().await, (2, None));
}

#[tokio::test]
async fn copies_in_a_later_batch_and_in_the_same_batch_point_at_the_first_article() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut first = article_batch(&[("a", BODY_A, 0, 0), ("a-copy", BODY_A, 0, 1)]);
    first.positions = vec![position(0, None, 2)];
    assert_eq!(sink.write_batch(&mut first).await.unwrap().exact_duplicates, 1);
    let mut later = article_batch(&[("a-later", &BODY_A.to_uppercase(), 1, 0), ("b", BODY_B, 1, 1)]);
    later.positions = vec![position(1, None, 2)];
    sink.write_batch(&mut later).await.unwrap();
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, duplicate_of, duplicate_kind FROM articles ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("a".into(), None, None),
            ("a-copy".into(), Some("a".into()), Some("exact".into())),
            ("a-later".into(), Some("a".into()), Some("exact".into())),
            ("b".into(), None, None),
        ]
    );
}

#[tokio::test]
async fn with_dedup_off_copies_are_stored_as_articles_of_their_own() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await.with_dedup(false);
    let mut batch = article_batch(&[("a", BODY_A, 0, 0), ("a-copy", BODY_A, 0, 1), ("b", BODY_B, 0, 2)]);
    batch.positions = vec![position(0, None, 3)];
    let report = sink.write_batch(&mut batch).await.unwrap();
    assert_eq!((report.inserted, report.exact_duplicates, report.near_duplicates, report.new_stories), (3, 0, 0, 0));
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NULL AND story_id IS NULL").await, 3);
    assert_eq!(db.count("SELECT count(DISTINCT content_hash) FROM articles").await, 2, "the hash is still filled");
    for index in ["content_hashes", "lsh_bands", "article_signatures", "stories"] {
        assert_eq!(db.count(&format!("SELECT count(*) FROM {index}")).await, 0, "{index} untouched");
    }
}

/// Twenty rounds of two workers each writing one article at the same moment: `x<round>` on
/// partition 0 and `y<round>` on partition 1, with the bodies `bodies(round)` gives.
async fn write_twenty_pairs_at_once(db: &TestDb, bodies: impl Fn(i64) -> (String, String)) {
    let (one, two) = (db.sink("g").await, db.sink("g").await);
    for round in 0..20 {
        let (x, y) = (format!("x{round}"), format!("y{round}"));
        let (left_body, right_body) = bodies(round);
        let mut left = article_batch(&[(x.as_str(), left_body.as_str(), 0, round)]);
        left.positions = vec![position(0, (round > 0).then_some(round), round + 1)];
        let mut right = article_batch(&[(y.as_str(), right_body.as_str(), 1, round)]);
        right.positions = vec![position(1, (round > 0).then_some(round), round + 1)];
        let (a, b) = tokio::join!(one.write_batch(&mut left), two.write_batch(&mut right));
        a.unwrap();
        b.unwrap();
    }
}

#[tokio::test]
async fn two_workers_writing_the_same_body_at_once_agree_on_one_canonical_article() {
    let db = TestDb::new().await;
    write_twenty_pairs_at_once(&db, |round| {
        let body = common::distinct_story(round as u64, 80);
        (body.clone(), body)
    })
    .await;
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NULL").await, 20);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").await, 20);
    let mislinked = db
        .count("SELECT count(*) FROM articles c JOIN articles o ON o.id = c.duplicate_of WHERE o.duplicate_of IS NOT NULL OR o.content_hash <> c.content_hash")
        .await;
    assert_eq!(mislinked, 0);
}

#[tokio::test]
async fn writing_an_article_again_never_counts_its_lines_twice_towards_site_templates() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await.learning_templates(Default::default());
    let with_site = |id: &str| article_of_example_org(id, BODY_A, 0);
    let candidates = with_site("a").0.input.template_sightings.len() as i64;
    assert!(candidates > 0);
    let mut first = Batch { articles: vec![with_site("a")], ..Batch::default() };
    first.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut first).await.unwrap();
    let mut again = Batch { articles: vec![with_site("a"), with_site("a")], ..Batch::default() };
    again.positions = vec![position(0, Some(1), 1)];
    sink.write_batch(&mut again).await.unwrap();

    assert_eq!(db.count("SELECT articles FROM sites WHERE site = 'example.org'").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM site_lines").await, candidates);
    assert_eq!(db.count("SELECT max(sightings) FROM site_lines").await, 1);
}

/// An article of the site example.org at offset `offset` of partition 0.
fn article_of_example_org(id: &str, body: &str, offset: i64) -> (Article, Origin) {
    let payload = serde_json::json!({"id": id, "url": format!("https://example.org/{id}"), "text": body}).to_string();
    let Outcome::Article(article) =
        process_message(&Pipeline::default(), payload.as_bytes(), None, || unreachable!(), 1 << 20, |_| None)
    else {
        panic!("fixture article is valid")
    };
    (*article, Origin { topic: "t".into(), partition: 0, offset })
}

#[tokio::test]
async fn a_sites_one_off_lines_are_forgotten_after_twice_min_articles_while_its_template_stays() {
    let db = TestDb::new().await;
    let rule = TemplateRule { min_articles: 3, min_share: 0.5, forget_after_articles: 1000 };
    let sink = db.sink("g").await.learning_templates(rule);
    for i in 0..40 {
        let body = format!(
            "The Harbour Gazette has covered the coast and its people since 1921.\n{}",
            common::distinct_story(i as u64, 60)
        );
        let mut batch =
            Batch { articles: vec![article_of_example_org(&format!("s{i}"), &body, i)], ..Batch::default() };
        batch.positions = vec![position(0, (i > 0).then_some(i), i + 1)];
        sink.write_batch(&mut batch).await.unwrap();
    }
    let lines_per_article =
        article_of_example_org("s0", &common::distinct_story(0, 60), 0).0.input.template_sightings.len();
    let stored = db.count("SELECT count(*) FROM site_lines").await;
    assert!(
        stored <= 1 + 6 * lines_per_article as i64,
        "the template and the last six articles' own lines stay, not all 40 articles': {stored} rows"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM site_lines WHERE is_template AND line LIKE 'The Harbour Gazette%'").await,
        1
    );
}

#[tokio::test]
async fn vacuuming_clears_the_churned_tables_dead_rows_and_waits_for_no_other_worker() {
    let db = TestDb::new().await;
    sqlx::raw_sql("INSERT INTO sites (site) VALUES ('example.org')").execute(&db.pool).await.unwrap();
    for _ in 0..50 {
        sqlx::raw_sql("UPDATE sites SET articles = articles + 1").execute(&db.pool).await.unwrap();
    }
    let dead_rows = "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'sites'";
    assert!(eventually(Duration::from_secs(10), || async { db.count(dead_rows).await >= 50 }).await);

    let mut other_worker = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)").bind(VACUUM_LOCK).execute(&mut other_worker).await.unwrap();
    assert!(!vacuum_churned_tables(&db.pool).await.unwrap(), "another worker is at it: skipped, not queued");
    assert!(db.count(dead_rows).await >= 50);
    other_worker.close().await.unwrap();

    assert!(vacuum_churned_tables(&db.pool).await.unwrap());
    assert_eq!(db.count(dead_rows).await, 0);
    let vacuumed = "SELECT count(*) FROM pg_stat_user_tables
                    WHERE relname IN ('site_lines', 'sites', 'stories', 'kafka_offsets') AND last_vacuum IS NOT NULL";
    assert_eq!(db.count(vacuumed).await, 4);
}

/// A wire story of about 120 words and an outlet's edit of it: the last sentence cut, a local one added.
fn wire_story(round: i64) -> (String, String) {
    let wire = common::distinct_story(1000 + round as u64, 120);
    let mut lines: Vec<&str> = wire.lines().collect();
    lines.pop();
    let edit =
        format!("{}\nLocal businesses on the harbour front said they had boarded up their windows.", lines.join("\n"));
    (wire, edit)
}

#[tokio::test]
async fn near_copies_written_at_once_by_two_workers_are_linked_to_one_canonical_article() {
    let db = TestDb::new().await;
    write_twenty_pairs_at_once(&db, wire_story).await;
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NULL").await, 20);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_kind = 'near'").await, 20);
    let mislinked = db
        .count(
            "SELECT count(*) FROM articles c JOIN articles o ON o.id = c.duplicate_of
             WHERE o.duplicate_of IS NOT NULL OR substr(c.id, 2) <> substr(o.id, 2)",
        )
        .await;
    assert_eq!(mislinked, 0, "each copy points at the canonical of its own round");
    assert!(db.count("SELECT count(*) FROM articles WHERE similarity < 0.6").await == 0);
}

#[tokio::test]
async fn replaying_the_first_of_a_copy_set_keeps_it_canonical_and_its_copy_linked() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let (wire, edit) = wire_story(1);
    let mut first = article_batch(&[("wire", wire.as_str(), 0, 0), ("edit", edit.as_str(), 0, 1)]);
    first.positions = vec![position(0, None, 2)];
    let report = sink.write_batch(&mut first).await.unwrap();
    assert_eq!(report.near_duplicates, 1);
    let mut replay = article_batch(&[("edit", edit.as_str(), 0, 1), ("wire", wire.as_str(), 0, 0)]);
    replay.positions = vec![position(0, Some(2), 2)];
    sink.write_batch(&mut replay).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE id = 'wire' AND duplicate_of IS NULL").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE id = 'edit' AND duplicate_of = 'wire'").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM article_signatures").await, 2);
    let (copies, near): (i64, i64) =
        sqlx::query_as("SELECT copies, near_copies FROM copy_sets WHERE canonical_id = 'wire'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((copies, near), (1, 1), "the copy_sets view shows the set");
}

/// The worker links a batch (its copies and stories, committed) while the batch before it is still
/// being written: the links must not depend on that batch's articles being stored.
#[tokio::test]
async fn a_batch_linked_while_the_batch_before_it_is_unwritten_links_its_copies_to_that_batch() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let (wire, edit) = wire_story(1);
    let mut first = article_batch(&[("wire", wire.as_str(), 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    sink.link_batch(&mut first).await.unwrap();
    let mut second = article_batch(&[("edit", edit.as_str(), 0, 1), ("wire-again", wire.as_str(), 0, 2)]);
    sink.link_batch(&mut second).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0, "linking writes no article");

    sink.write_batch(&mut first).await.unwrap();
    second.positions = vec![position(0, Some(1), 3)];
    let report = sink.write_batch(&mut second).await.unwrap();
    assert_eq!((report.exact_duplicates, report.near_duplicates), (1, 1));
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT id, duplicate_of, duplicate_kind FROM articles ORDER BY id")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("edit".into(), Some("wire".into()), Some("near".into())),
            ("wire".into(), None, None),
            ("wire-again".into(), Some("wire".into()), Some("exact".into())),
        ]
    );
}

/// A copy of a copy whose article is not stored yet still points at the canonical article: the
/// signature records it. Here the second article repeats half of the first, and the third repeats
/// the second's own half, so the third is a copy of the second but not of the first.
#[tokio::test]
async fn a_copy_of_a_copy_linked_before_the_first_copy_is_written_points_at_the_canonical_article() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let wire = common::distinct_story(2001, 120);
    let (wire_half, follow_up) =
        (wire.lines().take(6).collect::<Vec<_>>().join("\n"), common::distinct_story(2002, 80));
    let edit = format!("{wire_half}\n{follow_up}");
    let re_edit = format!("{follow_up}\n{}", common::distinct_story(2003, 80));
    let mut first = article_batch(&[("wire", wire.as_str(), 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut first).await.unwrap();
    let mut second = article_batch(&[("edit", edit.as_str(), 0, 1)]);
    sink.link_batch(&mut second).await.unwrap();
    assert_eq!(second.articles[0].0.duplicate_of.as_deref(), Some("wire"));
    let mut third = article_batch(&[("re-edit", re_edit.as_str(), 0, 2)]);
    sink.link_batch(&mut third).await.unwrap();
    assert_eq!(third.articles[0].0.duplicate_of.as_deref(), Some("wire"), "the canonical, not the copy");

    second.positions = vec![position(0, Some(1), 2)];
    sink.write_batch(&mut second).await.unwrap();
    third.positions = vec![position(0, Some(2), 3)];
    sink.write_batch(&mut third).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of = 'wire'").await, 2);
}

/// Signatures stored before `canonical_id` was recorded get it from their article's `duplicate_of`
/// when the schema is brought up to date: the near-copy lookup reads the signatures alone.
#[tokio::test]
async fn signatures_stored_before_canonicals_were_recorded_get_them_from_their_articles() {
    let db = TestDb::unmigrated().await;
    let before_canonicals = sqlx::migrate!("./migrations").iter().filter(|m| m.version < 20261205000010).cloned();
    // Only the migrations up to the one before `canonical_id`: the schema an older worker left.
    let older = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(before_canonicals.collect()),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    older.run(&db.pool).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO articles (id, body, word_count, content_hash, duplicate_of, duplicate_kind)
         VALUES ('wire', 'text', 1, 'h1', NULL, NULL), ('edit', 'text', 1, 'h2', 'wire', 'near');
         INSERT INTO article_signatures (article_id, minhash, shingles)
         VALUES ('wire', '\\x00', 1), ('edit', '\\x00', 1)",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    db.sink("g").await.migrate().await.unwrap();
    let canonical = "SELECT count(*) FROM article_signatures WHERE article_id = 'edit' AND canonical_id = 'wire'";
    assert_eq!(db.count(canonical).await, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM article_signatures WHERE article_id = 'wire' AND canonical_id IS NULL").await,
        1
    );
}

/// A batch fenced after it was linked leaves only claims keyed by its own articles: the worker
/// that owns the partition now writes the same messages and finds them its own.
#[tokio::test]
async fn a_linked_batch_refused_by_a_fence_leaves_links_the_new_owner_agrees_with() {
    let db = TestDb::new().await;
    let (zombie, owner) = (db.sink("g").await, db.sink("g").await);
    let (wire, edit) = wire_story(3);
    let messages = [("wire", wire.as_str(), 0, 0), ("edit", edit.as_str(), 0, 1)];
    let mut stale = article_batch(&messages);
    zombie.link_batch(&mut stale).await.unwrap();
    let mut current = article_batch(&messages);
    current.positions = vec![position(0, None, 2)];
    owner.write_batch(&mut current).await.unwrap();

    stale.positions = vec![position(0, None, 2)];
    assert!(matches!(zombie.write_batch(&mut stale).await, Err(SinkError::Fenced { .. })));
    let near = "SELECT count(*) FROM articles WHERE id = 'edit' AND duplicate_of = 'wire' AND duplicate_kind = 'near'";
    assert_eq!(db.count(near).await, 1);
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 2);
}

/// Writes `batch` at `turn` as the worker does: when the write before has not committed yet, waits
/// for it and writes again; marks the turn committed.
async fn write_in_turn(sink: &PgSink, batch: &mut Batch, turn: &mut WriteTurn) -> Result<(), SinkError> {
    loop {
        match sink.write_batch_in_turn(batch, turn).await {
            Err(SinkError::OutOfTurn) if turn.predecessor_outcome().await => continue,
            Err(SinkError::OutOfTurn) => return Err(SinkError::PredecessorGivenUp),
            done => {
                done?;
                turn.committed();
                return Ok(());
            }
        }
    }
}

/// How many articles are stored, and partition 0's stored next offset.
async fn articles_and_next_offset(db: &TestDb) -> (i64, i64) {
    let next = db.count("SELECT next_offset FROM kafka_offsets WHERE kafka_partition = 0").await;
    (db.count("SELECT count(*) FROM articles").await, next)
}

#[tokio::test]
async fn a_write_continuing_from_one_not_yet_committed_stores_nothing_until_that_one_has() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut order = WriteOrder::default();
    let (mut first_turn, second_turn) = (order.next_turn(), order.next_turn());
    let mut first = article_batch(&[("a", BODY_A, 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    let mut second = article_batch(&[("b", BODY_B, 0, 1)]);
    second.positions = vec![position(0, Some(1), 2)];

    let refused = sink.write_batch_in_turn(&mut second, &second_turn).await;
    assert!(matches!(refused, Err(SinkError::OutOfTurn)), "{refused:?}");
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0, "rolled back whole");
    write_in_turn(&sink, &mut first, &mut first_turn).await.unwrap();
    sink.write_batch_in_turn(&mut second, &second_turn).await.unwrap();
    assert_eq!(articles_and_next_offset(&db).await, (2, 2));
}

#[tokio::test]
async fn consecutive_batches_of_one_partition_written_at_once_commit_in_order() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut order = WriteOrder::default();
    let mut batches: Vec<(Batch, WriteTurn)> = (0..6)
        .map(|i| {
            let body = common::distinct_story(3000 + i as u64, 60);
            let mut batch = article_batch(&[(&format!("s{i}"), &body, 0, i)]);
            batch.positions = vec![position(0, (i > 0).then_some(i), i + 1)];
            (batch, order.next_turn())
        })
        .collect();
    let writes = batches.iter_mut().map(|(batch, turn)| write_in_turn(&sink, batch, turn));
    for result in futures_util::future::join_all(writes).await {
        result.unwrap();
    }
    assert_eq!(articles_and_next_offset(&db).await, (6, 6));
}

#[tokio::test]
async fn a_write_after_one_given_up_is_given_up_too() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut order = WriteOrder::default();
    let (first_turn, mut second_turn) = (order.next_turn(), order.next_turn());
    let mut second = article_batch(&[("b", BODY_B, 0, 1)]);
    second.positions = vec![position(0, Some(1), 2)];
    first_turn.given_up();
    let result = write_in_turn(&sink, &mut second, &mut second_turn).await;
    assert!(matches!(result, Err(SinkError::PredecessorGivenUp)), "{result:?}");
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0);
}

const ACCOUNT_ONE: &str = "Russia said it would press on with its bombing campaign in Syria. Kremlin spokesman Dmitry \
    Peskov said Moscow was still interested in the ceasefire deal with Washington. US Secretary of State John Kerry \
    warned Sergei Lavrov that talks on Aleppo would end.";
const ACCOUNT_TWO: &str = "Washington threatened to suspend talks with Moscow over the assault on Aleppo. John Kerry \
    told Sergei Lavrov by telephone that the United States was preparing to end cooperation on Syria unless Russia \
    halted the bombing.";

#[tokio::test]
async fn two_accounts_of_one_event_written_at_once_by_two_workers_share_one_story() {
    let db = TestDb::new().await;
    let (one, two) = (db.sink("g").await, db.sink("g").await);
    let mut left = article_batch(&[("one", ACCOUNT_ONE, 0, 0)]);
    left.positions = vec![position(0, None, 1)];
    let mut right = article_batch(&[("two", ACCOUNT_TWO, 1, 0), ("other", BODY_A, 1, 1)]);
    right.positions = vec![position(1, None, 2)];
    let (a, b) = tokio::join!(one.write_batch(&mut left), two.write_batch(&mut right));
    a.unwrap();
    b.unwrap();
    assert_eq!(db.count("SELECT count(DISTINCT story_id) FROM articles WHERE id IN ('one', 'two')").await, 1);
    assert_eq!(db.count("SELECT count(DISTINCT story_id) FROM articles").await, 2, "the storm is a story of its own");

    // A replay keeps its story and does not count twice.
    let mut replay = article_batch(&[("two", ACCOUNT_TWO, 1, 0)]);
    replay.positions = vec![position(1, Some(2), 2)];
    two.write_batch(&mut replay).await.unwrap();
    let (articles, listed): (i64, i64) = sqlx::query_as(
        "SELECT s.articles, o.articles FROM stories s JOIN story_overview o USING (story_id)
         WHERE story_id = (SELECT story_id FROM articles WHERE id = 'one')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((articles, listed), (2, 2));
}

const ACCOUNT_THREE: &str = "Moscow rejected the warning from Washington and said the bombing of Aleppo would go on. \
    Sergei Lavrov told John Kerry that Russia still backed the ceasefire deal in Syria, Kremlin spokesman Dmitry Peskov \
    said.";

/// Each article's story and the story's stored size.
async fn stories_of(db: &TestDb, ids: &[&str]) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT a.story_id, s.articles FROM articles a JOIN stories s USING (story_id)
         WHERE a.id = ANY($1) ORDER BY a.id",
    )
    .bind(ids)
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_worker_builds_on_the_stories_another_worker_grew_since_its_last_batch() {
    let db = TestDb::new().await;
    let (one, two) = (db.sink("g").await, db.sink("g").await);
    let mut first = article_batch(&[("one", ACCOUNT_ONE, 0, 0)]);
    first.positions = vec![position(0, None, 1)];
    one.write_batch(&mut first).await.unwrap();
    let mut second = article_batch(&[("two", ACCOUNT_TWO, 1, 0)]);
    second.positions = vec![position(1, None, 1)];
    two.write_batch(&mut second).await.unwrap();
    // `one` last saw the story with one article; the other worker has grown it since.
    let mut third = article_batch(&[("three", ACCOUNT_THREE, 0, 1)]);
    third.positions = vec![position(0, Some(1), 2)];
    one.write_batch(&mut third).await.unwrap();
    let one_story = ("one".to_owned(), 3);
    assert_eq!(stories_of(&db, &["one", "three", "two"]).await, vec![one_story.clone(), one_story.clone(), one_story]);
}

#[tokio::test]
async fn an_article_from_days_before_joins_its_story_after_the_worker_moved_on() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut early = fetched_batch(&[("one", ACCOUNT_ONE, 0, 0)], Some("2016-09-28T10:00:00Z"));
    early.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut early).await.unwrap();
    // Three weeks on: the worker keeps only the stories of the new days.
    let mut later = fetched_batch(&[("storm", BODY_A, 0, 1)], Some("2016-10-20T10:00:00Z"));
    later.positions = vec![position(0, Some(1), 2)];
    sink.write_batch(&mut later).await.unwrap();
    // A backfilled account of the first day still finds the first day's story.
    let mut backfill = fetched_batch(&[("two", ACCOUNT_TWO, 0, 2)], Some("2016-09-29T08:00:00Z"));
    backfill.positions = vec![position(0, Some(2), 3)];
    sink.write_batch(&mut backfill).await.unwrap();
    assert_eq!(stories_of(&db, &["one", "two"]).await, vec![("one".to_owned(), 2), ("one".to_owned(), 2)]);
}

#[tokio::test]
async fn partitions_days_apart_cache_the_stories_around_each_and_not_those_between() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut middle = fetched_batch(&[("middle", BODY_B, 0, 0)], Some("2016-09-08T10:00:00Z"));
    middle.positions = vec![position(0, None, 1)];
    sink.write_batch(&mut middle).await.unwrap();
    let mut ahead = fetched_batch(&[("ahead", BODY_A, 0, 1)], Some("2016-09-15T10:00:00Z"));
    ahead.positions = vec![position(0, Some(1), 2)];
    assert_eq!(sink.write_batch(&mut ahead).await.unwrap().cached_stories, 1, "partition 0 moved on");
    // Partition 1 starts two weeks behind partition 0: the week between is nobody's.
    let mut behind = fetched_batch(&[("behind", ACCOUNT_ONE, 1, 0)], Some("2016-09-01T10:00:00Z"));
    behind.positions = vec![position(1, None, 1)];
    let report = sink.write_batch(&mut behind).await.unwrap();
    assert_eq!((report.new_stories, report.cached_stories), (1, 2));
    assert_eq!(db.count("SELECT count(DISTINCT story_id) FROM articles").await, 3);
}

/// Makes every insert into articles fail, so a batch's own transaction fails after its links and
/// stories are made; `accept_articles` undoes it.
async fn refuse_articles(db: &TestDb) {
    for statement in [
        "CREATE FUNCTION refuse_articles() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN RAISE EXCEPTION 'articles refused'; END $$",
        "CREATE TRIGGER refuse_articles BEFORE INSERT ON articles FOR EACH ROW EXECUTE FUNCTION refuse_articles()",
    ] {
        sqlx::query(statement).execute(&db.pool).await.unwrap();
    }
}

async fn accept_articles(db: &TestDb) {
    sqlx::query("DROP TRIGGER refuse_articles ON articles").execute(&db.pool).await.unwrap();
}

#[tokio::test]
async fn a_batch_retried_after_its_stories_were_committed_counts_each_article_once() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    // Stories commit in a transaction of their own; make the batch's own transaction fail after it.
    refuse_articles(&db).await;
    let mut batch = article_batch(&[("one", ACCOUNT_ONE, 0, 0), ("two", ACCOUNT_TWO, 0, 1)]);
    batch.positions = vec![position(0, None, 2)];
    assert!(sink.write_batch(&mut batch).await.is_err());
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0);
    accept_articles(&db).await;
    sink.write_batch(&mut batch).await.unwrap();
    assert_eq!(stories_of(&db, &["one", "two"]).await, vec![("one".to_owned(), 2), ("one".to_owned(), 2)]);
}

#[tokio::test]
async fn a_batch_retried_after_a_failed_attempt_reports_and_stores_the_links_a_first_attempt_would() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    refuse_articles(&db).await;
    let (wire, edit) = wire_story(1);
    let mut batch = article_batch(&[("wire", wire.as_str(), 0, 0), ("edit", edit.as_str(), 0, 1)]);
    batch.positions = vec![position(0, None, 2)];
    assert!(sink.write_batch(&mut batch).await.is_err(), "the first attempt fails after linking");
    accept_articles(&db).await;

    let report = sink.write_batch(&mut batch).await.unwrap();
    assert_eq!((report.exact_duplicates, report.near_duplicates), (0, 1));
    let near = "SELECT count(*) FROM articles WHERE id = 'edit' AND duplicate_of = 'wire' AND duplicate_kind = 'near'";
    assert_eq!(db.count(near).await, 1);
}

const QUOTED: &str = "LISBON: Harbour master Ana Ribeiro closed the port of Porto on Sunday.\n\
    \"We are asking every boat to stay in the harbour tonight,\" Ribeiro said.";

#[tokio::test]
async fn entities_and_quotes_land_in_their_own_tables_and_are_rewritten_with_the_article() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut first = article_batch(&[("q", QUOTED, 0, 0)]);
    sink.write_batch(&mut first).await.unwrap();
    let quoted = "SELECT count(*) FROM article_quotes WHERE article_id = 'q' AND speaker = 'Ana Ribeiro'";
    assert_eq!(db.count(quoted).await, 1);
    let named =
        "SELECT count(*) FROM article_entities WHERE article_id = 'q' AND kind = 'person' AND name = 'Ana Ribeiro'";
    assert_eq!(db.count(named).await, 1);
    assert_eq!(db.count("SELECT count(*) FROM article_entities WHERE kind = 'place' AND name = 'Porto'").await, 1);

    let mut again = article_batch(&[("q", BODY_A, 0, 1)]);
    sink.write_batch(&mut again).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM article_quotes WHERE article_id = 'q'").await, 0);
    assert_eq!(db.count(named).await, 0);
}

/// The rows the sink sends for article_entities and article_quotes are exactly the articles' own
/// `entities` and `quotes` JSON, quotes numbered from 1 in order.
#[tokio::test]
async fn entity_and_quote_rows_are_the_articles_json_row_for_row() {
    let db = TestDb::new().await;
    let sink = db.sink("g").await;
    let mut batch = article_batch(&[("q", QUOTED, 0, 0), ("a", BODY_A, 0, 1)]);
    sink.write_batch(&mut batch).await.unwrap();
    let from_json = "SELECT a.id, e.kind, e.name FROM articles a CROSS JOIN LATERAL (
            SELECT 'person' AS kind, jsonb_array_elements_text(a.entities -> 'people') AS name
            UNION ALL SELECT 'place', jsonb_array_elements_text(a.entities -> 'places')
            UNION ALL SELECT 'organization', jsonb_array_elements_text(a.entities -> 'organizations')) e";
    let stored = "SELECT article_id, kind, name FROM article_entities";
    let differing =
        format!("SELECT count(*) FROM (({from_json} EXCEPT {stored}) UNION ALL ({stored} EXCEPT {from_json})) d");
    assert_eq!(db.count(&differing).await, 0);
    assert!(db.count("SELECT count(*) FROM article_entities").await >= 3);
    let quotes_json = "SELECT a.id, q.ordinal::integer, q.value ->> 'speaker', q.value ->> 'text' FROM articles a
            CROSS JOIN LATERAL jsonb_array_elements(a.quotes) WITH ORDINALITY AS q(value, ordinal)";
    let quotes = "SELECT article_id, ordinal, speaker, quote FROM article_quotes";
    let differing =
        format!("SELECT count(*) FROM (({quotes_json} EXCEPT {quotes}) UNION ALL ({quotes} EXCEPT {quotes_json})) d");
    assert_eq!(db.count(&differing).await, 0);
    assert_eq!(db.count("SELECT count(*) FROM article_quotes WHERE ordinal = 1").await, 1);
}

#[tokio::test]
async fn migrations_run_without_the_statement_timeout_that_bounds_batch_writes() {
    let db = TestDb::unmigrated().await;
    let sink = db.sink_with("g", |database| database.statement_timeout_ms = 1).await;
    sink.migrate().await.expect("no migration step is cut off at 1 ms");
    let slow = sqlx::query("SELECT pg_sleep(0.05)").execute(sink.pool()).await;
    assert!(slow.unwrap_err().to_string().contains("statement timeout"), "other statements keep the timeout");
}

#[tokio::test]
async fn a_write_unfinished_after_the_transaction_timeout_is_given_up_naming_its_step_and_commits_nothing() {
    let db = TestDb::new().await;
    let sink = db.sink_with("g", |database| database.transaction_timeout_ms = 1_000).await;
    // Reads of articles go on (the copy lookups); writes wait for the lock.
    let mut blocker = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE articles IN EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
    let mut batch = article_batch(&[("a", BODY_A, 0, 0)]);
    batch.positions = vec![position(0, None, 1)];

    let given_up = sink.write_batch(&mut batch).await.unwrap_err();
    assert!(
        matches!(given_up, SinkError::TimedOut { during: Some("articles"), .. }),
        "given up in the upsert: {given_up}"
    );
    blocker.rollback().await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM kafka_offsets WHERE next_offset IS NOT NULL").await, 0);
    sink.write_batch(&mut batch).await.unwrap();
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 1);
}
