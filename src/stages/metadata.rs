//! Metadata extraction: title, language, word count and publication date.
//!
//! Sources are trusted in this order: the envelope, the HTML's metadata, then the text itself.
//! Dates are read only from the page's header lines the cleaner set aside (date lines, bylines,
//! breadcrumbs, headlines) — never from captions or the story, which name other days — and never
//! after `fetched_at`.

use chrono::{DateTime, NaiveDate, Utc};

use super::Stage;
use super::clean::Reason;
use super::dates::find_date;
use super::text::word_count;
use crate::article::{Article, PublishedAt};

/// Removed lines that belong to the page header, where a publication date is stated.
const HEADER_REASONS: [Reason; 7] = [
    Reason::DateLine,
    Reason::Breadcrumb,
    Reason::Byline,
    Reason::CreditLine,
    Reason::Title,
    Reason::Headline,
    Reason::OutsideArticle,
];

/// Whatlang needs a few sentences to be sure; on less its guess is noise.
const MIN_WORDS_FOR_LANGUAGE: usize = 8;
/// Language identification reads the first characters only: enough evidence, bounded cost.
const LANGUAGE_SAMPLE_CHARS: usize = 2_000;

#[derive(Debug, Default)]
pub struct MetadataExtractor;

impl Stage for MetadataExtractor {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn apply(&self, article: &mut Article) {
        article.word_count = word_count(&article.body);
        article.title = title(article);
        article.language = language(article);
        article.published_at = published_at(article);
    }
}

fn title(article: &Article) -> Option<String> {
    article
        .input
        .title_hint
        .clone()
        .or_else(|| article.input.html_title.clone())
        .or_else(|| removed_with(article, Reason::Title).next().map(str::to_owned))
}

fn removed_with(article: &Article, reason: Reason) -> impl Iterator<Item = &str> {
    article.removed.iter().filter(move |r| r.reason == reason.as_str()).map(|r| r.line.as_str())
}

fn language(article: &Article) -> Option<String> {
    if let Some(hint) = article.input.lang_hint.as_deref().and_then(iso_639_1) {
        return Some(hint);
    }
    if article.word_count < MIN_WORDS_FOR_LANGUAGE {
        return None;
    }
    let sample: String = article.body.chars().take(LANGUAGE_SAMPLE_CHARS).collect();
    let info = whatlang::detect(&sample)?;
    isolang::Language::from_639_3(info.lang().code())?.to_639_1().map(str::to_owned)
}

/// Accepts "en", "EN", "en-GB", "eng" and returns the two-letter code.
fn iso_639_1(code: &str) -> Option<String> {
    let primary = code.split(['-', '_']).next()?.to_ascii_lowercase();
    match primary.len() {
        2 => isolang::Language::from_639_1(&primary).map(|_| primary),
        3 => isolang::Language::from_639_3(&primary)?.to_639_1().map(str::to_owned),
        _ => None,
    }
}

fn published_at(article: &Article) -> Option<PublishedAt> {
    let fetched_at = article.input.fetched_at;
    let from_html = article.input.html_published.as_deref().and_then(parse_html_time);
    let from_text = || {
        HEADER_REASONS
            .iter()
            .flat_map(|reason| removed_with(article, *reason))
            .find_map(|line| find_date(line).map(|found| PublishedAt::Date(found.date)))
    };
    from_html.into_iter().chain(from_text()).find(|at| is_plausible(*at, fetched_at))
}

fn parse_html_time(value: &str) -> Option<PublishedAt> {
    PublishedAt::parse_iso8601(value).or_else(|| {
        let date_part = value.get(..10)?;
        NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok().map(PublishedAt::Date)
    })
}

/// Never a date from the future of the fetch, nor from before newspapers went online at scale.
fn is_plausible(at: PublishedAt, fetched_at: Option<DateTime<Utc>>) -> bool {
    let not_ancient = at.date() >= NaiveDate::from_ymd_opt(1990, 1, 1).expect("valid date");
    let not_future = match (at, fetched_at) {
        (PublishedAt::DateTime(at), Some(fetched)) => at <= fetched,
        (PublishedAt::Date(date), Some(fetched)) => date <= fetched.date_naive(),
        (_, None) => true,
    };
    not_ancient && not_future
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::article::{Content, RawArticle};
    use crate::stages::clean::Cleaner;

    fn extract(text: &str, fetched_at: Option<&str>) -> Article {
        let mut article = Article::from_raw(RawArticle {
            fetched_at: fetched_at.map(|t| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)),
            ..RawArticle::new("a", Content::Text(text.into()))
        });
        Cleaner.apply(&mut article);
        MetadataExtractor.apply(&mut article);
        article
    }

    const PAGE: &str = "Home » World\nStorm closes ports\nMarch 2, 2014\n\
        Portugal closed its main ports on Sunday as a storm battered the Atlantic coast.\n\
        The civil protection agency asked everyone to stay at home until the wind dropped.";

    #[test]
    fn title_date_language_and_word_count_come_from_the_page() {
        let article = extract(PAGE, None);
        assert_eq!(article.title.as_deref(), Some("Storm closes ports"));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2014-03-02");
        assert_eq!(article.language.as_deref(), Some("en"));
        assert_eq!(article.word_count, 28);
    }

    #[test]
    fn a_date_after_the_fetch_is_never_the_publication_date() {
        let article = extract(PAGE, Some("2014-03-01T12:00:00Z"));
        assert_eq!(article.published_at, None);
    }

    #[test]
    fn a_caption_date_is_not_a_publication_date() {
        let page = "Portugal closed its ports on Sunday.\n\
            A pier is seen on February 27, 2014 as waves break over the wall of the old harbour in Porto\n\
            Ferries will sail again on Tuesday.";
        assert_eq!(extract(page, None).published_at, None);
    }

    #[test]
    fn envelope_language_codes_are_normalised_to_two_letters() {
        assert_eq!(iso_639_1("en-GB").as_deref(), Some("en"));
        assert_eq!(iso_639_1("fra").as_deref(), Some("fr"));
        assert_eq!(iso_639_1("zz"), None);
    }
}
