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

use crate::stages::text::has_at_most_words;

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
    /// The text of the first element the markup marks as a date ("post-date", `<time>`) that
    /// shows one, when such elements show at most two different days (more are teasers' days).
    pub marked_date: Option<String>,
    /// The page's lines around its `<h1>`, when the headline stands outside the part of the page
    /// the cleaner reads (set by the HTML reader, which walks the page in lines).
    pub around_headline: AroundHeadline,
}

/// Short lines of the page next to its headline, nearest first: where it shows its byline and date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AroundHeadline {
    pub above: Vec<String>,
    pub below: Vec<String>,
}

fn matcher(css: &str) -> Matcher {
    Matcher::new(css).expect("valid selector")
}

fn matchers(css: &[&str]) -> Vec<Matcher> {
    css.iter().map(|css| matcher(css)).collect()
}

/// JSON-LD blocks; some frameworks (Remix's `script:ld+json` descriptor) render one as a meta tag.
static JSON_LD: LazyLock<Matcher> =
    LazyLock::new(|| matcher(r#"script[type="application/ld+json"], meta[name="script:ld+json"]"#));
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
        // Dublin Core names are written in every case ("DC.Date", "dc.date", "DCTERMS.created").
        r#"meta[name="dc.date.issued" i], meta[name="dcterms.created" i], meta[name="dc.date" i]"#,
        // Highwire Press tags, which journals write for Google Scholar ("2023 Jan 7", "2023/01/07").
        r#"meta[name="citation_publication_date"], meta[name="citation_online_date"], meta[name="citation_date"]"#,
        r#"meta[name="date" i]"#,
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
    if authors.is_empty() {
        authors = marked_authors(document);
    }
    HtmlMeta {
        headline: whole_headline(structured.headline, first_value(document, &HEADLINE, &["content"])),
        title_tag: document.select_matcher(&TITLE_TAG).nodes().first().map(|n| squeeze(&n.text())),
        h1: H1.iter().find_map(|m| {
            let headlines = document.select_matcher(m);
            headlines.nodes().iter().filter(|n| !is_site_title(n)).map(|n| squeeze(&n.text())).find(|t| !t.is_empty())
        }),
        published: structured.published.or_else(|| first_value(document, &PUBLISHED, &["content", "datetime"])),
        modified: structured.modified.or_else(|| first_value(document, &MODIFIED, &["content", "datetime"])),
        authors,
        site_name: structured.publisher.or_else(|| first_value(document, &SITE_NAME, &["content"])),
        language: first_value(document, &LANGUAGE, &["lang", "content"]),
        marked_date: marked_date(document),
        around_headline: AroundHeadline::default(),
    }
}

/// The structured data's headline, unless the social tags' goes on where it stops: SEO plugins cut
/// the JSON-LD headline at about 110 characters ("… Find Solutions (Including"), the social tags
/// keep it whole. A social headline that only adds the site's name after a separator is not longer.
fn whole_headline(structured: Option<String>, social: Option<String>) -> Option<String> {
    match (structured, social) {
        (Some(cut), Some(whole)) if continues(&whole, &cut) => Some(whole),
        (structured, social) => structured.or(social),
    }
}

/// Whether `whole` is `start` followed by more words of the same sentence.
fn continues(whole: &str, start: &str) -> bool {
    let start = start.trim_end_matches(['…', '.', ' ']);
    whole
        .strip_prefix(start)
        .and_then(|rest| rest.strip_prefix(' '))
        .is_some_and(|rest| rest.chars().next().is_some_and(char::is_alphanumeric))
}

/// Elements whose class or link says they show the author's name.
static MARKED_AUTHOR: LazyLock<Matcher> =
    LazyLock::new(|| matcher(r#"[class*="author" i], [class*="byline" i], a[href*="/author/"]"#));
/// Class words of author elements that hold something else than the name: a bio, a picture, a label.
static NOT_AUTHOR_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)bio|desc|about|avatar|img|image|photo|pic|label|caption|title|social|follow|date|time")
        .expect("valid regex")
});

/// The name in the first element the markup marks as the author's ("author-name", "byline", a
/// link to an author page), outside comments and lists of other posts: many pages state no author
/// for machines but show one by the headline.
fn marked_authors(document: &Document) -> Vec<String> {
    document
        .select_matcher(&MARKED_AUTHOR)
        .nodes()
        .iter()
        .filter(|node| !node.attr("class").is_some_and(|class| NOT_AUTHOR_NAME.is_match(&class)))
        .filter(|node| !in_other_content(node))
        .map(spaced_text)
        .filter(|text| has_at_most_words(text, MAX_AUTHOR_WORDS + 1))
        .find_map(|text| non_empty(clean_authors(vec![text])))
        .unwrap_or_default()
}

/// An element's text with a space between its pieces: "<p>By</p><p>Amy Roeder</p>" reads "By Amy
/// Roeder", where `text()` would glue "ByAmy Roeder".
fn spaced_text(node: &NodeRef) -> String {
    let pieces: Vec<String> = node.descendants_it().filter(|n| n.is_text()).map(|n| n.text().to_string()).collect();
    squeeze(&pieces.join(" "))
}

/// Elements whose name, class or id says they show a date.
static MARKED_DATE: LazyLock<Matcher> = LazyLock::new(|| {
    matcher(r#"time, [class*="date" i], [id*="date" i], [class*="publish" i], [class*="posted" i], [class*="time" i]"#)
});
/// Class words of elements that show another date than the publication's: an update's, today's
/// (a date widget), an event's.
static OTHER_DATE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)updat|modif|today|current|event|expir|deadline").expect("valid regex"));
/// Class words of the parts of a page about other things than the article (reader comments,
/// links to other posts), whose dates are theirs.
static OTHER_CONTENT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)comment|reply|respond|disqus|pagination|related|recent|popular|sidebar|widget|teaser")
        .expect("valid regex")
});
/// Class and id words of a site's header: the BEM block `header` ("header__date"), a site header
/// or masthead, a CMS's header region. An article's own header ("entry-header") is not among them.
static SITE_HEADER: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)(?:^|\s)header(?:__|\s|$)|site-?header|masthead|region-header").expect("valid regex")
});
/// Class words that say an element's date is the publication's.
static PUBLICATION_DATE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)publish|posted|pubdate").expect("valid regex"));
/// Words before a date that make it another date than the publication's.
const OTHER_DATE_LEAD_INS: [&str; 4] = ["updated", "modified", "last", "edited"];
/// A date element with more words than this is a container, not the date.
const MAX_MARKED_DATE_WORDS: usize = 10;
/// More different days than this in date elements are teasers' or comments' days.
const MAX_MARKED_DAYS: usize = 2;
/// Ancestors searched for a comment section or a list of other posts.
const OTHER_CONTENT_ANCESTORS: usize = 12;

/// What the page shows in its date elements (see `HtmlMeta::marked_date`): the first marked as
/// the publication's; else the first, unless they show more than `MAX_MARKED_DAYS` days.
fn marked_date(document: &Document) -> Option<String> {
    let mut first = None;
    let mut days = Vec::new();
    for node in document.select_matcher(&MARKED_DATE).nodes() {
        let class = node.attr("class").unwrap_or_default();
        if names_other_date(node) || in_other_content(node) || in_site_header(node) {
            continue;
        }
        let Some((text, date)) = shown_date(node) else { continue };
        if PUBLICATION_DATE.is_match(&class) {
            return Some(text);
        }
        if !days.contains(&date) {
            days.push(date);
        }
        first.get_or_insert(text);
    }
    first.filter(|_| days.len() <= MAX_MARKED_DAYS)
}

/// The date a date element shows, as its `datetime` attribute states it when it has one (which
/// settles whether "3/4/2025" is March or April); none when its text is long or names another date.
fn shown_date(node: &NodeRef) -> Option<(String, chrono::NaiveDate)> {
    let text = squeeze(&node.text());
    if !has_at_most_words(&text, MAX_MARKED_DATE_WORDS) {
        return None;
    }
    let found = crate::stages::dates::find_date(&text)?;
    let lead = text[..found.start].to_lowercase();
    if OTHER_DATE_LEAD_INS.iter().any(|word| lead.contains(word)) {
        return None;
    }
    let stated =
        node.attr("datetime").map(|d| squeeze(&d)).and_then(|d| Some((crate::stages::dates::find_date(&d)?.date, d)));
    Some(match stated {
        Some((date, datetime)) => (datetime, date),
        None => (text, found.date),
    })
}

/// Whether an element, or one inside it, is marked as showing another date than the publication's
/// (`<div class="block-date"><p id="todays-date">`: the date block of a site's header).
fn names_other_date(node: &NodeRef) -> bool {
    class_or_id_matches(node, &OTHER_DATE)
        || node.descendants_it().any(|inner| inner.is_element() && class_or_id_matches(&inner, &OTHER_DATE))
}

/// Whether an element sits in the site's header, above every article, where a date is today's:
/// `<div class="header"><p class="header__date">`, `<div class="region-header-secondary">`.
fn in_site_header(node: &NodeRef) -> bool {
    std::iter::once(*node)
        .chain(node.ancestors_it(Some(OTHER_CONTENT_ANCESTORS)))
        .any(|element| class_or_id_matches(&element, &SITE_HEADER))
}

/// Whether an element sits in a part of the page about other things: comments, related posts.
fn in_other_content(node: &NodeRef) -> bool {
    node.ancestors_it(Some(OTHER_CONTENT_ANCESTORS)).any(|ancestor| class_or_id_matches(&ancestor, &OTHER_CONTENT))
}

/// Whether an element's class or id holds one of a pattern's words.
fn class_or_id_matches(node: &NodeRef, words: &regex::Regex) -> bool {
    [node.attr("class"), node.attr("id")].into_iter().flatten().any(|value| words.is_match(&value))
}

/// Class and id words of an `<h1>` that holds the site's name, not the article's headline.
static SITE_TITLE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)logo|site-?title|blog-?title|brand|masthead").expect("valid regex"));

/// Whether an `<h1>` is the site's name, as blog themes print it at the top of every page: marked
/// as the logo or site title, or nothing but a link to the home page.
fn is_site_title(h1: &NodeRef) -> bool {
    if class_or_id_matches(h1, &SITE_TITLE) {
        return true;
    }
    let links: Vec<NodeRef> = h1.descendants_it().filter(|n| n.node_name().as_deref() == Some("a")).collect();
    let text_chars = h1.text().trim().len();
    let link_chars: usize = links.iter().map(|a| a.text().trim().len()).sum();
    let to_home = links.iter().all(|a| a.attr("href").is_some_and(|href| is_home_page(href.as_ref())));
    !links.is_empty() && to_home && link_chars >= text_chars
}

/// "/", "https://example.com", "https://example.com/".
fn is_home_page(href: &str) -> bool {
    let path = href.split_once("://").map_or(href, |(_, rest)| rest.find('/').map_or("/", |at| &rest[at..]));
    path.trim_end_matches('/').is_empty() || path == "/blog/" || path == "/blog"
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

/// Whitespace folded, entities the parser left decoded (JSON-LD strings are not HTML, so "Rates
/// &amp; Fees" arrives as written, and attributes escaped twice, "&amp;#8211;", keep one layer
/// after parsing), and mojibake (UTF-8 the publisher's tooling read as Latin-1 or Windows-1252)
/// read again as UTF-8.
fn squeeze(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let decoded = if folded.contains('&') { html_escape::decode_html_entities(&folded).into_owned() } else { folded };
    match crate::stages::text::repair_mojibake(&decoded) {
        std::borrow::Cow::Owned(repaired) => repaired,
        std::borrow::Cow::Borrowed(_) => decoded,
    }
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
        let text = node.attr("content").unwrap_or_else(|| node.text());
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
    fn a_structured_headline_cut_short_gives_way_to_the_whole_social_one() {
        let page = r#"<html><head><meta property="og:title" content="We Help 4 Readers (Including One Trick) - Emily">
            <script type="application/ld+json">{"@type":"Article","headline":"We Help 4 Readers (Including"}</script>
            </head><body></body></html>"#;
        assert_eq!(meta(page).headline.as_deref(), Some("We Help 4 Readers (Including One Trick) - Emily"));
        let with_site = r#"<html><head><meta property="og:title" content="Storm closes ports | The Herald">
            <script type="application/ld+json">{"@type":"Article","headline":"Storm closes ports"}</script>
            </head><body></body></html>"#;
        assert_eq!(meta(with_site).headline.as_deref(), Some("Storm closes ports"));
    }

    #[test]
    fn dublin_core_dates_are_read_whatever_the_case_of_their_name() {
        for name in ["DC.Date", "dc.date", "DC.date.issued", "DCTERMS.created"] {
            let page = format!(r#"<html><head><meta name="{name}" content="2019-06-25"></head><body></body></html>"#);
            assert_eq!(meta(&page).published.as_deref(), Some("2019-06-25"), "{name}");
        }
    }

    #[test]
    fn a_date_in_the_site_header_or_a_todays_date_block_is_not_the_articles() {
        let article = r#"<article><h1>Green gifts</h1><div class="author-date">on December 18, 2025</div></article>"#;
        for header in [
            r#"<div class="header"><p class="header__date">Friday, December 19, 2025</p></div>"#,
            r#"<div class="region region-header-secondary"><div class="block-date">Friday, December 19, 2025</div></div>"#,
            r#"<div id="block-date"><p id="todays-date-custom">Friday, December 19, 2025</p></div>"#,
        ] {
            let page = format!("<html><body>{header}{article}</body></html>");
            assert_eq!(meta(&page).marked_date.as_deref(), Some("on December 18, 2025"), "{header}");
        }
    }

    #[test]
    fn journal_citation_tags_and_json_ld_rendered_as_a_meta_tag_date_the_article() {
        let journal = r#"<html><head><meta name="citation_publication_date" content="2023 Jan 7"></head></html>"#;
        assert_eq!(meta(journal).published.as_deref(), Some("2023 Jan 7"));
        let remix = r#"<html><head><meta name="script:ld+json" content="{&quot;@type&quot;:&quot;Article&quot;,
            &quot;datePublished&quot;:&quot;2025-11-17T09:00:00-05:00&quot;}"></head></html>"#;
        assert_eq!(meta(remix).published.as_deref(), Some("2025-11-17T09:00:00-05:00"));
    }

    #[test]
    fn mojibake_in_the_page_tags_is_read_again_as_utf8() {
        let page =
            "<html><head><title>A DIY Investor\u{e2}\u{80}\u{99}s Guide | WCI</title></head><body></body></html>";
        assert_eq!(meta(page).title_tag.as_deref(), Some("A DIY Investor’s Guide | WCI"));
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
    fn the_author_shown_by_a_marked_element_is_read_when_no_tag_names_one() {
        let page = r#"<html><body><div class="comments"><span class="comment-author">Bob Reader</span></div>
            <div class="author-wrap"><div>By</div><div>Summer Swann</div></div></body></html>"#;
        assert_eq!(meta(page).authors, ["Summer Swann"]);
    }

    #[test]
    fn author_box_labels_are_not_names() {
        let page = r#"<html><body><p class="author-label">Written by</p><span class="author">The Author</span>
            <a href="/author/jcole/">Jane Cole</a></body></html>"#;
        assert_eq!(meta(page).authors, ["Jane Cole"]);
    }

    #[test]
    fn profile_links_and_broken_json_are_not_authors() {
        let page = r#"<html><head><meta property="article:author" content="https://facebook.com/herald">
            <script type="application/ld+json">{ not json</script></head>
            <body><span itemprop="author"><span itemprop="name">Ana Silva</span></span></body></html>"#;
        assert_eq!(meta(page).authors, ["Ana Silva"]);
    }
}
