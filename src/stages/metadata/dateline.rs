//! The dateline: the place a story is filed from, where its first paragraph opens — "MOSCOW:",
//! "WASHINGTON -", "NEW YORK, Sept 30 (Reuters) -", "Moscow (AFP) —".
//!
//! A place in capitals followed by a colon or dash is a dateline; so is a capitalised place
//! followed by a wire agency in parentheses. A capitalised word and a colon alone ("Update: …")
//! is one only when the gazetteer knows the place. The place is returned in title case
//! ("MOSCOW" → "Moscow"), as users query it.

use std::sync::LazyLock;

use regex::Regex;

use super::byline::agency_named;
use super::entities::{is_known_place, title_case};

static DATELINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<place>\p{Lu}[\p{L}\p{M}.'’-]*(?:\s\p{Lu}[\p{L}\p{M}.'’-]*){0,3})(?:,\s*(?P<region>\p{Lu}[\p{L}.]*(?:\s\p{Lu}[\p{L}.]*)?))?(?:,?\s+(?P<date>\p{Lu}[a-z]{2,8}\.?\s+\d{1,2}))?\s*(?:\((?P<agency>[^)]{2,40})\))?\s*(?P<sep>:|—|–|-{1,2})\s+\S",
    )
    .expect("valid regex")
});

/// The dateline's place and, when it names one in parentheses, the wire agency.
#[derive(Debug, Clone, PartialEq)]
pub struct Dateline {
    pub place: String,
    pub agency: Option<&'static str>,
}

pub fn find(first_paragraph: &str) -> Option<Dateline> {
    let captures = DATELINE.captures(first_paragraph)?;
    let place = captures.name("place")?.as_str();
    let agency = captures.name("agency").and_then(|a| agency_named(a.as_str()));
    let shouted = place.chars().filter(|c| c.is_alphabetic()).count() >= 3 && !place.chars().any(char::is_lowercase);
    let place = if shouted { title_case(place) } else { place.to_owned() };
    (shouted || agency.is_some() || is_known_place(&place)).then_some(Dateline { place, agency })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(text: &str) -> Option<String> {
        find(text).map(|d| d.place)
    }

    #[test]
    fn datelines_in_their_usual_forms() {
        assert_eq!(place("MOSCOW: Russia today said it is pressing on").as_deref(), Some("Moscow"));
        assert_eq!(place("WASHINGTON - US Secretary of State John Kerry called").as_deref(), Some("Washington"));
        assert_eq!(place("NEW YORK, Sept 30 (Reuters) - Stocks fell").as_deref(), Some("New York"));
        assert_eq!(
            find("Moscow (AFP) — Russia said").unwrap(),
            Dateline { place: "Moscow".into(), agency: Some("AFP") }
        );
        assert_eq!(place("BEIRUT, Lebanon — Fighting resumed").as_deref(), Some("Beirut"));
    }

    #[test]
    fn an_ordinary_first_sentence_has_no_dateline() {
        assert_eq!(place("Russia on Thursday said it is pressing on"), None);
        assert_eq!(place("Update: the talks have resumed"), None);
        assert_eq!(place("Kremlin spokesman Dmitry Peskov said"), None);
    }
}
