//! A handful of salient terms and phrases per article, by YAKE (the `yake-rust` crate).
//!
//! YAKE scores one- to three-word phrases from the document alone — frequency, spread over
//! sentences, position, casing, how varied their neighbours are — so it needs no corpus statistics,
//! no model and no shared state, and gives the same keywords on every worker and on replay. It
//! reads the first `KEYWORD_SAMPLE_CHARS` of the body: news puts what matters first, and this keeps
//! the cost flat for long pages.

use std::collections::HashMap;
use std::sync::LazyLock;

use yake_rust::{Config, StopWords};

use crate::stages::text::prefix_chars;

/// Keywords kept per article.
pub const KEYWORDS: usize = 8;
const KEYWORD_SAMPLE_CHARS: usize = 1_200;
/// Bodies shorter than this have no salient terms worth the name.
const MIN_WORDS: usize = 20;

/// YAKE's stopword lists, by ISO 639-1 code, loaded once.
static STOPWORDS: LazyLock<HashMap<&'static str, StopWords>> = LazyLock::new(|| {
    [
        "ar", "bg", "cz", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "hi", "hr", "hu", "hy", "id", "it",
        "ja", "lt", "lv", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh",
    ]
    .into_iter()
    .filter_map(|code| StopWords::predefined(code).map(|list| (code, list)))
    .collect()
});

static CONFIG: LazyLock<Config> = LazyLock::new(|| Config {
    ngrams: 3,
    remove_duplicates: true,
    deduplication_threshold: 0.6,
    minimum_chars: 3,
    ..Config::default()
});

pub fn extract(body: &str, language: Option<&str>, word_count: usize) -> Vec<String> {
    if word_count < MIN_WORDS {
        return Vec::new();
    }
    let stopwords = language.and_then(|code| STOPWORDS.get(code)).or_else(|| STOPWORDS.get("en"));
    let Some(stopwords) = stopwords else { return Vec::new() };
    let sample = prefix_chars(body, KEYWORD_SAMPLE_CHARS);
    yake_rust::get_n_best(KEYWORDS, sample, stopwords, &CONFIG).into_iter().map(|item| item.keyword).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_name_what_the_story_is_about() {
        let body = "Portugal closed its main ports on Sunday as a winter storm battered the Atlantic coast. \
            The storm forced ferries to the Azores to stay in port. Port authorities said the storm would pass \
            by Tuesday, and fishermen were told to keep their boats in port until the storm had passed.";
        let words = body.split_whitespace().count();
        let keywords = extract(body, Some("en"), words);
        assert!(!keywords.is_empty() && keywords.len() <= KEYWORDS);
        assert!(keywords.iter().any(|k| k.contains("storm")), "{keywords:?}");
        assert!(extract("Too short.", Some("en"), 2).is_empty());
    }
}
