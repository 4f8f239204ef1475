//! The HTTP listener: `/metrics` (OpenMetrics text), `/healthz` (the process answers) and
//! `/readyz` (connected to Kafka and Postgres, assignment received). axum, because it is the
//! well-kept tokio-native server with the smallest surface for three GET routes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Ops;

/// How long `/readyz` waits for Postgres to answer before calling it down.
const DATABASE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Shared {
    ops: Arc<Ops>,
    /// The database readiness depends on; `None` where the command writes to none.
    database: Option<PgPool>,
    /// Whether readiness needs a Kafka assignment (the worker) or not (offline commands).
    needs_kafka: bool,
}

/// What a listener serves.
pub struct Served {
    pub ops: Arc<Ops>,
    pub database: Option<PgPool>,
    pub needs_kafka: bool,
}

/// Binds `listen` and serves until `shutdown`. Returns the bound address (port 0 picks one).
pub async fn serve(listen: &str, served: Served, shutdown: CancellationToken) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let shared = Shared { ops: served.ops, database: served.database, needs_kafka: served.needs_kafka };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(shared);
    info!(%address, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(error) = server.await {
            warn!(%error, "the metrics listener stopped");
        }
    });
    Ok(address)
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        shared.ops.metrics.render(),
    )
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    let mut problems = Vec::new();
    if shared.needs_kafka {
        if !shared.ops.readiness.kafka_connected() {
            problems.push("kafka: no broker connection");
        }
        if !shared.ops.readiness.assigned() {
            problems.push("kafka: no assignment from the consumer group yet");
        }
    }
    if let Some(pool) = &shared.database
        && !database_answers(pool).await
    {
        problems.push("postgres: not answering");
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", problems.join("; ")))
    }
}

async fn database_answers(pool: &PgPool) -> bool {
    let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    matches!(tokio::time::timeout(DATABASE_PROBE_TIMEOUT, probe).await, Ok(Ok(1)))
}
