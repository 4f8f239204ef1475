//! Direct quotations and who said them.
//!
//! A quotation is text between quotation marks (“…”, «…», or straight quotes paired in order
//! within a paragraph) of at least `MIN_QUOTE_WORDS` words: shorter ones are scare quotes ('war
//! crimes'). Its speaker, in order of trust:
//! 1. after it, in the same sentence: `"…," Peskov said`, `"…," said Ryabkov, who …`, `"…," he said`;
//! 2. before it: `Peskov said "…"`, `Peskov told reporters: "…"`;
//! 3. a quotation with neither continues the previous one's speaker when it directly follows it
//!    (the next sentence or paragraph), as reporters write a long quote.
//!
//! Pronouns and roles ("he said", "the spokesman said") stand for the last person named before the
//! quote; names resolve to the full name the article gives ("Peskov" → "Dmitry Peskov").

use std::sync::LazyLock;

use regex::Regex;

use super::entities::{Found, SPEECH_VERBS};
use crate::article::Quote;
use crate::stages::text::prefix_chars;

/// Quotations shorter than this are scare quotes or titles, not someone's words.
const MIN_QUOTE_WORDS: usize = 4;
/// How far after a quotation its attribution may end, and before it its lead-in may start.
const ATTRIBUTION_CHARS: usize = 120;
/// Quotations kept per article: enough for any story, bounded for hostile input.
const MAX_QUOTES: usize = 50;

static SPEECH: LazyLock<String> = LazyLock::new(|| SPEECH_VERBS.join("|"));
/// A capitalised name of one to four words ("Peskov", "Dmitry Peskov", "Bashar al-Assad").
const NAME: &str =
    r"\p{Lu}[\p{L}\p{M}'’.-]+(?:\s+(?:(?:al|bin|de|van|von|da|di|la|le|du)\s+)?\p{Lu}[\p{L}\p{M}'’.-]+){0,3}";
/// A pronoun, or a role named with "the" ("the Kremlin spokesman"), standing for the last person named.
const STAND_IN: &str = r"(?:he|she|they|(?:the|a|an)\s+(?:[\p{L}-]+\s+){0,3}(?:spokesman|spokeswoman|spokesperson|minister|official|president|secretary|diplomat|source|statement))";

/// After the quote: `, Peskov said` / `, said Ryabkov` / `, he said` / `Peskov told reporters`.
static AFTER: LazyLock<Regex> = LazyLock::new(|| {
    let speech = &*SPEECH;
    Regex::new(&format!(
        r"^[\s,;:—–-]*(?:(?P<name>{NAME})\s+(?:(?:also|then|later)\s+)?(?:{speech})\b|(?:{speech})\s+(?P<name2>{NAME})|(?i:(?P<stand>{STAND_IN}))\s+(?:{speech})\b)"
    ))
    .expect("valid regex")
});
/// Before the quote, at the end of the lead-in: `Peskov said "`, `Peskov told reporters: "`.
static BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    let speech = &*SPEECH;
    Regex::new(&format!(
        r"(?:(?P<name>{NAME})|(?i:(?P<stand>{STAND_IN})))\s+(?:(?:also|then|later)\s+)?(?:{speech})\b[^.!?]{{0,40}}?[:,]?\s*(?:that\s*)?$"
    ))
    .expect("valid regex")
});

/// A quotation's span in the body: the quoted text's byte range and the marks' outer range.
struct Span {
    inner: (usize, usize),
    outer: (usize, usize),
}

pub fn find(body: &str, entities: &Found) -> Vec<Quote> {
    let mut quotes: Vec<Quote> = Vec::new();
    let mut previous_end: Option<usize> = None;
    for span in spans(body).into_iter().take(MAX_QUOTES) {
        let text = body[span.inner.0..span.inner.1].trim().trim_end_matches([',', ' ']).to_owned();
        let (start, end) = span.outer;
        // A quotation that ends its own sentence ("… agreement.") takes no attribution after it.
        let ends_sentence = text.ends_with('.');
        let speaker = (!ends_sentence)
            .then(|| attribution_after(body, end, entities))
            .flatten()
            .or_else(|| attribution_before(body, start, entities))
            .or_else(|| {
                continued(body, previous_end, start).then(|| quotes.last().and_then(|q| q.speaker.clone())).flatten()
            });
        previous_end = Some(end);
        quotes.push(Quote { speaker, text });
    }
    quotes
}

fn spans(body: &str) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut line_start = 0;
    // A quotation never runs over a line break.
    for line_end in memchr::memchr_iter(b'\n', body.as_bytes()).chain(std::iter::once(body.len())) {
        spans_in_line(body, line_start..line_end, &mut spans);
        line_start = line_end + 1;
    }
    spans
}

fn spans_in_line(body: &str, line: std::ops::Range<usize>, spans: &mut Vec<Span>) {
    let mut open: Option<(usize, char)> = None;
    // Every mark is '"' or starts with byte 0xE2 (“ ” „) or 0xC2 (« »): `memchr3` skips the other
    // bytes without decoding, and no other character can begin at one of these bytes.
    let marks = memchr::memchr3_iter(b'"', 0xE2, 0xC2, &body.as_bytes()[line.clone()]).map(|i| line.start + i);
    for i in marks {
        let Some(c) = body[i..].chars().next() else { continue };
        match (open, c) {
            (None, '“' | '«' | '"' | '„') => open = Some((i, c)),
            (Some((from, opener)), closer) if closes(opener, closer) => {
                let inner = (from + opener.len_utf8(), i);
                let words = body[inner.0..inner.1].split_whitespace().count();
                if words >= MIN_QUOTE_WORDS {
                    spans.push(Span { inner, outer: (from, i + closer.len_utf8()) });
                }
                open = None;
            }
            _ => {}
        }
    }
}

fn closes(opener: char, closer: char) -> bool {
    matches!((opener, closer), ('“', '”') | ('«', '»') | ('"', '"') | ('„', '“' | '”'))
}

fn attribution_after(body: &str, end: usize, entities: &Found) -> Option<String> {
    let tail = prefix_chars(&body[end..], ATTRIBUTION_CHARS);
    let tail = tail.split('\n').next().unwrap_or_default();
    if !names_a_speech_verb(tail) {
        return None;
    }
    let captures = AFTER.captures(tail)?;
    speaker(&captures, end, entities)
}

fn attribution_before(body: &str, start: usize, entities: &Found) -> Option<String> {
    let before = &body[..start];
    let lead_from = before
        .rfind(['\n', '.', '!', '?', '"', '”'])
        .map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
    let lead = &body[lead_from..start];
    let lead = suffix_chars(lead, ATTRIBUTION_CHARS);
    if !names_a_speech_verb(lead) {
        return None;
    }
    let captures = BEFORE.captures(lead)?;
    speaker(&captures, start, entities)
}

/// Every attribution `AFTER` or `BEFORE` matches holds a speech verb as a whole word: text without
/// one is passed over before the regexes, whose captures are slow to look for.
fn names_a_speech_verb(text: &str) -> bool {
    text.split(|c: char| !c.is_alphabetic()).any(|word| SPEECH_VERBS.contains(&word))
}

fn speaker(captures: &regex::Captures<'_>, at: usize, entities: &Found) -> Option<String> {
    if let Some(name) = captures.name("name").or_else(|| captures.name("name2")) {
        let name = name.as_str().trim_end_matches(['.', '’', '\'']);
        // A word in capitals after a quote is the next story's dateline, not a speaker.
        if name.len() > 3 && !name.chars().any(char::is_lowercase) {
            return None;
        }
        return Some(entities.person(name).map_or_else(|| name.to_owned(), str::to_owned));
    }
    captures.name("stand")?;
    entities.last_person_before(at).map(str::to_owned)
}

/// The quotation starting at `start` follows the previous one with nothing between them but
/// whitespace, or one short sentence of narration at most.
fn continued(body: &str, previous_end: Option<usize>, start: usize) -> bool {
    let Some(previous_end) = previous_end else { return false };
    let between = &body[previous_end..start];
    let narration_ends = between.rfind(['.', '!', '?']).map_or(0, |i| i + 1);
    between[narration_ends..].trim().is_empty() && between.split_whitespace().count() <= 12
}

fn suffix_chars(text: &str, chars: usize) -> &str {
    let count = text.chars().count();
    if count <= chars {
        return text;
    }
    text.char_indices().nth(count - chars).map_or(text, |(i, _)| &text[i..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::metadata::entities;

    fn quotes(body: &str) -> Vec<(Option<String>, String)> {
        find(body, &entities::find(body)).into_iter().map(|q| (q.speaker, q.text)).collect()
    }

    #[test]
    fn speakers_come_from_around_the_quote_and_resolve_to_full_names() {
        let body = "Kremlin spokesman Dmitry Peskov spoke to reporters.\"We have taken note of the rhetoric,\" Peskov said.\
            \"Moscow maintains its interest in the deal.\"In the meantime, Peskov said \"Moscow is continuing its air operation.\"";
        let found = quotes(body);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found.iter().all(|(speaker, _)| speaker.as_deref() == Some("Dmitry Peskov")), "{found:?}");
        assert_eq!(found[0].1, "We have taken note of the rhetoric");
    }

    #[test]
    fn said_name_who_and_pronouns_are_attributed() {
        let body = "Deputy Foreign Minister Sergei Ryabkov spoke in Moscow.\n\n\
            “We will continue to support the army,” said Ryabkov, who did not give details.\n\n\
            “The burden remains on Russia to stop this assault,” he said.";
        let found = quotes(body);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0.as_deref(), Some("Sergei Ryabkov"));
        assert_eq!(found[1].0.as_deref(), Some("Sergei Ryabkov"));
    }

    #[test]
    fn a_quote_after_a_closing_curly_quote_is_read_without_splitting_a_character() {
        let found = quotes("He called it “a very long and winding road.” “We will go on with the talks,” he said.");
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn scare_quotes_are_not_quotations() {
        assert!(quotes("Ban Ki-moon called the attacks ‘war crimes’ on Wednesday.").is_empty());
        assert!(quotes("The so-called \"moderate\" rebels held the east.").is_empty());
    }
}
