//! End to end against a real Kafka-protocol broker (Tansu, in memory) with kafka-python as the
//! outside client and the worker binary as a child process. `make test` provides both tools
//! (TANSU_BIN, KAFKA_PYTHON); the test target needs `--features e2e`.

mod common;
#[path = "support/tansu.rs"]
mod tansu;

// The Tansu harness finds `KilledOnDrop` at `crate::process`.
use common::process;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{SESSION_TIMEOUT, TestDb, eventually, spawn_worker};
use tansu::{Tansu, tool};

fn produce_script() -> String {
    format!("{}/tests/support/produce.py", env!("CARGO_MANIFEST_DIR"))
}

/// Publishes every .txt/.html file of `dir` with kafka-python, keyed by file name.
fn produce_dir(tansu: &Tansu, topic: &str, dir: &Path) {
    let status = Command::new(tool("KAFKA_PYTHON"))
        .arg(produce_script())
        .args(["--brokers", &tansu.brokers(), "--topic", topic, "--dir"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Publishes (key, value) pairs with kafka-python.
fn produce_messages(tansu: &Tansu, topic: &str, messages: &[(Option<String>, Vec<u8>)]) {
    let mut child = Command::new(tool("KAFKA_PYTHON"))
        .arg(produce_script())
        .args(["--brokers", &tansu.brokers(), "--topic", topic])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = std::io::BufWriter::new(child.stdin.take().unwrap());
        for (key, value) in messages {
            let value_b64 = base64::engine::general_purpose::STANDARD.encode(value);
            serde_json::to_writer(&mut stdin, &serde_json::json!({"key": key, "value_b64": value_b64})).unwrap();
            stdin.write_all(b"\n").unwrap();
        }
    }
    assert!(child.wait().unwrap().success());
}

/// Runs the worker binary until the topic has been drained (idle for a few seconds).
fn drain(db: &TestDb, tansu: &Tansu, topic: &str) {
    let mut worker = spawn_worker(db, &tansu.brokers(), topic, &[], &["--exit-on-idle", "3"]);
    let status = wait_with_timeout(&mut worker, Duration::from_secs(120));
    assert!(status.success(), "worker exits 0 after draining");
}

fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("worker did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// id → (body, duplicate_of, content_hash)
async fn bodies(db: &TestDb) -> HashMap<String, (String, Option<String>, String)> {
    let rows: Vec<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT id, body, duplicate_of, content_hash FROM articles").fetch_all(&db.pool).await.unwrap();
    rows.into_iter().map(|(id, body, dup, hash)| (id, (body, dup, hash))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_articles_from_an_outside_client_land_as_clean_rows() {
    let (tansu, db) = (Tansu::start(), TestDb::new().await);
    tansu.create_topic("samples", 4);
    produce_dir(&tansu, "samples", &common::fixtures_dir());
    drain(&db, &tansu, "samples");

    let expected: HashMap<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(common::fixtures_dir().join("expected.json")).unwrap()).unwrap();
    let rows = bodies(&db).await;
    assert_eq!(rows.len(), expected.len());
    for (id, want) in &expected {
        let (body, duplicate_of, hash) = &rows[id];
        let paragraphs: Vec<&str> = body.split("\n\n").collect();
        let want_paragraphs: Vec<&str> =
            want["paragraphs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
        assert_eq!(paragraphs, want_paragraphs, "{id}");
        // Which of a copy set arrives first depends on partitions; that the link stays inside the
        // copy set is what must hold.
        if let Some(canonical) = duplicate_of {
            assert_eq!(&rows[canonical].2, hash, "{id} is linked inside its copy set");
            assert_eq!(rows[canonical].1, None, "{id} is linked to the canonical article");
        }
    }
    let copy_sets = db.count("SELECT count(DISTINCT content_hash) FROM articles").await;
    assert_eq!(copy_sets, 3, "three distinct bodies among six samples");
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NULL").await, 3, "one canonical per body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_seeds_from_an_outside_client_land_as_five_clean_rows() {
    let Some(dir) = common::seeds::shared_seeds() else {
        eprintln!("../shared/seeds not present: the sample-article end-to-end test covers the same kinds");
        return;
    };
    let (tansu, db) = (Tansu::start(), TestDb::new().await);
    tansu.create_topic("seeds", 4);
    produce_dir(&tansu, "seeds", &dir);
    drain(&db, &tansu, "seeds");

    let rows: HashMap<String, String> = bodies(&db).await.into_iter().map(|(id, (body, _, _))| (id, body)).collect();
    assert_eq!(rows.len(), 5, "five seeds, five rows");
    common::seeds::check_seed_bodies(&dir, &rows);
}

/// Body of article `i`: words of its own (no near copy of another `i`), a paragraph structure and
/// some page furniture.
fn generated_text(i: usize, outlet: &str) -> String {
    format!(
        "{outlet} » News » World\nHarbour council vote number {i}\nPublished 2 March 2014\n\
         The harbour council of town {i} approved a budget of {i} thousand euros on Monday after a long debate.\n\
         {}\
         Work on the pier is due to start in spring and last {i} weeks, officials said.\n\
         SHARE THIS ARTICLE\n",
        common::distinct_story(i as u64, 30)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_three_times_during_20000_messages_loses_nothing_and_doubles_nothing() {
    const TOTAL: usize = 20_000;
    let (tansu, db) = (Tansu::start(), TestDb::new().await);
    db.record_write_attempts().await;
    tansu.create_topic("stream", 4);
    let mut messages = Vec::with_capacity(TOTAL);
    let (mut bad, mut copies) = (0i64, 0i64);
    for i in 0..TOTAL {
        let key = Some(format!("m{i}"));
        if i % 100 == 13 {
            bad += 1;
            messages.push((key, format!("{{\"id\": \"m{i}\", \"text\": \"unterminated").into_bytes()));
        } else if i % 10 == 7 {
            // A republication of article i-7 by another outlet: other furniture, same story.
            copies += 1;
            messages.push((key, generated_text(i - 7, "Other Daily").into_bytes()));
        } else if i % 2 == 0 {
            let envelope = serde_json::json!({"id": format!("m{i}"), "url": format!("https://example.org/{i}"), "text": generated_text(i, "Example")});
            messages.push((key, envelope.to_string().into_bytes()));
        } else {
            messages.push((key, generated_text(i, "Example").into_bytes()));
        }
    }
    produce_messages(&tansu, "stream", &messages);

    let settings: &[(&str, &str)] = &[("ARTICLE_INGEST__WORKER__BATCH_MAX_ROWS", "250")];
    let written =
        || async { db.count("SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM dead_letters)").await };
    let mut kills = Vec::new();
    for fraction in [0.15, 0.40, 0.65] {
        let mut worker = spawn_worker(&db, &tansu.brokers(), "stream", settings, &[]);
        let threshold = (TOTAL as f64 * fraction) as i64;
        assert!(
            eventually(Duration::from_secs(300), || async { written().await >= threshold }).await,
            "progress to {threshold}"
        );
        worker.kill().unwrap(); // SIGKILL: no flush, no goodbye
        worker.wait().unwrap();
        kills.push(written().await);
        // Restart once the killed member's session has run out, as a supervisor's restart delay
        // would. Tansu 0.6 wedges the group otherwise: a member joining while the dead leader is
        // still within its session is told to follow it; by its SyncGroup the leader has expired,
        // and Tansu takes that follower's empty assignment as the group's, leaving every partition
        // unassigned for good (seen in its coordinator log; Kafka itself rebalances).
        tokio::time::sleep(SESSION_TIMEOUT + Duration::from_secs(2)).await;
    }
    let mut last = spawn_worker(&db, &tansu.brokers(), "stream", settings, &["--exit-on-idle", "5"]);
    assert!(wait_with_timeout(&mut last, Duration::from_secs(600)).success());

    eprintln!("killed at {kills:?} rows written; {bad} bad inputs and {copies} republished copies among {TOTAL}");
    assert_eq!(written().await, TOTAL as i64, "articles + dead letters = messages");
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, bad);
    assert_eq!(db.count("SELECT count(*) FROM articles").await, TOTAL as i64 - bad);
    assert_eq!(db.max_write_attempts().await, 1, "no article written twice");
    let distinct_positions = db
        .count("SELECT count(*) FROM (SELECT kafka_partition, kafka_offset FROM articles UNION SELECT kafka_partition, kafka_offset FROM dead_letters) p")
        .await;
    assert_eq!(distinct_positions, TOTAL as i64, "each message exactly once");
    assert_eq!(db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await, TOTAL as i64);
    assert_eq!(db.count("SELECT count(*) FROM articles WHERE duplicate_of IS NOT NULL").await, copies);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stores_the_batch_in_hand_and_exits_zero() {
    let (tansu, db) = (Tansu::start(), TestDb::new().await);
    tansu.create_topic("term", 2);
    let messages: Vec<(Option<String>, Vec<u8>)> =
        (0..30).map(|i| (Some(format!("t{i}")), generated_text(i, "Example").into_bytes())).collect();
    produce_messages(&tansu, "term", &messages);
    // Only a shutdown flush can write: batches would otherwise wait ten minutes or a million rows.
    let settings: &[(&str, &str)] =
        &[("ARTICLE_INGEST__WORKER__BATCH_LINGER_MS", "600000"), ("ARTICLE_INGEST__WORKER__BATCH_MAX_ROWS", "1000000")];
    let mut worker = spawn_worker(&db, &tansu.brokers(), "term", settings, &[]);
    // Wait until the worker has read everything: its Kafka commits are informational, so watch
    // the group's assignment through Postgres instead — position rows appear on assignment.
    assert!(
        eventually(Duration::from_secs(60), || async { db.count("SELECT count(*) FROM kafka_offsets").await == 2 })
            .await
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 0);
    let status = Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = wait_with_timeout(&mut worker, Duration::from_secs(60));
    assert!(exit.success(), "exit 0 on SIGTERM, got {exit:?}");
    assert_eq!(db.count("SELECT count(*) FROM articles").await, 30);
    assert_eq!(db.count("SELECT sum(next_offset)::bigint FROM kafka_offsets").await, 30);
}

/// Made-up names for story `seed`: who and where, so each story has people and places of its own.
fn names_for(seed: u64) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "ro", "vel", "tim", "ba", "lor", "sen", "di", "mar", "zu", "quen", "pol", "tra", "mei", "dov", "nis"];
    let name = |n: u64| -> String {
        let word: String = (0..3).map(|i| SYLLABLES[((n >> (4 * i)) & 15) as usize]).collect();
        let mut chars = word.chars();
        chars.next().map(|c| c.to_uppercase().collect::<String>() + chars.as_str()).unwrap_or_default()
    };
    let base = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 16;
    format!(
        "Mayor {} {} met minister {} {} in {} on Monday, and {} said the talks in {} would go on.\n",
        name(base),
        name(base >> 12),
        name(base >> 24),
        name(base >> 36),
        name(base >> 3),
        name(base),
        name(base >> 3)
    )
}

/// About `words` words of prose in invented words (4,096 possible), so two stories share few of
/// them, as two real stories share few content words.
fn invented_story(seed: u64, words: usize) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "ro", "vel", "tim", "ba", "lor", "sen", "di", "mar", "zu", "quen", "pol", "tra", "mei", "dov", "nis"];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut text = String::new();
    for i in 0..words {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word: String = (0..3).map(|k| SYLLABLES[((state >> (8 * k)) & 15) as usize]).collect();
        text.push_str(if i % 12 == 0 { "The " } else { " " });
        text.push_str(&word);
        if i % 12 == 11 || i + 1 == words {
            text.push_str(" officials said.\n");
        }
    }
    text
}

/// Groups of articles as their sorted members, by `column` (an article with none is its own group).
async fn groups_by(db: &TestDb, column: &str) -> Vec<Vec<String>> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as(&format!("SELECT id, {column} FROM articles")).fetch_all(&db.pool).await.unwrap();
    let mut sets: HashMap<String, Vec<String>> = HashMap::new();
    for (id, duplicate_of) in rows {
        sets.entry(duplicate_of.unwrap_or_else(|| id.clone())).or_default().push(id);
    }
    let mut sets: Vec<Vec<String>> = sets
        .into_values()
        .map(|mut s| {
            s.sort();
            s
        })
        .collect();
    sets.sort();
    sets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_four_partitions_find_the_same_copy_sets_and_stories_as_one_worker() {
    let tansu = Tansu::start();
    tansu.create_topic("wire", 4);
    // 40 wire stories, each republished twice (one cut and extended, one lightly edited), and 40
    // unrelated stories; keys spread copies over the partitions.
    let mut messages = Vec::new();
    let mut expected = Vec::new();
    for story in 0..40u64 {
        let wire = names_for(story) + &invented_story(5000 + story, 150);
        let mut lines: Vec<&str> = wire.lines().collect();
        lines.pop();
        let cut = format!(
            "{}\nThe harbour office of story {story} was closed on Monday, a spokesman said.",
            lines.join("\n")
        );
        let edited = wire.replacen("said", "told reporters", 2);
        let ids = [format!("w{story}"), format!("w{story}-cut"), format!("w{story}-edit")];
        for (id, text) in ids.iter().zip([&wire, &cut, &edited]) {
            messages.push((Some(id.clone()), serde_json::json!({"id": id, "text": text}).to_string().into_bytes()));
        }
        let mut set = ids.to_vec();
        set.sort();
        expected.push(set);
        let single = format!("u{story}");
        let text = names_for(1000 + story) + &invented_story(9000 + story, 150);
        messages.push((Some(single.clone()), serde_json::json!({"id": single, "text": text}).to_string().into_bytes()));
        expected.push(vec![single]);
    }
    expected.sort();
    produce_messages(&tansu, "wire", &messages);

    let one = TestDb::new().await;
    drain(&one, &tansu, "wire");
    let two = TestDb::new().await;
    let args = ["--exit-on-idle", "5"];
    let small_batches: &[(&str, &str)] = &[("ARTICLE_INGEST__WORKER__BATCH_MAX_ROWS", "5")];
    let mut workers = [
        spawn_worker(&two, &tansu.brokers(), "wire", small_batches, &args),
        spawn_worker(&two, &tansu.brokers(), "wire", small_batches, &args),
    ];
    for worker in &mut workers {
        assert!(wait_with_timeout(worker, Duration::from_secs(180)).success());
    }

    assert_eq!(one.count("SELECT count(*) FROM articles").await, 160);
    assert_eq!(two.count("SELECT count(*) FROM articles").await, 160);
    assert_eq!(groups_by(&one, "duplicate_of").await, expected, "one worker: every republication in its set");
    assert_eq!(groups_by(&two, "duplicate_of").await, expected, "two workers: the same sets");
    assert_eq!(groups_by(&one, "story_id").await, expected, "one worker: each wire story and its copies one story");
    assert_eq!(groups_by(&two, "story_id").await, expected, "two workers: the same stories");
    assert_eq!(two.count("SELECT count(*) FROM articles WHERE duplicate_kind = 'near'").await, 80);
}
