//! Turns for concurrent batch writes: a worker's writes run at the same time on separate
//! connections (each row's `search` tsvector and GIN entries, the longest work, then runs on two
//! Postgres backends), but commit in batch order, so every partition's position still advances in
//! order and is checked against the one the batch before left.
//!
//! Each write takes a transaction-scoped advisory lock of its own turn as it begins. Its successor
//! upserts its articles meanwhile, then takes the same lock — Postgres makes it wait until the
//! predecessor's transaction has ended — and only then checks and stores its positions. Because the
//! wait is a Postgres lock, a cycle with a row lock (the same article in both batches) is a
//! deadlock Postgres detects and breaks, never a silent hang. If the predecessor did not commit, the
//! successor finds positions it did not expect; it then waits (holding nothing) to learn whether
//! the predecessor committed on a retry (write again) or was given up (give up too: the worker
//! writes both again in order).

use tokio::sync::watch;

/// Where a write stands, as its successor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TurnState {
    Writing,
    Committed,
    /// Fenced, or given up while stopping; also when the write's task is gone.
    GivenUp,
}

/// Hands out write turns in batch order, each linked to the one before it.
#[derive(Debug)]
pub struct WriteOrder {
    /// Tells this worker's advisory locks from another worker's.
    tag: i32,
    next: i32,
    last: Option<Predecessor>,
}

impl Default for WriteOrder {
    fn default() -> Self {
        WriteOrder { tag: rand_tag(), next: 0, last: None }
    }
}

impl WriteOrder {
    /// The turn of the next batch to be written.
    pub fn next_turn(&mut self) -> WriteTurn {
        let (state, watching) = watch::channel(TurnState::Writing);
        let turn = WriteTurn { tag: self.tag, seq: self.next, state, after: self.last.take() };
        self.last = Some(Predecessor { seq: self.next, state: watching });
        self.next = self.next.wrapping_add(1);
        turn
    }
}

/// A process-wide random tag: two workers sharing a database never wait on each other's turns.
fn rand_tag() -> i32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id()) as i32
}

#[derive(Debug)]
struct Predecessor {
    seq: i32,
    state: watch::Receiver<TurnState>,
}

/// One batch's place in its worker's write order.
#[derive(Debug)]
pub struct WriteTurn {
    tag: i32,
    seq: i32,
    state: watch::Sender<TurnState>,
    after: Option<Predecessor>,
}

impl WriteTurn {
    /// A turn with nothing before it (a write on its own).
    pub fn alone() -> Self {
        WriteOrder::default().next_turn()
    }

    /// The advisory lock key of this turn.
    pub(super) fn key(&self) -> (i32, i32) {
        (self.tag, self.seq)
    }

    /// The advisory lock key of the predecessor's turn, while its write may still be under way.
    pub(super) fn waits_for(&self) -> Option<(i32, i32)> {
        let predecessor = self.after.as_ref()?;
        (*predecessor.state.borrow() == TurnState::Writing).then_some((self.tag, predecessor.seq))
    }

    /// Whether the predecessor is known to have committed (or there is none).
    pub(super) fn predecessor_committed(&self) -> bool {
        self.after.as_ref().is_none_or(|p| *p.state.borrow() == TurnState::Committed)
    }

    /// Waits until the predecessor's write is over; true when it committed.
    pub async fn predecessor_outcome(&mut self) -> bool {
        let Some(predecessor) = self.after.as_mut() else { return true };
        let state = predecessor.state.wait_for(|state| *state != TurnState::Writing).await;
        state.is_ok_and(|state| *state == TurnState::Committed)
    }

    /// This write committed: its successor may commit after it.
    pub fn committed(&self) {
        self.state.send_replace(TurnState::Committed);
    }

    /// This write was given up: its successor must be written again after it.
    pub fn given_up(&self) {
        self.state.send_replace(TurnState::GivenUp);
    }
}

impl Drop for WriteTurn {
    fn drop(&mut self) {
        self.state.send_if_modified(|state| {
            let writing = *state == TurnState::Writing;
            if writing {
                *state = TurnState::GivenUp;
            }
            writing
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_turn_learns_whether_the_one_before_it_committed() {
        let mut order = WriteOrder::default();
        let (first, mut second) = (order.next_turn(), order.next_turn());
        assert_eq!(second.waits_for(), Some((first.tag, first.seq)));
        assert!(!second.predecessor_committed());
        first.committed();
        assert!(second.predecessor_outcome().await);
        assert_eq!(second.waits_for(), None, "nothing left to wait for");
    }

    #[tokio::test]
    async fn a_turn_dropped_unfinished_counts_as_given_up() {
        let mut order = WriteOrder::default();
        let (first, mut second) = (order.next_turn(), order.next_turn());
        drop(first);
        assert!(!second.predecessor_outcome().await);
        assert!(!second.predecessor_committed());
    }
}
