//! Operating the worker: replay beside a live worker, /metrics and /readyz, dead-letter retries.
//! librdkafka's mock cluster stands in for Kafka; a TCP proxy in front of Postgres lets a test
//! take the database away from the worker and give it back.

mod common;

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use article_ingest::ops::Ops;
use article_ingest::ops::server::{self, Served};
use common::{InProcessWorker, PgProxy, TestDb, eventually, http_get, settings_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "articles";
/// 2016-09-29T00:00:00Z and a day later, in milliseconds: the two days the test messages carry.
const DAY_ONE_MS: i64 = 1_475_107_200_000;
const DAY_TWO_MS: i64 = DAY_ONE_MS + 86_400_000;

fn mock_cluster(partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, partitions, 1).unwrap();
    cluster
}

/// A headline and a story of its own (no two are copies of each other).
fn article_text(i: usize) -> String {
    format!("Harbour report {i}\n{}", common::distinct_story(i as u64, 80))
}

/// Produces `count` articles from `first` on, keyed by number, with the record timestamp `at_ms`.
async fn produce_at(brokers: &str, first: usize, count: usize, at_ms: i64) {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for i in first..first + count {
        let (key, value) = (format!("story-{i}"), article_text(i));
        let record = FutureRecord::to(TOPIC).key(&key).payload(&value).timestamp(at_ms);
        producer.send(record, Duration::from_secs(10)).await.unwrap();
    }
}

async fn produce_values(brokers: &str, values: &[Vec<u8>]) {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for value in values {
        producer.send(FutureRecord::<(), _>::to(TOPIC).payload(value), Duration::from_secs(10)).await.unwrap();
    }
}

/// The group's offsets as committed in Kafka, per partition.
fn kafka_committed(brokers: &str, group: &str, partitions: i32) -> Vec<Offset> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions {
        tpl.add_partition(TOPIC, partition);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    committed.elements().iter().map(|e| e.offset()).collect()
}

/// The binary's `replay` against the mock cluster and the test database.
fn replay(db_url: &str, brokers: &str, args: &[&str]) -> Output {
    let output = Command::new(common::binary())
        .args(["replay", "--topic", TOPIC, "--log-format", "json"])
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("ARTICLE_INGEST__KAFKA__BROKERS", brokers)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "replay failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The number printed on a summary line of `replay` (`  updated   12  rows …`).
fn summary_figure(output: &Output, label: &str) -> u64 {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"));
    line.trim_start()[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_timestamp_skips_older_messages_updates_newer_rows_and_leaves_the_live_group_alone() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let db = TestDb::new().await;
    let settings = settings_for(&db.url, &brokers, &[TOPIC]);
    produce_at(&brokers, 0, 30, DAY_ONE_MS).await;
    produce_at(&brokers, 30, 20, DAY_TWO_MS).await;
    let live = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Arc::new(Ops::default()));
    let stored = || async { db.count("SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offsets").await };
    assert!(eventually(Duration::from_secs(60), || async { stored().await == 50 }).await, "the live worker drains");
    let group = settings.kafka.group_id.clone();
    let committed_total = |offsets: &[Offset]| offsets.iter().map(|o| o.to_raw().unwrap_or(0).max(0)).sum::<i64>();
    assert!(
        eventually(Duration::from_secs(30), || async { committed_total(&kafka_committed(&brokers, &group, 2)) == 50 })
            .await,
        "the live worker's informational commits reach Kafka"
    );
    let group_committed = kafka_committed(&brokers, &group, 2);
    let positions_before = db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await;

    // As if an earlier version of the stages had written every row: the replay must rewrite the
    // newer ones in place and leave the older ones as they are.
    sqlx::query("UPDATE articles SET title = 'written by an older cleaner'").execute(&db.pool).await.unwrap();
    let dry = replay(&db.url, &brokers, &["--from", "2016-09-30T00:00:00Z", "--dry-run"]);
    assert_eq!(summary_figure(&dry, "updated"), 20, "a dry run reports the rows it would change");
    assert!(String::from_utf8_lossy(&dry.stdout).contains("title 20"), "and the column that changes");
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE title = 'written by an older cleaner'").await, 50);

    let done = replay(&db.url, &brokers, &["--from", "2016-09-30T00:00:00Z"]);
    assert_eq!(summary_figure(&done, "skipped"), 30, "the day-one messages are skipped");
    assert_eq!((summary_figure(&done, "updated"), summary_figure(&done, "inserted")), (20, 0));
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 50, "no row added");
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE title LIKE 'Harbour report %'").await, 20);
    assert_eq!(
        db.count("SELECT count(*) FROM articles WHERE title = 'written by an older cleaner' AND split_part(id, '-', 2)::int < 30")
            .await,
        30,
        "older messages were not replayed"
    );
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").await, 0);

    let again = replay(&db.url, &brokers, &["--from", "earliest"]);
    assert_eq!(summary_figure(&again, "read"), 50);
    assert_eq!(summary_figure(&again, "unchanged"), 20, "a range replayed twice changes nothing the second time");
    assert_eq!(summary_figure(&again, "updated"), 30);
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 50);

    assert_eq!(db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await, positions_before);
    assert_eq!(
        kafka_committed(&brokers, &settings.kafka.group_id, 2),
        group_committed,
        "live group's commits untouched"
    );
    let live = live.stop().await;
    assert_eq!(live.inserted, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_chosen_partition_offsets_reads_only_from_there() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let db = TestDb::new().await;
    produce_at(&brokers, 0, 40, DAY_ONE_MS).await;
    let backfill = replay(&db.url, &brokers, &["--from", "0:5"]);
    let on_partition_0 = db.count("SELECT count(*) FROM articles").await;
    assert_eq!(summary_figure(&backfill, "inserted") as i64, on_partition_0);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE kafka_partition <> 0 OR kafka_offset < 5").await, 0);
    assert_eq!(db.count("SELECT min(kafka_offset) FROM articles").await, 5);
    assert_eq!(db.count("SELECT count(*) FROM kafka_offsets").await, 0, "a replay stores no position");
}

/// The value of a sample line in /metrics text, e.g. `article_ingest_messages_consumed_total{topic="articles"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().split(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_run_and_lag_falls_to_zero() {
    let cluster = mock_cluster(2);
    let brokers = cluster.bootstrap_servers();
    let db = TestDb::new().await;
    let mut settings = settings_for(&db.url, &brokers, &[TOPIC]);
    settings.kafka.options.insert("statistics.interval.ms".into(), "200".into());
    settings.worker.batch_max_rows = 20;
    produce_at(&brokers, 0, 100, DAY_ONE_MS).await;
    produce_values(&brokers, &[b"{\"text\": \"unfinished".to_vec()]).await;
    let ops = Arc::new(Ops::default());
    let served = Served { ops: ops.clone(), database: Some(db.pool.clone()), needs_kafka: true };
    let stop_serving = CancellationToken::new();
    let address = server::serve("127.0.0.1:0", served, stop_serving.clone()).await.unwrap();
    let metrics_url = format!("http://{address}/metrics");
    let running = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, ops);

    let consumed = r#"article_ingest_messages_consumed_total{topic="articles"}"#;
    assert!(
        eventually(Duration::from_secs(60), || async {
            sample(&http_get(&metrics_url).await.1, consumed) == Some(101.0)
        })
        .await
    );
    let lag_is_zero = |text: &str| {
        (0..2).all(|p| {
            sample(text, &format!(r#"article_ingest_consumer_lag{{topic="articles",partition="{p}"}}"#)) == Some(0.0)
        })
    };
    assert!(
        eventually(Duration::from_secs(30), || async { lag_is_zero(&http_get(&metrics_url).await.1) }).await,
        "lag falls to 0: {}",
        http_get(&metrics_url).await.1
    );
    let text = http_get(&metrics_url).await.1;
    assert_eq!(sample(&text, r#"article_ingest_articles_written_total{outcome="inserted"}"#), Some(100.0));
    assert_eq!(sample(&text, r#"article_ingest_dead_letters_total{kind="broken_json"}"#), Some(1.0));
    assert!(sample(&text, r#"article_ingest_stage_seconds_count{stage="clean"}"#) == Some(100.0), "{text}");
    assert!(sample(&text, "article_ingest_sink_seconds_count").unwrap() >= 5.0, "{text}");
    // One worker, every article of one moment: each story it opened is still in its cache.
    let opened = sample(&text, "article_ingest_stories_opened_total").unwrap();
    assert!(opened >= 1.0, "{text}");
    assert_eq!(sample(&text, "article_ingest_story_cache_stories"), Some(opened), "{text}");
    assert_eq!(http_get(&format!("http://{address}/healthz")).await.0, 200);
    assert_eq!(http_get(&format!("http://{address}/readyz")).await.0, 200);

    // More input moves the counters on.
    produce_at(&brokers, 100, 10, DAY_TWO_MS).await;
    assert!(
        eventually(Duration::from_secs(60), || async {
            sample(&http_get(&metrics_url).await.1, consumed) == Some(111.0)
        })
        .await
    );
    running.stop().await;
    stop_serving.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_postgres_is_unreachable_and_200_when_it_is_back() {
    let cluster = mock_cluster(1);
    let brokers = cluster.bootstrap_servers();
    let db = TestDb::new().await;
    let proxy = PgProxy::start().await;
    let through_proxy = proxy.url_for(&db.url);
    let settings = settings_for(&through_proxy, &brokers, &[TOPIC]);
    let ops = Arc::new(Ops::default());
    let sink = article_ingest::sink::PgSink::connect(&settings.database, &settings.kafka.group_id).await.unwrap();
    let served = Served { ops: ops.clone(), database: Some(sink.pool().clone()), needs_kafka: true };
    let address = server::serve("127.0.0.1:0", served, CancellationToken::new()).await.unwrap();
    let readyz = format!("http://{address}/readyz");
    assert_eq!(http_get(&readyz).await.0, 503, "not ready before the group assigns partitions");
    let running = InProcessWorker::start(&settings, sink, ops);
    produce_at(&brokers, 0, 10, DAY_ONE_MS).await;
    assert!(eventually(Duration::from_secs(30), || async { http_get(&readyz).await.0 == 200 }).await);

    proxy.stop().await;
    let (status, body) = http_get(&readyz).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("postgres"), "{body}");
    produce_at(&brokers, 10, 10, DAY_ONE_MS).await;

    proxy.resume().await;
    assert!(eventually(Duration::from_secs(30), || async { http_get(&readyz).await.0 == 200 }).await);
    assert!(
        eventually(Duration::from_secs(60), || async { db.count("SELECT count(*) FROM articles").await == 20 }).await
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_dead_letters_after_a_fix_stores_the_articles_and_removes_only_those() {
    let cluster = mock_cluster(1);
    let brokers = cluster.bootstrap_servers();
    let db = TestDb::new().await;
    let mut settings = settings_for(&db.url, &brokers, &[TOPIC]);
    settings.worker.max_message_bytes = 300;
    let long_story = article_text(7).repeat(3).into_bytes();
    produce_values(&brokers, &[long_story.clone(), b"{\"text\": \"unfinished".to_vec(), long_story]).await;
    let running = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Arc::new(Ops::default()));
    assert!(
        eventually(Duration::from_secs(60), || async { db.count("SELECT count(*) FROM dead_letters").await == 3 })
            .await
    );
    running.stop().await;
    assert_eq!(db.count("SELECT count(*) FROM dead_letters WHERE kind = 'too_large'").await, 2);

    // The fix: a larger limit. `retry --dry-run` changes nothing; `retry` recovers the two.
    let dead_letters = |args: &[&str]| {
        let output = Command::new(common::binary())
            .arg("dead-letters")
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("ARTICLE_INGEST__WORKER__MAX_MESSAGE_BYTES", "100000")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let listed = dead_letters(&["list", "--reason", "too_large"]);
    assert!(listed.contains("2 shown; matching by kind: too_large 2"), "{listed}");
    let dry = dead_letters(&["retry", "--dry-run"]);
    assert!(dry.contains("retried 3 dead letters: 2 would become articles, 1 still dead letters"), "{dry}");
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 3);
    let retried = dead_letters(&["retry"]);
    assert!(retried.contains("2 became articles, 1 still dead letters"), "{retried}");
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters WHERE kind = 'broken_json'").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE kafka_offset IN (0, 2)").await, 2);
}
