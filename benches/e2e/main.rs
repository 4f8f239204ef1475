//! `make bench`: the whole worker, end to end, against what Postgres alone can take.
//!
//! 1. Generates N crawler-text articles (`generate`), about a fifth of them republished copies, and
//!    produces them to a Tansu broker.
//! 2. Starts the worker binary and times it draining the topic into a fresh database: articles/s
//!    and MB/s between the first and the last stored batch, its peak RSS, and the CPU seconds of the
//!    worker, Postgres and the broker.
//! 3. Offers a steady load at half that rate and measures produce-to-row latency: from the moment
//!    a message is handed to the producer to the moment its partition's stored position (written in
//!    the same transaction as its row) covers it.
//! 4. The ceiling (`ceiling`): the same final rows COPY'd into an empty database with the same
//!    schema and indexes; the worker's rate over the ceiling's is the figure that matters.
//!
//! Prints one table and writes it as JSON to target/bench/. Under `cargo test` (no `--bench`
//! argument) it runs a small smoke version when TANSU_BIN is set, so the benchmark keeps working.

mod ceiling;
mod generate;
mod probe;
#[path = "../../tests/support/process.rs"]
mod process;
mod server;
#[path = "../../tests/support/tansu.rs"]
mod tansu;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection, PgPool};

use generate::Generator;
use process::KilledOnDrop;
use tansu::Tansu;

const TOPIC: &str = "bench";
const GROUP: &str = "bench";

#[derive(Debug, Parser)]
#[command(about = "End-to-end benchmark: Tansu → article-ingest → Postgres, beside a COPY ceiling")]
struct Args {
    /// Articles to produce and drain.
    #[arg(long, default_value_t = 100_000)]
    articles: u64,
    /// Share of the articles that republish a recent one.
    #[arg(long, default_value_t = 0.2)]
    copies: f64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Seconds of steady load for the latency measurement.
    #[arg(long, default_value_t = 30)]
    latency_secs: u64,
    /// wcxb-dev folder; the repo's fixtures are used when it is missing.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/wcxb-dev"))]
    corpus: PathBuf,
    /// Compression of produced batches (librdkafka's compression.type).
    #[arg(long, default_value = "lz4")]
    compression: String,
    /// Where the JSON report goes.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/target/bench"))]
    out: PathBuf,
    /// Leave the benchmark databases in place.
    #[arg(long)]
    keep_db: bool,
    /// Only write the generated articles to this file (JSON lines, as produced) and exit: input
    /// for profiling the stages with `article-ingest process`.
    #[arg(long, value_name = "FILE")]
    dump_articles: Option<PathBuf>,
    /// Run the worker with `dedup.enabled = false`, to measure what deduplication costs end to end.
    #[arg(long)]
    without_dedup: bool,
    /// Skip the COPY ceiling and so the worker/ceiling ratio: for a long run (1,000,000 articles)
    /// compared by rate with a shorter run that measured its ceiling.
    #[arg(long)]
    without_ceiling: bool,
    /// Set by `cargo bench`; without it this is the smoke run of `cargo test`.
    #[arg(long)]
    bench: bool,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(path) = &args.dump_articles {
        return dump_articles(&args, path);
    }
    if !args.bench {
        if std::env::var_os("TANSU_BIN").is_none() {
            eprintln!("e2e bench: TANSU_BIN is not set; skipped (make test and make bench set it)");
            return Ok(());
        }
        args.articles = 1_500;
        args.latency_secs = 3;
        args.out = args.out.join("smoke");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let report = runtime.block_on(run(&args))?;
    print_table(&report);
    write_json(&args.out, &report)?;
    Ok(())
}

async fn run(args: &Args) -> anyhow::Result<Value> {
    let tansu = Tansu::start();
    tansu.create_topic(TOPIC, args.partitions);
    let db = BenchDb::create("run").await?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles");
    let mut generator = Generator::new(&args.corpus, &fixtures, args.copies, 2016);
    let from_corpus = args.corpus.join("text").is_dir();
    let producer = producer(&tansu.brokers(), &args.compression)?;

    let produced = produce_all(&producer, &mut generator, args.articles).await?;
    eprintln!(
        "produced {} articles ({:.0} MB) in {:.1} s; broker RSS {:.0} MB",
        args.articles,
        mb(produced.bytes),
        produced.secs,
        mb(probe::current_rss(tansu.pid()).unwrap_or(0))
    );

    migrate(&db.url)?;
    let log_path = args.out.join(format!("worker-{}.log", args.articles));
    std::fs::create_dir_all(&args.out)?;
    let worker = spawn_worker(&db.url, &tansu.brokers(), &log_path, !args.without_dedup)?;
    let worker_pid = worker.id();
    let drained = watch_drain(&db.pool, args.articles, worker_pid, tansu.pid()).await?;
    let rate = drained.rate();
    eprintln!("drained at {rate:.0} articles/s");
    let settings = server::settings(&db.pool).await?;

    let offered = (rate / 2.0).max(1.0);
    let source_pages = generator.source_pages();
    let mut generator = generator.with_prefix("b");
    let latency = steady_load(&producer, &mut generator, &db.pool, offered, args.latency_secs).await?;
    let peak_rss = probe::peak_rss(worker_pid).unwrap_or(0);
    worker.stop()?;
    let stage_secs = stage_seconds(&log_path);

    let totals = row_totals(&db.pool).await?;
    let rows: u64 = totals["articles"].as_u64().unwrap_or(0) + totals["dead_letters"].as_u64().unwrap_or(0);
    let ceiling = if args.without_ceiling { None } else { Some(measure_ceiling(args, &db, rows).await?) };
    if !args.keep_db {
        db.drop().await?;
    }

    Ok(json!({
        "articles": args.articles,
        "copy_share": args.copies,
        "partitions": args.partitions,
        "dedup": !args.without_dedup,
        "source": if from_corpus { format!("wcxb-dev ({source_pages} pages)") } else { "repo fixtures".into() },
        "machine": machine(),
        "produced": { "bytes": produced.bytes, "seconds": produced.secs, "copies": produced.copies },
        "worker": {
            "articles_per_sec": rate,
            "mb_per_sec": rate * produced.bytes as f64 / args.articles as f64 / 1e6,
            "steady_seconds": drained.elapsed.as_secs_f64(),
            "steady_articles": drained.articles,
            "peak_rss_bytes": peak_rss,
            "cpu_seconds": { "worker": drained.worker_cpu, "postgres": drained.postgres_cpu, "tansu": drained.tansu_cpu },
            "stage_seconds": stage_secs,
            "stretches": drained.stretches,
        },
        "postgres": { "settings": settings, "per_article": drained.server },
        "latency": latency,
        "worker_over_ceiling": ceiling.as_ref().map(|c| rate / c["articles_per_sec"].as_f64().unwrap_or(f64::NAN)),
        "ceiling": ceiling,
        "rows": totals,
    }))
}

/// COPYs the run's final rows (`rows` articles and dead letters) into an empty database with the
/// same schema: the ceiling, as JSON.
async fn measure_ceiling(args: &Args, db: &BenchDb, rows: u64) -> anyhow::Result<Value> {
    let ceiling_db = BenchDb::create("ceiling").await?;
    migrate(&ceiling_db.url)?;
    let sessions = ceiling::sessions();
    let ceiling = ceiling::measure(&db.url, &ceiling_db.url, &args.out.join("ceiling-scratch"), sessions).await?;
    if !args.keep_db {
        ceiling_db.drop().await?;
    }
    Ok(json!({
        "articles_per_sec": rows as f64 / ceiling.elapsed.as_secs_f64(),
        "seconds": ceiling.elapsed.as_secs_f64(),
        "sessions": ceiling.sessions,
        "rows": rows,
        "bytes": ceiling.bytes,
        "tables": ceiling
            .tables
            .iter()
            .map(|(table, rows, took)| (table.clone(), json!({ "rows": rows, "seconds": took.as_secs_f64() })))
            .collect::<serde_json::Map<_, _>>(),
    }))
}

fn dump_articles(args: &Args, path: &Path) -> anyhow::Result<()> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles");
    let mut generator = Generator::new(&args.corpus, &fixtures, args.copies, 2016);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for _ in 0..args.articles {
        let article = generator.next_article();
        std::io::Write::write_all(&mut out, &article.payload)?;
        std::io::Write::write_all(&mut out, b"\n")?;
    }
    std::io::Write::flush(&mut out)?;
    Ok(())
}

struct Produced {
    bytes: u64,
    copies: u64,
    secs: f64,
}

fn producer(brokers: &str, compression: &str) -> anyhow::Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("compression.type", compression)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("message.max.bytes", "20000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "120000")
        .create()?)
}

/// Produces `count` articles as fast as the broker takes them.
async fn produce_all(producer: &FutureProducer, generator: &mut Generator, count: u64) -> anyhow::Result<Produced> {
    let started = Instant::now();
    let (mut bytes, mut copies) = (0, 0);
    let mut in_flight = VecDeque::new();
    for _ in 0..count {
        let article = generator.next_article();
        bytes += article.payload.len() as u64;
        copies += u64::from(article.is_copy);
        in_flight.push_back(send(producer, article));
        if in_flight.len() >= 5_000 {
            in_flight.pop_front().unwrap().await?;
        }
    }
    for delivery in in_flight {
        delivery.await?;
    }
    Ok(Produced { bytes, copies, secs: started.elapsed().as_secs_f64() })
}

/// Hands one article to the producer; resolves to its (partition, offset).
fn send(
    producer: &FutureProducer,
    article: generate::Article,
) -> impl std::future::Future<Output = anyhow::Result<(i32, i64)>> + use<> {
    let producer = producer.clone();
    let handle = tokio::spawn(async move {
        let record = FutureRecord::to(TOPIC).key(&article.key).payload(&article.payload);
        producer
            .send(record, Duration::from_secs(120))
            .await
            .map(|delivery| (delivery.partition, delivery.offset))
            .map_err(|(error, _)| anyhow::anyhow!("produce failed: {error}"))
    });
    async move { handle.await? }
}

/// The worker process, killed if the benchmark stops early.
struct Worker(KilledOnDrop);

impl Worker {
    fn id(&self) -> u32 {
        self.0.id()
    }

    /// Stops it as an operator would (SIGTERM) and checks it exited cleanly.
    fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status()?;
        let status = self.0.wait()?;
        anyhow::ensure!(status.success(), "worker exited with {status}");
        Ok(())
    }
}

fn spawn_worker(database_url: &str, brokers: &str, log: &Path, dedup: bool) -> anyhow::Result<Worker> {
    let log = std::fs::File::create(log)?;
    let child = Command::new(env!("CARGO_BIN_EXE_article-ingest"))
        .args(["run", "--log-format", "json"])
        .env("DATABASE_URL", database_url)
        .env("ARTICLE_INGEST__KAFKA__BROKERS", brokers)
        // Any free port: several benchmark workers (or a worker already running here) must not clash.
        .env("ARTICLE_INGEST__OPS__LISTEN", "127.0.0.1:0")
        .env("ARTICLE_INGEST__KAFKA__TOPICS", TOPIC)
        .env("ARTICLE_INGEST__KAFKA__GROUP_ID", GROUP)
        .env("ARTICLE_INGEST__DEDUP__ENABLED", dedup.to_string())
        .env("RUST_LOG", "info,librdkafka=warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    Ok(Worker(KilledOnDrop(child)))
}

fn migrate(database_url: &str) -> anyhow::Result<()> {
    let status =
        Command::new(env!("CARGO_BIN_EXE_article-ingest")).arg("migrate").env("DATABASE_URL", database_url).status()?;
    anyhow::ensure!(status.success(), "migrations failed");
    Ok(())
}

/// The drain, between the first and the last stored batch.
struct Drained {
    articles: u64,
    elapsed: Duration,
    worker_cpu: f64,
    postgres_cpu: f64,
    tansu_cpu: f64,
    /// The server's WAL and checkpoints per article over the whole drain.
    server: Value,
    /// Rate and server counters over each tenth of the topic: how the cost grows with the tables.
    stretches: Vec<Value>,
}

impl Drained {
    fn rate(&self) -> f64 {
        self.articles as f64 / self.elapsed.as_secs_f64()
    }
}

/// Messages the worker has stored per partition (its next offset).
async fn stored_positions(pool: &PgPool) -> anyhow::Result<HashMap<i32, i64>> {
    let rows: Vec<(i32, Option<i64>)> = sqlx::query_as(
        "SELECT kafka_partition, next_offset FROM kafka_offsets WHERE consumer_group = $1 AND topic = $2",
    )
    .bind(GROUP)
    .bind(TOPIC)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(p, n)| (p, n.unwrap_or(0))).collect())
}

/// The drain at one moment: the first stored batch, each tenth of the topic, the end.
#[derive(Clone, Copy)]
struct Mark {
    at: Instant,
    stored: u64,
    /// CPU seconds of the worker, Postgres and the broker.
    cpu: [f64; 3],
    counters: server::Counters,
    worker_rss: u64,
}

impl Mark {
    async fn take(pool: &PgPool, stored: u64, worker: u32, tansu: u32) -> anyhow::Result<Mark> {
        Ok(Mark {
            at: Instant::now(),
            stored,
            cpu: [
                probe::cpu_seconds(worker).unwrap_or(0.0),
                probe::cpu_seconds_named("postgres"),
                probe::cpu_seconds(tansu).unwrap_or(0.0),
            ],
            counters: server::Counters::read(pool).await?,
            worker_rss: probe::current_rss(worker).unwrap_or(0),
        })
    }
}

async fn watch_drain(pool: &PgPool, total: u64, worker: u32, tansu: u32) -> anyhow::Result<Drained> {
    const STRETCHES: u64 = 10;
    let deadline = Instant::now() + Duration::from_secs(6 * 3600);
    let mut marks: Vec<Mark> = Vec::new();
    loop {
        anyhow::ensure!(Instant::now() < deadline, "the worker did not drain the topic in time");
        anyhow::ensure!(probe::cpu_seconds(worker).is_some(), "the worker exited");
        let stored: u64 = stored_positions(pool).await?.values().map(|&n| n as u64).sum();
        let next_mark = total * marks.len() as u64 / STRETCHES;
        let is_mark = match marks.last() {
            None => stored > 0,
            Some(last) => stored > last.stored && (stored >= next_mark || stored >= total),
        };
        if is_mark {
            marks.push(Mark::take(pool, stored, worker, tansu).await?);
        }
        if stored >= total {
            let (first, last) = (marks[0], marks[marks.len() - 1]);
            let articles = last.stored - first.stored;
            return Ok(Drained {
                articles,
                elapsed: last.at - first.at,
                worker_cpu: last.cpu[0] - first.cpu[0],
                postgres_cpu: last.cpu[1] - first.cpu[1],
                tansu_cpu: last.cpu[2] - first.cpu[2],
                server: first.counters.per_article(&last.counters, articles),
                stretches: marks.windows(2).map(|w| stretch(&w[0], &w[1])).collect(),
            });
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// One stretch of the drain, with the worker's resident memory at its end and the CPU time the
/// worker and Postgres spent per article in it (what grows when the rate falls with the tables).
fn stretch(from: &Mark, to: &Mark) -> Value {
    let articles = to.stored - from.stored;
    let mut stretch = from.counters.per_article(&to.counters, articles);
    let cpu_ms = |i: usize| (to.cpu[i] - from.cpu[i]) * 1000.0 / articles.max(1) as f64;
    stretch["worker_cpu_ms"] = json!(cpu_ms(0));
    stretch["postgres_cpu_ms"] = json!(cpu_ms(1));
    stretch["to_articles"] = json!(to.stored);
    stretch["worker_rss_bytes"] = json!(to.worker_rss);
    stretch["articles_per_sec"] = json!(articles as f64 / (to.at - from.at).as_secs_f64());
    stretch
}

/// Offers `rate` articles/s for `secs` seconds; returns latency percentiles.
async fn steady_load(
    producer: &FutureProducer,
    generator: &mut Generator,
    pool: &PgPool,
    rate: f64,
    secs: u64,
) -> anyhow::Result<Value> {
    let count = (rate * secs as f64).ceil() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let (tx, mut delivered) = tokio::sync::mpsc::unbounded_channel::<(i32, i64, Instant)>();
    let sender = {
        let producer = producer.clone();
        let mut articles: Vec<generate::Article> = (0..count).map(|_| generator.next_article()).collect();
        tokio::spawn(async move {
            let started = Instant::now();
            for (i, article) in articles.drain(..).enumerate() {
                tokio::time::sleep_until((started + interval * i as u32).into()).await;
                let sent_at = Instant::now();
                let delivery = send(&producer, article);
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok((partition, offset)) = delivery.await {
                        let _ = tx.send((partition, offset, sent_at));
                    }
                });
            }
        })
    };
    let mut waiting: BTreeMap<i32, BTreeMap<i64, Instant>> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(count as usize);
    let deadline = Instant::now() + Duration::from_secs(secs + 120);
    while (latencies.len() as u64) < count && Instant::now() < deadline {
        while let Ok((partition, offset, sent_at)) = delivered.try_recv() {
            waiting.entry(partition).or_default().insert(offset, sent_at);
        }
        let positions = stored_positions(pool).await?;
        let now = Instant::now();
        for (partition, pending) in &mut waiting {
            let next = positions.get(partition).copied().unwrap_or(0);
            while let Some(entry) = pending.first_entry().filter(|e| *e.key() < next) {
                latencies.push((now - entry.remove()).as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sender.await?;
    anyhow::ensure!(
        latencies.len() as u64 == count,
        "only {} of {count} latency messages were stored",
        latencies.len()
    );
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(json!({
        "offered_per_sec": rate,
        "messages": count,
        "p50_seconds": at(0.50),
        "p99_seconds": at(0.99),
        "max_seconds": at(1.0),
    }))
}

/// The `*_secs` fields of the worker's last "worker stopped" log line.
fn stage_seconds(log: &Path) -> Value {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let summary = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "worker stopped")
        .unwrap_or(Value::Null);
    let secs: serde_json::Map<String, Value> = summary
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_suffix("_secs")?.to_owned(), v.clone())))
        .collect();
    Value::Object(secs)
}

async fn row_totals(pool: &PgPool) -> anyhow::Result<Value> {
    let row: (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM articles),
                (SELECT count(*) FROM articles WHERE duplicate_kind = 'exact'),
                (SELECT count(*) FROM articles WHERE duplicate_kind = 'near'),
                (SELECT count(*) FROM stories),
                (SELECT count(*) FROM dead_letters)",
    )
    .fetch_one(pool)
    .await?;
    Ok(json!({
        "articles": row.0, "exact_copies": row.1, "near_copies": row.2, "stories": row.3, "dead_letters": row.4,
    }))
}

/// A database of the benchmark's own, created empty.
struct BenchDb {
    name: String,
    url: String,
    pool: PgPool,
}

impl BenchDb {
    async fn create(role: &str) -> anyhow::Result<BenchDb> {
        let name = format!("ai_bench_{}_{role}", std::process::id());
        let mut admin = PgConnection::connect(&admin_url()).await.context("Postgres at DATABASE_URL answers")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        let mut url = url::Url::parse(&admin_url())?;
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let pool = PgPool::connect(&url).await?;
        Ok(BenchDb { name, url, pool })
    }

    async fn drop(self) -> anyhow::Result<()> {
        self.pool.close().await;
        let mut admin = PgConnection::connect(&admin_url()).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin).await?;
        Ok(())
    }
}

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next()?.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0.0, |kib| kib as f64 / 1024.0 / 1024.0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name"))?.split(':').nth(1).map(|s| s.trim().to_owned()))
        .unwrap_or_default();
    json!({ "cores": cores, "memory_gib": memory.round(), "cpu": cpu })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn print_table(report: &Value) {
    let f = |path: &[&str]| path.iter().fold(report, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    let machine = &report["machine"];
    println!();
    println!(
        "article-ingest end to end: {} articles ({:.0}% copies{}) from {}, {} partitions; {} cores, {} GiB ({})",
        report["articles"],
        f(&["copy_share"]) * 100.0,
        if report["dedup"] == false { ", dedup off" } else { "" },
        report["source"].as_str().unwrap_or(""),
        report["partitions"],
        machine["cores"],
        machine["memory_gib"],
        machine["cpu"].as_str().unwrap_or(""),
    );
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| produced to Tansu | {:.0} MB in {:.1} s |",
        f(&["produced", "bytes"]) / 1e6,
        f(&["produced", "seconds"])
    );
    println!(
        "| worker | **{:.0} articles/s**, {:.1} MB/s ({} articles in {:.1} s) |",
        f(&["worker", "articles_per_sec"]),
        f(&["worker", "mb_per_sec"]),
        report["worker"]["steady_articles"],
        f(&["worker", "steady_seconds"])
    );
    if report["ceiling"].is_null() {
        println!("| ceiling | not measured (--without-ceiling) |");
    } else {
        print_ceiling(report);
    }
    println!(
        "| produce-to-row latency at {:.0} articles/s | p50 {:.2} s, p99 **{:.2} s**, max {:.2} s ({} messages) |",
        f(&["latency", "offered_per_sec"]),
        f(&["latency", "p50_seconds"]),
        f(&["latency", "p99_seconds"]),
        f(&["latency", "max_seconds"]),
        report["latency"]["messages"]
    );
    println!("| worker peak RSS | {:.0} MB |", f(&["worker", "peak_rss_bytes"]) / 1e6);
    println!("| rate by tenth of the topic, articles/s | {} |", by_tenth(report, "articles_per_sec", 1.0));
    println!("| worker RSS at the end of each tenth, MB | {} |", by_tenth(report, "worker_rss_bytes", 1e-6));
    println!(
        "| CPU ms per article by tenth, worker / Postgres | {} |",
        by_tenth_pair(report, "worker_cpu_ms", "postgres_cpu_ms")
    );
    println!(
        "| Postgres blocks read from outside shared buffers per article, by tenth | {} |",
        by_tenth(report, "blocks_read", 1.0)
    );
    println!(
        "| Postgres per article while draining | WAL {:.0} KB, {:.1} full-page images, {:.1} pages written by the inserting sessions; {} checkpoints |",
        f(&["postgres", "per_article", "wal_kb"]),
        f(&["postgres", "per_article", "full_page_images"]),
        f(&["postgres", "per_article", "backend_writes"]),
        report["postgres"]["per_article"]["checkpoints"]
    );
    let settings: Vec<String> = report["postgres"]["settings"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, value)| format!("{name} {}", value.as_str().unwrap_or("")))
        .collect();
    println!("| Postgres settings | {} |", settings.join(", "));
    println!(
        "| CPU seconds while draining | worker {:.1}, Postgres {:.1}, Tansu {:.1} |",
        f(&["worker", "cpu_seconds", "worker"]),
        f(&["worker", "cpu_seconds", "postgres"]),
        f(&["worker", "cpu_seconds", "tansu"])
    );
    let stages: Vec<String> = report["worker"]["stage_seconds"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {:.1}", v.as_f64().unwrap_or(f64::NAN)))
        .collect();
    println!("| time per stage, seconds (whole run) | {} |", stages.join(", "));
    let rows = &report["rows"];
    println!(
        "| rows | {} articles ({} exact, {} near copies; {} generated as copies), {} stories, {} dead letters |",
        rows["articles"],
        rows["exact_copies"],
        rows["near_copies"],
        report["produced"]["copies"],
        rows["stories"],
        rows["dead_letters"]
    );
}

/// One figure of every stretch of the drain, scaled by `scale`, as a list.
fn by_tenth(report: &Value, key: &str, scale: f64) -> String {
    each_tenth(report, |stretch| format!("{:.0}", figure(stretch, key) * scale))
}

/// Two figures of every stretch of the drain, as "a / b" pairs.
fn by_tenth_pair(report: &Value, first: &str, second: &str) -> String {
    each_tenth(report, |stretch| format!("{:.1} / {:.1}", figure(stretch, first), figure(stretch, second)))
}

/// Every stretch of the drain shown by `show`, as a list.
fn each_tenth(report: &Value, show: impl Fn(&Value) -> String) -> String {
    let stretches = report["worker"]["stretches"].as_array().into_iter().flatten();
    stretches.map(show).collect::<Vec<_>>().join(", ")
}

fn figure(stretch: &Value, key: &str) -> f64 {
    stretch[key].as_f64().unwrap_or(f64::NAN)
}

fn print_ceiling(report: &Value) {
    let f = |path: &[&str]| path.iter().fold(report, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    println!(
        "| ceiling: COPY of the same rows, same schema, {} sessions at once | {:.0} articles/s ({} rows of articles and dead letters, {:.0} MB in {:.1} s) |",
        report["ceiling"]["sessions"],
        f(&["ceiling", "articles_per_sec"]),
        report["ceiling"]["rows"],
        f(&["ceiling", "bytes"]) / 1e6,
        f(&["ceiling", "seconds"])
    );
    let tables: Vec<String> = report["ceiling"]["tables"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, t)| t["seconds"].as_f64().unwrap_or(0.0) >= 0.05)
        .map(|(name, t)| format!("{name} {:.1}", t["seconds"].as_f64().unwrap_or(f64::NAN)))
        .collect();
    println!("| ceiling, seconds per table | {} |", tables.join(", "));
    println!("| worker / ceiling | **{:.2}** |", f(&["worker_over_ceiling"]));
}

fn write_json(dir: &Path, report: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let text = serde_json::to_string_pretty(report)?;
    let dedup = if report["dedup"] == false { "-without-dedup" } else { "" };
    let path = dir.join(format!("e2e-{}{dedup}-{stamp}.json", report["articles"]));
    std::fs::write(&path, &text)?;
    std::fs::write(dir.join("e2e-latest.json"), &text)?;
    println!("\nwritten to {}", path.display());
    Ok(())
}
