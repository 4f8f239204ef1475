//! What an HTML page says about itself: the publisher's structured data (JSON-LD), meta tags
//! (Open Graph, Dublin Core, Parse.ly, Sailthru), microdata and the page's own `<h1>`/`<time>`.
//!
//! Read from the tree the cleaner already parsed (one parse per page); the metadata stage decides
//! what to trust. Each field keeps the most trusted value found, in the order the lists below give:
//! structured data first, because the publisher wrote it for machines, then the tags crawlers and
//! social sites read, then visible markup.

use std::sync::LazyLock;

use dom_query::{Document, Matcher, NodeRef};
use serde_json::Value;

/// The page's own statements about the article.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HtmlMeta {
    /// The headline in structured data or social tags (no site name, as a rule).
    pub headline: Option<String>,
    /// The `<title>` element: the headline, often followed by the site's name.
    pub title_tag: Option<String>,
    /// The first `<h1>` inside the article's part of the page, else the page's first.
    pub h1: Option<String>,
    pub published: Option<String>,
    /// When the page says it was last updated.
    pub modified: Option<String>,
    pub authors: Vec<String>,
    pub site_name: Option<String>,
    /// `<html lang>` or `og:locale`.
    pub language: Option<String>,
}

fn matcher(css: &str) -> Matcher {
    Matcher::new(css).expect("valid selector")
}

fn matchers(css: &[&str]) -> Vec<Matcher> {
    css.iter().map(|css| matcher(css)).collect()
}

static JSON_LD: LazyLock<Matcher> = LazyLock::new(|| matcher(r#"script[type="application/ld+json"]"#));
static HEADLINE: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    matchers(&[r#"meta[property="og:title"]"#, r#"meta[name="twitter:title"]"#, r#"meta[name="parsely-title"]"#])
});
static TITLE_TAG: LazyLock<Matcher> = LazyLock::new(|| matcher("head title, title"));
static H1: LazyLock<Vec<Matcher>> = LazyLock::new(|| matchers(&["article h1, main h1", "h1"]));
static PUBLISHED: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    matchers(&[
        r#"meta[property="article:published_time"]"#,
        r#"meta[property="og:published_time"]"#,
        r#"meta[name="article:published_time"]"#,
        r#"meta[itemprop="datePublished"], [itemprop="datePublished"]"#,
        r#"meta[name="parsely-pub-date"]"#,
        r#"meta[name="sailthru.date"]"#,
        r#"meta[name="pubdate"], meta[name="publishdate"], meta[name="publish-date"], meta[name="publish_date"]"#,
        r#"meta[name="dc.date.issued"], meta[name="DC.date.issued"], meta[name="dcterms.created"], meta[name="DC.date"], meta[name="dc.date"]"#,
        r#"meta[name="date"], meta[name="Date"]"#,
        r#"meta[name*="publish"], meta[property*="publish"], meta[name*="pubdate"]"#,
        "article time[datetime], main time[datetime]",
        "time[pubdate], time[datetime]",
    ])
});
static MODIFIED: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    matchers(&[
        r#"meta[property="article:modified_time"]"#,
        r#"meta[property="og:updated_time"]"#,
        r#"meta[itemprop="dateModified"], [itemprop="dateModified"]"#,
        r#"meta[name="last-modified"], meta[name="dcterms.modified"]"#,
    ])
});
static AUTHOR: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    matchers(&[
        r#"meta[name="author"], meta[name="Author"]"#,
        r#"meta[property="article:author"], meta[name="article:author"]"#,
        r#"meta[name="parsely-author"], meta[name="sailthru.author"], meta[name="byl"]"#,
        r#"meta[name="dc.creator"], meta[name="DC.creator"], meta[name="dcterms.creator"]"#,
        r#"[itemprop="author"] [itemprop="name"], [itemprop="author"]"#,
        r#"a[rel="author"], [rel="author"]"#,
    ])
});
static SITE_NAME: LazyLock<Vec<Matcher>> = LazyLock::new(|| {
    matchers(&[r#"meta[property="og:site_name"]"#, r#"meta[name="application-name"]"#, r#"meta[name="publisher"]"#])
});
static LANGUAGE: LazyLock<Vec<Matcher>> = LazyLock::new(|| matchers(&["html[lang]", r#"meta[property="og:locale"]"#]));

/// A markup author value longer than this is a bio or a sentence, not a name.
const MAX_AUTHOR_WORDS: usize = 6;

/// Reads every statement the page makes about its article.
pub fn read(document: &Document) -> HtmlMeta {
    let structured = structured_data(document);
    let mut authors = clean_authors(structured.authors);
    if authors.is_empty() {
        authors = AUTHOR.iter().find_map(|m| non_empty(clean_authors(author_values(document, m)))).unwrap_or_default();
    }
    HtmlMeta {
        headline: structured.headline.or_else(|| first_value(document, &HEADLINE, &["content"])),
        title_tag: document.select_matcher(&TITLE_TAG).nodes().first().map(|n| squeeze(&n.text())),
        h1: H1.iter().find_map(|m| {
            document.select_matcher(m).nodes().iter().map(|n| squeeze(&n.text())).find(|t| !t.is_empty())
        }),
        published: structured.published.or_else(|| first_value(document, &PUBLISHED, &["content", "datetime"])),
        modified: structured.modified.or_else(|| first_value(document, &MODIFIED, &["content", "datetime"])),
        authors,
        site_name: structured.publisher.or_else(|| first_value(document, &SITE_NAME, &["content"])),
        language: first_value(document, &LANGUAGE, &["lang", "content"]),
    }
}

fn non_empty(values: Vec<String>) -> Option<Vec<String>> {
    (!values.is_empty()).then_some(values)
}

fn author_values(document: &Document, matcher: &Matcher) -> Vec<String> {
    document.select_matcher(matcher).nodes().iter().filter_map(node_value).collect()
}

/// An element's value: its `content` or `datetime` attribute when it is a tag for machines, else
/// its text.
fn node_value(node: &NodeRef) -> Option<String> {
    let value = ["content", "datetime"]
        .iter()
        .find_map(|a| node.attr(a).map(|v| v.to_string()))
        .unwrap_or_else(|| node.text().to_string());
    let value = squeeze(&value);
    (!value.is_empty()).then_some(value)
}

fn first_value(document: &Document, matchers: &[Matcher], attributes: &[&str]) -> Option<String> {
    matchers.iter().find_map(|matcher| {
        document.select_matcher(matcher).nodes().iter().find_map(|node| {
            let value = attributes.iter().find_map(|a| node.attr(a).map(|v| v.to_string())).or_else(|| {
                // Microdata may put the value in the element's text.
                (node.node_name().as_deref() != Some("meta")).then(|| node.text().to_string())
            })?;
            let value = squeeze(&value);
            (!value.is_empty()).then_some(value)
        })
    })
}

/// Whitespace folded, and entities the parser left decoded: JSON-LD strings are not HTML, so
/// "Rates &amp; Fees" arrives as written, and attributes escaped twice ("&amp;#8211;") keep one
/// layer after parsing.
fn squeeze(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.contains('&') { html_escape::decode_html_entities(&folded).into_owned() } else { folded }
}

/// Names as bylines print them: "By Jane Doe" → "Jane Doe"; links to profile pages and long texts
/// are not names; each name once.
fn clean_authors(values: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for value in values {
        for name in super::byline::split_names(&value) {
            let plausible = !name.contains("://")
                && !name.contains('@')
                && name.split_whitespace().count() <= MAX_AUTHOR_WORDS
                && name.chars().any(char::is_alphabetic);
            if plausible && !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                names.push(name);
            }
        }
    }
    names
}

/// What JSON-LD says about the article.
#[derive(Default)]
struct Structured {
    headline: Option<String>,
    published: Option<String>,
    modified: Option<String>,
    authors: Vec<String>,
    publisher: Option<String>,
}

/// Schema.org types that describe the article itself (not the site, a breadcrumb or a video).
const ARTICLE_TYPES: [&str; 9] = [
    "NewsArticle",
    "Article",
    "BlogPosting",
    "ReportageNews",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "TechArticle",
    "ScholarlyArticle",
    "Report",
];

/// JSON-LD blocks bigger than this are catalogues, not an article's description.
const MAX_JSON_LD_BYTES: usize = 256 << 10;

fn structured_data(document: &Document) -> Structured {
    let mut found = Structured::default();
    // Some sites date the WebPage rather than the Article: their dates count when no article has one.
    let mut page_published = None;
    let mut page_modified = None;
    for node in document.select_matcher(&JSON_LD).nodes() {
        let text = node.text();
        if text.len() > MAX_JSON_LD_BYTES {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(text.trim()) else { continue };
        let mut items = Vec::new();
        flatten(&value, &mut items, 0);
        for item in &items {
            page_published = page_published.or_else(|| string(item.get("datePublished")));
            page_modified = page_modified.or_else(|| string(item.get("dateModified")));
        }
        for item in items.into_iter().filter(|item| is_article(item)) {
            found.headline =
                found.headline.or_else(|| string(item.get("headline")).or_else(|| string(item.get("name"))));
            found.published = found.published.or_else(|| string(item.get("datePublished")));
            found.modified = found.modified.or_else(|| string(item.get("dateModified")));
            if found.authors.is_empty() {
                found.authors = names(item.get("author"));
            }
            found.publisher = found.publisher.or_else(|| names(item.get("publisher")).into_iter().next());
        }
    }
    found.published = found.published.or(page_published);
    found.modified = found.modified.or(page_modified);
    found
}

/// Every object of a JSON-LD value: top-level arrays and `@graph` lists hold several.
fn flatten<'a>(value: &'a Value, items: &mut Vec<&'a Value>, depth: usize) {
    if depth > 3 {
        return;
    }
    match value {
        Value::Array(values) => values.iter().for_each(|v| flatten(v, items, depth + 1)),
        Value::Object(object) => {
            items.push(value);
            if let Some(graph) = object.get("@graph") {
                flatten(graph, items, depth + 1);
            }
        }
        _ => {}
    }
}

fn is_article(item: &Value) -> bool {
    let is_type = |t: &Value| t.as_str().is_some_and(|t| ARTICLE_TYPES.contains(&t));
    match item.get("@type") {
        Some(Value::Array(types)) => types.iter().any(is_type),
        Some(t) => is_type(t),
        None => false,
    }
}

fn string(value: Option<&Value>) -> Option<String> {
    let text = squeeze(value?.as_str()?);
    (!text.is_empty()).then_some(text)
}

/// `"Jane Doe"`, `{"name": "Jane Doe"}` or a list of either.
fn names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(name)) => vec![squeeze(name)],
        Some(Value::Object(object)) => string(object.get("name")).into_iter().collect(),
        Some(Value::Array(values)) => values.iter().flat_map(|v| names(Some(v))).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(page: &str) -> HtmlMeta {
        read(&Document::from(page))
    }

    #[test]
    fn entities_left_in_structured_data_and_twice_escaped_tags_are_decoded() {
        let page = r#"<html><head><meta property="og:title" content="Movers &amp;#8211; Rates &amp;amp; Fees">
            <script type="application/ld+json">{"@type":"NewsArticle","author":{"name":"Jane O&#039;Neil"}}</script>
            </head><body></body></html>"#;
        let found = meta(page);
        assert_eq!(found.headline.as_deref(), Some("Movers – Rates & Fees"));
        assert_eq!(found.authors, vec!["Jane O'Neil".to_owned()]);
    }

    #[test]
    fn structured_data_is_trusted_before_meta_tags() {
        let page = r#"<html lang="en-GB"><head><title>Storm closes ports | The Herald</title>
            <meta property="og:title" content="Storm closes ports (social)">
            <meta property="article:published_time" content="2014-03-03T08:00:00Z">
            <meta name="author" content="Someone Else">
            <script type="application/ld+json">{"@context":"https://schema.org","@graph":[
              {"@type":"WebSite","name":"The Herald"},
              {"@type":"NewsArticle","headline":"Storm closes ports","datePublished":"2014-03-02T10:00:00Z",
               "author":[{"@type":"Person","name":"Ana Silva"},{"@type":"Person","name":"Rui Costa"}],
               "publisher":{"@type":"Organization","name":"The Herald"}}]}</script>
            </head><body><article><h1>Storm closes ports</h1></article></body></html>"#;
        let meta = meta(page);
        assert_eq!(meta.headline.as_deref(), Some("Storm closes ports"));
        assert_eq!(meta.published.as_deref(), Some("2014-03-02T10:00:00Z"));
        assert_eq!(meta.authors, ["Ana Silva", "Rui Costa"]);
        assert_eq!(meta.site_name.as_deref(), Some("The Herald"));
        assert_eq!(meta.title_tag.as_deref(), Some("Storm closes ports | The Herald"));
        assert_eq!(meta.h1.as_deref(), Some("Storm closes ports"));
        assert_eq!(meta.language.as_deref(), Some("en-GB"));
    }

    #[test]
    fn meta_tags_and_microdata_fill_in_without_structured_data() {
        let page = r#"<html><head><meta property="og:title" content="Ports shut">
            <meta name="author" content="By Ana Silva and Rui Costa">
            <meta property="og:site_name" content="The Herald"></head>
            <body><time datetime="2014-03-02">2 March</time></body></html>"#;
        let meta = meta(page);
        assert_eq!(meta.headline.as_deref(), Some("Ports shut"));
        assert_eq!(meta.authors, ["Ana Silva", "Rui Costa"]);
        assert_eq!(meta.published.as_deref(), Some("2014-03-02"));
        assert_eq!(meta.site_name.as_deref(), Some("The Herald"));
    }

    #[test]
    fn profile_links_and_broken_json_are_not_authors() {
        let page = r#"<html><head><meta property="article:author" content="https://facebook.com/herald">
            <script type="application/ld+json">{ not json</script></head>
            <body><span itemprop="author"><span itemprop="name">Ana Silva</span></span></body></html>"#;
        assert_eq!(meta(page).authors, ["Ana Silva"]);
    }
}
