//! The ceiling: how fast Postgres itself takes the rows the worker wrote. Every table of the run's
//! database is copied out (binary COPY) and then copied into a freshly migrated database — the
//! same schema, the same indexes — and only the copying in is timed.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Ceiling {
    pub elapsed: Duration,
    pub bytes: u64,
    /// (table, rows, time to copy in) in the order copied.
    pub tables: Vec<(String, u64, Duration)>,
}

/// Copies every table of `source` into `target` (already migrated, empty), timing the copy in.
pub async fn measure(source: &str, target: &str, scratch: &Path) -> anyhow::Result<Ceiling> {
    std::fs::create_dir_all(scratch)?;
    let mut from = PgConnection::connect(source).await?;
    // Tables with foreign keys (entities and quotes point at articles) load after the rest.
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT t.table_name::text FROM information_schema.tables t
         WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' AND t.table_name <> '_sqlx_migrations'
         ORDER BY EXISTS (SELECT 1 FROM information_schema.table_constraints c
                          WHERE c.table_schema = 'public' AND c.table_name = t.table_name
                            AND c.constraint_type = 'FOREIGN KEY'), t.table_name",
    )
    .fetch_all(&mut from)
    .await?;
    let mut bytes = 0;
    for table in &tables {
        bytes += copy_out(&mut from, table, &scratch.join(format!("{table}.copy"))).await?;
    }
    let mut to = PgConnection::connect(target).await?;
    let started = Instant::now();
    let mut counts = Vec::new();
    for table in &tables {
        let table_started = Instant::now();
        let rows = copy_in(&mut to, table, &scratch.join(format!("{table}.copy"))).await?;
        counts.push((table.clone(), rows, table_started.elapsed()));
    }
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(scratch)?;
    Ok(Ceiling { elapsed, bytes, tables: counts })
}

async fn copy_out(conn: &mut PgConnection, table: &str, path: &Path) -> anyhow::Result<u64> {
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
    let mut stream = conn.copy_out_raw(&format!("COPY {table} TO STDOUT (FORMAT binary)")).await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(bytes)
}

async fn copy_in(conn: &mut PgConnection, table: &str, path: &Path) -> anyhow::Result<u64> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut copy = conn.copy_in_raw(&format!("COPY {table} FROM STDIN (FORMAT binary)")).await?;
    let mut buffer = vec![0; 1 << 20];
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        copy.send(&buffer[..read]).await?;
    }
    Ok(copy.finish().await?)
}
