//! Vacuuming the tables the sink rewrites all the time, when Postgres's own autovacuum is off.
//!
//! `site_lines` has about 16 rows updated or deleted for each new article, `stories` a row for each
//! story an article joins, `sites` and `kafka_offsets` rows for each batch. Postgres reclaims the old
//! row versions in autovacuum; on a server where that is turned off (some test and CI servers are set
//! up so, this machine's among them) they pile up — 1.1 million dead rows beside 0.19 million live ones
//! in `site_lines` after 150,000 articles — and every later update and delete wades through them. The
//! worker then vacuums these tables itself every `database.vacuum_interval_secs`, one worker at a time.

use std::time::Duration;

use sqlx::{Connection, Executor, PgPool};
use tokio_util::sync::CancellationToken;

use super::SinkError;

/// The tables whose rows the sink updates or deletes as the stream goes on.
const CHURNED_TABLES: &str = "site_lines, sites, stories, kafka_offsets";

/// Session advisory lock held by the worker vacuuming ("vacuum" in ASCII), so two workers never
/// queue behind each other's VACUUM (which takes a lock that conflicts with itself).
pub const VACUUM_LOCK: i64 = 0x7661_6375_756d;

/// Whether Postgres's autovacuum launcher is on.
pub async fn autovacuum_is_on(pool: &PgPool) -> Result<bool, SinkError> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('autovacuum')").fetch_one(pool).await?;
    Ok(setting == "on")
}

/// Vacuums and analyzes the churned tables, unless another worker is doing it; returns whether this
/// call did. It runs on a connection taken out of the pool and closed after, so neither the advisory
/// lock nor the lifted statement timeout outlives it, whatever fails half-way.
pub async fn vacuum_churned_tables(pool: &PgPool) -> Result<bool, SinkError> {
    let mut connection = pool.acquire().await?.detach();
    let locked: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(VACUUM_LOCK).fetch_one(&mut connection).await?;
    if locked {
        // VACUUM cannot run inside a transaction block: the simple protocol sends it on its own.
        let vacuum = format!("VACUUM (ANALYZE) {CHURNED_TABLES}");
        connection.execute(sqlx::raw_sql("SET statement_timeout = 0")).await?;
        connection.execute(sqlx::raw_sql(&vacuum)).await?;
    }
    connection.close().await?;
    Ok(locked)
}

/// Until `shutdown`, vacuums the churned tables every `every` when autovacuum is off; returns at
/// once when it is on. Failures are logged and tried again next time: vacuuming is upkeep, never a
/// reason to stop the stream.
pub async fn vacuum_while_autovacuum_is_off(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    match autovacuum_is_on(&pool).await {
        Ok(true) => return,
        Ok(false) => tracing::warn!(
            every_secs = every.as_secs(),
            tables = CHURNED_TABLES,
            "Postgres autovacuum is off: the worker vacuums the tables it churns itself"
        ),
        Err(error) => tracing::warn!(%error, "could not read whether autovacuum is on; the worker vacuums itself"),
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => match vacuum_churned_tables(&pool).await {
                Ok(true) => tracing::debug!(tables = CHURNED_TABLES, "vacuumed"),
                Ok(false) => tracing::debug!("another worker is vacuuming"),
                Err(error) => tracing::warn!(%error, "vacuum failed; trying again next time"),
            },
        }
    }
}
