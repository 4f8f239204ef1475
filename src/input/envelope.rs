//! Decoding one message value into a `RawArticle`, or a one-line reason why it cannot be one.
//!
//! Accepted shapes:
//! - a JSON envelope `{"id"?, "url"?, "source"?, "fetched_at"?, "published_at"?, "title"?, "lang"?,
//!   "text" | "html"}`;
//! - a raw UTF-8 body: HTML when it opens with a tag, plain crawler text otherwise.
//!
//! The id is the envelope's `id`, else the Kafka key, else a fallback the caller supplies (the
//! message's `topic-partition-offset`, or a file name), so replays of the same message keep their id.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Deserialize;
use thiserror::Error;

use crate::article::{Content, PublishedAt, RawArticle};
use crate::stages::text::repair_mojibake;

/// Ids longer than this are refused: they are keys in Postgres indexes and in logs.
pub const MAX_ID_BYTES: usize = 512;

#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("message of {size} bytes exceeds max_message_bytes ({limit})")]
    TooLarge { size: usize, limit: usize },
    #[error("invalid UTF-8 at byte {0}")]
    InvalidUtf8(usize),
    #[error("broken JSON envelope: {0}")]
    BrokenJson(String),
    #[error("envelope has neither text nor html")]
    NoBody,
    #[error("envelope has both text and html")]
    BothBodies,
    #[error("body is empty or only whitespace")]
    BlankBody,
    #[error("fetched_at is not an RFC 3339 time: {0}")]
    BadFetchedAt(String),
    #[error("published_at is not an ISO 8601 date or RFC 3339 time: {0}")]
    BadPublishedAt(String),
    #[error("id is empty or longer than {MAX_ID_BYTES} bytes")]
    BadId,
}

impl DecodeError {
    /// A short stable name for the failure: the `kind` of its dead letter and a metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::InvalidUtf8(_) => "invalid_utf8",
            DecodeError::BrokenJson(_) => "broken_json",
            DecodeError::NoBody => "no_body",
            DecodeError::BothBodies => "both_bodies",
            DecodeError::BlankBody => "blank_body",
            DecodeError::BadFetchedAt(_) => "bad_fetched_at",
            DecodeError::BadPublishedAt(_) => "bad_published_at",
            DecodeError::BadId => "bad_id",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    id: Option<String>,
    url: Option<String>,
    source: Option<String>,
    fetched_at: Option<String>,
    published_at: Option<String>,
    title: Option<String>,
    lang: Option<String>,
    text: Option<String>,
    html: Option<String>,
}

/// Decodes a message value. `key` is the Kafka key; `fallback_id` names the message when neither the
/// envelope nor the key does.
pub fn decode(
    payload: &[u8],
    key: Option<&[u8]>,
    fallback_id: impl FnOnce() -> String,
    max_message_bytes: usize,
) -> Result<RawArticle, DecodeError> {
    if payload.len() > max_message_bytes {
        return Err(DecodeError::TooLarge { size: payload.len(), limit: max_message_bytes });
    }
    let text = std::str::from_utf8(payload).map_err(|e| DecodeError::InvalidUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.is_empty() {
        return Err(DecodeError::Empty);
    }
    let key_id = key.filter(|k| !k.is_empty()).map(id_from_key);
    if text.trim_start().starts_with('{') {
        decode_envelope(text, key_id, fallback_id)
    } else {
        decode_raw_body(text, key_id, fallback_id)
    }
}

fn decode_envelope(
    text: &str,
    key_id: Option<String>,
    fallback_id: impl FnOnce() -> String,
) -> Result<RawArticle, DecodeError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| DecodeError::BrokenJson(one_line(&e.to_string())))?;
    let content = match (envelope.text, envelope.html) {
        (Some(_), Some(_)) => return Err(DecodeError::BothBodies),
        (None, None) => return Err(DecodeError::NoBody),
        (Some(text), None) => Content::Text(non_blank(text)?),
        (None, Some(html)) => Content::Html(non_blank(html)?),
    };
    let fetched_at = envelope.fetched_at.as_deref().map(parse_fetched_at).transpose()?;
    let published_at = clean_field(envelope.published_at)
        .map(|value| PublishedAt::parse_iso8601(&value).ok_or_else(|| DecodeError::BadPublishedAt(one_line(&value))))
        .transpose()?;
    let id = match envelope.id {
        Some(id) => id,
        None => key_id.unwrap_or_else(fallback_id),
    };
    Ok(RawArticle {
        id: valid_id(id)?,
        url: clean_field(envelope.url),
        source: clean_field(envelope.source),
        fetched_at,
        published_at,
        title: clean_field(envelope.title),
        lang: clean_field(envelope.lang),
        content,
    })
}

fn decode_raw_body(
    text: &str,
    key_id: Option<String>,
    fallback_id: impl FnOnce() -> String,
) -> Result<RawArticle, DecodeError> {
    let body = non_blank(text.to_owned())?;
    let content = if looks_like_html(&body) { Content::Html(body) } else { Content::Text(body) };
    Ok(RawArticle::new(valid_id(key_id.unwrap_or_else(fallback_id))?, content))
}

/// A raw body is HTML when it opens with a doctype, a comment or a well-known tag; crawler text
/// practically never starts that way, and a misjudged page still goes through the text cleaner.
pub fn looks_like_html(body: &str) -> bool {
    let head: String = body.trim_start().chars().take(64).collect::<String>().to_ascii_lowercase();
    const OPENERS: [&str; 8] = ["<!doctype html", "<html", "<!--", "<head", "<body", "<meta", "<div", "<article"];
    OPENERS.iter().any(|opener| head.starts_with(opener))
}

/// Postgres text cannot hold NUL; other control characters are noise in every field. Control
/// characters from U+0080 to U+009F are, nearly always, the middle bytes of UTF-8 read as Latin-1
/// ("Investorâ\u{80}\u{99}s"): a word holding them is first read again as UTF-8 ("Investor’s").
fn strip_control_chars(value: String) -> String {
    if !has_unwanted_control(&value) {
        return value;
    }
    let value = if value.chars().any(is_c1_control) { with_mojibake_words_repaired(&value) } else { value };
    value.chars().filter(|c| !is_unwanted_control(*c)).collect()
}

fn is_c1_control(c: char) -> bool {
    ('\u{80}'..='\u{9f}').contains(&c)
}

/// Word by word, because a page often mixes characters written right with ones read wrong.
fn with_mojibake_words_repaired(value: &str) -> String {
    value
        .split_inclusive(char::is_whitespace)
        .map(|word| if word.chars().any(is_c1_control) { repair_mojibake(word) } else { word.into() })
        .collect()
}

/// Bytes looked at together by `has_unwanted_control`.
const CONTROL_SCAN_BLOCK: usize = 32;

/// Whether `is_unwanted_control` holds for a character of `value`, read from its UTF-8 bytes: such a
/// character is an ASCII byte below 0x20 (but a line break or tab) or 0x7F, or 0xC2 followed by
/// 0x80–0x9F. Every body passes here, nearly always clean: each block's bytes are or-ed together
/// without an early exit, which compiles to vector instructions, and only a block that may hold one
/// (0xC2 also starts "é", "©" and the no-break space) is read byte by byte.
fn has_unwanted_control(value: &str) -> bool {
    let bytes = value.as_bytes();
    let is_control_at = |i: usize| {
        let byte = bytes[i];
        is_unwanted_ascii_control(byte)
            || (byte == 0xC2 && bytes.get(i + 1).is_some_and(|next| (0x80..=0x9F).contains(next)))
    };
    bytes.chunks(CONTROL_SCAN_BLOCK).enumerate().any(|(n, block)| {
        let may_hold = block.iter().fold(false, |seen, &byte| seen | is_unwanted_ascii_control(byte) | (byte == 0xC2));
        let start = n * CONTROL_SCAN_BLOCK;
        may_hold && (start..start + block.len()).any(is_control_at)
    })
}

/// `is_unwanted_control` for an ASCII byte, without branches so a block's scan stays vectorised.
fn is_unwanted_ascii_control(byte: u8) -> bool {
    ((byte < 0x20) & (byte != b'\n') & (byte != b'\t') & (byte != b'\r')) | (byte == 0x7F)
}

fn is_unwanted_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\n' | '\t' | '\r')
}

fn non_blank(value: String) -> Result<String, DecodeError> {
    let value = strip_control_chars(value);
    if value.trim().is_empty() { Err(DecodeError::BlankBody) } else { Ok(value) }
}

fn clean_field(value: Option<String>) -> Option<String> {
    value.map(strip_control_chars).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn valid_id(id: String) -> Result<String, DecodeError> {
    let id = strip_control_chars(id).trim().to_owned();
    if id.is_empty() || id.len() > MAX_ID_BYTES { Err(DecodeError::BadId) } else { Ok(id) }
}

/// A key that is not UTF-8 still names the article: as lowercase hex.
fn id_from_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) => text.to_owned(),
        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// RFC 3339, or the two forms crawlers commonly send instead (taken as UTC).
fn parse_fetched_at(value: &str) -> Result<DateTime<Utc>, DecodeError> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(at.with_timezone(&Utc));
    }
    if let Ok(at) = NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S") {
        return Ok(at.and_utc());
    }
    if let Ok(date) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(DecodeError::BadFetchedAt(one_line(value)))
}

/// Reasons are stored and logged as one line of bounded length.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 200 { format!("{}…", flat.chars().take(200).collect::<String>()) } else { flat }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1024;

    fn decode_bytes(payload: &[u8], key: Option<&[u8]>) -> Result<RawArticle, DecodeError> {
        decode(payload, key, || "articles-0-7".to_owned(), LIMIT)
    }

    #[test]
    fn envelope_with_text_becomes_an_article_with_its_fields() {
        let raw = decode_bytes(
            br#"{"id":"x1","url":"https://example.org/a","source":"Example","fetched_at":"2016-09-30T10:00:00Z","title":"T","lang":"en","text":"Body."}"#,
            Some(b"key"),
        )
        .unwrap();
        assert_eq!(raw.id, "x1");
        assert_eq!(raw.url.as_deref(), Some("https://example.org/a"));
        assert_eq!(raw.fetched_at.unwrap().to_rfc3339(), "2016-09-30T10:00:00+00:00");
        assert_eq!(raw.content, Content::Text("Body.".into()));
    }

    #[test]
    fn envelope_without_id_takes_the_kafka_key_then_the_fallback() {
        assert_eq!(decode_bytes(br#"{"html":"<p>x</p>"}"#, Some(b"k9")).unwrap().id, "k9");
        assert_eq!(decode_bytes(br#"{"text":"x"}"#, None).unwrap().id, "articles-0-7");
    }

    #[test]
    fn raw_body_is_text_or_html_by_its_opening() {
        let text = decode_bytes(b"Headline\nA paragraph.", Some(b"k")).unwrap();
        assert!(matches!(text.content, Content::Text(_)));
        assert_eq!(text.id, "k");
        let html = decode_bytes(b"  <!DOCTYPE html><html><p>Hi</p></html>", None).unwrap();
        assert!(matches!(html.content, Content::Html(_)));
    }

    #[test]
    fn every_bad_input_kind_has_its_own_reason() {
        let cases: [(&[u8], &str); 8] = [
            (b"", "empty message"),
            (b"\xff\xfe bad", "invalid UTF-8 at byte 0"),
            (b"{\"text\": \"unterminated", "broken JSON envelope"),
            (br#"{"id":"a"}"#, "envelope has neither text nor html"),
            (br#"{"text":"a","html":"<p>a</p>"}"#, "envelope has both text and html"),
            (b"   \n\t ", "body is empty or only whitespace"),
            (br#"{"text":"a","fetched_at":"yesterday"}"#, "fetched_at is not an RFC 3339 time"),
            (br#"{"text":"\ud800"}"#, "broken JSON envelope"),
        ];
        for (payload, reason) in cases {
            let err = decode_bytes(payload, None).unwrap_err().to_string();
            assert!(err.starts_with(reason), "{payload:?}: {err}");
            assert!(!err.contains('\n'));
        }
        let too_large = vec![b'a'; LIMIT + 1];
        assert_eq!(
            decode_bytes(&too_large, None).unwrap_err(),
            DecodeError::TooLarge { size: LIMIT + 1, limit: LIMIT }
        );
    }

    #[test]
    fn nul_and_control_characters_are_stripped_from_bodies() {
        let raw = decode_bytes(b"{\"text\":\"a\\u0000b\\u0007c\\nd\"}", None).unwrap();
        assert_eq!(raw.content, Content::Text("abc\nd".into()));
    }

    #[test]
    fn utf8_read_as_latin1_is_repaired_before_its_control_characters_are_stripped() {
        let raw = decode_bytes("{\"text\":\"An Investor\u{e2}\u{80}\u{99}s “guide”\u{85}\"}".as_bytes(), None).unwrap();
        assert_eq!(raw.content, Content::Text("An Investor’s “guide”".into()));
    }

    proptest::proptest! {
        /// The byte scan agrees with the character definition on any text, control characters,
        /// no-break spaces and other 0xC2 characters included, wherever the 32-byte blocks split them.
        #[test]
        fn control_characters_are_found_from_bytes_as_from_characters(
            text in "[a-z \n\t\r\u{0}-\u{1f}\u{7f}-\u{a0}é©’]{0,100}"
        ) {
            proptest::prop_assert_eq!(has_unwanted_control(&text), text.chars().any(is_unwanted_control));
        }
    }

    #[test]
    fn a_non_utf8_key_becomes_a_hex_id() {
        assert_eq!(decode_bytes(b"text", Some(&[0xff, 0x01])).unwrap().id, "ff01");
    }
}
