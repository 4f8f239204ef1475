//! A Tansu broker (a Kafka-protocol broker, in memory) on a free loopback port, stopped when
//! dropped. Shared by the end-to-end tests and the end-to-end benchmark; `make test` and
//! `make bench` build Tansu and set TANSU_BIN.

use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// `process.rs`, loaded once per crate by its root: the benchmark's, or the tests' `common`.
use crate::process::KilledOnDrop;

pub fn tool(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run this through `make test` or `make bench`"))
}

pub struct Tansu {
    child: KilledOnDrop,
    port: u16,
}

impl Tansu {
    pub fn start() -> Tansu {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(tool("TANSU_BIN"));
        command
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // TANSU_LOG=FILE keeps the broker's log (filtered by TANSU_RUST_LOG, default: its group
        // coordinator at debug), to see what the broker made of a consumer group that went wrong.
        if let Some(path) = std::env::var_os("TANSU_LOG") {
            let filter =
                std::env::var("TANSU_RUST_LOG").unwrap_or_else(|_| "warn,tansu_broker::coordinator=debug".into());
            let log = std::fs::File::create(path).expect("TANSU_LOG can be written");
            command.stdout(log.try_clone().expect("TANSU_LOG opened twice")).stderr(log).env("RUST_LOG", filter);
        }
        let child = command.spawn().expect("tansu starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu { child: KilledOnDrop(child), port }
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    #[allow(dead_code)] // the benchmark reads its CPU time; the tests do not
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tansu does not create topics on first use.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let status = Command::new(tool("TANSU_BIN"))
            .args(["topic", "create", topic, "--partitions", &partitions.to_string()])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "topic {topic} created");
    }
}
