//! Operating the worker: metrics, health and readiness, served over HTTP.
//!
//! The worker and the consumer report what happens as typed events (`events`); each event logs
//! itself and moves the metrics it concerns, so a figure on a dashboard and a log line never
//! disagree about what a batch did.

pub mod events;
pub mod metrics;
pub mod server;

use std::sync::atomic::{AtomicBool, Ordering};

pub use metrics::Metrics;

/// What `/metrics`, `/healthz` and `/readyz` report, shared by the worker, its consumer thread and
/// the HTTP listener.
#[derive(Default)]
pub struct Ops {
    pub metrics: Metrics,
    pub readiness: Readiness,
}

/// The parts of readiness the worker knows; Postgres is asked at each probe.
#[derive(Default)]
pub struct Readiness {
    /// A broker connection is up (librdkafka statistics; cleared when all brokers are down).
    kafka_connected: AtomicBool,
    /// The group gave this member an assignment (possibly empty: a standby member beyond the
    /// partition count is ready to take over).
    assigned: AtomicBool,
}

impl Readiness {
    pub fn set_kafka_connected(&self, connected: bool) {
        self.kafka_connected.store(connected, Ordering::Relaxed);
    }

    pub fn set_assigned(&self, assigned: bool) {
        self.assigned.store(assigned, Ordering::Relaxed);
    }

    pub fn kafka_connected(&self) -> bool {
        self.kafka_connected.load(Ordering::Relaxed)
    }

    pub fn assigned(&self) -> bool {
        self.assigned.load(Ordering::Relaxed)
    }
}

/// librdkafka broker states that mean a usable connection.
pub fn broker_state_is_up(state: &str) -> bool {
    state == "UP"
}
