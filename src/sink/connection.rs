//! A pool connection that is closed, not handed back to the pool, when the work using it is dropped
//! half-way: a batch write given up after `database.transaction_timeout_ms`, or a task cancelled.
//!
//! sqlx hands a dropped connection back to its pool after a ping. A connection dropped in the middle
//! of a statement is in an unknown state, and when the network under it has gone silent (a peer that
//! vanished without a reset) that ping waits as long as TCP does, minutes to hours, holding a pool
//! slot all along. Closing it instead frees the slot at once, and Postgres rolls back whatever the
//! connection's transaction held.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool};

use super::SinkError;

/// How long a lookup outside a batch (stored positions, a site's templates) may take: as long as
/// sqlx may wait for a connection. A silent network must not hold a rebalance or the stream.
pub(super) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `work` on a connection of `pool`, giving up after `limit` (when there is one): then the
/// connection is closed and the answer is `SinkError::TimedOut`.
pub(super) async fn on_connection<T>(
    pool: &PgPool,
    limit: Option<Duration>,
    work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, SinkError>,
) -> Result<T, SinkError> {
    let attempt = async {
        let mut connection = ClosedIfAbandoned::acquire(pool).await?;
        let done = work(&mut connection).await;
        connection.release();
        done
    };
    match limit {
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or(Err(SinkError::TimedOut { after: limit, during: None })),
        None => attempt.await,
    }
}

/// A connection from the pool, closed on drop unless `release` was called: reach `release` only
/// after the work on the connection ran to its end, successful or not.
struct ClosedIfAbandoned {
    connection: PoolConnection<Postgres>,
    released: bool,
}

impl ClosedIfAbandoned {
    async fn acquire(pool: &PgPool) -> Result<Self, sqlx::Error> {
        Ok(ClosedIfAbandoned { connection: pool.acquire().await?, released: false })
    }

    /// The work ran to its end: the connection goes back to the pool as usual.
    fn release(mut self) {
        self.released = true;
    }
}

impl Deref for ClosedIfAbandoned {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for ClosedIfAbandoned {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

impl Drop for ClosedIfAbandoned {
    fn drop(&mut self) {
        if !self.released {
            // PoolConnection's own drop runs next and closes it (within 5 s, then hard).
            self.connection.close_on_drop();
        }
    }
}
