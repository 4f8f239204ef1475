//! A bounded memo of values by text, kept per thread: what the cleaner read off a line on its own
//! (`LineAnalysis`) is read again when the same line comes back. Pages of one site repeat its menus,
//! share bars and footers line for line, and wire copies repeat whole paragraphs: a third of
//! wcxb-dev's non-blank crawled lines repeat one met earlier, on any page.
//!
//! Two generations, as `sink::near::HeldBands`: when the newer holds `budget` bytes of text, the
//! older is dropped and the newer takes its place, so lines met recently stay and memory stays flat.
//! A hit in the older generation moves the line into the newer one.

use std::rc::Rc;

use foldhash::HashMap;

/// What an entry costs beside its key's bytes: its key twice more (the value holds the line and its
/// lowercase form), the map's slot and the value's allocation.
const BYTES_PER_KEY_BYTE: usize = 3;
const ENTRY_OVERHEAD: usize = 160;

pub(super) struct Memo<V> {
    newer: HashMap<Box<str>, Rc<V>>,
    older: HashMap<Box<str>, Rc<V>>,
    newer_bytes: usize,
    /// Bytes of one generation, as `cost` counts them.
    budget: usize,
}

impl<V> Memo<V> {
    pub(super) fn new(budget: usize) -> Self {
        Memo { newer: HashMap::default(), older: HashMap::default(), newer_bytes: 0, budget }
    }

    /// The value remembered for `key`, else the one `make` gives, remembered.
    pub(super) fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> Rc<V> {
        if let Some(value) = self.newer.get(key) {
            return value.clone();
        }
        let value = match self.older.remove_entry(key) {
            Some((_, value)) => value,
            None => Rc::new(make()),
        };
        self.insert(key, value.clone());
        value
    }

    fn insert(&mut self, key: &str, value: Rc<V>) {
        let cost = cost(key);
        if self.newer_bytes + cost > self.budget {
            self.older = std::mem::take(&mut self.newer);
            self.newer_bytes = 0;
        }
        self.newer_bytes += cost;
        self.newer.insert(key.into(), value);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

fn cost(key: &str) -> usize {
    key.len() * BYTES_PER_KEY_BYTE + ENTRY_OVERHEAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_met_again_is_not_made_again() {
        let mut memo = Memo::new(10_000);
        let mut made = 0;
        for text in ["Home", "World", "Home", "Home", "World"] {
            memo.get_or_insert_with(text, || {
                made += 1;
                text.len()
            });
        }
        assert_eq!(made, 2);
    }

    #[test]
    fn the_memo_keeps_at_most_two_generations_and_the_recent_lines() {
        let budget = 10 * cost("line 00");
        let mut memo = Memo::new(budget);
        for i in 0..100 {
            memo.get_or_insert_with(&format!("line {i:02}"), || i);
        }
        assert!(memo.len() <= 20, "{} entries kept", memo.len());
        let mut made_again = false;
        memo.get_or_insert_with("line 99", || {
            made_again = true;
            0
        });
        assert!(!made_again, "the most recent line was forgotten");
        memo.get_or_insert_with("line 00", || {
            made_again = true;
            0
        });
        assert!(made_again, "the oldest line was kept");
    }

    #[test]
    fn a_line_read_from_the_older_generation_survives_the_next_turn() {
        let budget = 3 * cost("a");
        let mut memo = Memo::new(budget);
        for key in ["a", "b", "c", "d"] {
            memo.get_or_insert_with(key, || 0);
        }
        // "a" is in the older generation now; reading it moves it into the newer.
        memo.get_or_insert_with("a", || 1);
        // Without the move, these three turn the generations once more and forget "a".
        for key in ["e", "f", "g"] {
            memo.get_or_insert_with(key, || 0);
        }
        let mut made_again = false;
        memo.get_or_insert_with("a", || {
            made_again = true;
            1
        });
        assert!(!made_again);
    }
}
