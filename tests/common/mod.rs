//! Test harness: a fresh Postgres database per test (dropped after), an in-process worker, the
//! built binary as a child process, and — for end-to-end tests — a Tansu broker and kafka-python.
#![allow(dead_code)]

#[path = "../support/process.rs"]
pub mod process;
pub mod seeds;

pub use process::KilledOnDrop;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use article_ingest::settings::{DatabaseSettings, Settings};
use article_ingest::sink::PgSink;
use sqlx::{Connection, PgConnection, PgPool};

pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test, migrated (or not: `unmigrated`), dropped when the value is.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let db = Self::unmigrated().await;
        db.sink("g").await.migrate().await.unwrap();
        db
    }

    /// A database of its own with no schema yet.
    pub async fn unmigrated() -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("ai_test_{}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst), nanos);
        let mut admin = PgConnection::connect(&admin_url()).await.expect("Postgres at DATABASE_URL answers");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let url = database_url(&name);
        let pool = PgPool::connect(&url).await.unwrap();
        TestDb { name, url, pool }
    }

    pub async fn sink(&self, group: &str) -> PgSink {
        self.sink_with(group, |_| {}).await
    }

    /// A sink on this database with its database settings changed by `change`.
    pub async fn sink_with(&self, group: &str, change: impl FnOnce(&mut DatabaseSettings)) -> PgSink {
        let mut settings = settings_for(&self.url, "unused", &["unused"]).database;
        change(&mut settings);
        PgSink::connect(&settings, group).await.unwrap()
    }

    /// Counts every committed attempt to write each article id, identical rewrites included (an
    /// upsert that changes nothing leaves `revision` alone, but a BEFORE INSERT trigger still fires
    /// for it): the detector for a message written twice. Read with `max_write_attempts`.
    pub async fn record_write_attempts(&self) {
        for statement in [
            "CREATE TABLE write_attempts (id text PRIMARY KEY, attempts integer NOT NULL)",
            "CREATE FUNCTION count_write_attempt() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 INSERT INTO write_attempts VALUES (NEW.id, 1)
                 ON CONFLICT (id) DO UPDATE SET attempts = write_attempts.attempts + 1;
                 RETURN NEW;
             END $$",
            "CREATE TRIGGER count_write_attempts BEFORE INSERT ON articles
             FOR EACH ROW EXECUTE FUNCTION count_write_attempt()",
        ] {
            sqlx::query(statement).execute(&self.pool).await.unwrap();
        }
    }

    pub async fn max_write_attempts(&self) -> i64 {
        self.count("SELECT coalesce(max(attempts), 0)::bigint FROM write_attempts").await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_DB").is_some() {
            eprintln!("KEEP_TEST_DB: leaving database {} in place", self.name);
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime: do the async work on a thread with its own.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url()).await {
                    let _ =
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin).await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// Settings as a deployment would give them, through the same layering code.
pub fn settings_for(database_url: &str, brokers: &str, topics: &[&str]) -> Settings {
    let env: BTreeMap<String, String> = [
        ("DATABASE_URL".to_string(), database_url.to_string()),
        ("ARTICLE_INGEST__KAFKA__BROKERS".to_string(), brokers.to_string()),
        ("ARTICLE_INGEST__KAFKA__TOPICS".to_string(), topics.join(",")),
        ("ARTICLE_INGEST__KAFKA__SESSION_TIMEOUT_MS".to_string(), SESSION_TIMEOUT.as_millis().to_string()),
        ("ARTICLE_INGEST__WORKER__BATCH_LINGER_MS".to_string(), "50".to_string()),
    ]
    .into_iter()
    .collect();
    Settings::load(None, &env).unwrap()
}

/// Polls `check` until it holds or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_article-ingest")
}

/// The Kafka session timeout of the workers the tests start: a worker killed without leaving its
/// group stays a member this long.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// The worker binary as a child process, with the given environment.
pub fn spawn_worker(db: &TestDb, brokers: &str, topic: &str, extra: &[(&str, &str)], args: &[&str]) -> KilledOnDrop {
    let mut command = Command::new(binary());
    command
        .arg("run")
        .args(args)
        .args(["--log-format", "json"])
        .env("DATABASE_URL", &db.url)
        .env("ARTICLE_INGEST__KAFKA__BROKERS", brokers)
        .env("ARTICLE_INGEST__KAFKA__TOPICS", topic)
        .env("ARTICLE_INGEST__KAFKA__SESSION_TIMEOUT_MS", SESSION_TIMEOUT.as_millis().to_string())
        // Several workers run at once: each serves /metrics on a free port of its own.
        .env("ARTICLE_INGEST__OPS__LISTEN", "127.0.0.1:0")
        // E2E_WORKER_LOG=info (say) shows the workers' assignments and batches when a test fails.
        .env("RUST_LOG", std::env::var("E2E_WORKER_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    for (key, value) in extra {
        command.env(key, value);
    }
    KilledOnDrop(command.spawn().expect("worker binary starts"))
}

/// The repo's own sample articles, in the style of the crawler seeds.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles")
}

/// About `words` words of prose that shares no phrase with another seed's.
pub fn distinct_story(seed: u64, words: usize) -> String {
    const VOCABULARY: [&str; 24] = [
        "harbour", "council", "ferry", "storm", "budget", "minister", "village", "river", "school", "bridge", "market",
        "farmers", "police", "court", "museum", "festival", "railway", "hospital", "election", "strike", "mayor",
        "drought", "airport", "station",
    ];
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut sentence = Vec::new();
    let mut out = String::new();
    for i in 0..words {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        sentence.push(VOCABULARY[(state % VOCABULARY.len() as u64) as usize]);
        if sentence.len() == 10 || i + 1 == words {
            out.push_str(&format!("The {} said.\n", sentence.join(" ")));
            sentence.clear();
        }
    }
    out
}

/// A TCP proxy in front of Postgres that a test can stop (the listener closes and every open
/// connection is cut, as when the server goes away) and resume on the same port.
pub struct PgProxy {
    port: u16,
    upstream: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// Bumped by `freeze`: each connection open then stops passing bytes.
    freezes: tokio::sync::watch::Sender<u64>,
}

impl PgProxy {
    pub async fn start() -> PgProxy {
        let admin = url::Url::parse(&admin_url()).unwrap();
        let upstream = format!("{}:{}", admin.host_str().unwrap_or("127.0.0.1"), admin.port().unwrap_or(5432));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = PgProxy { port, upstream, tasks: Default::default(), freezes: tokio::sync::watch::Sender::new(0) };
        proxy.accept_on(listener);
        proxy
    }

    /// `database_url` with its host and port replaced by the proxy's.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(self.port)).unwrap();
        url.to_string()
    }

    pub async fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Every connection open now stops passing bytes, both ways, and stays open: a network gone
    /// silent, as when a peer vanishes without a reset. Connections made later pass as usual.
    pub fn freeze(&self) {
        self.freezes.send_modify(|freezes| *freezes += 1);
    }

    pub async fn resume(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.accept_on(listener);
    }

    fn accept_on(&self, listener: tokio::net::TcpListener) {
        let (upstream, tasks, freezes) = (self.upstream.clone(), self.tasks.clone(), self.freezes.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut frozen = freezes.subscribe();
                frozen.mark_unchanged();
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            // Both sockets stay open, silent, until the proxy stops.
                            _ = frozen.changed() => std::future::pending::<()>().await,
                        }
                    }
                });
                tasks.lock().unwrap().push(connection);
            }
        });
        self.tasks.lock().unwrap().push(accepting);
    }
}

/// GET `url` (plain HTTP on loopback): the status and the body.
pub async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = url.strip_prefix("http://").unwrap();
    let (host, path) = url.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A worker running in this process until `stop`, reporting to the `Ops` it was given.
pub struct InProcessWorker {
    pub ops: std::sync::Arc<article_ingest::ops::Ops>,
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<article_ingest::worker::RunSummary>>,
}

impl InProcessWorker {
    pub fn start(settings: &Settings, sink: PgSink, ops: std::sync::Arc<article_ingest::ops::Ops>) -> Self {
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = article_ingest::worker::StopWhen { shutdown: shutdown.clone(), idle_for: None };
        let settings = settings.clone();
        let reporting = ops.clone();
        let task =
            tokio::spawn(async move { article_ingest::worker::run_observed(&settings, sink, stop, reporting).await });
        InProcessWorker { ops, shutdown, task }
    }

    /// Asks it to stop (it writes the batch in hand) and returns what it wrote.
    pub async fn stop(self) -> article_ingest::worker::RunSummary {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(60), self.task).await.unwrap().unwrap().unwrap()
    }
}
