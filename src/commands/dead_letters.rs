//! `dead-letters list|retry`: what could not become an article, and another try after a fix.

use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};

use crate::article::Origin;
use crate::cli::{DeadLetterFilter, DeadLettersCommand};
use crate::input::kafka::KafkaMessage;
use crate::settings::Settings;
use crate::stages::Pipeline;
use crate::worker::{stage_messages, template_cache, with_rules};

pub async fn execute(settings: &Settings, command: &DeadLettersCommand) -> anyhow::Result<()> {
    match command {
        DeadLettersCommand::List(filter) => list(settings, filter).await,
        DeadLettersCommand::Retry { filter, dry_run } => retry(settings, filter, *dry_run).await,
    }
}

/// Dead letters matching `--reason`: the kind exactly, or the reason containing the text.
const MATCHING: &str = "($1::text IS NULL OR kind = $1 OR reason ILIKE '%' || $1 || '%')";

async fn list(settings: &Settings, filter: &DeadLetterFilter) -> anyhow::Result<()> {
    let sink = super::sink(settings).await?;
    let rows = sqlx::query(&format!(
        "SELECT id, topic, kafka_partition, kafka_offset, kind, reason, octet_length(payload), created_at
         FROM dead_letters WHERE {MATCHING} ORDER BY id LIMIT $2"
    ))
    .bind(&filter.reason)
    .bind(filter.limit)
    .fetch_all(sink.pool())
    .await
    .context("reading dead letters")?;
    println!(
        "{:>8}  {:<28}  {:<20}  {:>9}  {:<16}  reason",
        "id", "topic[partition]@offset", "stored", "bytes", "kind"
    );
    for row in &rows {
        let place = format!("{}[{}]@{}", row.get::<String, _>(1), row.get::<i32, _>(2), row.get::<i64, _>(3));
        let stored: DateTime<Utc> = row.get(7);
        println!(
            "{:>8}  {:<28}  {:<20}  {:>9}  {:<16}  {}",
            row.get::<i64, _>(0),
            place,
            stored.format("%Y-%m-%d %H:%M:%S"),
            row.get::<i32, _>(6),
            row.get::<String, _>(4),
            row.get::<String, _>(5),
        );
    }
    let counts = sqlx::query(&format!(
        "SELECT kind, count(*) FROM dead_letters WHERE {MATCHING} GROUP BY kind ORDER BY count(*) DESC, kind"
    ))
    .bind(&filter.reason)
    .fetch_all(sink.pool())
    .await?;
    let counts: Vec<String> =
        counts.iter().map(|r| format!("{} {}", r.get::<String, _>(0), r.get::<i64, _>(1))).collect();
    println!(
        "{} shown; matching by kind: {}",
        rows.len(),
        if counts.is_empty() { "none".into() } else { counts.join(", ") }
    );
    Ok(())
}

/// Retries matching dead letters a batch at a time, oldest first. Each batch is one transaction:
/// the articles it makes are stored and their dead letters removed together.
async fn retry(settings: &Settings, filter: &DeadLetterFilter, dry_run: bool) -> anyhow::Result<()> {
    let mut sink = with_rules(super::sink(settings).await?, settings);
    if dry_run {
        sink = sink.rolling_back();
    }
    let pipeline = Arc::new(Pipeline::with_dedup(settings.dedup.enabled));
    let mut templates = template_cache(&settings.templates);
    let page = settings.worker.batch_max_rows.max(1) as i64;
    let (mut after_id, mut left) = (0i64, filter.limit);
    let (mut tried, mut recovered, mut still_dead) = (0u64, 0u64, 0u64);
    while left > 0 {
        let (messages, last_id) = load_page(sink.pool(), filter, after_id, page.min(left)).await?;
        let Some(last_id) = last_id else { break };
        after_id = last_id;
        left -= messages.len() as i64;
        tried += messages.len() as u64;
        let max_bytes = settings.worker.max_message_bytes;
        let mut batch = stage_messages(pipeline.clone(), sink.pool(), &mut templates, messages, max_bytes).await?;
        batch.retired_dead_letters = batch.articles.iter().map(|(_, origin)| origin.clone()).collect();
        let report = sink.write_batch(&mut batch).await.context("storing the retried batch")?;
        recovered += batch.articles.len() as u64;
        still_dead += report.dead_letters as u64;
    }
    let verb = if dry_run { "would become" } else { "became" };
    tracing::info!(tried, recovered, still_dead, dry_run, "dead letters retried");
    println!("retried {tried} dead letters: {recovered} {verb} articles, {still_dead} still dead letters");
    if dry_run {
        println!("dry run: nothing was stored or removed");
    }
    Ok(())
}

async fn load_page(
    pool: &PgPool,
    filter: &DeadLetterFilter,
    after_id: i64,
    limit: i64,
) -> anyhow::Result<(Vec<KafkaMessage>, Option<i64>)> {
    let rows = sqlx::query(&format!(
        "SELECT id, topic, kafka_partition, kafka_offset, key, payload FROM dead_letters
         WHERE id > $2 AND {MATCHING} ORDER BY id LIMIT $3"
    ))
    .bind(&filter.reason)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
    .context("reading dead letters")?;
    let last_id = rows.last().map(|row| row.get::<i64, _>(0));
    let messages = rows
        .into_iter()
        .map(|row| KafkaMessage {
            origin: Origin { topic: row.get(1), partition: row.get(2), offset: row.get(3) },
            key: row.get(4),
            payload: row.get(5),
        })
        .collect();
    Ok((messages, last_id))
}
