//! Near-duplicates: MinHash signatures over word shingles, LSH bands to find candidates, and a
//! verification that estimates containment in both directions as well as resemblance.
//!
//! Outlets republish wire copy with their own edits: a cut last paragraph, a changed headline,
//! "today" turned into "on Thursday", a local paragraph inserted. Resemblance (Jaccard) alone misses
//! the partial copies, because a short version inside a long one shares few of the long one's
//! shingles; containment of the short in the long stays high. Both are estimated from the
//! signatures and the exact shingle counts.
//!
//! Which article came first and which bands it claimed is state: the worker keeps it in Postgres
//! (`lsh_bands`, `article_signatures`), `process` in memory; both feed `link_near_copies`, which is
//! pure, so they decide the same way.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::article::{Article, DuplicateKind};

/// Words per shingle: five words make a phrase rarely shared by unrelated stories.
pub const SHINGLE_WORDS: usize = 5;
/// MinHash values (bins). The standard error of a resemblance estimate is about √(J(1−J)/128) ≤ 0.044.
pub const PERMUTATIONS: usize = 128;
/// LSH bands of `ROWS` values each. Partial copies decide the setting: an agency's update that
/// keeps a third of the earlier version's paragraphs (the seeds' 003 against 000) has a resemblance
/// of only 0.15, which bands of three values find with probability 0.12 and bands of two with 0.79.
/// With bands of one value a pair is a candidate when any claimed value agrees. Only the first 64
/// of the 128 values are claimed: every claim is a row written to `lsh_bands` in the batch's
/// transaction (the worker's costliest dedup step), and the other 64 would add little. A pair whose
/// signatures agree on k values is missed when none of them is among the 64, with probability
/// about 2⁻ᵏ: at resemblance 0.15 (k ≈ 19) 2·10⁻⁶; at the five agreeing values the containment
/// rules ask for at least, 3 %. Verification still compares all 128 values. Each band key keeps
/// only its first holder, so an article has at most 64 candidates, verified in memory. (The keys
/// are those that 128 bands gave for the same values, so claims stored by either agree.)
pub const BANDS: usize = 64;
pub const ROWS: usize = 1;

/// A text's MinHash signature and its number of distinct shingles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub minhash: Vec<u32>,
    pub shingles: u32,
}

/// The golden-ratio multiplier of Fibonacci hashing, for folding word hashes into a shingle hash.
const FOLD: u64 = 0x9E37_79B9_7F4A_7C15;

/// The 64-bit finaliser of MurmurHash3: every input bit affects every output bit.
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

/// The shingles of a body, hashed, each passed to `visit` (repeats included), and how many distinct
/// ones there are. Words are runs of letters and digits, lowercased; any other character separates
/// them, so "said." and "said" agree and quote or dash styles do not matter.
fn for_each_shingle(body: &str, mut visit: impl FnMut(u64)) -> usize {
    SCRATCH.with_borrow_mut(|scratch| {
        let Scratch { words, distinct } = scratch;
        word_hashes_into(body, words);
        distinct.reset_for(words.len());
        let mut take = |shingle: u64| {
            distinct.insert(shingle);
            visit(shingle);
        };
        if words.len() < SHINGLE_WORDS {
            if !words.is_empty() {
                take(shingle_hash(words));
            }
        } else {
            words.windows(SHINGLE_WORDS).for_each(|window| take(shingle_hash(window)));
        }
        distinct.count
    })
}

/// Buffers the signature reuses from one article to the next on the same thread: a fresh
/// zeroed allocation per article cost page faults and a memset comparable to hashing its words.
struct Scratch {
    words: Vec<u64>,
    distinct: DistinctHashes,
}

/// Empties a scratch buffer and fills it with `len` zeros, reusing its allocation unless that is
/// more than four times what is needed: a buffer grown for one very long page (up to the largest
/// message, 10 MB by default, 40 MB of word hashes) is not kept by every thread for good.
fn reset_zeroed(buffer: &mut Vec<u64>, len: usize) {
    buffer.clear();
    if buffer.capacity() > 4 * len {
        buffer.shrink_to(len);
    }
    buffer.resize(len, 0);
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> =
        const { std::cell::RefCell::new(Scratch { words: Vec::new(), distinct: DistinctHashes::empty() }) };
}

/// Counts distinct hashes. A set of its own rather than a `HashSet`: the keys are already uniform
/// hashes (no hashing needed), their number is known up front, and nearly every insert is new, so
/// linear probing in a table at most a quarter full does in one or two reads what hashbrown's groups
/// and tags do in several. This was a fifth of the signature's time with `nohash_hasher::IntSet`.
struct DistinctHashes {
    /// 0 marks an empty slot; the hash 0 itself is counted by `zero`.
    slots: Vec<u64>,
    mask: usize,
    zero: bool,
    count: usize,
}

/// The largest table sized a quarter full: 512 KB, for pages of up to 16,384 words.
const ROOMY_SLOTS: usize = 1 << 16;

impl DistinctHashes {
    const fn empty() -> Self {
        DistinctHashes { slots: Vec::new(), mask: 0, zero: false, count: 0 }
    }

    /// Empties the set and sizes it for `expected` hashes, keeping its allocation where it can:
    /// at most a quarter full, which `stages/dedup_near` measured 9 % faster than half full (21.2k
    /// articles/s against 19.4k in one run: fewer inserts probe past a taken slot, each a branch
    /// the processor mispredicts) and 1 % faster than an eighth full. Past `ROOMY_SLOTS` a page is
    /// rare and long, and half full keeps the table of a 10 MB message to 128 MB.
    fn reset_for(&mut self, expected: usize) {
        let roomy = (expected * 4).next_power_of_two();
        let size = if roomy <= ROOMY_SLOTS { roomy } else { (expected * 2).next_power_of_two() }.max(16);
        reset_zeroed(&mut self.slots, size);
        self.mask = size - 1;
        self.zero = false;
        self.count = 0;
    }

    fn insert(&mut self, hash: u64) {
        if hash == 0 {
            self.count += usize::from(!self.zero);
            self.zero = true;
            return;
        }
        // The top bits choose MinHash bins and the low 32 are the values: start from the middle.
        let mut slot = (hash >> 16) as usize & self.mask;
        loop {
            match self.slots[slot] {
                0 => {
                    self.slots[slot] = hash;
                    self.count += 1;
                    return;
                }
                held if held == hash => return,
                _ => slot = (slot + 1) & self.mask,
            }
        }
    }
}

/// Each byte's part in a word: an ASCII letter or digit as its lowercase, any other ASCII byte as 0
/// (a separator), and the bytes of multi-byte characters as `NON_ASCII` (decoded and judged apart).
const NON_ASCII: u8 = 0x80;
static WORD_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = if !b.is_ascii() {
            NON_ASCII
        } else if b.is_ascii_alphanumeric() {
            b.to_ascii_lowercase()
        } else {
            0
        };
        byte += 1;
    }
    table
};

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01B3;

fn fnv(hash: u64, byte: u8) -> u64 {
    (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
}

/// How many parts of a text are scanned side by side. Two lanes' state fits in registers; with
/// three or four it spilled to the stack on x86-64, and `stages/dedup_near` measured 22.6k and
/// 22.2k articles/s against 23.7k–25.3k with two in the same runs (the code before lanes: median
/// 22.8k over nine runs, two lanes 24.5k).
const LANES: usize = 2;

/// FNV-1a over each word's lowercased UTF-8, computed while scanning: no word is copied. (FNV's
/// weak spots do not matter here: `shingle_hash` mixes five words through a full avalanche.) The
/// values are stored, so they must never change: see the test
/// `signatures_and_band_keys_are_the_ones_earlier_versions_stored`.
///
/// Why lanes: FNV is a chain of multiplications, one a byte, each waiting for the last. The text
/// is cut in `LANES` parts at ASCII separators and the parts are scanned in one loop, a byte of
/// each per turn, so the processor works on that many chains at once. ASCII bytes are taken
/// without branches, because where a word ends is what a branch predictor cannot guess. A lane's
/// state is a `Copy` value kept in locals, so it stays in registers: a scanner taken by `&mut`
/// into an out-of-line call lived on the stack, and every byte's hash went through memory.
/// This is about half of the signature's cost; the shingle pass is most of the rest.
fn word_hashes_into(text: &str, words: &mut Vec<u64>) {
    let bytes = text.as_bytes();
    let cuts = lane_cuts(bytes);
    // A part of n bytes holds at most (n + 1) / 2 words; one more slot takes the store that every
    // byte makes whether or not a word ended there.
    let room: [usize; LANES] = std::array::from_fn(|k| (cuts[k + 1] - cuts[k]) / 2 + 2);
    reset_zeroed(words, room.iter().sum());
    let regions = split_regions(words, &room);
    let mut lanes = [Lane::START; LANES];
    let mut at: [usize; LANES] = std::array::from_fn(|k| cuts[k]);
    loop {
        let turns = (0..LANES).map(|k| cuts[k + 1] - at[k]).min().unwrap_or(0);
        if turns == 0 {
            break;
        }
        let mut turn = 0;
        while turn < turns {
            let classes: [u8; LANES] = std::array::from_fn(|k| WORD_BYTES[usize::from(bytes[at[k] + turn])]);
            if classes.iter().fold(0, |any, &class| any | class) & NON_ASCII != 0 {
                break;
            }
            for k in 0..LANES {
                lanes[k] = lanes[k].ascii(classes[k], regions[k]);
            }
            turn += 1;
        }
        for position in &mut at {
            *position += turn;
        }
        if turn < turns {
            // Some lane stands at a multi-byte character: every lane takes one character.
            for k in 0..LANES {
                (lanes[k], at[k]) = lanes[k].step(text, at[k], regions[k]);
            }
        }
    }
    let mut ended = [0; LANES];
    for k in 0..LANES {
        while at[k] < cuts[k + 1] {
            (lanes[k], at[k]) = lanes[k].step(text, at[k], regions[k]);
        }
        // A separator after the part closes its last word.
        ended[k] = lanes[k].ascii(0, regions[k]).ended;
    }
    compact(words, &room, &ended);
}

/// Where each lane's part starts, and the text's end: parts of about equal length, each cut at an
/// ASCII separator so that no word (and no character) spans two parts.
fn lane_cuts(bytes: &[u8]) -> [usize; LANES + 1] {
    let mut cuts = [bytes.len(); LANES + 1];
    cuts[0] = 0;
    for k in 1..LANES {
        let from = (bytes.len() * k / LANES).max(cuts[k - 1]);
        cuts[k] = (from..bytes.len()).find(|&at| WORD_BYTES[usize::from(bytes[at])] == 0).unwrap_or(bytes.len());
    }
    cuts
}

/// The buffer cut into one region a lane, of the given sizes.
fn split_regions<'w>(words: &'w mut [u64], room: &[usize; LANES]) -> [&'w mut [u64]; LANES] {
    let mut rest = words;
    std::array::from_fn(|k| {
        let (region, tail) = std::mem::take(&mut rest).split_at_mut(room[k]);
        rest = tail;
        region
    })
}

/// Moves each region's finished words down so that all words stand in text order at the start.
fn compact(words: &mut Vec<u64>, room: &[usize; LANES], ended: &[usize; LANES]) {
    let (mut from, mut to) = (0, 0);
    for k in 0..LANES {
        words.copy_within(from..from + ended[k], to);
        to += ended[k];
        from += room[k];
    }
    words.truncate(to);
}

/// One lane of the scanner: the hash of the word being read, whether a word is open, and how many
/// words the lane has finished.
#[derive(Clone, Copy)]
struct Lane {
    hash: u64,
    in_word: bool,
    ended: usize,
}

impl Lane {
    const START: Lane = Lane { hash: FNV_OFFSET, in_word: false, ended: 0 };

    /// An ASCII byte's class: a lowercase letter or digit, or 0 for a separator. Selects, not
    /// branches: `words[ended]` is overwritten until a word ends and `ended` moves on.
    #[inline(always)]
    fn ascii(self, class: u8, words: &mut [u64]) -> Lane {
        let is_word = class != 0;
        words[self.ended] = self.hash;
        let next = fnv(self.hash, class);
        Lane {
            hash: if is_word { next } else { FNV_OFFSET },
            in_word: is_word,
            ended: self.ended + usize::from(self.in_word & !is_word),
        }
    }

    /// Takes the byte or character at `at`; returns the lane and where the next one starts.
    #[inline(never)]
    fn step(self, text: &str, at: usize, words: &mut [u64]) -> (Lane, usize) {
        let class = WORD_BYTES[usize::from(text.as_bytes()[at])];
        if class != NON_ASCII {
            return (self.ascii(class, words), at + 1);
        }
        let c = text[at..].chars().next().expect("at a character boundary");
        // Curly quotes, dashes and ellipses (General Punctuation) are most of the non-ASCII
        // characters in English text, and none is a letter: no need to ask Unicode's tables.
        if GENERAL_PUNCTUATION.contains(&c) || !c.is_alphanumeric() {
            return (self.ascii(0, words), at + c.len_utf8());
        }
        let mut buffer = [0u8; 4];
        let hash =
            c.to_lowercase().fold(self.hash, |hash, lower| lower.encode_utf8(&mut buffer).bytes().fold(hash, fnv));
        (Lane { hash, in_word: true, ended: self.ended }, at + c.len_utf8())
    }
}

/// U+2000–U+206F: spaces, dashes, quotation marks, bullets, ellipsis; no letters or digits.
const GENERAL_PUNCTUATION: std::ops::RangeInclusive<char> = '\u{2000}'..='\u{206F}';

/// Order-sensitive: "a b c d e" and "e d c b a" differ.
fn shingle_hash(words: &[u64]) -> u64 {
    avalanche(words.iter().fold(0, |h, &word| (h ^ word).wrapping_mul(FOLD).rotate_left(29)))
}

/// The signature of a body, `None` when it has no words: one-permutation MinHash. Each
/// shingle hash falls in one of the 128 bins by its top seven bits and competes there with its low
/// 32 bits; a bin keeps the smallest. That is 128 minima at the cost of one hash a shingle instead
/// of 128 (Li, Owen and Zhang, 2012). A text with empty bins (fewer shingles than bins, or bad
/// luck) fills each from the first non-empty bin along a fixed pseudo-random probe sequence
/// ("optimal densification", Shrivastava, 2017), the same for every text, so agreement between two
/// signatures still estimates their resemblance.
pub fn signature(body: &str) -> Option<Signature> {
    let mut minhash = [u32::MAX; PERMUTATIONS];
    let mut filled = [false; PERMUTATIONS];
    let distinct = for_each_shingle(body, |shingle| {
        let bin = (shingle >> 57) as usize;
        minhash[bin] = minhash[bin].min(shingle as u32);
        filled[bin] = true;
    });
    if distinct == 0 {
        return None;
    }
    let sources: Vec<u32> = (0..PERMUTATIONS)
        .map(|bin| {
            if filled[bin] {
                return minhash[bin];
            }
            let probe = (1u64..).map(|attempt| (avalanche(((bin as u64) << 32) | attempt) >> 57) as usize);
            let source = probe.take(4096).find(|&other| filled[other]).or_else(|| filled.iter().position(|f| *f));
            minhash[source.expect("at least one bin is filled")]
        })
        .collect();
    Some(Signature { minhash: sources, shingles: u32::try_from(distinct).unwrap_or(u32::MAX) })
}

impl Signature {
    /// The LSH band keys: each band's values hashed with its number, as Postgres `bigint`s.
    pub fn bands(&self) -> Vec<i64> {
        self.minhash
            .chunks_exact(ROWS)
            .take(BANDS)
            .enumerate()
            .map(|(band, values)| {
                let folded = values.iter().fold(band as u64, |h, &v| (h << 32 | u64::from(v)).wrapping_mul(FOLD));
                avalanche(folded) as i64
            })
            .collect()
    }

    /// The signature as stored: 4 bytes a value, little-endian.
    pub fn minhash_bytes(&self) -> Vec<u8> {
        self.minhash.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    pub fn from_stored(bytes: &[u8], shingles: i32) -> Option<Self> {
        (bytes.len() == 4 * PERMUTATIONS).then(|| Signature {
            minhash: bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect(),
            shingles: u32::try_from(shingles).unwrap_or(0),
        })
    }
}

/// How much two texts share, estimated from their signatures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Jaccard resemblance of the shingle sets.
    pub resemblance: f32,
    /// Share of the first text's shingles found in the second, and the other way round.
    pub first_in_second: f32,
    pub second_in_first: f32,
}

pub fn similarity(first: &Signature, second: &Signature) -> Similarity {
    let agree = first.minhash.iter().zip(&second.minhash).filter(|(a, b)| a == b).count();
    let resemblance = agree as f32 / PERMUTATIONS as f32;
    // |A ∩ B| = J (|A| + |B|) / (1 + J)
    let shared = resemblance * (first.shingles as f32 + second.shingles as f32) / (1.0 + resemblance);
    let share = |of: u32| (shared / of.max(1) as f32).min(1.0);
    Similarity { resemblance, first_in_second: share(first.shingles), second_in_first: share(second.shingles) }
}

/// When a candidate is a near-duplicate. Defaults measured by `make eval-dedup` (see README).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NearRule {
    /// Resemblance at or above which two texts are copies.
    pub min_resemblance: f64,
    /// Containment (of either text in the other) at or above which they are copies…
    pub min_containment: f64,
    /// …provided the contained text has at least this many shingles (a headline-sized snippet inside
    /// a long article is a quotation, not a copy).
    pub min_contained_shingles: u32,
    /// A partial copy: at least this many shingles shared (several paragraphs word for word; two
    /// outlets' own accounts of one event share a quote or two, under ten shingles)…
    pub min_shared_shingles: u32,
    /// …making up at least this share of one of the texts.
    pub min_partial_containment: f64,
    /// The containment rules need this many of the 128 values to agree: between a short text and a
    /// very long one, one or two chance agreements would read as a large shared part.
    pub min_agreeing_values: u32,
}

impl Default for NearRule {
    fn default() -> Self {
        NearRule {
            min_resemblance: 0.5,
            min_containment: 0.8,
            min_contained_shingles: 40,
            min_shared_shingles: 50,
            min_partial_containment: 0.2,
            min_agreeing_values: 5,
        }
    }
}

impl NearRule {
    /// The verified score when the pair are copies: the larger of resemblance and containment.
    pub fn verify(&self, a: &Signature, b: &Signature) -> Option<f32> {
        let s = similarity(a, b);
        let containment = [(s.first_in_second, a.shingles), (s.second_in_first, b.shingles)]
            .into_iter()
            .filter(|(_, size)| *size >= self.min_contained_shingles)
            .map(|(c, _)| c)
            .fold(0.0f32, f32::max);
        let supported = s.resemblance * PERMUTATIONS as f32 >= self.min_agreeing_values as f32 - 0.5;
        let shared = s.first_in_second * a.shingles as f32;
        let partial =
            shared >= self.min_shared_shingles as f32 && f64::from(containment) >= self.min_partial_containment;
        let contained = f64::from(containment) >= self.min_containment;
        let qualifies = f64::from(s.resemblance) >= self.min_resemblance || (supported && (contained || partial));
        qualifies.then_some(s.resemblance.max(containment))
    }
}

/// What the index knows of an article already stored: its signature, its place in arrival order,
/// and the canonical article of its copy set.
#[derive(Debug, Clone)]
pub struct Indexed {
    pub signature: Signature,
    pub order: i64,
    pub canonical: String,
}

/// An article of the batch as the linker sees it.
pub struct Pending<'a> {
    pub article: &'a mut Article,
    /// Its place in arrival order: the stored one for a replay, else after everything stored.
    pub order: i64,
}

/// Links each article of a batch (in arrival order) to the canonical article of the earliest copy
/// it matches. `holders` gives, for each of the batch's band keys, the article that claimed it first
/// (stored, or earlier in the batch); `indexed` describes the stored holders and the holders of
/// exact copies' bodies. An article is only ever linked to an earlier one, so a replay never becomes
/// a duplicate of itself or of its own copies. An exact copy stays exact but points at the canonical
/// of its body's first carrier. Returns how many articles were linked as near copies.
pub fn link_near_copies<'h>(
    batch: &mut [Pending<'_>],
    holders: &impl Fn(i64) -> Option<&'h str>,
    indexed: &HashMap<String, Indexed>,
    rule: &NearRule,
) -> usize {
    let mut in_batch: HashMap<String, Indexed> = HashMap::new();
    let mut linked = 0;
    for pending in batch.iter_mut() {
        let article = &mut *pending.article;
        let Some(signature) = article.input.signature.clone() else { continue };
        if article.duplicate_kind == Some(DuplicateKind::Exact) {
            // The first carrier of this body may itself be a near copy: point at its set's canonical.
            let holder = article.duplicate_of.clone().unwrap_or_default();
            if let Some(known) = in_batch.get(&holder).or_else(|| indexed.get(&holder)) {
                article.duplicate_of = Some(known.canonical.clone());
            }
        } else {
            let best = earliest_match(article, &signature, pending.order, holders, indexed, &in_batch, rule);
            set_near_link(article, best);
            linked += usize::from(article.duplicate_kind == Some(DuplicateKind::Near));
        }
        let canonical = article.duplicate_of.clone().unwrap_or_else(|| article.id.clone());
        in_batch.insert(article.id.clone(), Indexed { signature, order: pending.order, canonical });
    }
    linked
}

fn earliest_match<'h>(
    article: &Article,
    signature: &Signature,
    order: i64,
    holders: &impl Fn(i64) -> Option<&'h str>,
    indexed: &HashMap<String, Indexed>,
    in_batch: &HashMap<String, Indexed>,
    rule: &NearRule,
) -> Option<(String, f32)> {
    let mut candidates: Vec<&str> = signature.bands().into_iter().filter_map(holders).collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .filter(|id| *id != article.id)
        .filter_map(|id| in_batch.get(id).or_else(|| indexed.get(id)))
        .filter(|candidate| candidate.order < order)
        .filter_map(|candidate| rule.verify(signature, &candidate.signature).map(|score| (candidate, score)))
        .min_by(|(a, sa), (b, sb)| a.order.cmp(&b.order).then(sb.total_cmp(sa)))
        .map(|(candidate, score)| (candidate.canonical.clone(), score))
}

fn set_near_link(article: &mut Article, best: Option<(String, f32)>) {
    match best {
        Some((canonical, score)) if canonical != article.id => {
            article.duplicate_of = Some(canonical);
            article.duplicate_kind = Some(DuplicateKind::Near);
            article.similarity = Some(score);
        }
        _ if article.duplicate_kind == Some(DuplicateKind::Near) => {
            article.duplicate_of = None;
            article.duplicate_kind = None;
            article.similarity = None;
        }
        _ => {}
    }
}

/// The near-duplicate index `process` keeps in memory.
#[derive(Debug, Default)]
pub struct MemoryNearIndex {
    /// Band key → the first holder, as an index into `ids`.
    holders: foldhash::HashMap<i64, u32>,
    ids: Vec<String>,
    indexed: HashMap<String, Indexed>,
    next_order: i64,
    rule: NearRule,
}

impl MemoryNearIndex {
    pub fn new(rule: NearRule) -> Self {
        MemoryNearIndex { rule, ..Default::default() }
    }

    /// Links one article and records it.
    pub fn link(&mut self, article: &mut Article) -> bool {
        let Some(signature) = article.input.signature.clone() else { return false };
        let order = self.indexed.get(&article.id).map_or(self.next_order, |known| known.order);
        self.next_order += 1;
        let number = u32::try_from(self.ids.len()).expect("fewer than 4 billion articles in memory");
        self.ids.push(article.id.clone());
        for band in signature.bands() {
            self.holders.entry(band).or_insert(number);
        }
        let (holders, ids) = (&self.holders, &self.ids);
        let holder = |band: i64| holders.get(&band).map(|&n| ids[n as usize].as_str());
        let linked = link_near_copies(&mut [Pending { article, order }], &holder, &self.indexed, &self.rule) > 0;
        let canonical = article.duplicate_of.clone().unwrap_or_else(|| article.id.clone());
        self.indexed.insert(article.id.clone(), Indexed { signature, order, canonical });
        linked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::{Content, RawArticle};

    const WIRE: &str = "Russia said on Friday it had not given up on the ceasefire deal for Syria, despite the collapse of a truce this week. \
        Kremlin spokesman Dmitry Peskov told reporters that Moscow was continuing its efforts to revive the agreement with Washington. \
        The United States accused Russia of barbarism over the bombing of rebel-held districts of Aleppo, where hundreds have been killed. \
        Deputy Foreign Minister Sergei Ryabkov said Moscow would not accept ultimatums and that the deal could still be saved by both sides. \
        Aid convoys have been unable to reach the besieged eastern half of the city since the truce collapsed on Monday night.";

    fn digest(s: &Signature) -> u64 {
        s.minhash.iter().fold(0u64, |h, &v| h.wrapping_mul(31).wrapping_add(u64::from(v)))
    }

    fn sig(text: &str) -> Signature {
        signature(text).expect("words")
    }

    #[test]
    fn identical_texts_agree_on_every_value_and_unrelated_ones_on_almost_none() {
        assert_eq!(similarity(&sig(WIRE), &sig(WIRE)).resemblance, 1.0);
        let other = "The harbour council approved a new budget for dredging the port on Monday evening after a debate \
            that lasted well into the night, and fishermen welcomed the decision in a statement to the local press.";
        assert!(similarity(&sig(WIRE), &sig(other)).resemblance < 0.05);
    }

    #[test]
    fn a_truncated_copy_is_contained_in_the_full_text_though_their_resemblance_is_lower() {
        let cut = WIRE.rsplit_once(". ").map(|(head, _)| head).unwrap();
        let cut = cut.rsplit_once(". ").map(|(head, _)| head).unwrap();
        let s = similarity(&sig(cut), &sig(WIRE));
        assert!(s.first_in_second > 0.85, "{s:?}");
        assert!(s.resemblance < s.first_in_second);
        assert!(NearRule::default().verify(&sig(cut), &sig(WIRE)).is_some());
    }

    #[test]
    fn a_copy_with_wording_and_quote_edits_is_still_a_near_duplicate() {
        let edited = WIRE
            .replace("on Friday", "on Thursday")
            .replace("Kremlin spokesman", "The Kremlin's spokesman")
            .replace("“", "\"");
        let score = NearRule::default().verify(&sig(&edited), &sig(WIRE)).expect("near copy");
        assert!(score > 0.6, "{score}");
    }

    #[test]
    fn two_chance_agreements_with_a_very_long_text_are_not_read_as_a_shared_part() {
        let mut long = Signature { minhash: vec![0; PERMUTATIONS], shingles: 6500 };
        let mut short = Signature { minhash: vec![1; PERMUTATIONS], shingles: 540 };
        long.minhash[..2].copy_from_slice(&[7, 9]);
        short.minhash[..2].copy_from_slice(&[7, 9]);
        assert!(similarity(&short, &long).first_in_second >= 0.2, "the estimate alone would call it partial");
        assert!(NearRule::default().verify(&short, &long).is_none());
    }

    #[test]
    fn a_short_snippet_quoted_inside_a_long_article_is_not_a_copy_of_it() {
        let snippet = "Kremlin spokesman Dmitry Peskov told reporters";
        assert!(NearRule::default().verify(&sig(snippet), &sig(WIRE)).is_none());
    }

    fn article(id: &str, body: &str) -> Article {
        let mut article = Article::from_raw(RawArticle::new(id, Content::Text(body.into())));
        article.body = body.into();
        article.input.signature = signature(body);
        article
    }

    #[test]
    fn later_copies_point_at_the_earliest_and_a_replay_stays_canonical() {
        let mut index = MemoryNearIndex::default();
        let edited = format!("{WIRE} The talks are due to resume next week in Geneva.");
        let mut first = article("afp", WIRE);
        let mut second = article("outlet", &edited);
        let mut third = article("another", &edited.replace("on Friday", "on Thursday"));
        assert!(!index.link(&mut first));
        assert!(index.link(&mut second));
        assert!(index.link(&mut third));
        assert_eq!(second.duplicate_of.as_deref(), Some("afp"));
        assert_eq!(second.duplicate_kind, Some(DuplicateKind::Near));
        assert_eq!(third.duplicate_of.as_deref(), Some("afp"), "the canonical of the copy set, not the copy");

        let mut replay = article("afp", WIRE);
        assert!(!index.link(&mut replay));
        assert_eq!(replay.duplicate_of, None, "never a duplicate of itself or of its later copies");
    }

    #[test]
    fn an_exact_copy_of_a_near_copy_points_at_the_canonical_of_the_set() {
        let mut index = MemoryNearIndex::default();
        let edited = format!("{WIRE} The talks are due to resume next week in Geneva.");
        let mut first = article("afp", WIRE);
        let mut second = article("outlet", &edited);
        index.link(&mut first);
        index.link(&mut second);
        let mut exact = article("reprint", &edited);
        exact.duplicate_of = Some("outlet".into());
        exact.duplicate_kind = Some(DuplicateKind::Exact);
        index.link(&mut exact);
        assert_eq!(exact.duplicate_of.as_deref(), Some("afp"));
        assert_eq!(exact.duplicate_kind, Some(DuplicateKind::Exact));
    }

    #[test]
    fn general_punctuation_holds_no_letters_or_digits() {
        assert!(GENERAL_PUNCTUATION.clone().all(|c| !c.is_alphanumeric()));
        assert_eq!(
            sig("Peskov said \u{201c}the deal\u{201d} \u{2014} still alive"),
            sig("Peskov said the deal still alive")
        );
    }

    #[test]
    fn a_distinct_count_table_is_a_quarter_full_at_most_unless_the_page_is_huge() {
        let mut set = DistinctHashes::empty();
        set.reset_for(2_100);
        assert_eq!(set.slots.len(), 16_384);
        set.reset_for(100_000);
        assert_eq!(set.slots.len(), 262_144, "half full past ROOMY_SLOTS");
    }

    #[test]
    fn scratch_buffers_grown_for_a_long_page_are_given_back_for_short_ones() {
        let mut buffer = Vec::new();
        reset_zeroed(&mut buffer, 1 << 20);
        assert!(buffer.capacity() >= 1 << 20);
        reset_zeroed(&mut buffer, 1000);
        assert!(buffer.capacity() < 4 * 1000 + 64, "kept {} slots", buffer.capacity());
        assert_eq!(buffer, vec![0; 1000]);
        let kept = buffer.capacity();
        reset_zeroed(&mut buffer, 900);
        assert_eq!(buffer.capacity(), kept, "a similar size reuses the allocation");
    }

    #[test]
    fn band_keys_are_stable_and_signatures_survive_storage() {
        let s = sig(WIRE);
        assert_eq!(s.bands().len(), BANDS);
        assert_eq!(s.bands(), sig(WIRE).bands());
        assert_eq!(Signature::from_stored(&s.minhash_bytes(), s.shingles as i32), Some(s));
    }

    fn word_hashes(text: &str) -> Vec<u64> {
        let mut words = Vec::new();
        word_hashes_into(text, &mut words);
        words
    }

    /// The plain definition `word_hashes` must agree with: FNV-1a over each lowercased run of
    /// letters and digits.
    fn reference_word_hashes(text: &str) -> Vec<u64> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(|word| word.chars().flat_map(char::to_lowercase).collect::<String>().bytes().fold(FNV_OFFSET, fnv))
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn word_hashes_agree_with_the_plain_definition(text in "([a-zA-Z0-9]{0,7}[ .,'\\-]{0,3}|[éÉßİ東京«»— ]){0,60}") {
            proptest::prop_assert_eq!(word_hashes(&text), reference_word_hashes(&text));
        }
    }

    #[test]
    fn word_hashes_agree_with_the_plain_definition_on_edge_cases() {
        for text in ["", " ", "a", "a ", " a", "ab cd", "東京", "x東京y z", "İ", "end.", "... ...", "ÉTÉ été"]
        {
            assert_eq!(word_hashes(text), reference_word_hashes(text), "{text:?}");
        }
    }

    /// Signatures and band keys are stored (`article_signatures`, `lsh_bands`): a faster hash that
    /// changed them would stop new articles matching everything stored before the upgrade.
    #[test]
    fn signatures_and_band_keys_are_the_ones_earlier_versions_stored() {
        let mixed = sig("Größe ÉTÉ naïve İstanbul 東京 said. «Quoted» — 2016 WIRE copy: the end");
        assert_eq!((digest(&mixed), mixed.shingles, mixed.bands()[0]), (17846768978364685021, 8, 6306478443237874259));
        let wire = sig(WIRE);
        assert_eq!((digest(&wire), wire.shingles, wire.bands()[0]), (7852205727926115584, 101, -3943106307383148161));
        // The last key claimed since 64 bands are claimed: the same as the 128-band code stored for it.
        assert_eq!(wire.bands()[BANDS - 1], 4949305231825307094);
    }

    /// A long page with scripts and punctuation mixed, where every lane of the scanner holds
    /// thousands of bytes and multi-byte characters fall in each: pinned to the values the
    /// scanner before lanes (two chains whose state went through memory) computed.
    fn long_mixed_page() -> String {
        (0..120)
            .map(|i| match i % 4 {
                0 => format!("{WIRE} ({i})\n"),
                1 => format!("Größe des Gebäudes: {i} m² — «ÉTÉ» naïve İstanbul, 東京 und Zürich.\n"),
                2 => format!("Paragraph {i}: the talks—due to resume—were \"postponed\"; officials said… {i}{i}\n"),
                _ => {
                    format!("Ceasefire ‘deal’ №{i} in Aleppo's east: 30/09/2016, see https://example.org/{i}?q=a&b=c\n")
                }
            })
            .collect()
    }

    #[test]
    fn a_long_mixed_page_keeps_the_signature_earlier_versions_stored() {
        let page = long_mixed_page();
        assert!(page.len() > 20_000);
        let s = sig(&page);
        assert_eq!((digest(&s), s.shingles, s.bands()[0]), (11607069100953129069, 931, -410279726013255859));
        assert_eq!(word_hashes(&page), reference_word_hashes(&page));
    }
}
