//! What the Postgres server did while the worker drained: its settings that decide how insert cost
//! grows with the tables, its WAL and checkpoint counters, and the blocks the bench database read
//! from outside shared buffers. The WAL and checkpoint counters are the server's, not the
//! database's, so they include anything else running on it (`make bench` owns its server).

use serde_json::{Value, json};
use sqlx::PgPool;

/// The settings the bench's figures depend on, as the server reports them.
pub async fn settings(pool: &PgPool) -> anyhow::Result<Value> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings
         WHERE name IN ('server_version', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout',
                        'wal_compression', 'autovacuum', 'synchronous_commit')
         ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    Ok(Value::Object(rows.into_iter().map(|(name, value)| (name, Value::String(value))).collect()))
}

/// Cumulative WAL and checkpoint counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Counters {
    wal_bytes: f64,
    full_page_images: i64,
    checkpoints: i64,
    backend_writes: i64,
    /// Blocks the database read from the OS (page cache or disk): how often inserting missed
    /// shared buffers, which grows once the indexes outgrow them.
    blocks_read: i64,
}

impl Counters {
    pub async fn read(pool: &PgPool) -> anyhow::Result<Counters> {
        let (wal_bytes, full_page_images, checkpoints, backend_writes, blocks_read): (f64, i64, i64, i64, i64) =
            sqlx::query_as(
                "SELECT w.wal_bytes::float8, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req, b.buffers_backend,
                        d.blks_read
                 FROM pg_stat_wal w, pg_stat_bgwriter b, pg_stat_database d
                 WHERE d.datname = current_database()",
            )
            .fetch_one(pool)
            .await?;
        Ok(Counters { wal_bytes, full_page_images, checkpoints, backend_writes, blocks_read })
    }

    /// What happened between `self` and `later`, per article stored in between.
    pub fn per_article(&self, later: &Counters, articles: u64) -> Value {
        let per = |n: f64| n / articles.max(1) as f64;
        json!({
            "wal_kb": per(later.wal_bytes - self.wal_bytes) / 1024.0,
            "full_page_images": per((later.full_page_images - self.full_page_images) as f64),
            "backend_writes": per((later.backend_writes - self.backend_writes) as f64),
            "blocks_read": per((later.blocks_read - self.blocks_read) as f64),
            "checkpoints": later.checkpoints - self.checkpoints,
        })
    }
}
