//! What the line classifier sees: a fixed vector of numbers per line, from the line itself, the rule
//! pass's verdict, its neighbours and its place in the page.
//!
//! The same code computes features for training (`clean-features` dumps them for
//! `scripts/train_cleaner.py`) and at run time, so the two cannot drift apart. Adding, removing or
//! reordering a feature means retraining: the model file records the names it was trained on and the
//! cleaner refuses a model whose names differ.

use foldhash::{HashMap, HashMapExt, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use super::html::{BlockTag, HtmlEvidence};
use super::{LineShape, Reason};
use crate::stages::text::{in_any_case_among, is_alphanumeric, short_word_key, title_case_word};

/// Function words of the languages most news is written in. Prose is dense in them; menus, buttons
/// and teasers are not (the jusText observation). English first, kept apart for `is_english_stopword`.
const ENGLISH_STOPWORDS: &str = "a about after all also an and any are as at be been but by can could did do does for from had has \
    have he her his how i if in into is it its just more most my no not of on one or other our out over she so some \
    such than that the their them then there these they this to up was we were what when which who will with would \
    you your";
const OTHER_STOPWORDS: &str = "le la les un une des du de et est en que qui dans pour pas sur au aux il elle ne se ce sont avec par plus \
    der die das und ist nicht ein eine zu den von mit sich des auf für im dem auch es an als wird bei \
    el los las y es por con para una su al lo como más pero sus le ya o este fue ha \
    il di che non della per del si sono gli alla nel ma da \
    o os um uma do da em não com se na por mais as dos como mas ao ele das \
    het een en van ik te dat zijn op voor niet met";

/// The function words as `text::short_word_key`s: a lookup hashes and compares one integer.
static STOPWORD_SET: LazyLock<HashSet<u64>> =
    LazyLock::new(|| keys(ENGLISH_STOPWORDS.split_whitespace().chain(OTHER_STOPWORDS.split_whitespace())));
static ENGLISH_STOPWORD_SET: LazyLock<HashSet<u64>> = LazyLock::new(|| keys(ENGLISH_STOPWORDS.split_whitespace()));

fn keys<'a>(words: impl Iterator<Item = &'a str>) -> HashSet<u64> {
    words.map(|word| short_word_key(word.as_bytes()).expect("function words are at most seven bytes")).collect()
}

/// The longest function word, in bytes: a longer word needs no lookup.
const LONGEST_STOPWORD: usize = 6;

/// A function word of one of the eight languages (`word` in lowercase).
pub fn is_stopword(word: &str) -> bool {
    is_in(&STOPWORD_SET, word)
}

/// An English function word (`word` in lowercase): "un" or "die" is one elsewhere, not here.
pub fn is_english_stopword(word: &str) -> bool {
    is_in(&ENGLISH_STOPWORD_SET, word)
}

/// Whether `word` is one of the function words keyed in `set`.
fn is_in(set: &HashSet<u64>, word: &str) -> bool {
    word.len() <= LONGEST_STOPWORD && short_word_key(word.as_bytes()).is_some_and(|key| set.contains(&key))
}

/// Feature names, in vector order. The model file must list exactly these.
pub const FEATURE_NAMES: [&str; 75] = [
    "ln_words",
    "ln_chars",
    "sentence_end",
    "colon_end",
    "stopword_density",
    "punctuation_per_word",
    "title_case_ratio",
    "all_caps",
    "bullet",
    "link_like",
    "digit_ratio",
    "separators",
    "symbol_ratio",
    "mean_word_length",
    "ln_indent",
    "blank_before",
    "relative_position",
    "ln_repeats",
    "has_quote",
    "form_field",
    "paragraph_shape",
    "headline_shape",
    "rule_any",
    "rule_header",
    "rule_breadcrumb",
    "rule_menu",
    "rule_widget",
    "rule_caption",
    "rule_teaser",
    "rule_notice",
    "rule_meta",
    "rule_repeated",
    "rule_outside",
    "region_before",
    "region_inside",
    "region_after",
    "prev_ln_words",
    "prev_sentence_end",
    "prev_stopword_density",
    "prev_paragraph_shape",
    "prev_link_or_bullet",
    "next_ln_words",
    "next_sentence_end",
    "next_stopword_density",
    "next_paragraph_shape",
    "next_link_or_bullet",
    "window3_paragraph_share",
    "window3_stopword_density",
    "window5_ln_words",
    "ln_distance_to_paragraph",
    "words_before_share",
    "page_ln_lines",
    "page_ln_words",
    "from_html",
    "window10_paragraph_share",
    "ln_neighbour_repeats",
    "in_main_content",
    "main_content_found",
    "link_density",
    "tag_paragraph",
    "tag_heading",
    "tag_list_item",
    "furniture_hint",
    "content_hint",
    "comment_hint",
    "innermost_furniture",
    "innermost_content",
    "before_main_content",
    "after_main_content",
    "ln_container_words",
    "container_share",
    "ln_grand_container_words",
    "grand_container_share",
    "container_link_density",
    "grand_container_link_density",
];

pub const FEATURE_COUNT: usize = FEATURE_NAMES.len();
pub type Features = [f32; FEATURE_COUNT];

/// The facts about one line that neighbours look at.
struct Own {
    ln_words: f32,
    sentence: f32,
    stopwords: f32,
    paragraph: f32,
    link_or_bullet: f32,
    repeats: f32,
}

fn ln1(x: usize) -> f32 {
    (1.0 + x as f32).ln()
}

fn flag(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

/// `is_stopword` for a word in any case, lowercased on the stack when it is ASCII: every line's
/// capitalised "The" or "In" no longer allocates.
fn is_stopword_in_any_case(word: &str) -> bool {
    word.len() <= LONGEST_STOPWORD && in_any_case_among(&STOPWORD_SET, word)
}

/// A URL in the line: a scheme, a `www.` host or a `.com/` path, in either case. One regex finds
/// any of the five in one pass (five `contains` each searched the line again).
fn is_link_like(text: &str) -> bool {
    static LINK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"://|www\.|WWW\.|\.com/|\.COM/").expect("valid regex"));
    LINK.is_match(text)
}

/// What the features read off one line's own text, counted in one pass over its words and one
/// over its characters when the line is made (`LineShape::new`), instead of a pass per measure,
/// with the marks they look for (a URL, a bullet, a checkbox or rule).
#[derive(Default)]
pub(crate) struct LineStats {
    /// Words holding a letter or digit (as `text::word_count` counts them).
    pub(crate) words: usize,
    /// Of them, function words: the word trimmed of what is not a letter or digit, in any case.
    stopwords: usize,
    /// Words `text::title_case_ratio` counts, and the capitalised ones among them.
    title_words: usize,
    capitalised: usize,
    pub(crate) chars: usize,
    punctuation: usize,
    digits: usize,
    separators: usize,
    symbols: usize,
    visible: usize,
    letters: usize,
    lowercase_letters: usize,
    quote_marks: usize,
    /// A URL in the line (`is_link_like`).
    link_like: bool,
    /// It opens with a bullet (`starts_with_bullet`).
    bullet: bool,
    /// A checkbox or a heavy rule (`has_checkbox_or_rule`).
    checkbox_or_rule: bool,
}

impl LineStats {
    /// `text` is a normalised line (`text::normalize_line`): its words are separated by single
    /// spaces, so splitting on ' ' finds them without testing every character for whitespace.
    pub(crate) fn of(text: &str) -> Self {
        let mut stats = LineStats::default();
        for word in text.split(' ') {
            let core = alphanumeric_core(word);
            if core.is_empty() {
                continue;
            }
            stats.words += 1;
            stats.stopwords += usize::from(is_stopword_in_any_case(core));
            if let Some(is_capitalised) = title_case_word(word) {
                stats.title_words += 1;
                stats.capitalised += usize::from(is_capitalised);
            }
        }
        // Each character's classes are one byte each of a u64 (`char_classes`), so one addition
        // counts it in all of them; the bytes are spilled into the counters before they can wrap.
        // The table is dereferenced once: through the `LazyLock`, every character paid an atomic load.
        let known_classes: &[u64] = &KNOWN_CLASSES;
        let mut packed = 0u64;
        let mut pending = 0;
        for c in text.chars() {
            packed += match known_classes.get(c as usize) {
                Some(&classes) => classes,
                None => char_classes(c),
            };
            pending += 1;
            if pending == u8::MAX {
                stats.add_classes(packed);
                (packed, pending) = (0, 0);
            }
            stats.chars += 1;
        }
        stats.add_classes(packed);
        stats.link_like = is_link_like(text);
        stats.bullet = starts_with_bullet(text);
        stats.checkbox_or_rule = has_checkbox_or_rule(text);
        stats
    }

    /// Adds up to 255 characters' classes, summed byte by byte (`char_classes`).
    fn add_classes(&mut self, packed: u64) {
        let [punctuation, digits, separators, quote_marks, visible, symbols, letters, lowercase_letters] =
            packed.to_le_bytes().map(usize::from);
        self.punctuation += punctuation;
        self.digits += digits;
        self.separators += separators;
        self.quote_marks += quote_marks;
        self.visible += visible;
        self.symbols += symbols;
        self.letters += letters;
        self.lowercase_letters += lowercase_letters;
    }

    /// Share of the words that are function words: prose is dense in them.
    pub(crate) fn stopword_density(&self) -> f32 {
        if self.words == 0 { 0.0 } else { self.stopwords as f32 / self.words as f32 }
    }

    /// `text::title_case_ratio` of the line.
    pub(crate) fn title_case_ratio(&self) -> f32 {
        if self.title_words == 0 { 0.0 } else { self.capitalised as f32 / self.title_words as f32 }
    }

    /// Letters, none of them lowercase.
    pub(crate) fn is_all_caps(&self) -> bool {
        self.letters > 0 && self.lowercase_letters == 0
    }
}

/// The classes `LineStats` counts a character in, as a 1 in the byte of each (in the order
/// `LineStats::add_classes` reads them).
fn char_classes(c: char) -> u64 {
    let whitespace = c.is_whitespace();
    let alphabetic = c.is_alphabetic();
    let classes = [
        matches!(c, ',' | '.' | ';' | '!' | '?'),
        c.is_ascii_digit(),
        matches!(c, '»' | '›' | '|' | '/' | '>'),
        matches!(c, '“' | '”' | '"' | '‘' | '’' | '«' | '»'),
        !whitespace,
        !whitespace && !alphabetic && !c.is_numeric(),
        alphabetic,
        alphabetic && c.is_lowercase(),
    ];
    u64::from_le_bytes(classes.map(u8::from))
}

/// Characters below this have their `char_classes` worked out once: ASCII, the Latin letters,
/// and the punctuation, arrows, box drawing and shapes crawled pages are full of (’ “ • — ━ □),
/// whose Unicode property lookups cost some 300 instructions a character.
const KNOWN_CLASSES_END: u32 = 0x3000;
static KNOWN_CLASSES: LazyLock<Box<[u64]>> =
    LazyLock::new(|| (0..KNOWN_CLASSES_END).map(|code| char::from_u32(code).map_or(0, char_classes)).collect());

/// The word without what is not a letter or digit at either end ("“Kremlin,”" → "Kremlin").
fn alphanumeric_core(word: &str) -> &str {
    // Most words start and end with a letter or digit: nothing to trim.
    if let (Some(first), Some(last)) = (word.as_bytes().first(), word.as_bytes().last())
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
    {
        return word;
    }
    if word.is_ascii() {
        word.trim_matches(|c: char| !c.is_ascii_alphanumeric())
    } else {
        word.trim_matches(|c: char| !is_alphanumeric(c))
    }
}

/// A form's checkbox ("[ ]", "[x]"), a filled square or a heavy rule ("■", "━"): widgets and
/// dividers. One scan for the two bytes they start with, where a search per mark read each line
/// four times (1.3 % of the stages' instructions on wcxb-dev's texts).
fn has_checkbox_or_rule(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr2_iter(b'[', 0xE2, bytes).any(|at| {
        // "■" is E2 96 A0 in UTF-8, "━" E2 94 81.
        matches!(bytes.get(at..at + 3), Some(b"[ ]" | b"[x]" | [0xE2, 0x96, 0xA0] | [0xE2, 0x94, 0x81]))
    })
}

fn starts_with_bullet(text: &str) -> bool {
    text.starts_with(['•', '·', '▪', '►', '▸', '◦', '‣', '□', '■', '●', '*', '-', '–', '—', '○', '◆'])
}

fn rule_group(reason: Reason) -> usize {
    use Reason::*;
    match reason {
        Title | Headline => 0,
        Breadcrumb => 1,
        MenuItem => 2,
        Share | Subscribe | Comments | Engagement => 3,
        Caption | CaptionLike => 4,
        Teaser => 5,
        Legal | Link | Label => 6,
        DateLine | Byline | CreditLine => 7,
        Repeated => 8,
        OutsideArticle | Classified | SiteTemplate => 9,
    }
}

/// Features for every line of a page, given the rule pass's verdicts.
/// `html` is what the markup says about the lines of an HTML page; crawler text has none.
pub(crate) fn page_features(
    lines: &[LineShape],
    verdicts: &[Option<Reason>],
    html: Option<&HtmlEvidence>,
) -> Vec<Features> {
    let from_html = html.is_some();
    let main_content = html.and_then(|h| h.main_content.as_ref());
    let n = lines.len();
    if n == 0 {
        return Vec::new();
    }
    // Readability's extract as a span of the page: what comes after its last line on a page with
    // comments or teasers under the article is rarely article text.
    let in_main_content: Vec<bool> =
        lines.iter().map(|line| main_content.is_some_and(|m| m.contains(&line.text))).collect();
    let main_first = in_main_content.iter().position(|&inside| inside);
    let main_last = in_main_content.iter().rposition(|&inside| inside);
    let mut occurrences: HashMap<&str, usize> = HashMap::new();
    for line in lines {
        *occurrences.entry(line.folded.as_str()).or_default() += 1;
    }
    let own: Vec<Own> = lines
        .iter()
        .map(|line| Own {
            ln_words: ln1(line.words()),
            sentence: flag(line.sentence),
            stopwords: line.stats.stopword_density(),
            paragraph: flag(line.is_paragraph()),
            link_or_bullet: flag(line.stats.link_like || line.stats.bullet),
            repeats: ln1(occurrences[line.folded.as_str()] - 1),
        })
        .collect();
    let kept_paragraph = |i: usize| verdicts[i].is_none() && lines[i].is_paragraph();
    let first = (0..n).find(|&i| kept_paragraph(i));
    let last = (0..n).rev().find(|&i| kept_paragraph(i));
    let paragraph_positions: Vec<usize> = (0..n).filter(|&i| own[i].paragraph > 0.0).collect();
    let total_words: usize = lines.iter().map(|l| l.words()).sum();
    let mut words_before = 0usize;

    let mut out = Vec::with_capacity(n);
    for (i, line) in lines.iter().enumerate() {
        let text = &line.text;
        let chars = line.stats.chars.max(1);
        let mut f = [0f32; FEATURE_COUNT];
        let mut k = 0;
        let mut push = |value: f32| {
            f[k] = value;
            k += 1;
        };
        let o = &own[i];
        push(o.ln_words);
        push(ln1(chars));
        push(o.sentence);
        push(flag(super::ends_with_colon(text)));
        push(o.stopwords);
        let counts = &line.stats;
        push(counts.punctuation as f32 / line.words().max(1) as f32);
        push(counts.title_case_ratio());
        push(flag(counts.is_all_caps()));
        push(flag(counts.bullet));
        push(flag(counts.link_like));
        push(counts.digits as f32 / chars as f32);
        push(counts.separators.min(5) as f32);
        push(counts.symbols as f32 / chars as f32);
        push(counts.visible as f32 / line.words().max(1) as f32);
        push(ln1(line.indent));
        push(flag(line.blank_before));
        push(i as f32 / n as f32);
        push(o.repeats);
        push(flag(counts.quote_marks > 0));
        push(flag(counts.checkbox_or_rule));
        push(o.paragraph);
        push(flag(line.is_headline_shaped()));
        push(flag(verdicts[i].is_some()));
        let group = verdicts[i].map(rule_group);
        for g in 0..10 {
            push(flag(group == Some(g)));
        }
        push(flag(first.is_none_or(|first| i < first)));
        push(flag(matches!((first, last), (Some(a), Some(b)) if (a..=b).contains(&i))));
        push(flag(last.is_some_and(|last| i > last)));
        for j in [i.checked_sub(1), (i + 1 < n).then_some(i + 1)] {
            match j {
                Some(j) => {
                    let p = &own[j];
                    push(p.ln_words);
                    push(p.sentence);
                    push(p.stopwords);
                    push(p.paragraph);
                    push(p.link_or_bullet);
                }
                None => (0..5).for_each(|_| push(0.0)),
            }
        }
        let window = |radius: usize| i.saturating_sub(radius)..(i + radius + 1).min(n);
        let mean = |radius: usize, get: &dyn Fn(&Own) -> f32| {
            let range = window(radius);
            let len = range.len() as f32;
            range.map(|j| get(&own[j])).sum::<f32>() / len
        };
        push(mean(3, &|o| o.paragraph));
        push(mean(3, &|o| o.stopwords));
        push(mean(5, &|o| o.ln_words));
        let distance = match paragraph_positions.binary_search(&i) {
            Ok(_) => 0,
            Err(at) => {
                let before = at.checked_sub(1).map(|b| i - paragraph_positions[b]);
                let after = paragraph_positions.get(at).map(|&a| a - i);
                before.into_iter().chain(after).min().unwrap_or(n)
            }
        };
        push(ln1(distance));
        push(words_before as f32 / total_words.max(1) as f32);
        push(ln1(n));
        push(ln1(total_words));
        push(flag(from_html));
        push(mean(10, &|o| o.paragraph));
        push(mean(2, &|o| o.repeats));
        push(flag(in_main_content[i]));
        push(flag(main_content.is_some()));
        let block = html.and_then(|h| h.blocks.get(i)).copied().unwrap_or_default();
        push(block.link_density);
        push(flag(block.tag == BlockTag::Paragraph));
        push(flag(block.tag == BlockTag::Heading));
        push(flag(block.tag == BlockTag::ListItem));
        push(flag(block.furniture_hint));
        push(flag(block.content_hint));
        push(flag(block.comment_hint));
        push(flag(block.innermost_furniture));
        push(flag(block.innermost_content));
        push(flag(main_first.is_some_and(|first| i < first)));
        push(flag(main_last.is_some_and(|last| i > last)));
        for words in [block.container_words, block.grand_container_words] {
            push(ln1(words as usize));
            push(words as f32 / total_words.max(1) as f32);
        }
        push(block.container_link_density);
        push(block.grand_container_link_density);
        debug_assert_eq!(k, FEATURE_COUNT);
        words_before += line.words();
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::clean::rule_verdicts;

    proptest::proptest! {
        #[test]
        fn checkbox_and_rule_marks_are_found_as_four_searches_would(text in r"(\[ \]|\[x\]|\[X\]|■|━|□|─|\[|\]|x| |a){0,8}") {
            let searched = text.contains("[ ]") || text.contains("[x]") || text.contains('■') || text.contains("━");
            proptest::prop_assert_eq!(has_checkbox_or_rule(&text), searched);
        }
    }

    #[test]
    fn stopwords_are_found_in_any_case() {
        for word in ["the", "The", "THE", "und", "Und", "não"] {
            assert!(is_stopword_in_any_case(word), "{word}");
        }
        for word in ["Moscow", "theory", "", "Straße"] {
            assert!(!is_stopword_in_any_case(word), "{word}");
        }
    }

    #[test]
    fn line_stats_count_as_the_text_measures_do() {
        let lines = [
            "Airstrikes Hit Two Hospitals in Besieged Syrian City of Aleppo",
            "“The Kremlin,” Peskov said, “is 100% sure” — vs. 3 others.",
            "MOSCOW (AFP) - Ban Ki-moon and al-Assad: Élysée über ÖL ²",
            "Москва. Пресс-секретарь Кремля Дмитрий Песков",
            "• | — » … 2016/09/30",
            "",
        ];
        for line in lines {
            let stats = LineStats::of(line);
            assert_eq!(stats.words, crate::stages::text::word_count(line), "{line}");
            assert_eq!(stats.title_case_ratio(), crate::stages::text::title_case_ratio(line), "{line}");
            assert_eq!(stats.chars, line.chars().count(), "{line}");
        }
        let prose = LineStats::of("The storm closed every port on the coast, officials said.");
        assert_eq!((prose.words, prose.stopwords, prose.punctuation), (10, 3, 2));
        let long = LineStats::of("a1. ".repeat(200).trim_end());
        assert_eq!((long.chars, long.digits, long.punctuation, long.letters, long.visible), (799, 200, 200, 200, 600));
        assert!(LineStats::of("BREAKING NEWS: 24/7").is_all_caps());
        assert!(!LineStats::of("BREAKING news").is_all_caps());
        assert!(!LineStats::of("2016 — 24/7").is_all_caps(), "no letters, no capitals");
        assert_eq!(LineStats::of("«Да», сказал он: \"нет\"").quote_marks, 4);
    }

    #[test]
    fn every_line_gets_a_full_vector_of_finite_numbers() {
        let page = "Home » World\n\n  • Share\nStorm closes ports\nThe storm closed every port on the coast on Sunday, officials said.\nA reply";
        let lines = LineShape::page(page);
        let features = page_features(&lines, &rule_verdicts(&lines), None);
        assert_eq!(features.len(), 5);
        assert!(features.iter().flatten().all(|x| x.is_finite()));
        let mut stopwords = ENGLISH_STOPWORDS.split_whitespace().chain(OTHER_STOPWORDS.split_whitespace());
        assert!(stopwords.all(|word| word.len() <= LONGEST_STOPWORD));
        let paragraph = &features[3];
        assert_eq!(paragraph[FEATURE_NAMES.iter().position(|n| *n == "paragraph_shape").unwrap()], 1.0);
        assert!(paragraph[FEATURE_NAMES.iter().position(|n| *n == "stopword_density").unwrap()] > 0.3);
    }
}
