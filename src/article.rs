//! The article value that flows through the stages, and the output contract it serialises to.
//!
//! `Article` is both the JSON object `article-ingest process` prints and the shape of a row in the
//! `articles` table. Every key of the contract is always present (empty arrays, nulls) so later stages
//! only fill values in.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::stages::clean::templates::{Sighting, SiteTemplates, site_key};
use crate::stages::dedup::near::Signature;
use crate::stages::dedup::stories::TermVector;
use crate::stages::metadata::html_meta::HtmlMeta;

/// What came in: the decoded message, before any stage ran.
#[derive(Debug, Clone, PartialEq)]
pub struct RawArticle {
    pub id: String,
    pub url: Option<String>,
    pub source: Option<String>,
    pub fetched_at: Option<DateTime<Utc>>,
    /// The publication time the crawler knows, trusted before anything the page says.
    pub published_at: Option<PublishedAt>,
    pub title: Option<String>,
    pub lang: Option<String>,
    pub content: Content,
}

impl RawArticle {
    /// An article with an id and a body and none of the envelope's optional fields.
    pub fn new(id: impl Into<String>, content: Content) -> Self {
        RawArticle {
            id: id.into(),
            url: None,
            source: None,
            fetched_at: None,
            published_at: None,
            title: None,
            lang: None,
            content,
        }
    }
}

/// The two shapes a body arrives in.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Crawler text: one block per line, boilerplate included.
    Text(String),
    /// A whole HTML page.
    Html(String),
}

/// Where a message came from in Kafka; `None` for files read by `process`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One line the cleaner dropped, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemovedLine {
    pub line: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entities {
    pub people: Vec<String>,
    pub places: Vec<String>,
    pub organizations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub speaker: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicateKind {
    Exact,
    Near,
}

impl DuplicateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DuplicateKind::Exact => "exact",
            DuplicateKind::Near => "near",
        }
    }
}

/// A publication time as precise as the evidence: a date alone is never given an invented time of day,
/// and a time keeps the publisher's offset, so its day is the day the publisher meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedAt {
    Date(NaiveDate),
    DateTime(DateTime<FixedOffset>),
}

impl PublishedAt {
    pub fn date(self) -> NaiveDate {
        match self {
            PublishedAt::Date(date) => date,
            PublishedAt::DateTime(at) => at.date_naive(),
        }
    }

    pub fn to_iso8601(self) -> String {
        match self {
            PublishedAt::Date(date) => date.format("%Y-%m-%d").to_string(),
            PublishedAt::DateTime(at) => at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    pub fn parse_iso8601(value: &str) -> Option<Self> {
        if let Ok(at) = DateTime::parse_from_rfc3339(value) {
            return Some(PublishedAt::DateTime(at));
        }
        NaiveDate::parse_from_str(value, "%Y-%m-%d").ok().map(PublishedAt::Date)
    }
}

impl Serialize for PublishedAt {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_iso8601())
    }
}

impl<'de> Deserialize<'de> for PublishedAt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        PublishedAt::parse_iso8601(&value)
            .ok_or_else(|| serde::de::Error::custom(format!("not an ISO 8601 date: {value}")))
    }
}

/// The output contract. Field order is the documented key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    pub url: Option<String>,
    pub source: Option<String>,
    pub title: Option<String>,
    pub body: String,
    pub removed: Vec<RemovedLine>,
    pub published_at: Option<PublishedAt>,
    pub authors: Vec<String>,
    pub agency: Option<String>,
    pub dateline: Option<String>,
    pub language: Option<String>,
    pub word_count: usize,
    pub entities: Entities,
    pub quotes: Vec<Quote>,
    pub keywords: Vec<String>,
    pub content_hash: String,
    pub duplicate_of: Option<String>,
    pub duplicate_kind: Option<DuplicateKind>,
    pub similarity: Option<f32>,
    pub story_id: Option<String>,
    /// What the stages need to know about the input but the contract does not carry.
    #[serde(skip)]
    pub input: InputContext,
}

/// Input facts the stages read: the envelope's hints and, for HTML, the page itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputContext {
    pub fetched_at: Option<DateTime<Utc>>,
    pub published_hint: Option<PublishedAt>,
    pub title_hint: Option<String>,
    pub lang_hint: Option<String>,
    /// The raw page when the input was HTML; the cleaner turns it into `body`.
    pub html: Option<String>,
    /// What the HTML page says about the article (structured data, meta tags), for the metadata stage.
    pub html_meta: Option<HtmlMeta>,
    /// For each of `removed`, how many kept lines came before it: 0 is the page's header, where
    /// titles, bylines and dates stand.
    pub removed_kept_before: Vec<usize>,
    /// The site the article belongs to, for its templates (`clean::templates::site_key`).
    pub site: Option<String>,
    /// The site's template lines learned so far, which the cleaner removes.
    pub site_templates: Option<Arc<SiteTemplates>>,
    /// Kept lines the sink counts towards the site's templates (set by the cleaner).
    pub template_sightings: Vec<Sighting>,
    /// The clean body's MinHash signature (set by dedup), for near-duplicate linking.
    pub signature: Option<Signature>,
    /// The article's weighted terms (set by dedup), for story clustering.
    pub story_terms: TermVector,
}

impl Article {
    /// An article with every contract key present and empty, ready for the stages.
    pub fn from_raw(raw: RawArticle) -> Self {
        let (body, html) = match raw.content {
            Content::Text(text) => (text, None),
            Content::Html(html) => (String::new(), Some(html)),
        };
        let site = site_key(raw.url.as_deref(), raw.source.as_deref());
        Article {
            id: raw.id,
            url: raw.url,
            source: raw.source,
            title: None,
            body,
            removed: Vec::new(),
            published_at: None,
            authors: Vec::new(),
            agency: None,
            dateline: None,
            language: None,
            word_count: 0,
            entities: Entities::default(),
            quotes: Vec::new(),
            keywords: Vec::new(),
            content_hash: String::new(),
            duplicate_of: None,
            duplicate_kind: None,
            similarity: None,
            story_id: None,
            input: InputContext {
                fetched_at: raw.fetched_at,
                published_hint: raw.published_at,
                title_hint: raw.title,
                lang_hint: raw.lang,
                html,
                site,
                ..InputContext::default()
            },
        }
    }
}

/// A message that could not become an article: the kind of failure and a one-line reason.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub origin: Origin,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// A short stable name (`broken_json`, `too_large`, `stage_failed`, …): `DecodeError::kind`.
    pub kind: &'static str,
    pub reason: String,
}

/// The `kind` of a dead letter whose stages failed (a panic caught in a stage).
pub const STAGE_FAILED: &str = "stage_failed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contract_key_is_present_even_when_empty() {
        let raw = RawArticle::new("a1", Content::Text("Hello.".into()));
        let json = serde_json::to_value(Article::from_raw(raw)).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "url",
                "source",
                "title",
                "body",
                "removed",
                "published_at",
                "authors",
                "agency",
                "dateline",
                "language",
                "word_count",
                "entities",
                "quotes",
                "keywords",
                "content_hash",
                "duplicate_of",
                "duplicate_kind",
                "similarity",
                "story_id"
            ]
        );
        assert_eq!(json["entities"], serde_json::json!({"people": [], "places": [], "organizations": []}));
    }

    #[test]
    fn a_date_only_publication_time_serialises_without_a_time_of_day() {
        let date = PublishedAt::Date(NaiveDate::from_ymd_opt(2016, 9, 30).unwrap());
        assert_eq!(serde_json::to_string(&date).unwrap(), "\"2016-09-30\"");
        let round_trip: PublishedAt = serde_json::from_str("\"2016-09-30T08:15:00Z\"").unwrap();
        assert_eq!(round_trip.to_iso8601(), "2016-09-30T08:15:00Z");
    }
}
