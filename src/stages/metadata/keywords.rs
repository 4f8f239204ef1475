//! A handful of salient terms and phrases per article, by YAKE (Campos et al., "YAKE! Keyword
//! extraction from single documents using multiple local features", Information Sciences, 2020).
//!
//! YAKE scores one- to three-word phrases from the document alone — how often and how early a
//! word occurs, how many sentences it spreads over, how often it is capitalised, how varied its
//! neighbours are — so it needs no corpus statistics, no model and no shared state, and gives the
//! same keywords on every worker and on replay. It reads the first `KEYWORD_SAMPLE_CHARS` of the
//! body: news puts what matters first, and this keeps the cost flat for long pages.
//!
//! The scoring is written here rather than called from a crate. Both YAKE crates were measured on
//! the first 1,200 characters of wcxb-dev's 792 bodies: `yake-rust` takes 1.19 ms an article (80 %
//! of it in `segtok`'s fancy-regex tokeniser) and `keyword_extraction` 0.59 ms (it compiles its
//! regexes on every call); the whole metadata stage has 0.2 ms. This module tokenises in one pass
//! over the text and keeps the paper's features and formulas; it still uses `yake-rust`'s copies of
//! YAKE's own stopword lists. Deliberate differences from the reference implementation: hyphenated
//! and apostrophised words ("al-Assad", "Ki-moon") are ordinary words rather than "unusual" ones,
//! a possessive "'s" is dropped, and near-identical keywords are removed by normalised Levenshtein
//! similarity, as `yake-rust` does (there with `strsim`; here with `rapidfuzz`, whose search stops
//! as soon as the distance passes what the threshold allows).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use foldhash::{HashMap as FastMap, HashSet as FastSet};
use rapidfuzz::distance::levenshtein;
use smallvec::SmallVec;
use yake_rust::StopWords;

use crate::stages::text::{prefix_chars, with_lowercase, without_possessive};

/// Keywords kept per article.
pub const KEYWORDS: usize = 8;
const KEYWORD_SAMPLE_CHARS: usize = 1_200;
/// Bodies shorter than this have no salient terms worth the name.
const MIN_WORDS: usize = 20;
/// Longest keyword, in words.
const MAX_NGRAM: usize = 3;
/// Words shorter than this (in characters) count as stopwords, as in YAKE.
const MIN_TERM_CHARS: usize = 3;
/// A keyword this similar to a better one (normalised Levenshtein) is the same keyword.
const DEDUPLICATION_THRESHOLD: f64 = 0.6;

/// YAKE's stopword lists, by ISO 639-1 code, loaded once.
static STOPWORDS: LazyLock<HashMap<&'static str, KeyedStopwords>> = LazyLock::new(|| {
    [
        "ar", "bg", "cz", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "hi", "hr", "hu", "hy", "id", "it",
        "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh",
    ]
    .into_iter()
    .filter_map(|code| StopWords::predefined(code).map(|list| (code, KeyedStopwords::new(list))))
    .collect()
});

/// One language's stopword list, and its short ASCII words by their `packed` key too: a word of
/// the sample is looked up by the key it already has.
struct KeyedStopwords {
    list: StopWords,
    short: FastSet<u128>,
}

impl KeyedStopwords {
    fn new(list: StopWords) -> Self {
        let short = list.iter().filter_map(|word| packed(word)).collect();
        KeyedStopwords { list, short }
    }
}

pub fn extract(body: &str, language: Option<&str>, word_count: usize) -> Vec<String> {
    if word_count < MIN_WORDS {
        return Vec::new();
    }
    let stopwords = language.and_then(|code| STOPWORDS.get(code)).or_else(|| STOPWORDS.get("en"));
    let Some(stopwords) = stopwords else { return Vec::new() };
    let document = Document::read(prefix_chars(body, KEYWORD_SAMPLE_CHARS), stopwords);
    let weights = document.term_weights();
    best_keywords(&document, &weights)
}

/// How a word may take part in a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    /// All capitals, more than one letter: "NATO".
    Acronym,
    /// One leading capital, not the sentence's first word: "Moscow".
    Named,
    /// Any other word.
    Plain,
    /// A number, or letters mixed with digits: never part of a keyword.
    Excluded,
}

/// One occurrence of a word.
#[derive(Debug, Clone, Copy)]
struct Token<'t> {
    term: u32,
    tag: Tag,
    /// The word as written, so a keyword reads "talks" though "talk" and "talks" count as one.
    surface: &'t str,
}

/// What the text says about one distinct term (lowercase, plural "s" folded).
#[derive(Debug, Default)]
struct Term {
    stopword: bool,
    frequency: u32,
    acronyms: u32,
    named: u32,
    /// The sentences it occurs in, in order, each once: inline up to four (as large as a `Vec`),
    /// which spares most terms an allocation.
    sentences: SmallVec<[u32; 4]>,
    /// Co-occurrences with the word just before it and just after it: total and distinct.
    left: u32,
    right: u32,
    distinct_left: u32,
    distinct_right: u32,
}

/// The text as YAKE sees it: sentences of blocks (runs of words between punctuation), each word a
/// term id, and the statistics of every term.
struct Document<'t> {
    /// Every word, in order.
    tokens: Vec<Token<'t>>,
    /// Each block as a range of `tokens`.
    blocks: Vec<Range<usize>>,
    terms: Vec<Term>,
    /// How often term a came just before term b in a block.
    pairs: FastMap<(u32, u32), u32>,
    sentences: u32,
}

impl<'t> Document<'t> {
    fn read(text: &'t str, stopwords: &KeyedStopwords) -> Self {
        // About a word in six bytes, and a new term in every other word of a short sample: sized
        // once rather than grown.
        let words = text.len() / 6;
        let mut reader = Reader {
            document: Document {
                tokens: Vec::with_capacity(words),
                blocks: Vec::new(),
                terms: Vec::with_capacity(words / 2),
                pairs: FastMap::with_capacity_and_hasher(words, Default::default()),
                sentences: 0,
            },
            ids: TermIds::with_capacity(words / 2),
            stopwords,
            block_start: 0,
            sentence_start: true,
            folded: String::new(),
        };
        reader.read(text);
        reader.document
    }

    /// A new term's id.
    fn add_term(&mut self, stopword: bool) -> u32 {
        let id = u32::try_from(self.terms.len()).expect("a sample has fewer than 4 billion terms");
        self.terms.push(Term { stopword, ..Term::default() });
        id
    }

    /// Each term's weight; lower is more salient.
    fn term_weights(&self) -> Vec<f64> {
        let counted: Vec<f64> = self.terms.iter().filter(|t| !t.stopword).map(|t| f64::from(t.frequency)).collect();
        let mean = counted.iter().sum::<f64>() / counted.len().max(1) as f64;
        let deviation = (counted.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / counted.len().max(1) as f64).sqrt();
        let max_frequency = f64::from(self.terms.iter().map(|t| t.frequency).max().unwrap_or(1));
        let sentences = f64::from(self.sentences.max(1));
        self.terms
            .iter()
            .map(|term| {
                let frequency = f64::from(term.frequency);
                let share = frequency / max_frequency;
                let spread_left =
                    if term.left == 0 { 0.0 } else { f64::from(term.distinct_left) / f64::from(term.left) };
                let spread_right =
                    if term.right == 0 { 0.0 } else { f64::from(term.distinct_right) / f64::from(term.right) };
                let relatedness = (0.5 + spread_left * share) + (0.5 + spread_right * share);
                let normalised_frequency = frequency / (mean + deviation).max(f64::MIN_POSITIVE);
                let spread = term.sentences.len() as f64 / sentences;
                let casing = f64::from(term.acronyms.max(term.named)) / (1.0 + frequency.ln());
                let position = (3.0 + median(&term.sentences)).ln().ln();
                position * relatedness / (casing + normalised_frequency / relatedness + spread / relatedness)
            })
            .collect()
    }
}

fn median(sorted: &[u32]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => f64::from(sorted[n / 2]),
        n => (f64::from(sorted[n / 2 - 1]) + f64::from(sorted[n / 2])) / 2.0,
    }
}

struct Reader<'t, 's> {
    document: Document<'t>,
    ids: TermIds,
    stopwords: &'s KeyedStopwords,
    /// Where the block being read starts in `document.tokens`.
    block_start: usize,
    sentence_start: bool,
    folded: String,
}

impl<'t> Reader<'t, '_> {
    /// One pass: words are runs of letters and digits, with an apostrophe or hyphen inside them;
    /// any other character ends a block, and ".", "!", "?" before a space, or a line break, also
    /// end the sentence.
    fn read(&mut self, text: &'t str) {
        let mut word_start = None;
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let joins = matches!(c, '\'' | '’' | '-')
                && word_start.is_some()
                && chars.peek().is_some_and(|&(_, next)| next.is_alphanumeric());
            if c.is_alphanumeric() || joins {
                word_start.get_or_insert(at);
                continue;
            }
            if let Some(start) = word_start.take() {
                self.word(&text[start..at]);
            }
            if c.is_whitespace() && c != '\n' {
                continue;
            }
            self.end_block();
            let ends_sentence = c == '\n'
                || matches!(c, '.' | '!' | '?' | '…') && chars.peek().is_none_or(|&(_, next)| next.is_whitespace());
            if ends_sentence {
                self.end_sentence();
            }
        }
        if let Some(start) = word_start {
            self.word(&text[start..]);
        }
        self.end_block();
        self.end_sentence();
    }

    fn word(&mut self, word: &'t str) {
        let word = without_possessive(word).unwrap_or(word);
        let tag = tag(word, self.sentence_start);
        self.sentence_start = false;
        let term = self.term_id(word);
        let sentence = self.document.sentences;
        let stats = &mut self.document.terms[term as usize];
        stats.frequency += 1;
        stats.acronyms += u32::from(tag == Tag::Acronym);
        stats.named += u32::from(tag == Tag::Named);
        if stats.sentences.last() != Some(&sentence) {
            stats.sentences.push(sentence);
        }
        if let Some(previous) = self.document.tokens[self.block_start..].last().map(|token| token.term) {
            self.co_occur(previous, term);
        }
        self.document.tokens.push(Token { term, tag, surface: word });
    }

    fn term_id(&mut self, word: &str) -> u32 {
        if word.is_ascii() && word.len() <= SHORT_TERM_BYTES {
            return self.short_ascii_term_id(word);
        }
        self.folded.clear();
        let chars = if word.is_ascii() {
            self.folded.push_str(word);
            self.folded.make_ascii_lowercase();
            word.len()
        } else {
            self.folded.extend(word.chars().flat_map(char::to_lowercase));
            self.folded.chars().count()
        };
        let plural_cut = chars > MIN_TERM_CHARS && self.folded.ends_with('s');
        if plural_cut {
            self.folded.pop();
        }
        if let Some(id) = self.ids.get(&self.folded) {
            return id;
        }
        // The word as written is a stopword too ("this", "was" lose their "s" above); an ASCII word
        // that kept its last letter was just looked up as it is.
        let as_written = plural_cut || !word.is_ascii();
        let stopword = chars < MIN_TERM_CHARS
            || self.stopwords.list.contains(self.folded.as_str())
            || (as_written && with_lowercase(word, |lower| self.stopwords.list.contains(lower)));
        let id = self.document.add_term(stopword);
        self.ids.insert(&self.folded, id);
        id
    }

    /// `term_id` of an ASCII word of up to `SHORT_TERM_BYTES` (nearly every one): lowered, cut and
    /// keyed on the stack, without the `folded` string.
    fn short_ascii_term_id(&mut self, word: &str) -> u32 {
        let mut lowered = [0u8; SHORT_TERM_BYTES];
        lowered[..word.len()].copy_from_slice(word.as_bytes());
        lowered.make_ascii_lowercase();
        let plural_cut = word.len() > MIN_TERM_CHARS && lowered[word.len() - 1] == b's';
        let mut folded = lowered;
        if plural_cut {
            folded[word.len() - 1] = 0;
        }
        let key = u128::from_le_bytes(folded);
        if let Some(&id) = self.ids.short.get(&key) {
            return id;
        }
        // As in `term_id`: the word as written is a stopword too.
        let short = &self.stopwords.short;
        let stopword = word.len() < MIN_TERM_CHARS
            || short.contains(&key)
            || (plural_cut && short.contains(&u128::from_le_bytes(lowered)));
        let id = self.document.add_term(stopword);
        self.ids.short.insert(key, id);
        id
    }

    fn co_occur(&mut self, left: u32, right: u32) {
        let seen = self.document.pairs.entry((left, right)).or_insert(0);
        let first_time = *seen == 0;
        *seen += 1;
        let terms = &mut self.document.terms;
        terms[left as usize].right += 1;
        terms[left as usize].distinct_right += u32::from(first_time);
        terms[right as usize].left += 1;
        terms[right as usize].distinct_left += u32::from(first_time);
    }

    fn end_block(&mut self) {
        let end = self.document.tokens.len();
        if end > self.block_start {
            self.document.blocks.push(self.block_start..end);
            self.block_start = end;
        }
    }

    fn end_sentence(&mut self) {
        if !self.sentence_start {
            self.document.sentences += 1;
        }
        self.sentence_start = true;
    }
}

/// Term ids by their text. A short ASCII term (nearly every one) is keyed by its bytes packed into a
/// number, hashed and stored without a string of its own.
#[derive(Default)]
struct TermIds {
    short: FastMap<u128, u32>,
    long: FastMap<String, u32>,
}

impl TermIds {
    fn with_capacity(terms: usize) -> Self {
        TermIds { short: FastMap::with_capacity_and_hasher(terms, Default::default()), long: FastMap::default() }
    }

    fn get(&self, term: &str) -> Option<u32> {
        match packed(term) {
            Some(key) => self.short.get(&key),
            None => self.long.get(term),
        }
        .copied()
    }

    fn insert(&mut self, term: &str, id: u32) {
        match packed(term) {
            Some(key) => self.short.insert(key, id),
            None => self.long.insert(term.to_owned(), id),
        };
    }
}

/// The longest term `TermIds` keys by a number.
const SHORT_TERM_BYTES: usize = 16;

/// Up to 16 ASCII bytes as one number; no term holds a NUL byte, so no two terms share one.
fn packed(term: &str) -> Option<u128> {
    let mut bytes = [0u8; SHORT_TERM_BYTES];
    (term.len() <= bytes.len() && term.is_ascii()).then(|| {
        bytes[..term.len()].copy_from_slice(term.as_bytes());
        u128::from_le_bytes(bytes)
    })
}

fn tag(word: &str, sentence_start: bool) -> Tag {
    // Digits, capitals and letters; an ASCII word (nearly every one) is counted a byte at a time.
    let (mut digits, mut uppercase, mut letters) = (0, 0, 0);
    if word.is_ascii() {
        for byte in word.bytes() {
            digits += usize::from(byte.is_ascii_digit());
            uppercase += usize::from(byte.is_ascii_uppercase());
            letters += usize::from(byte.is_ascii_alphabetic());
        }
    } else {
        for c in word.chars() {
            digits += usize::from(c.is_ascii_digit());
            uppercase += usize::from(c.is_uppercase());
            letters += usize::from(c.is_alphabetic());
        }
    }
    if digits > 0 {
        return Tag::Excluded;
    }
    let first_upper = word.chars().next().is_some_and(char::is_uppercase);
    if uppercase == letters && uppercase > 1 {
        Tag::Acronym
    } else if first_upper && uppercase == 1 && !sentence_start {
        Tag::Named
    } else {
        Tag::Plain
    }
}

/// A keyword candidate: its first occurrence and how often it occurs.
struct Candidate<'d, 't> {
    tokens: &'d [Token<'t>],
    frequency: u32,
}

impl Candidate<'_, '_> {
    /// How it was first written, lowercased. Made only for the candidates the ranking reaches.
    fn text(&self) -> String {
        self.tokens.iter().map(|token| token.surface.to_lowercase()).collect::<Vec<_>>().join(" ")
    }
}

/// Every one- to three-word run inside a block that neither starts nor ends with a stopword and
/// holds no number, scored by YAKE's formula, the best `KEYWORDS` of them after near-repeats go.
fn best_keywords(document: &Document, weights: &[f64]) -> Vec<String> {
    // A block gives at most `MAX_NGRAM` runs a word.
    let mut candidates: FastMap<u128, Candidate<'_, '_>> =
        FastMap::with_capacity_and_hasher(document.tokens.len() * MAX_NGRAM, Default::default());
    for block in &document.blocks {
        let block = &document.tokens[block.clone()];
        for start in 0..block.len() {
            for end in start + 1..=(start + MAX_NGRAM).min(block.len()) {
                let run = &block[start..end];
                if run.iter().any(|t| t.tag == Tag::Excluded) {
                    break;
                }
                let stop = |token: &Token| document.terms[token.term as usize].stopword;
                if stop(&run[0]) {
                    break;
                }
                if stop(&run[run.len() - 1]) {
                    continue;
                }
                candidates.entry(run_key(run)).or_insert(Candidate { tokens: run, frequency: 0 }).frequency += 1;
            }
        }
    }
    let mut scored: Vec<(f64, Candidate)> = candidates
        .into_values()
        .map(|candidate| (candidate_weight(document, weights, &candidate), candidate))
        .collect();
    let mut kept: Vec<String> = Vec::with_capacity(KEYWORDS);
    let mut unranked = scored.as_mut_slice();
    while !unranked.is_empty() {
        let (best, rest) = best_with_their_ties(unranked, RANKED_AT_ONCE);
        // Best first; equal scores in the order of their text (two candidates never share one).
        for tied in best.chunk_by(|a, b| a.0.total_cmp(&b.0).is_eq()) {
            let mut texts: Vec<String> = tied.iter().map(|(_, candidate)| candidate.text()).collect();
            texts.sort_unstable();
            for keyword in texts {
                if kept.iter().all(|k| !are_near_repeats(k, &keyword)) {
                    kept.push(keyword);
                    if kept.len() == KEYWORDS {
                        return kept;
                    }
                }
            }
        }
        unranked = rest;
    }
    kept
}

/// Candidates ranked per round: near repeats seldom remove more than a few of the best, so a
/// round almost always fills the list, and the other candidates (a thousand on a long sample) are
/// never sorted.
const RANKED_AT_ONCE: usize = 4 * KEYWORDS;

/// A candidate (or anything) with its score.
type Scored<T> = (f64, T);

/// Splits `scored` into its `count` lowest scores, sorted, with every other candidate of the same
/// score as the last of them (ties are ranked by text, so a tie is never split between rounds),
/// and the rest, unsorted.
fn best_with_their_ties<T>(scored: &mut [Scored<T>], count: usize) -> (&mut [Scored<T>], &mut [Scored<T>]) {
    let by_score = |a: &Scored<T>, b: &Scored<T>| a.0.total_cmp(&b.0);
    let cut = count.min(scored.len());
    let mut end = cut;
    if cut < scored.len() {
        scored.select_nth_unstable_by(cut - 1, by_score);
        let last = scored[cut - 1].0;
        for i in cut..scored.len() {
            if scored[i].0.total_cmp(&last).is_eq() {
                scored.swap(i, end);
                end += 1;
            }
        }
    }
    let (best, rest) = scored.split_at_mut(end);
    best.sort_unstable_by(by_score);
    (best, rest)
}

/// A run's term ids, 32 bits each, and all ones after its last: no term has that id (a sample has
/// far fewer terms), so runs of different lengths never share a key.
fn run_key(run: &[Token]) -> u128 {
    const _: () = assert!(MAX_NGRAM * 32 <= 128);
    run.iter().enumerate().fold(u128::MAX, |key, (i, token)| {
        let slot = 32 * i;
        (key & !(u128::from(u32::MAX) << slot)) | (u128::from(token.term) << slot)
    })
}

/// Whether two keywords are at least `DEDUPLICATION_THRESHOLD` alike by normalised Levenshtein
/// similarity (1 − distance / longer length, in characters). The distance is at least the
/// difference in length, so keywords of very different lengths are told apart without computing
/// it; otherwise it is computed only up to the largest that could still pass.
fn are_near_repeats(a: &str, b: &str) -> bool {
    let (a_chars, b_chars) = (a.chars().count(), b.chars().count());
    let longest = a_chars.max(b_chars).max(1) as f64;
    let alike = |distance: usize| 1.0 - distance as f64 / longest >= DEDUPLICATION_THRESHOLD;
    if !alike(a_chars.abs_diff(b_chars)) {
        return false;
    }
    let cutoff = ((1.0 - DEDUPLICATION_THRESHOLD) * longest).ceil() as usize;
    let args = levenshtein::Args::default().score_cutoff(cutoff);
    levenshtein::distance_with_args(a.chars(), b.chars(), &args).is_some_and(alike)
}

/// YAKE's score of a phrase: the product of its words' weights over their sum, divided by how
/// often the phrase occurs. A stopword inside ("Secretary of State") weighs by how strongly it
/// binds to its neighbours.
fn candidate_weight(document: &Document, weights: &[f64], candidate: &Candidate) -> f64 {
    let term_at = |i: usize| candidate.tokens.get(i).map(|token| token.term);
    let (mut product, mut sum) = (1.0, 0.0);
    for (i, token) in candidate.tokens.iter().enumerate() {
        let term = token.term;
        if !document.terms[term as usize].stopword {
            product *= weights[term as usize];
            sum += weights[term as usize];
            continue;
        }
        let bond = |left: u32, right: u32, by: u32| {
            let together = document.pairs.get(&(left, right)).copied().unwrap_or(0);
            f64::from(together) / f64::from(document.terms[by as usize].frequency.max(1))
        };
        let before = i.checked_sub(1).and_then(term_at).map_or(0.0, |previous| bond(previous, term, previous));
        let after = term_at(i + 1).map_or(0.0, |next| bond(term, next, next));
        let unbound = 1.0 - before * after;
        product *= 1.0 + unbound;
        sum -= unbound;
    }
    product / ((sum + 1.0) * f64::from(candidate.frequency))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords(body: &str) -> Vec<String> {
        extract(body, Some("en"), body.split_whitespace().count())
    }

    const STORM: &str = "Portugal closed its main ports on Sunday as a winter storm battered the Atlantic coast. \
        The storm forced ferries to the Azores to stay in port. Port authorities said the storm would pass \
        by Tuesday, and fishermen were told to keep their boats in port until the storm had passed.";

    #[test]
    fn keywords_name_what_the_story_is_about() {
        let found = keywords(STORM);
        assert!(!found.is_empty() && found.len() <= KEYWORDS);
        assert!(found.iter().any(|k| k.contains("storm")), "{found:?}");
        assert!(extract("Too short.", Some("en"), 2).is_empty());
    }

    #[test]
    fn names_repeated_through_the_story_rank_above_everyday_words() {
        let body = "Kremlin spokesman Dmitry Peskov said on Friday that Moscow had not given up on the ceasefire. \
            Peskov told reporters the ceasefire could still be saved if Washington kept its word. \
            The ceasefire collapsed this week after an aid convoy was hit near Aleppo. \
            Peskov said Russia would keep talking to Washington about the ceasefire and about Aleppo.";
        let found = keywords(body);
        let names = |word: &str| found.iter().any(|k| k.split(' ').any(|w| w == word));
        assert!(names("peskov") && names("ceasefire") && names("moscow"), "{found:?}");
        assert!(found.iter().all(|k| !k.split(' ').any(|w| w == "the" || w == "said")), "{found:?}");
    }

    #[test]
    fn keywords_never_start_or_end_with_a_stopword_nor_hold_a_number() {
        let body = format!("{STORM} In 2014 the storm of the century cost 300 million euros to the port of Porto.");
        for keyword in keywords(&body) {
            let words: Vec<&str> = keyword.split(' ').collect();
            let list = &STOPWORDS["en"].list;
            assert!(!list.contains(words[0]) && !list.contains(words[words.len() - 1]));
            assert!(!keyword.chars().any(|c| c.is_ascii_digit()), "{keyword}");
        }
    }

    #[test]
    fn the_same_text_always_gives_the_same_keywords_in_the_same_order() {
        assert_eq!(keywords(STORM), keywords(STORM));
    }

    #[test]
    fn near_repeats_of_a_better_keyword_are_left_out() {
        let found = keywords(STORM);
        for (i, a) in found.iter().enumerate() {
            for b in &found[i + 1..] {
                assert!(
                    levenshtein::normalized_similarity(a.chars(), b.chars()) < DEDUPLICATION_THRESHOLD,
                    "{a} / {b}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_gives_at_most_the_keyword_count_without_panicking(text in "\\PC{0,400}") {
            let found = extract(&text, Some("en"), MIN_WORDS);
            proptest::prop_assert!(found.len() <= KEYWORDS);
        }

        /// The cut-off search decides as the full normalised similarity would, at the threshold's
        /// edge too (short words over a small alphabet are often exactly 0.6 alike).
        #[test]
        fn near_repeats_are_decided_as_by_the_full_similarity(a in "[abé ]{0,12}", b in "[abé ]{0,12}") {
            let full = strsim::normalized_levenshtein(&a, &b) >= DEDUPLICATION_THRESHOLD;
            proptest::prop_assert_eq!(are_near_repeats(&a, &b), full);
        }

        /// Round after round, the best are the scores in sorted order, and a score's ties all come
        /// in one round.
        #[test]
        fn rounds_rank_every_score_in_order_without_splitting_a_tie(
            scores in proptest::collection::vec(0u8..6, 0..40),
            count in 1usize..6,
        ) {
            let mut scored: Vec<(f64, usize)> = scores.iter().enumerate().map(|(i, &s)| (f64::from(s), i)).collect();
            let mut rounds: Vec<Vec<f64>> = Vec::new();
            let mut unranked = scored.as_mut_slice();
            while !unranked.is_empty() {
                let (best, rest) = best_with_their_ties(unranked, count);
                rounds.push(best.iter().map(|(score, _)| *score).collect());
                unranked = rest;
            }
            let mut sorted: Vec<f64> = scores.iter().map(|&s| f64::from(s)).collect();
            sorted.sort_by(f64::total_cmp);
            proptest::prop_assert_eq!(rounds.concat(), sorted);
            for pair in rounds.windows(2) {
                proptest::prop_assert!(pair[0].last() < pair[1].first(), "{:?}", rounds);
            }
        }
    }
}
