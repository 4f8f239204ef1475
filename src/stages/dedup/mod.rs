//! Deduplication. Exact: a hash of the normalised clean body, and the rule that links a later copy
//! to the first article that carried the same body. Near: `near` (MinHash, LSH, containment).
//!
//! The stage itself only computes `content_hash` and the MinHash signature (pure). Which article
//! came first is state: the worker keeps it in Postgres (claimed inside each batch's transaction so
//! every worker and every restart agrees) and `process` keeps it in memory; both go through the same
//! linking functions.

pub mod near;
pub mod stories;

use std::collections::HashMap;

use super::Stage;
use super::text::is_ascii_whitespace;
use crate::article::{Article, DuplicateKind};

/// Computes `content_hash`: BLAKE3 (fast, well-kept, collision-resistant, so equal hashes mean
/// equal bodies) over the body with case, whitespace, quote and dash styles folded; and the body's
/// MinHash signature for near-duplicates.
#[derive(Debug)]
pub struct ContentHasher {
    /// Also the MinHash signature and story terms (off when dedup is off: nothing would read them).
    pub linking: bool,
}

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher { linking: true }
    }
}

impl Stage for ContentHasher {
    fn name(&self) -> &'static str {
        "dedup"
    }

    fn apply(&self, article: &mut Article) {
        article.content_hash = content_hash(&article.body);
        if !self.linking {
            return;
        }
        article.input.signature = near::signature(&article.body);
        let title = article.input.title_hint.as_deref().or(article
            .input
            .html_meta
            .as_ref()
            .and_then(|m| m.headline.as_deref()));
        article.input.story_terms = stories::story_vector(title, &article.body);
    }
}

pub fn content_hash(body: &str) -> String {
    blake3::hash(normalize_for_hash(body).as_bytes()).to_hex().to_string()
}

/// Folds what outlets change when they republish a body without changing its words: spacing,
/// case, and the typography of quotes, dashes and ellipses.
pub fn normalize_for_hash(body: &str) -> String {
    // One pass over the bytes (it runs on every whole body): a run of ASCII that is not
    // whitespace is copied and lowercased in place; only other characters are decoded. Words are
    // joined by one space, as `split_whitespace` and a join would leave them.
    let bytes = body.as_bytes();
    let mut out = String::with_capacity(body.len());
    let mut space_pending = false;
    let mut i = 0;
    while i < bytes.len() {
        let c = if bytes[i].is_ascii() {
            let run =
                bytes[i..].iter().position(|&b| !b.is_ascii() || is_ascii_whitespace(b)).unwrap_or(bytes.len() - i);
            if run == 0 {
                space_pending = true;
                i += 1;
                continue;
            }
            start_word(&mut out, &mut space_pending);
            let start = out.len();
            out.push_str(&body[i..i + run]);
            out[start..].make_ascii_lowercase();
            i += run;
            continue;
        } else {
            body[i..].chars().next().expect("a character starts at every step")
        };
        i += c.len_utf8();
        if c.is_whitespace() {
            space_pending = true;
            continue;
        }
        start_word(&mut out, &mut space_pending);
        push_folded(&mut out, c);
    }
    out
}

/// One character of a word as the hash reads it: lowercase, with one form for each quote, dash
/// and ellipsis style.
fn push_folded(out: &mut String, c: char) {
    match c {
        c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
        '‘' | '’' | '‚' | '‛' | '′' | '´' => out.push('\''),
        '“' | '”' | '„' | '‟' | '″' | '«' | '»' => out.push('"'),
        '‐' | '‑' | '‒' | '–' | '—' | '―' | '−' => out.push('-'),
        '…' => out.push_str("..."),
        c => out.extend(c.to_lowercase()),
    }
}

/// The space before a word, when a word came before it and whitespace between them.
fn start_word(out: &mut String, space_pending: &mut bool) {
    if std::mem::take(space_pending) && !out.is_empty() {
        out.push(' ');
    }
}

/// An article with no text left after cleaning is not a copy of anything.
pub fn is_dedup_candidate(article: &Article) -> bool {
    !article.body.trim().is_empty()
}

/// Who first carried each content hash.
pub trait ExactIndex {
    /// Records `id` as the holder of `hash` unless an earlier article holds it; returns the holder.
    fn claim(&mut self, hash: &str, id: &str) -> String;
}

/// The in-memory index `process` uses.
#[derive(Debug, Default)]
pub struct MemoryExactIndex {
    first_holder: HashMap<String, String>,
}

impl ExactIndex for MemoryExactIndex {
    fn claim(&mut self, hash: &str, id: &str) -> String {
        self.first_holder.entry(hash.to_owned()).or_insert_with(|| id.to_owned()).clone()
    }
}

/// Links an article to the canonical holder of its body; an article is never a copy of itself, so
/// a replay of the first copy stays canonical.
pub fn link_to_canonical(article: &mut Article, canonical_id: &str) {
    if canonical_id != article.id {
        article.duplicate_of = Some(canonical_id.to_owned());
        article.duplicate_kind = Some(DuplicateKind::Exact);
        article.similarity = Some(1.0);
    } else if article.duplicate_kind == Some(DuplicateKind::Exact) {
        article.duplicate_of = None;
        article.duplicate_kind = None;
        article.similarity = None;
    }
}

/// Resolves exact copies of articles in arrival order against an index; returns how many are copies.
pub fn link_exact_copies<'a>(
    articles: impl IntoIterator<Item = &'a mut Article>,
    index: &mut impl ExactIndex,
) -> usize {
    let mut copies = 0;
    for article in articles.into_iter().filter(|a| is_dedup_candidate(a)) {
        let canonical = index.claim(&article.content_hash, &article.id);
        link_to_canonical(article, &canonical);
        copies += usize::from(article.duplicate_of.is_some());
    }
    copies
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::{Content, RawArticle};

    /// The definition the byte pass must agree with: words split on whitespace, each character
    /// folded, the words joined by one space.
    fn normalized_word_by_word(body: &str) -> String {
        let fold = |word: &str| {
            let mut folded = String::new();
            word.chars().for_each(|c| push_folded(&mut folded, c));
            folded
        };
        body.split_whitespace().map(fold).collect::<Vec<_>>().join(" ")
    }

    proptest::proptest! {
        #[test]
        fn bodies_are_folded_as_word_by_word(body in "[a-zA-Z0-9 .,\n\t\u{a0}\u{2009}\u{3000}’“”—…ÀΣß`]{0,80}") {
            proptest::prop_assert_eq!(normalize_for_hash(&body), normalized_word_by_word(&body));
        }
    }

    fn article(id: &str, body: &str) -> Article {
        let mut article = Article::from_raw(RawArticle::new(id, Content::Text(body.into())));
        ContentHasher::default().apply(&mut article);
        article
    }

    #[test]
    fn case_whitespace_quote_and_dash_styles_do_not_change_the_hash() {
        assert_eq!(
            content_hash("Peskov said ‘Moscow is continuing’ – today.\n\nIt   ended."),
            content_hash("peskov said 'Moscow is continuing' - today. It ended.")
        );
        assert_ne!(content_hash("It ended."), content_hash("It ended today."));
    }

    #[test]
    fn a_later_copy_points_at_the_first_and_the_first_stays_canonical() {
        let mut articles = vec![article("a", "Same words."), article("b", "SAME   words."), article("c", "Other.")];
        let mut index = MemoryExactIndex::default();
        link_exact_copies(&mut articles, &mut index);
        assert_eq!(articles[0].duplicate_of, None);
        assert_eq!(articles[1].duplicate_of.as_deref(), Some("a"));
        assert_eq!(articles[1].duplicate_kind, Some(DuplicateKind::Exact));
        assert_eq!(articles[2].duplicate_of, None);

        let mut replay = vec![article("a", "Same words.")];
        link_exact_copies(&mut replay, &mut index);
        assert_eq!(replay[0].duplicate_of, None, "a replay is never a duplicate of itself");
    }

    #[test]
    fn empty_bodies_are_never_linked_as_copies() {
        let mut articles = vec![article("a", ""), article("b", "")];
        link_exact_copies(&mut articles, &mut MemoryExactIndex::default());
        assert!(articles.iter().all(|a| a.duplicate_of.is_none()));
    }
}
