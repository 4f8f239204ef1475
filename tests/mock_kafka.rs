//! The worker against librdkafka's in-process mock cluster and a real Postgres database.

mod common;

use std::time::Duration;

use article_ingest::input::kafka::{ConsumerEvent, spawn_consumer};
use article_ingest::settings::Settings;
use article_ingest::worker::{self, RunSummary, StopWhen};
use common::{InProcessWorker, TestDb, settings_for};
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "articles";

fn mock_cluster(partitions: i32) -> MockCluster<'static, DefaultProducerContext> {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic(TOPIC, partitions, 1).unwrap();
    cluster
}

struct Message {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    partition: Option<i32>,
}

fn article(i: usize) -> Message {
    let text = format!(
        "Story number {i}\nCouncil {i} approved the new harbour budget on Monday after a long debate.\nThe vote was {i} to two, officials said."
    );
    Message { key: Some(format!("story-{i}").into_bytes()), value: text.into_bytes(), partition: None }
}

async fn produce(brokers: &str, messages: &[Message]) {
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for message in messages {
        let mut record = FutureRecord::to(TOPIC).payload(&message.value);
        if let Some(key) = &message.key {
            record = record.key(key);
        }
        if let Some(partition) = message.partition {
            record = record.partition(partition);
        }
        producer.send(record, Duration::from_secs(10)).await.unwrap();
    }
}

/// Runs an in-process worker until its input has been idle for `idle` seconds.
async fn run_until_idle(settings: &Settings, db: &TestDb, idle: u64) -> RunSummary {
    let stop = StopWhen { shutdown: CancellationToken::new(), idle_for: Some(Duration::from_secs(idle)) };
    let sink = db.sink(&settings.kafka.group_id).await;
    tokio::time::timeout(Duration::from_secs(120), worker::run(settings, sink, stop)).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_kind_becomes_one_dead_letter_and_the_partition_keeps_moving() {
    let cluster = mock_cluster(1);
    let db = TestDb::new().await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.max_message_bytes = 4096;
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("empty message", b"".to_vec()),
        ("invalid UTF-8", b"caf\xe9 au lait".to_vec()),
        ("broken JSON envelope", b"{\"text\": \"no closing".to_vec()),
        ("envelope has neither text nor html", br#"{"id": "x", "url": "https://example.org"}"#.to_vec()),
        ("envelope has both text and html", br#"{"text": "a", "html": "<p>a</p>"}"#.to_vec()),
        ("body is empty or only whitespace", b" \n\t \n".to_vec()),
        ("exceeds max_message_bytes", vec![b'a'; 5000]),
        ("fetched_at is not an RFC 3339 time", br#"{"text": "Body.", "fetched_at": "last week"}"#.to_vec()),
    ];
    let mut messages = Vec::new();
    for (i, (_, value)) in bad.iter().enumerate() {
        messages.push(Message { key: None, value: value.clone(), partition: Some(0) });
        let mut good = article(i);
        good.partition = Some(0);
        messages.push(good);
    }
    produce(&cluster.bootstrap_servers(), &messages).await;

    let summary = run_until_idle(&settings, &db, 3).await;

    assert_eq!(summary.messages, 16);
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 8, "every good message after a bad one is written");
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 8);
    for (reason, payload) in &bad {
        let (count, stored_payload): (i64, Vec<u8>) =
            sqlx::query_as("SELECT count(*) OVER (), payload FROM dead_letters WHERE strpos(reason, $1) > 0")
                .bind(reason)
                .fetch_one(&db.pool)
                .await
                .unwrap_or_else(|_| panic!("a dead letter for {reason}"));
        assert_eq!(count, 1, "{reason}");
        assert_eq!(&stored_payload, payload, "{reason}: the raw bytes are kept");
    }
    assert_eq!(db.count("SELECT count(*) FROM dead_letters WHERE reason LIKE '%\n%'").await, 0, "reasons are one line");
    assert_eq!(db.count("SELECT next_offset FROM kafka_offsets WHERE kafka_partition = 0").await, 16);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_position_stored_in_postgres_not_from_kafka_commits() {
    let cluster = mock_cluster(4);
    let db = TestDb::new().await;
    let settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    produce(&cluster.bootstrap_servers(), &(0..40).map(article).collect::<Vec<_>>()).await;
    run_until_idle(&settings, &db, 3).await;
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 40);

    // Kafka now holds committed offsets at the end of every partition. Move partition 0's stored
    // position back to the start: the next run must read it again from there.
    let rewound: i64 = db.count("SELECT count(*) FROM articles WHERE kafka_partition = 0").await;
    assert!(rewound > 0);
    sqlx::query("UPDATE kafka_offsets SET next_offset = 0 WHERE kafka_partition = 0").execute(&db.pool).await.unwrap();
    produce(&cluster.bootstrap_servers(), &(40..50).map(article).collect::<Vec<_>>()).await;

    let summary = run_until_idle(&settings, &db, 3).await;

    assert_eq!(db.count("SELECT count(*) FROM articles").await, 50);
    assert_eq!(summary.unchanged as i64, rewound, "partition 0 was read again from offset 0");
    assert_eq!(summary.updated, 0, "reading the same messages again changes no row");
    assert_eq!(db.count("SELECT max(revision)::bigint FROM articles").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_in_one_group_write_each_message_exactly_once_across_a_rebalance() {
    let cluster = mock_cluster(4);
    let db = TestDb::new().await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    settings.worker.batch_max_rows = 50;
    let total = 3000;
    produce(&cluster.bootstrap_servers(), &(0..total).map(article).collect::<Vec<_>>()).await;
    db.record_write_attempts().await;

    let first = {
        let (settings, db_ref) = (settings.clone(), &db);
        async move { run_until_idle(&settings, db_ref, 4).await }
    };
    let second = async {
        // Join once the first worker is under way, forcing a rebalance mid-run.
        assert!(
            common::eventually(Duration::from_secs(60), || async {
                db.count("SELECT count(*) FROM articles").await > 0
            })
            .await
        );
        run_until_idle(&settings, &db, 4).await
    };
    let (one, two) = tokio::join!(first, second);

    assert_eq!(db.count("SELECT count(*) FROM articles").await, total as i64);
    assert_eq!(db.max_write_attempts().await, 1, "no message written twice");
    assert_eq!(db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await, total as i64);
    assert_eq!(one.inserted + two.inserted, total as u64);
}

/// Produces the messages to one partition in as few record batches as the producer makes: the mock
/// broker answers a fetch with a batch or two of each partition, so a partition produced this way
/// hands over hundreds of messages a fetch where one produced message by message hands over two.
async fn produce_in_large_batches(brokers: &str, partition: i32, messages: &[Message]) {
    let producer: FutureProducer =
        ClientConfig::new().set("bootstrap.servers", brokers).set("linger.ms", "100").create().unwrap();
    let deliveries: Vec<_> = messages
        .iter()
        .map(|message| {
            let record = FutureRecord::<(), _>::to(TOPIC).payload(&message.value).partition(partition);
            producer.send_result(record).map_err(|(error, _)| error).unwrap()
        })
        .collect();
    for delivery in deliveries {
        delivery.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_with_a_backlog_are_read_in_turn_whatever_order_fetches_bring_them() {
    let cluster = mock_cluster(2);
    let db = TestDb::new().await;
    let settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    // Fetches bring partition 0's backlog hundreds at a time and partition 1's two at a time.
    produce_in_large_batches(&cluster.bootstrap_servers(), 0, &(0..500).map(article).collect::<Vec<_>>()).await;
    let one_by_one: Vec<Message> = (500..1000).map(|i| Message { partition: Some(1), ..article(i) }).collect();
    produce(&cluster.bootstrap_servers(), &one_by_one).await;

    let (events_tx, mut events) = tokio::sync::mpsc::channel(1);
    let sink = db.sink(&settings.kafka.group_id).await;
    let consumer = spawn_consumer(&settings.kafka, sink, Default::default(), events_tx).unwrap();
    let mut next_event = async || tokio::time::timeout(Duration::from_secs(30), events.recv()).await.unwrap().unwrap();
    assert!(matches!(next_event().await, ConsumerEvent::Assigned(_)));
    // Let both backlogs be fetched before reading: then only the order they are read in decides.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut first_read = Vec::new();
    while first_read.len() < 200 {
        match next_event().await {
            ConsumerEvent::Message(message) => first_read.push(message.origin.partition),
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(events);
    tokio::task::spawn_blocking(move || consumer.join()).await.unwrap();

    let from_partition_1 = first_read.iter().filter(|&&partition| partition == 1).count();
    assert!(
        (90..=110).contains(&from_partition_1),
        "{from_partition_1} of the first 200 from partition 1: {first_read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_the_batch_in_hand_before_leaving() {
    let cluster = mock_cluster(2);
    let db = TestDb::new().await;
    let mut settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    // Nothing would be written by size or age during this test: only the shutdown flush can.
    settings.worker.batch_linger_ms = 600_000;
    settings.worker.batch_max_rows = 1_000_000;
    produce(&cluster.bootstrap_servers(), &(0..20).map(article).collect::<Vec<_>>()).await;

    let running = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Default::default());
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0);
    let summary = running.stop().await;

    assert_eq!(summary.messages, 20);
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 20);
    assert_eq!(db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewinding_the_stored_position_under_a_running_worker_makes_it_read_again_from_there() {
    let cluster = mock_cluster(1);
    let db = TestDb::new().await;
    let settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    produce(&cluster.bootstrap_servers(), &(0..40).map(article).collect::<Vec<_>>()).await;
    let running = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Default::default());
    let stored = || async { db.count("SELECT coalesce(max(next_offset), 0) FROM kafka_offsets").await };
    assert!(common::eventually(Duration::from_secs(60), || async { stored().await == 40 }).await);

    // An operator rewinds the partition to offset 10; the worker's next write is fenced by it.
    sqlx::query("UPDATE kafka_offsets SET next_offset = 10").execute(&db.pool).await.unwrap();
    produce(&cluster.bootstrap_servers(), &(40..50).map(article).collect::<Vec<_>>()).await;

    assert!(
        common::eventually(Duration::from_secs(60), || async { stored().await == 50 }).await,
        "the partition moves on"
    );
    let summary = running.stop().await;
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 50);
    assert_eq!(summary.unchanged, 30, "offsets 10..39 read again");
    assert_eq!(summary.inserted, 50);
    assert_eq!(db.count("SELECT max(revision)::bigint FROM articles").await, 1);
}

/// An article of one site: its own story, and the line the site prints under every article.
fn site_article(i: usize, extra: &str) -> Message {
    let text = format!(
        "Harbour council meets again\n\
         The harbour council met for the {i}th time this year on Monday to discuss the budget for the port.\n\
         Councillor number {i} said the dredging work would start in the spring if the weather allowed it.\n\
         The vote on plan {i} was postponed until the next session, officials said after the meeting.\n\
         {extra}\
         Harbour Post is an independent newsroom funded by readers like you.\n"
    );
    let envelope = serde_json::json!({
        "id": format!("harbour-{i}"),
        "url": format!("https://www.harbourpost.example/news/{i}"),
        "text": text,
    });
    Message { key: None, value: envelope.to_string().into_bytes(), partition: Some(0) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_template_learned_from_twenty_articles_is_removed_from_the_twenty_first() {
    let cluster = mock_cluster(1);
    let db = TestDb::new().await;
    let settings = settings_for(&db.url, &cluster.bootstrap_servers(), &[TOPIC]);
    assert_eq!(settings.templates.rule.min_articles, 20);
    let running = InProcessWorker::start(&settings, db.sink(&settings.kafka.group_id).await, Default::default());
    produce(&cluster.bootstrap_servers(), &(1..=20).map(|i| site_article(i, "")).collect::<Vec<_>>()).await;
    assert!(
        common::eventually(Duration::from_secs(60), || async { db.count("SELECT count(*) FROM articles").await == 20 })
            .await
    );
    let template_line = "Harbour Post is an independent newsroom funded by readers like you.";
    let kept_before: i64 = sqlx::query_scalar("SELECT count(*) FROM articles WHERE strpos(body, $1) > 0")
        .bind(template_line)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(kept_before, 20, "the line reads like prose: the classifier alone keeps it");

    let once = "A ferry strike was also announced for Friday by the sailors' union.\n";
    produce(&cluster.bootstrap_servers(), &[site_article(21, once)]).await;
    assert!(
        common::eventually(Duration::from_secs(60), || async { db.count("SELECT count(*) FROM articles").await == 21 })
            .await
    );
    let summary = running.stop().await;

    let (body, removed): (String, serde_json::Value) =
        sqlx::query_as("SELECT body, removed FROM articles WHERE id = 'harbour-21'").fetch_one(&db.pool).await.unwrap();
    assert!(!body.contains(template_line), "the template line is removed: {body}");
    assert!(body.contains(once.trim()), "a sentence seen once is kept: {body}");
    assert!(body.contains("Councillor number 21"), "the story is kept: {body}");
    let reasons: Vec<(String, String)> = removed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_str().unwrap().to_owned(), r["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert!(reasons.contains(&(template_line.to_owned(), "site template: on most of this site's articles".to_owned())));
    let (sightings, is_template): (i64, bool) = sqlx::query_as(
        "SELECT sightings, is_template FROM site_lines WHERE site = 'harbourpost.example' AND line = $1",
    )
    .bind(template_line)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((sightings, is_template), (21, true));
    assert_eq!(db.count("SELECT count(*) FROM site_lines WHERE is_template").await, 1, "only the site's line");
    assert_eq!(summary.inserted, 21);
}
