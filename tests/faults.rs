//! Faults: Postgres going away, the broker going away, a slow database, a rebalance storm. After
//! each, every message is stored exactly once: articles = messages, every stored position = the
//! partition's end, and no article was written twice (`TestDb::record_write_attempts`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use article_ingest::ops::Ops;
use article_ingest::ops::metrics::TopicLabel;
use article_ingest::ops::server::{self, Served};
use article_ingest::settings::Settings;
use article_ingest::sink::PgSink;
use common::{InProcessWorker, PgProxy, TestDb, eventually, settings_for};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "articles";

/// `count` distinct short articles, keyed, spread over the partitions by key.
async fn produce(brokers: &str, count: usize) {
    produce_range(brokers, 0..count).await;
}

/// Produces messages `a-{i}` for each `i` of `numbers`.
async fn produce_range(brokers: &str, numbers: std::ops::Range<usize>) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "5").create().unwrap();
    let sends = numbers.map(|i| {
        let producer = producer.clone();
        async move {
            let (key, value) = (format!("a-{i}"), format!("Report {i}\n{}", common::distinct_story(i as u64, 40)));
            producer.send(FutureRecord::to(TOPIC).key(&key).payload(&value), Duration::from_secs(30)).await.unwrap();
        }
    });
    futures_util::future::join_all(sends).await;
}

async fn stored_total(db: &TestDb) -> i64 {
    db.count("SELECT coalesce(sum(next_offset), 0)::bigint FROM kafka_offsets").await
}

/// Every message stored once: as many articles as messages, positions at the end, no double write.
async fn assert_exactly_once(db: &TestDb, total: usize) {
    assert_eq!(db.count("SELECT count(*) FROM articles").await, total as i64, "articles = messages");
    assert_eq!(stored_total(db).await, total as i64, "every partition stored to its end");
    assert_eq!(db.max_write_attempts().await, 1, "no article written twice");
}

/// A mock cluster with `partitions` partitions of the topic and a database that records every
/// write attempt, for `assert_exactly_once`.
async fn watched_run(partitions: i32) -> (MockCluster<'static, DefaultProducerContext>, TestDb) {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, partitions, 1).unwrap();
    let db = TestDb::new().await;
    db.record_write_attempts().await;
    (cluster, db)
}

/// Waits up to `within` for all `total` messages to be stored, stops the worker, and checks that
/// each was stored exactly once.
async fn all_land_exactly_once(db: &TestDb, worker: InProcessWorker, total: usize, within: Duration) {
    assert!(eventually(within, || async { stored_total(db).await == total as i64 }).await);
    worker.stop().await;
    assert_exactly_once(db, total).await;
}

/// Holds every write until the returned transaction ends: an exclusive lock on articles, as a long
/// migration or a stuck vacuum would.
async fn hold_writes(db: &TestDb) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut blocker = db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE").execute(&mut *blocker).await.unwrap();
    blocker
}

fn fast_retries(settings: &mut Settings) {
    settings.worker.retry_initial_ms = 50;
    settings.worker.retry_max_ms = 500;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_mid_run_is_waited_out_and_every_message_lands_exactly_once() {
    const TOTAL: usize = 2_000;
    let (cluster, db) = watched_run(4).await;
    let proxy = PgProxy::start().await;
    let mut settings = settings_for(&proxy.url_for(&db.url), &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 100;
    fast_retries(&mut settings);
    produce(&cluster.bootstrap_servers(), TOTAL).await;
    let ops = Arc::new(Ops::default());
    let sink = PgSink::connect(&settings.database, &settings.kafka.group_id).await.unwrap();
    let served = Served { ops: ops.clone(), database: Some(sink.pool().clone()), needs_kafka: true };
    let address = server::serve("127.0.0.1:0", served, CancellationToken::new()).await.unwrap();
    let worker = InProcessWorker::start(&settings, sink, ops.clone());

    assert!(eventually(Duration::from_secs(60), || async { stored_total(&db).await >= 300 }).await);
    proxy.stop().await;
    let stored_while_away = stored_total(&db).await;
    let ready = || async { common::http_get(&format!("http://{address}/readyz")).await.0 };
    assert!(eventually(Duration::from_secs(10), || async { ready().await == 503 }).await, "not ready while away");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_total(&db).await, stored_while_away, "no position stored without its rows");
    // A batch cut off mid-transaction is retried at once; one waiting for a connection is retried
    // when sqlx's acquire gives up (10 s).
    assert!(
        eventually(Duration::from_secs(15), || async { ops.metrics.sink_retries.get() > 0 }).await,
        "the batch is retried with backoff"
    );
    assert_eq!(stored_total(&db).await, stored_while_away);

    proxy.resume().await;
    assert!(eventually(Duration::from_secs(10), || async { ready().await == 200 }).await, "ready again");
    all_land_exactly_once(&db, worker, TOTAL, Duration::from_secs(90)).await;
    let retries = ops.metrics.sink_retries.get();
    eprintln!("{TOTAL} messages; Postgres cut off after {stored_while_away} stored; {retries} batch retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_connection_gone_silent_mid_write_is_given_up_and_every_message_lands_exactly_once() {
    const TOTAL: usize = 2_000;
    let (cluster, db) = watched_run(4).await;
    let proxy = PgProxy::start().await;
    let mut settings = settings_for(&proxy.url_for(&db.url), &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 100;
    settings.database.transaction_timeout_ms = 5_000;
    fast_retries(&mut settings);
    produce(&cluster.bootstrap_servers(), TOTAL).await;
    let sink = PgSink::connect(&settings.database, &settings.kafka.group_id).await.unwrap();
    let ops = Arc::new(Ops::default());
    let worker = InProcessWorker::start(&settings, sink, ops.clone());
    assert!(eventually(Duration::from_secs(60), || async { stored_total(&db).await >= 300 }).await);

    // Catch a batch mid-transaction (its positions locked, its upsert waiting on the table lock),
    // then silence its connection: the answer to its upsert never reaches the worker.
    let blocker = hold_writes(&db).await;
    let waiting_on_lock = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                           AND application_name = 'article-ingest' AND wait_event_type = 'Lock'";
    assert!(eventually(Duration::from_secs(30), || async { db.count(waiting_on_lock).await > 0 }).await);
    proxy.freeze();
    blocker.commit().await.unwrap();
    let silenced = std::time::Instant::now();

    all_land_exactly_once(&db, worker, TOTAL, Duration::from_secs(90)).await;
    let retries = ops.metrics.sink_retries.get();
    assert!(retries > 0, "the silent write was given up and retried");
    eprintln!(
        "{TOTAL} messages; connections silenced mid-write; {retries} batch retries; all stored {:?} later",
        silenced.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_going_down_and_up_and_failing_fetches_lose_nothing() {
    const TOTAL: usize = 2_000;
    let (cluster, db) = watched_run(4).await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 100;
    produce(&cluster.bootstrap_servers(), TOTAL).await;
    let worker = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Arc::new(Ops::default()));

    assert!(eventually(Duration::from_secs(60), || async { stored_total(&db).await >= 300 }).await);
    cluster.broker_down(1).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.broker_up(1).unwrap();
    cluster.request_errors(
        RDKafkaApiKey::Fetch,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    all_land_exactly_once(&db, worker, TOTAL, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_held_by_a_lock_stops_reading_at_the_bound_and_drops_nothing() {
    const TOTAL: usize = 3_000;
    let (cluster, db) = watched_run(2).await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 50;
    settings.worker.max_in_flight = 100;
    let ops = Arc::new(Ops::default());
    let worker = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, ops.clone());
    let blocker = hold_writes(&db).await;
    produce(&cluster.bootstrap_servers(), TOTAL).await;

    let consumed = || ops.metrics.messages_consumed.get_or_create(&TopicLabel { topic: TOPIC.into() }).get();
    tokio::time::sleep(Duration::from_secs(5)).await;
    // In memory at most: the channel, a batch filling, one in the stages, one waiting, one written.
    let bound = (settings.worker.max_in_flight + 4 * settings.worker.batch_max_rows) as u64;
    let read_while_locked = consumed();
    assert!(
        read_while_locked > 0 && read_while_locked <= bound,
        "read {read_while_locked} with writes held; bound {bound}"
    );
    assert_eq!(stored_total(&db).await, 0);
    eprintln!("{TOTAL} messages; {read_while_locked} read while writes were held (bound {bound})");

    blocker.rollback().await.unwrap();
    all_land_exactly_once(&db, worker, TOTAL, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_timing_out_behind_a_lock_are_retried_and_drop_nothing() {
    const TOTAL: usize = 1_000;
    let (cluster, db) = watched_run(2).await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.database.statement_timeout_ms = 500;
    settings.worker.batch_max_rows = 100;
    fast_retries(&mut settings);
    let ops = Arc::new(Ops::default());
    let sink = PgSink::connect(&settings.database, &settings.kafka.group_id).await.unwrap();
    let worker = InProcessWorker::start(&settings, sink, ops.clone());
    let blocker = hold_writes(&db).await;
    produce(&cluster.bootstrap_servers(), TOTAL).await;
    assert!(
        eventually(Duration::from_secs(30), || async { ops.metrics.sink_retries.get() >= 3 }).await,
        "writes time out after 500 ms and are retried"
    );
    assert_eq!(stored_total(&db).await, 0);
    let timeouts = ops.metrics.sink_retries.get();
    blocker.rollback().await.unwrap();
    all_land_exactly_once(&db, worker, TOTAL, Duration::from_secs(60)).await;
    eprintln!("{TOTAL} messages; {timeouts} writes cancelled by statement_timeout and retried");
}

/// Waits (up to 30 s) until the members own all `partitions` between them: the next change then
/// starts a rebalance of its own. Overlapping rebalances make librdkafka's mock group coordinator
/// abort on an assertion (`!member->resp` in rd_kafka_mock_cgrp_classic_member_add: a JoinGroup
/// retried while its first is pending), which is the mock's limit, not the worker's.
async fn wait_until_settled(workers: &[InProcessWorker], partitions: i64) {
    let owned = || workers.iter().map(|w| w.ops.metrics.assigned_partitions.get()).sum::<i64>();
    eventually(Duration::from_secs(30), || async { owned() == partitions }).await;
}

/// Workers join and leave every `every` (once the group has settled) while `total` messages over 8
/// partitions are worked off. The messages come in waves, one before each membership change, so the
/// group keeps changing while there is work however fast the workers drain it.
async fn rebalance_storm(total: usize, every: Duration) {
    const WAVES: usize = 5;
    let (cluster, db) = watched_run(8).await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 200;
    let mut workers: Vec<InProcessWorker> = Vec::new();
    let (mut changes, mut produced) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while stored_total(&db).await < total as i64 {
        assert!(tokio::time::Instant::now() < deadline, "the storm never drained");
        if produced < total {
            let wave = produced..(produced + total.div_ceil(WAVES)).min(total);
            produced = wave.end;
            let brokers = cluster.bootstrap_servers();
            tokio::spawn(async move { produce_range(&brokers, wave).await });
        }
        // Grow to three workers, then alternate: one leaves, one joins.
        if workers.len() < 3 || changes % 2 == 1 {
            workers.push(InProcessWorker::start(
                &settings,
                db.sink(&settings.kafka.group_id).await,
                Arc::new(Ops::default()),
            ));
        } else {
            workers.remove(changes % workers.len()).stop().await;
        }
        changes += 1;
        wait_until_settled(&workers, 8).await;
        tokio::time::sleep(every).await;
    }
    for worker in workers {
        worker.stop().await;
    }
    eprintln!("{total} messages over 8 partitions with {changes} membership changes");
    assert!(changes >= WAVES, "the group changed while it worked");
    assert_exactly_once(&db, total).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_storm_over_20000_messages_stores_each_exactly_once() {
    rebalance_storm(20_000, Duration::from_secs(4)).await;
}
