use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::RunArgs;
use crate::settings::{Settings, redact_url};
use crate::worker::{self, StopWhen};

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<()> {
    let sink = super::sink(settings).await?;
    if settings.database.migrate_on_start && !args.no_migrate {
        sink.migrate().await.context("applying migrations")?;
    }
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        on_signal.cancel();
    });
    info!(
        brokers = %settings.kafka.brokers,
        topics = ?settings.kafka.topics,
        group = %settings.kafka.group_id,
        database = %redact_url(&settings.database.url),
        "worker starting"
    );
    let stop = StopWhen { shutdown, idle_for: args.exit_on_idle.map(Duration::from_secs) };
    let summary = worker::run(settings, sink, stop).await?;
    info!(
        messages = summary.messages,
        batches = summary.batches,
        inserted = summary.inserted,
        updated = summary.updated,
        exact_duplicates = summary.exact_duplicates,
        near_duplicates = summary.near_duplicates,
        dead_letters = summary.dead_letters,
        "worker stopped"
    );
    Ok(())
}
