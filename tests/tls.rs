//! TLS to Postgres: a throwaway server with a certificate generated for the test (openssl), the
//! sink connecting with `sslmode=verify-full` and the CA as `sslrootcert`, and refusing a server
//! it cannot verify. The Kafka side: librdkafka is built with TLS and SASL/SCRAM.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use article_ingest::settings::Settings;
use article_ingest::sink::PgSink;
use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;

/// The newest installed PostgreSQL server binaries (Debian's layout), if any.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> =
        std::fs::read_dir("/usr/lib/postgresql").ok()?.map(|e| e.unwrap().path()).collect();
    versions.sort();
    versions.pop().map(|v| v.join("bin")).filter(|bin| bin.join("initdb").exists())
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// `command` as the `postgres` user when running as root (the server refuses to run as root).
fn as_server_owner(program: &Path) -> Command {
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A self-signed CA (`ca.crt`), a server certificate for localhost signed by it, and an unrelated
/// CA (`other.crt`) whose trust must not be enough.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| run(Command::new("openssl").args(args).current_dir(dir));
    let self_signed_ca = |name: &str| {
        let (subject, key, cert) = (format!("/CN={name}"), format!("{name}.key"), format!("{name}.crt"));
        openssl(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject, "-keyout", &key, "-out",
            &cert,
        ]);
    };
    self_signed_ca("ca");
    self_signed_ca("other");
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ]);
}

struct TlsPostgres {
    server: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for TlsPostgres {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn start_tls_postgres(bin: &Path) -> TlsPostgres {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    make_certificates(dir.path());
    if running_as_root() {
        run(Command::new("chown").args(["-R", "postgres"]).arg(dir.path()));
        run(Command::new("chmod").arg("755").arg(dir.path()));
    }
    run(as_server_owner(&bin.join("initdb")).arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
    ]));
    // Only TLS connections over TCP are accepted: a plaintext attempt is refused by pg_hba.
    std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n").unwrap();
    let port = common::free_port();
    let server = as_server_owner(&bin.join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "ssl=on"])
        .arg("-k")
        .arg(dir.path())
        .arg("-c")
        .arg(format!("ssl_cert_file={}", dir.path().join("server.crt").display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", dir.path().join("server.key").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "the TLS server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    TlsPostgres { server, port, dir }
}

fn settings(url: &str) -> Settings {
    common::settings_for(url, "unused:9092", &["unused"])
}

#[tokio::test]
async fn the_sink_writes_over_verified_tls_and_refuses_a_server_it_cannot_verify() {
    let Some(bin) = postgres_bin() else {
        eprintln!("no PostgreSQL server binaries under /usr/lib/postgresql: nothing to start here");
        return;
    };
    let server = start_tls_postgres(&bin);
    let ca = server.dir.path().join("ca.crt");
    let verified = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port,
        ca.display()
    );
    let sink = PgSink::connect(&settings(&verified).database, "g").await.unwrap();
    sink.migrate().await.expect("migrations over TLS");
    let encrypted: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(sink.pool())
        .await
        .unwrap();
    assert!(encrypted, "the session is encrypted");

    let other = server.dir.path().join("other.crt");
    let wrong_ca = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        server.port,
        other.display()
    );
    let untrusted = PgSink::connect(&settings(&wrong_ca).database, "g").await.unwrap();
    assert!(untrusted.migrate().await.is_err(), "a certificate from another CA is refused");

    let plaintext = format!("postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable", server.port);
    let refused = PgSink::connect(&settings(&plaintext).database, "g").await.unwrap();
    assert!(refused.migrate().await.is_err(), "the server takes no plaintext connection");
}

#[test]
fn librdkafka_is_built_with_tls_and_sasl_scram() {
    let consumer: Result<BaseConsumer, _> = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .set("group.id", "tls-check")
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", "ingest")
        .set("sasl.password", "secret")
        .create();
    assert!(consumer.is_ok(), "SASL_SSL with SCRAM is available: {:?}", consumer.err());
}

/// `url` as another user.
fn as_user(url: &str, user: &str) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_username(user).unwrap();
    url.to_string()
}

#[tokio::test]
async fn the_least_privilege_roles_let_the_migrator_change_the_schema_and_the_worker_only_its_rows() {
    let db = common::TestDb::unmigrated().await;
    let suffix = db.name.trim_start_matches("ai_test_");
    let (migrator, worker) = (format!("ai_migrator_{suffix}"), format!("ai_worker_{suffix}"));
    let roles = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/postgres/roles.sql");
    run(Command::new("psql")
        .args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", &db.url])
        .args(["-v", &format!("migrator={migrator}"), "-v", &format!("worker={worker}")])
        .args(["-v", "migrator_password=m", "-v", "worker_password=w", "--file"])
        .arg(&roles));

    PgSink::connect(&settings(&as_user(&db.url, &migrator)).database, "g").await.unwrap().migrate().await.unwrap();
    let worker_sink = PgSink::connect(&settings(&as_user(&db.url, &worker)).database, "g").await.unwrap();
    let mut batch = article_ingest::sink::Batch::default();
    let raw = article_ingest::article::RawArticle::new(
        "roles-1",
        article_ingest::article::Content::Text(format!("Report\n{}", common::distinct_story(7, 60))),
    );
    let article = article_ingest::stages::Pipeline::default().run(raw, None).unwrap();
    batch.articles.push((article, article_ingest::article::Origin { topic: "t".into(), partition: 0, offset: 0 }));
    batch.dead_letters.push(article_ingest::article::DeadLetter {
        origin: article_ingest::article::Origin { topic: "t".into(), partition: 0, offset: 1 },
        key: None,
        payload: b"{".to_vec(),
        kind: "broken_json",
        reason: "broken JSON envelope: EOF".into(),
    });
    let report = worker_sink.write_batch(&mut batch).await.expect("the worker role writes rows");
    assert_eq!((report.inserted, report.dead_letters), (1, 1));
    for ddl in ["DROP TABLE articles", "CREATE TABLE intruder (x int)", "ALTER TABLE articles ADD COLUMN x int"] {
        let denied = sqlx::query(ddl).execute(worker_sink.pool()).await.unwrap_err().to_string();
        assert!(denied.contains("permission denied") || denied.contains("must be owner"), "{ddl}: {denied}");
    }
    drop(worker_sink);
    drop(db);
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&common::admin_url()).await.unwrap();
    // The database is dropped (TestDb's Drop) before the roles that owned objects in it can go.
    for _ in 0..50 {
        let dropped = sqlx::query(&format!("DROP ROLE IF EXISTS {migrator}")).execute(&mut admin).await;
        if dropped.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query(&format!("DROP ROLE IF EXISTS {worker}")).execute(&mut admin).await.unwrap();
}
