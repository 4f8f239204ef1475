use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tracing::info;

use crate::cli::RunArgs;
use crate::ops::Ops;
use crate::ops::server::{self, Served};
use crate::settings::{Settings, redact_url};
use crate::sink::maintenance;
use crate::worker::{self, StopWhen};

pub async fn run(settings: &Settings, args: &RunArgs) -> anyhow::Result<()> {
    let sink = super::sink(settings).await?;
    if settings.database.migrate_on_start && !args.no_migrate {
        sink.migrate().await.context("applying migrations")?;
    }
    let shutdown = super::cancel_on_signal();
    let ops = Arc::new(Ops::default());
    if !settings.ops.listen.is_empty() {
        let served = Served { ops: ops.clone(), database: Some(sink.pool().clone()), needs_kafka: true };
        server::serve(&settings.ops.listen, served, shutdown.clone())
            .await
            .with_context(|| format!("listening on {} (ops.listen)", settings.ops.listen))?;
    }
    info!(
        brokers = %settings.kafka.brokers,
        topics = ?settings.kafka.topics,
        group = %settings.kafka.group_id,
        database = %redact_url(&settings.database.url),
        "worker starting"
    );
    let vacuuming = (settings.database.vacuum_interval_secs > 0).then(|| {
        let every = Duration::from_secs(settings.database.vacuum_interval_secs);
        tokio::spawn(maintenance::vacuum_while_autovacuum_is_off(sink.pool().clone(), every, shutdown.clone()))
    });
    let stop = StopWhen { shutdown, idle_for: args.exit_on_idle.map(Duration::from_secs) };
    let summary = worker::run_observed(settings, sink, stop, ops).await;
    if let Some(task) = vacuuming {
        task.abort();
    }
    let summary = summary?;
    let stage = |name: &str| summary.stage_times.iter().find(|(n, _)| *n == name).map_or(0.0, |(_, d)| d.as_secs_f64());
    let sink = &summary.sink_times;
    info!(
        messages = summary.messages,
        batches = summary.batches,
        inserted = summary.inserted,
        updated = summary.updated,
        unchanged = summary.unchanged,
        exact_duplicates = summary.exact_duplicates,
        near_duplicates = summary.near_duplicates,
        dead_letters = summary.dead_letters,
        decode_secs = summary.decode_time.as_secs_f64(),
        clean_secs = stage("clean"),
        dedup_secs = stage("dedup"),
        metadata_secs = stage("metadata"),
        link_secs = summary.link_time.as_secs_f64(),
        write_secs = summary.write_time.as_secs_f64(),
        sink_positions_secs = sink.positions.as_secs_f64(),
        sink_exact_secs = sink.exact.as_secs_f64(),
        sink_near_secs = sink.near.as_secs_f64(),
        sink_stories_secs = sink.stories.as_secs_f64(),
        sink_articles_secs = sink.articles.as_secs_f64(),
        sink_signatures_secs = sink.signatures.as_secs_f64(),
        sink_templates_secs = sink.templates.as_secs_f64(),
        sink_dead_letters_secs = sink.dead_letters.as_secs_f64(),
        sink_commit_secs = sink.commit.as_secs_f64(),
        "worker stopped"
    );
    Ok(())
}
