//! Stories: articles about one event that are not copies — different words, same people, places and
//! days — share a `story_id`.
//!
//! Each article is a sparse vector of weighted terms (`story_vector`): names (capitalised words
//! inside a sentence, and runs of them such as "John Kerry") weigh five times a plain content word,
//! title words twice, counts grow as 1 + ln(tf), and only the 40 strongest terms are kept. A story is
//! the sum of its articles' vectors (its centroid, 80 strongest terms) with the time span it covers.
//! Clustering is streaming and incremental: an article joins the story whose centroid is most similar
//! (cosine) among the stories active within `window_days` of its time (scored through an inverted
//! index of the centroids, `StoryCandidates`), if that similarity reaches `min_similarity`;
//! otherwise it opens a story named after itself. A copy (exact or near) joins its canonical
//! article's story. For a given input order the result is
//! deterministic: ties go to the earlier story.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::article::Article;
use crate::stages::clean::features::is_stopword;
use crate::stages::text;

/// How much more a name (a capitalised word inside a sentence, or a run of them) weighs than a
/// content word: who and where tell stories apart better than what.
const NAME_WEIGHT: f32 = 5.0;

/// Terms kept per article and per story centroid.
pub const ARTICLE_TERMS: usize = 40;
pub const STORY_TERMS: usize = 80;

/// A sparse term vector, sorted by term key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermVector(pub Vec<(i64, f32)>);

/// When an article joins a story.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StoryRule {
    /// Cosine between the article and a story's centroid at or above which it joins.
    pub min_similarity: f64,
    /// A story takes articles within this many days of the span it already covers.
    pub window_days: i64,
}

impl Default for StoryRule {
    fn default() -> Self {
        StoryRule { min_similarity: 0.55, window_days: 3 }
    }
}

fn term_key(term: &str) -> i64 {
    xxh3_64_with_seed(term.as_bytes(), 3) as i64
}

/// Words every news story uses, which say nothing about which story it is.
const NEWS_WORDS: [&str; 14] = [
    "said",
    "says",
    "told",
    "according",
    "would",
    "could",
    "should",
    "also",
    "year",
    "years",
    "week",
    "news",
    "reported",
    "added",
];

fn is_term_word(lower: &str) -> bool {
    let long_and_alphabetic = if lower.is_ascii() {
        lower.len() >= 4 && lower.bytes().all(|b| b.is_ascii_alphabetic())
    } else {
        lower.chars().count() >= 4 && lower.chars().all(char::is_alphabetic)
    };
    long_and_alphabetic && !is_stopword(lower) && !NEWS_WORDS.contains(&lower)
}

/// A capitalised word with a lowercase letter after its first.
fn is_name(word: &str) -> bool {
    if word.is_ascii() {
        let bytes = word.as_bytes();
        return bytes.first().is_some_and(u8::is_ascii_uppercase) && bytes[1..].iter().any(u8::is_ascii_lowercase);
    }
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase)
}

/// The weighted terms of an article: names ×5, title words ×2, 1 + ln(tf), 40 strongest. (Reading
/// only the first 4 or 8 KB of long bodies was tried: faster on long features, but story precision
/// on `make eval-dedup` fell from 0.94 to 0.90–0.93 at the threshold that keeps the seeds together.)
pub fn story_vector(title: Option<&str>, body: &str) -> TermVector {
    let mut terms = TermCounts::default();
    for (text, emphasis) in [(title.unwrap_or(""), 2.0), (body, 1.0)] {
        // A run of names inside one sentence ("John Kerry"), lowercased and space-joined.
        let mut run = String::new();
        let mut run_length = 0;
        for (word, starts_sentence) in sentence_words(text) {
            if starts_sentence {
                terms.add_run(&mut run, &mut run_length, emphasis);
            }
            terms.lower.clear();
            if word.is_ascii() {
                // Most words: a byte copy, lowercased in place (the char-by-char path cost
                // ~450 instructions a word).
                terms.lower.push_str(word);
                terms.lower.make_ascii_lowercase();
            } else {
                terms.lower.extend(word.chars().flat_map(char::to_lowercase));
            }
            if !starts_sentence && is_name(word) && !is_stopword(&terms.lower) {
                if run_length > 0 {
                    run.push(' ');
                }
                run.push_str(&terms.lower);
                run_length += 1;
                terms.add(term_key(&terms.lower), NAME_WEIGHT * emphasis);
                continue;
            }
            terms.add_run(&mut run, &mut run_length, emphasis);
            if is_term_word(&terms.lower) {
                terms.add(term_key(&terms.lower), emphasis);
            }
        }
        terms.add_run(&mut run, &mut run_length, emphasis);
    }
    terms.strongest(ARTICLE_TERMS)
}

/// What ends a sentence for `story_vector`: a name run never crosses one, and a sentence's first
/// word is not taken for a name.
const SENTENCE_ENDS: [char; 9] = ['.', '!', '?', '\n', ':', ';', '"', '“', '”'];

/// A word's characters: letters, digits, hyphens and apostrophes.
fn is_word_char(c: char) -> bool {
    text::is_alphanumeric(c) || c == '-' || c == '\''
}

/// The words of `text` (runs of `is_word_char`), each with whether it is the first of its sentence
/// (`SENTENCE_ENDS`), in one pass over the bytes: what splitting into sentences and then into words
/// gives, with ASCII (nearly all of a body) classified byte by byte and only other characters decoded.
fn sentence_words(text: &str) -> impl Iterator<Item = (&str, bool)> {
    let bytes = text.as_bytes();
    let char_at = |at: usize| text[at..].chars().next().expect("a character starts at every step");
    let mut at = 0;
    let mut starts_sentence = true;
    std::iter::from_fn(move || {
        let start = loop {
            let &byte = bytes.get(at)?;
            if byte.is_ascii() {
                let c = char::from(byte);
                if is_word_char(c) {
                    break at;
                }
                starts_sentence |= SENTENCE_ENDS.contains(&c);
                at += 1;
            } else {
                let c = char_at(at);
                if is_word_char(c) {
                    break at;
                }
                starts_sentence |= SENTENCE_ENDS.contains(&c);
                at += c.len_utf8();
            }
        };
        while let Some(&byte) = bytes.get(at) {
            let length = if byte.is_ascii() {
                usize::from(is_word_char(char::from(byte)))
            } else {
                let c = char_at(at);
                if is_word_char(c) { c.len_utf8() } else { 0 }
            };
            if length == 0 {
                break;
            }
            at += length;
        }
        Some((&text[start..at], std::mem::replace(&mut starts_sentence, false)))
    })
}

/// Term weights and counts while an article is read.
#[derive(Default)]
struct TermCounts {
    weights: foldhash::HashMap<i64, (f32, u32)>,
    /// The word being looked at, lowercased (one buffer for the whole article).
    lower: String,
}

impl TermCounts {
    fn add(&mut self, key: i64, weight: f32) {
        let entry = self.weights.entry(key).or_insert((0.0, 0));
        entry.0 = entry.0.max(weight);
        entry.1 += 1;
    }

    /// Adds the name run, when it holds two names or more, and empties it.
    fn add_run(&mut self, run: &mut String, run_length: &mut usize, emphasis: f32) {
        if *run_length > 1 {
            self.add(term_key(run), NAME_WEIGHT * emphasis);
        }
        run.clear();
        *run_length = 0;
    }

    fn strongest(self, keep: usize) -> TermVector {
        let mut terms: Vec<(i64, f32)> =
            self.weights.into_iter().map(|(key, (weight, tf))| (key, weight * (1.0 + (tf as f32).ln()))).collect();
        // The `keep` strongest, heaviest first and ties by key (keys are distinct: a total order),
        // chosen without sorting all of an article's hundreds of terms.
        let stronger = |a: &(i64, f32), b: &(i64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if terms.len() > keep {
            terms.select_nth_unstable_by(keep, stronger);
            terms.truncate(keep);
        }
        terms.sort_unstable_by_key(|(key, _)| *key);
        TermVector(terms)
    }
}

impl TermVector {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn norm(&self) -> f32 {
        self.0.iter().map(|(_, w)| w * w).sum::<f32>().sqrt()
    }

    pub fn cosine(&self, other: &TermVector) -> f32 {
        cosine_of(self.dot(other), self.norm() * other.norm())
    }

    fn dot(&self, other: &TermVector) -> f32 {
        let (mut i, mut j, mut dot) = (0, 0, 0.0);
        while i < self.0.len() && j < other.0.len() {
            match self.0[i].0.cmp(&other.0[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += self.0[i].1 * other.0[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        dot
    }

    /// The sum of two vectors, keeping the `keep` strongest terms.
    pub fn plus(&self, other: &TermVector, keep: usize) -> TermVector {
        let mut sum: HashMap<i64, f32> = self.0.iter().copied().collect();
        for (key, weight) in &other.0 {
            *sum.entry(*key).or_default() += weight;
        }
        let mut terms: Vec<(i64, f32)> = sum.into_iter().collect();
        // The `keep` strongest, heaviest first and ties by key (keys are distinct: a total order),
        // chosen without sorting all of an article's hundreds of terms.
        let stronger = |a: &(i64, f32), b: &(i64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if terms.len() > keep {
            terms.select_nth_unstable_by(keep, stronger);
            terms.truncate(keep);
        }
        terms.sort_unstable_by_key(|(key, _)| *key);
        TermVector(terms)
    }
}

fn cosine_of(dot: f32, norms: f32) -> f32 {
    if norms == 0.0 { 0.0 } else { dot / norms }
}

/// A story as the clusterer sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub id: String,
    pub centroid: TermVector,
    pub articles: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// Arrival number of its first article: ties go to the earlier story.
    pub order: i64,
}

impl Story {
    fn covers(&self, at: DateTime<Utc>, rule: &StoryRule) -> bool {
        let window = chrono::Duration::days(rule.window_days);
        at >= self.first_seen - window && at <= self.last_seen + window
    }
}

/// The stories an article may join, with an inverted index of their centroids: per term, the
/// stories holding it and its weight in each. An article's dot product with every story is summed
/// over the postings of its own terms, so it is compared only with stories sharing a term, with no
/// per-story merge of two term lists; and the answer is exactly the one a cosine with every story
/// would give (the same products, added in the same order: the article's terms by key).
///
/// This was the worker's bottleneck: in `make bench`, articles are new mixes of one corpus's
/// sentences, so each shares some word with most stories, and comparing them story by story cost
/// about 2 ms an article once 20,000 stories were in the window (criterion `stages/stories`).
#[derive(Debug)]
pub struct StoryCandidates {
    rule: StoryRule,
    stories: Vec<Story>,
    /// The length of each story's centroid, by position.
    norms: Vec<f32>,
    /// Where each story's terms sit in `postings`, to keep their weights current as it grows.
    slots: Vec<Vec<(i64, usize)>>,
    position: foldhash::HashMap<String, usize>,
    /// Per term, (story position, weight of the term in its centroid): positions, not ids, so
    /// dropping stories rebuilds the index (`retain`). A term a centroid has lost keeps its entry
    /// with weight 0 until the next rebuild.
    postings: foldhash::HashMap<i64, Vec<(u32, f32)>>,
    /// Entries of `postings` at weight 0: once they outnumber the live ones, the index is rebuilt,
    /// so a long-lived index (the worker's story cache) does not fill up with lost terms.
    lost_postings: usize,
    /// Entries of `postings` that belong to a current centroid term.
    live_postings: usize,
    /// Dot products of the article being placed, by story position, and the positions touched.
    sums: Vec<f32>,
    touched: Vec<u32>,
}

impl StoryCandidates {
    /// Indexes the given stories; a story listed twice is kept once.
    pub fn new(rule: StoryRule, stories: impl IntoIterator<Item = Story>) -> Self {
        let mut candidates = StoryCandidates {
            rule,
            stories: Vec::new(),
            norms: Vec::new(),
            slots: Vec::new(),
            position: foldhash::HashMap::default(),
            postings: foldhash::HashMap::default(),
            lost_postings: 0,
            live_postings: 0,
            sums: Vec::new(),
            touched: Vec::new(),
        };
        for story in stories {
            if !candidates.position.contains_key(&story.id) {
                candidates.open(story);
            }
        }
        candidates
    }

    pub fn len(&self) -> usize {
        self.stories.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stories.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&Story> {
        self.position.get(id).map(|&at| &self.stories[at])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.position.contains_key(id)
    }

    /// Takes a story as stored now (another worker grew it, or it is new): its centroid replaces the
    /// one indexed, or it is indexed for the first time.
    pub fn replace(&mut self, story: Story) {
        match self.position.get(&story.id) {
            Some(&position) => {
                self.post(position, &story.centroid);
                self.norms[position] = story.centroid.norm();
                self.stories[position] = story;
                self.compact_if_sparse();
            }
            None => self.open(story),
        }
    }

    /// Gives a story the arrival number it was stored with (new stories are placed with a
    /// provisional one that only orders them within their batch).
    pub fn set_order(&mut self, id: &str, order: i64) {
        if let Some(&position) = self.position.get(id) {
            self.stories[position].order = order;
        }
    }

    /// Keeps only the stories `keep` accepts, rebuilding the index (its postings hold positions).
    pub fn retain(&mut self, keep: impl Fn(&Story) -> bool) {
        let stories = std::mem::take(&mut self.stories);
        *self = StoryCandidates::new(self.rule, stories.into_iter().filter(|story| keep(story)));
    }

    /// Picks the story for an article and updates it, or opens a new one. `copy_of_story` is the story
    /// of the article's canonical copy, when it is a copy. Ties go to the earlier story.
    pub fn assign(
        &mut self,
        id: &str,
        vector: &TermVector,
        at: DateTime<Utc>,
        order: i64,
        copy_of_story: Option<&str>,
    ) -> String {
        let chosen = match copy_of_story.and_then(|story| self.position.get(story)) {
            Some(&copied) => Some(copied),
            None => self.most_similar(vector, at),
        };
        match chosen {
            Some(position) => {
                self.join(position, vector, at);
                let id = self.stories[position].id.clone();
                self.compact_if_sparse();
                id
            }
            None => {
                let centroid = vector.plus(&TermVector::default(), STORY_TERMS);
                let story = Story { id: id.to_owned(), centroid, articles: 1, first_seen: at, last_seen: at, order };
                self.open(story);
                id.to_owned()
            }
        }
    }

    fn most_similar(&mut self, vector: &TermVector, at: DateTime<Utc>) -> Option<usize> {
        self.sum_products(vector);
        let norm = vector.norm();
        let mut best: Option<(usize, f32)> = None;
        for position in self.touched.drain(..).map(|p| p as usize) {
            let dot = std::mem::take(&mut self.sums[position]);
            let story = &self.stories[position];
            let similarity = cosine_of(dot, norm * self.norms[position]);
            if f64::from(similarity) < self.rule.min_similarity || !story.covers(at, &self.rule) {
                continue;
            }
            let better = best.is_none_or(|(chosen, most)| {
                similarity.total_cmp(&most).then(self.stories[chosen].order.cmp(&story.order)).is_gt()
            });
            if better {
                best = Some((position, similarity));
            }
        }
        best.map(|(position, _)| position)
    }

    /// Adds up the article's dot product with every story sharing one of its terms, in `sums`.
    fn sum_products(&mut self, vector: &TermVector) {
        self.sums.resize(self.stories.len(), 0.0);
        for (key, weight) in &vector.0 {
            for &(position, story_weight) in self.postings.get(key).into_iter().flatten() {
                let sum = &mut self.sums[position as usize];
                // Weights are positive, so a story's sum is 0 exactly until its first shared term.
                if *sum == 0.0 && story_weight != 0.0 {
                    self.touched.push(position);
                }
                *sum += weight * story_weight;
            }
        }
    }

    fn open(&mut self, story: Story) {
        let position = self.stories.len();
        self.norms.push(story.centroid.norm());
        self.slots.push(Vec::new());
        self.position.insert(story.id.clone(), position);
        self.post(position, &story.centroid);
        self.stories.push(story);
    }

    fn join(&mut self, position: usize, vector: &TermVector, at: DateTime<Utc>) {
        let centroid = self.stories[position].centroid.plus(vector, STORY_TERMS);
        self.post(position, &centroid);
        self.norms[position] = centroid.norm();
        let story = &mut self.stories[position];
        story.centroid = centroid;
        story.articles += 1;
        story.first_seen = story.first_seen.min(at);
        story.last_seen = story.last_seen.max(at);
    }

    /// Brings the postings of the story at `position` in line with `centroid`: current weights for
    /// the terms it had, new entries for new terms, weight 0 for the terms it lost.
    fn post(&mut self, position: usize, centroid: &TermVector) {
        let story = u32::try_from(position).expect("fewer than 2^32 stories in the index");
        let old = std::mem::take(&mut self.slots[position]);
        self.live_postings -= old.len();
        let mut slots = Vec::with_capacity(centroid.0.len());
        for &(key, weight) in &centroid.0 {
            let postings = self.postings.entry(key).or_default();
            let slot = match old.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(found) => old[found].1,
                Err(_) => {
                    postings.push((story, 0.0));
                    postings.len() - 1
                }
            };
            postings[slot].1 = weight;
            slots.push((key, slot));
        }
        for (key, slot) in old {
            if centroid.0.binary_search_by_key(&key, |(k, _)| *k).is_err() {
                self.postings.get_mut(&key).expect("posted before")[slot].1 = 0.0;
                self.lost_postings += 1;
            }
        }
        self.live_postings += slots.len();
        self.slots[position] = slots;
    }

    /// Rebuilds the index once lost terms outnumber live ones. Called between placements, never
    /// while `sums` holds an article's products.
    fn compact_if_sparse(&mut self) {
        if self.lost_postings > self.live_postings.max(STORY_TERMS) {
            self.retain(|_| true);
        }
    }
}

impl TermVector {
    /// As stored: per term its key (8 bytes) and weight (4 bytes), little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|(k, w)| k.to_le_bytes().into_iter().chain(w.to_le_bytes())).collect()
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        TermVector(
            bytes
                .chunks_exact(12)
                .map(|c| {
                    let key = i64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                    (key, f32::from_le_bytes(c[8..].try_into().expect("4 bytes")))
                })
                .collect(),
        )
    }
}

/// The time an article speaks for: when it was fetched, else its publication day, else now.
pub fn article_time(article: &Article) -> DateTime<Utc> {
    article
        .input
        .fetched_at
        .or_else(|| article.published_at.map(|p| p.date().and_hms_opt(12, 0, 0).expect("valid time").and_utc()))
        .unwrap_or_else(Utc::now)
}

/// The story index `process` keeps in memory, by the same rule as the sink.
#[derive(Debug)]
pub struct MemoryStoryIndex {
    stories: StoryCandidates,
    of_article: HashMap<String, String>,
    next_order: i64,
}

impl MemoryStoryIndex {
    pub fn new(rule: StoryRule) -> Self {
        MemoryStoryIndex { stories: StoryCandidates::new(rule, []), of_article: HashMap::new(), next_order: 0 }
    }

    /// Gives the article its story; a replay keeps the story it was given.
    pub fn assign(&mut self, article: &mut Article) {
        if let Some(story) = self.of_article.get(&article.id) {
            article.story_id = Some(story.clone());
            return;
        }
        let vector = &article.input.story_terms;
        let copy_story = article.duplicate_of.as_ref().and_then(|c| self.of_article.get(c)).cloned();
        if vector.is_empty() && copy_story.is_none() {
            return;
        }
        let order = self.next_order;
        self.next_order += 1;
        let at = article_time(article);
        let story_id = self.stories.assign(&article.id, vector, at, order, copy_story.as_deref());
        self.of_article.insert(article.id.clone(), story_id.clone());
        article.story_id = Some(story_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "Russia said it would press on with its bombing campaign in Syria. Kremlin spokesman Dmitry Peskov said \
        Moscow was still interested in the ceasefire deal with Washington. US Secretary of State John Kerry warned \
        Sergei Lavrov that talks on Aleppo would end.";
    const TWO: &str = "Washington threatened to suspend talks with Moscow over the assault on Aleppo. John Kerry told \
        Sergei Lavrov by telephone that the United States was preparing to end cooperation on Syria unless Russia \
        halted the bombing.";
    const OTHER: &str = "The harbour council of Porto approved a new budget for dredging on Monday. Fishermen welcomed \
        the decision, and the mayor said work would start in spring once the storms had passed.";

    fn at(day: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2016, 9, day).unwrap().and_hms_opt(12, 0, 0).unwrap().and_utc()
    }

    #[test]
    fn names_and_runs_of_names_weigh_most() {
        let vector = story_vector(None, ONE);
        let strongest = vector.0.iter().map(|(_, w)| *w).fold(0.0, f32::max);
        let peskov = vector.0.iter().find(|(k, _)| *k == term_key("dmitry peskov")).expect("the run is a term").1;
        assert!(peskov >= strongest / 2.0);
        assert!(!vector.0.iter().any(|(k, _)| *k == term_key("said")), "stopwords and short words are not terms");
    }

    #[test]
    fn two_accounts_of_one_event_share_a_story_and_an_unrelated_article_does_not() {
        let rule = StoryRule::default();
        let mut stories = StoryCandidates::new(rule, []);
        let first = stories.assign("one", &story_vector(None, ONE), at(28), 0, None);
        let second = stories.assign("two", &story_vector(None, TWO), at(29), 1, None);
        let third = stories.assign("other", &story_vector(None, OTHER), at(29), 2, None);
        assert_eq!((first.as_str(), second.as_str(), third.as_str()), ("one", "one", "other"));
        assert_eq!(stories.get("one").map(|s| s.articles), Some(2));
    }

    #[test]
    fn a_story_does_not_take_an_article_from_weeks_later() {
        let rule = StoryRule::default();
        let mut stories = StoryCandidates::new(rule, []);
        stories.assign("one", &story_vector(None, ONE), at(1), 0, None);
        let later = stories.assign("two", &story_vector(None, TWO), at(20), 1, None);
        assert_eq!(later, "two");
    }

    #[test]
    fn a_copy_joins_its_canonical_articles_story() {
        let rule = StoryRule::default();
        let mut stories = StoryCandidates::new(rule, []);
        stories.assign("one", &story_vector(None, ONE), at(1), 0, None);
        let copy = stories.assign("copy", &story_vector(None, OTHER), at(1), 1, Some("one"));
        assert_eq!(copy, "one");
    }

    /// `sentence_words` as its definition reads: sentences split at `SENTENCE_ENDS`, then words.
    fn sentence_words_by_splits(text: &str) -> Vec<(&str, bool)> {
        text.split(SENTENCE_ENDS)
            .flat_map(|sentence| {
                sentence
                    .split(|c: char| !is_word_char(c))
                    .filter(|w| !w.is_empty())
                    .enumerate()
                    .map(|(i, w)| (w, i == 0))
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn words_come_as_splitting_into_sentences_then_words_gives_them(
            text in "[a-zA-Z0-9 '\\-.!?:;\"\n,\u{a0}“”’—…ÀΣßé日本]{0,60}",
        ) {
            proptest::prop_assert_eq!(sentence_words(&text).collect::<Vec<_>>(), sentence_words_by_splits(&text));
        }
    }

    fn vector(weights: &[(i64, f32)]) -> TermVector {
        let mut terms = weights.to_vec();
        terms.sort_by_key(|(key, _)| *key);
        terms.dedup_by_key(|(key, _)| *key);
        TermVector(terms)
    }

    proptest::proptest! {
        /// The index picks the story a cosine with every known story would pick, as stories open,
        /// grow and lose terms.
        #[test]
        fn the_index_picks_the_story_a_comparison_with_every_story_would(
            // A wide vocabulary and long vectors, so that centroids outgrow `STORY_TERMS` and lose terms.
            articles in proptest::collection::vec(proptest::collection::vec((0i64..150, 0.1f32..10.0), 1..60), 1..40),
        ) {
            let rule = StoryRule { min_similarity: 0.3, window_days: 3 };
            let mut stories = StoryCandidates::new(rule, []);
            for (order, weights) in articles.iter().enumerate() {
                let article = vector(weights);
                let compared = stories
                    .stories
                    .iter()
                    .map(|story| (story, article.cosine(&story.centroid)))
                    .filter(|(_, similarity)| f64::from(*similarity) >= rule.min_similarity)
                    .max_by(|(a, sa), (b, sb)| sa.total_cmp(sb).then(b.order.cmp(&a.order)))
                    .map(|(story, _)| story.id.clone());
                let id = format!("a{order}");
                let assigned = stories.assign(&id, &article, at(1), order as i64, None);
                proptest::prop_assert_eq!(assigned, compared.unwrap_or(id));
            }
        }
    }

    proptest::proptest! {
        /// Two workers placing articles in turn, each taking the stories the other changed through
        /// `replace`, give the answers one index would.
        #[test]
        fn indexes_kept_in_step_by_replace_answer_as_one_index_would(
            articles in proptest::collection::vec(proptest::collection::vec((0i64..150, 0.1f32..10.0), 1..60), 1..40),
        ) {
            let rule = StoryRule { min_similarity: 0.3, window_days: 3 };
            let mut one = StoryCandidates::new(rule, []);
            let mut workers = [StoryCandidates::new(rule, []), StoryCandidates::new(rule, [])];
            for (order, weights) in articles.iter().enumerate() {
                let (article, id) = (vector(weights), format!("a{order}"));
                let expected = one.assign(&id, &article, at(1), order as i64, None);
                let (placing, other) = if order % 2 == 0 { (0, 1) } else { (1, 0) };
                let assigned = workers[placing].assign(&id, &article, at(1), order as i64, None);
                proptest::prop_assert_eq!(&assigned, &expected);
                let changed = workers[placing].get(&assigned).expect("placed").clone();
                workers[other].replace(changed);
            }
        }
    }

    #[test]
    fn retaining_stories_drops_the_others_from_the_answers() {
        let rule = StoryRule::default();
        let mut stories = StoryCandidates::new(rule, []);
        stories.assign("one", &story_vector(None, ONE), at(1), 0, None);
        stories.assign("other", &story_vector(None, OTHER), at(2), 1, None);
        stories.retain(|story| story.id != "one");
        assert_eq!((stories.len(), stories.contains("one")), (1, false));
        assert_eq!(stories.assign("two", &story_vector(None, TWO), at(2), 2, None), "two");
        assert_eq!(stories.assign("storm", &story_vector(None, OTHER), at(2), 3, None), "other");
    }

    #[test]
    fn stories_are_still_found_after_lost_terms_make_the_index_rebuild_itself() {
        let rule = StoryRule { min_similarity: 0.3, window_days: 3 };
        let mut stories = StoryCandidates::new(rule, []);
        stories.assign("other", &vector(&[(1, 1.0), (2, 1.0)]), at(1), 0, None);
        stories.assign("one", &vector(&[(3, 1.0)]), at(1), 1, None);
        // Copies with ever heavier new terms: the centroid keeps losing its older ones.
        for round in 0..20_i64 {
            let terms: Vec<(i64, f32)> = (0..40).map(|t| (1000 * (round + 1) + t, 10.0 * (round + 1) as f32)).collect();
            stories.assign(&format!("copy{round}"), &vector(&terms), at(1), 2 + round, Some("one"));
        }
        assert!(stories.lost_postings < stories.live_postings, "rebuilt: {} lost", stories.lost_postings);
        let latest = stories.get("one").expect("kept").centroid.clone();
        assert_eq!(stories.assign("again", &latest, at(1), 30, None), "one");
        assert_eq!(stories.assign("beside", &vector(&[(1, 1.0), (2, 2.0)]), at(1), 31, None), "other");
    }
}
