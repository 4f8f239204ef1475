//! The ceiling: how fast Postgres itself takes the rows the worker wrote. Every table of the run's
//! database is copied out (binary COPY) in as many parts as there are COPY sessions, and then copied
//! into a freshly migrated database — the same schema, the same indexes — by those sessions at once,
//! table after table; only the copying in is timed, once the server has settled (`settle`). One
//! session per core: the worker's sink writes from several sessions, and a single COPY left the
//! second core idle, so the worker outran its "ceiling" (worker / ceiling 1.05 on a 2-core VM).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use futures_util::future::try_join_all;
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Ceiling {
    pub elapsed: Duration,
    pub bytes: u64,
    /// COPY sessions that loaded each table at once.
    pub sessions: usize,
    /// (table, rows, time to copy in) in the order copied.
    pub tables: Vec<(String, u64, Duration)>,
}

/// One COPY session per core.
pub fn sessions() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Copies every table of `source` into `target` (already migrated, empty) over `sessions`
/// connections at once, timing the copy in.
pub async fn measure(source: &str, target: &str, scratch: &Path, sessions: usize) -> anyhow::Result<Ceiling> {
    let sessions = sessions.max(1);
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
    let part_path = |table: &str, part: usize| scratch.join(format!("{table}.{part}.copy"));
    let mut bytes = 0;
    for table in &tables {
        let columns = stored_columns(&mut from, table).await?;
        for part in 0..sessions {
            bytes += copy_out(&mut from, (table, &columns), (part, sessions), &part_path(table, part)).await?;
        }
    }
    let mut connections = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        connections.push(PgConnection::connect(target).await?);
    }
    settle(&mut connections[0]).await?;
    let started = Instant::now();
    let mut counts = Vec::new();
    for table in &tables {
        let table_started = Instant::now();
        let parts = connections.iter_mut().enumerate().map(|(part, to)| copy_in(to, table, part_path(table, part)));
        let rows: u64 = try_join_all(parts).await?.into_iter().sum();
        counts.push((table.clone(), rows, table_started.elapsed()));
    }
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(scratch)?;
    Ok(Ceiling { elapsed, bytes, sessions, tables: counts })
}

/// Lets the server finish the work the worker's run left it before the copy in is timed:
/// autovacuum's workers finish with the run's tables (up to 5 minutes), then a checkpoint writes
/// the dirty buffers (and restarts the checkpoint timer, so no timed checkpoint falls inside the
/// copy). Otherwise whatever of the run's upkeep is still going shares the two cores and the disk
/// with the COPY.
async fn settle(connection: &mut PgConnection) -> anyhow::Result<()> {
    let patience = Instant::now();
    while patience.elapsed() < Duration::from_secs(300) {
        let vacuuming: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
                .fetch_one(&mut *connection)
                .await?;
        if vacuuming == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sqlx::query("CHECKPOINT").execute(&mut *connection).await?;
    Ok(())
}

/// `table`'s columns as a select list, generated ones left out, as a plain `COPY table TO` leaves
/// them (and `COPY table FROM` expects).
async fn stored_columns(conn: &mut PgConnection, table: &str) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar(
        "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'",
    )
    .bind(table)
    .fetch_one(conn)
    .await?)
}

/// Copies out part `part` of `parts` of `table` (its `columns`): the rows of every `parts`-th heap
/// page, so each part keeps the table's own order and the parts are about the same size.
async fn copy_out(
    conn: &mut PgConnection,
    (table, columns): (&str, &str),
    (part, parts): (usize, usize),
    path: &Path,
) -> anyhow::Result<u64> {
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::create(path).await?);
    let query = format!(
        "COPY (SELECT {columns} FROM {table} WHERE (ctid::text::point)[0]::bigint % {parts} = {part}) TO STDOUT (FORMAT binary)"
    );
    let mut stream = conn.copy_out_raw(&query).await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.try_next().await? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(bytes)
}

async fn copy_in(conn: &mut PgConnection, table: &str, path: PathBuf) -> anyhow::Result<u64> {
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
