//! HTML → one block per line, so the line cleaner can judge an HTML page like crawler text.
//!
//! Parsing uses `scraper` (html5ever, the browser-grade HTML5 parser Servo uses), so broken markup is
//! read the way a browser reads it. The walk over the tree is iterative (`traverse`), so deeply
//! nested pages cannot exhaust the stack. Main-content extraction proper is deepened by the
//! boilerplate issue; this pass keeps every block, drops what is never article text (scripts,
//! styles, navigation, forms, asides), and prefers `<article>`/`<main>` when the page has one.

use std::sync::LazyLock;

use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node, Selector};

pub struct Extracted {
    pub text: String,
    pub title: Option<String>,
    pub published: Option<String>,
}

/// Elements whose content is never article text.
const SKIPPED: [&str; 14] = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "form",
    "button",
    "svg",
    "iframe",
    "select",
    "footer",
    "figcaption",
    "head",
];

/// Elements that end a block of text: each becomes its own line.
const BLOCKS: [&str; 27] = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "table",
    "tr",
    "td",
    "th",
    "dd",
    "dt",
    "br",
    "hr",
    "figure",
    "address",
];

fn selector(css: &str) -> Selector {
    Selector::parse(css).expect("valid selector")
}

static CONTENT_ROOTS: LazyLock<Selector> =
    LazyLock::new(|| selector("article, main, [itemprop=articleBody], [role=main]"));
static BODY: LazyLock<Selector> = LazyLock::new(|| selector("body"));
/// Title sources, most trusted first: the social title is the headline without the site name.
static TITLE: LazyLock<Vec<Selector>> =
    LazyLock::new(|| [r#"meta[property="og:title"]"#, r#"meta[name="twitter:title"]"#, "title"].map(selector).to_vec());
static PUBLISHED: LazyLock<Vec<Selector>> = LazyLock::new(|| {
    [
        r#"meta[property="article:published_time"]"#,
        r#"meta[itemprop="datePublished"]"#,
        r#"meta[name="date"]"#,
        "time[datetime]",
    ]
    .map(selector)
    .to_vec()
});

pub fn extract(page: &str) -> Extracted {
    let document = Html::parse_document(page);
    let root = main_content_root(&document);
    Extracted {
        text: root.map(block_text).unwrap_or_default(),
        title: first_value(&document, &TITLE, &["content"]),
        published: first_value(&document, &PUBLISHED, &["content", "datetime"]),
    }
}

/// The `<article>`/`<main>` holding the most text, else `<body>`, else the document root.
fn main_content_root(document: &Html) -> Option<ElementRef<'_>> {
    let body_chars = document.select(&BODY).next().map(text_len).unwrap_or(0);
    document
        .select(&CONTENT_ROOTS)
        .map(|el| (text_len(el), el))
        .filter(|(len, _)| *len * 4 >= body_chars) // a small <article> teaser is not the content
        .max_by_key(|(len, _)| *len)
        .map(|(_, el)| el)
        .or_else(|| document.select(&BODY).next())
        .or_else(|| Some(document.root_element()))
}

fn text_len(element: ElementRef<'_>) -> usize {
    element.text().map(str::len).sum()
}

/// Text of the subtree, one block per line, whitespace folded inside a block.
fn block_text(root: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) if skipping.is_none() => match node.value() {
                Node::Element(el) if SKIPPED.contains(&el.name()) => skipping = Some(node.id()),
                Node::Element(el) if BLOCKS.contains(&el.name()) => end_line(&mut out, &mut line),
                Node::Text(text) => append_text(&mut line, text),
                _ => {}
            },
            Edge::Close(node) if skipping == Some(node.id()) => skipping = None,
            Edge::Close(node) if skipping.is_none() => {
                if let Node::Element(el) = node.value()
                    && BLOCKS.contains(&el.name())
                {
                    end_line(&mut out, &mut line);
                }
            }
            _ => {}
        }
    }
    end_line(&mut out, &mut line);
    out
}

/// Appends a text node, keeping a space only where the markup had whitespace: `its <b>main</b>`
/// reads "its main", `U<b>.S.</b>` reads "U.S.".
fn append_text(line: &mut String, text: &str) {
    if text.starts_with(char::is_whitespace) && !line.is_empty() && !line.ends_with(' ') {
        line.push(' ');
    }
    let mut words = text.split_whitespace().peekable();
    while let Some(word) = words.next() {
        line.push_str(word);
        if words.peek().is_some() {
            line.push(' ');
        }
    }
    if text.ends_with(char::is_whitespace) && !line.is_empty() && !line.ends_with(' ') {
        line.push(' ');
    }
}

fn end_line(out: &mut String, line: &mut String) {
    let trimmed = line.trim();
    if !trimmed.is_empty() {
        out.push_str(trimmed);
        out.push('\n');
    }
    line.clear();
}

fn first_value(document: &Html, selectors: &[Selector], attributes: &[&str]) -> Option<String> {
    selectors.iter().flat_map(|selector| document.select(selector)).find_map(|el| {
        let value = attributes
            .iter()
            .find_map(|a| el.value().attr(a).map(str::to_owned))
            .or_else(|| (el.value().name() == "title").then(|| el.text().collect::<String>()))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        (!value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn article_blocks_become_lines_and_furniture_is_skipped() {
        let page = r#"<!doctype html><html><head><title>Storm | Example</title>
            <meta property="og:title" content="Storm closes ports">
            <meta property="article:published_time" content="2014-03-02T09:00:00Z"></head>
            <body><nav><a href="/">Home</a> <a href="/world">World</a></nav>
            <article><h1>Storm closes ports</h1><p>Portugal closed its <b>main</b> ports on Sunday.</p>
            <figure><img src="x.jpg"><figcaption>A pier in Porto.</figcaption></figure>
            <p>Ferries were cancelled.<br>Fishermen stayed ashore.</p><script>var x = 1;</script></article>
            <footer>© Example</footer></body></html>"#;
        let extracted = extract(page);
        assert_eq!(
            extracted.text,
            "Storm closes ports\nPortugal closed its main ports on Sunday.\nFerries were cancelled.\nFishermen stayed ashore.\n"
        );
        assert_eq!(extracted.title.as_deref(), Some("Storm closes ports"));
        assert_eq!(extracted.published.as_deref(), Some("2014-03-02T09:00:00Z"));
    }

    #[test]
    fn deeply_nested_markup_does_not_exhaust_the_stack() {
        let depth = 5_000;
        let page = format!("{}<p>Deep text.</p>{}", "<div>".repeat(depth), "</div>".repeat(depth));
        assert!(extract(&page).text.contains("Deep text."));
    }
}
