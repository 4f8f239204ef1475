//! A bound on HTML nesting before the page is parsed.
//!
//! The HTML5 tree builder checks the stack of open elements for every tag (`in_scope`), so a page
//! nested 100,000 levels deep costs quadratic time: 93 s for one message in a measurement here.
//! Browsers bound the tree instead (Chromium nests at most 512 elements; deeper tags are ignored and
//! their content attaches to the deepest allowed element). This does the same in one linear pass:
//! start and end tags beyond `max_depth` are dropped, text and everything else are kept. Pages
//! within the bound (every real article) are returned untouched, without a copy.

use std::borrow::Cow;

/// Elements that never have content, and those whose end tag may be left out: neither can deepen
/// the tree on its own, so neither counts (a page of a thousand unclosed `<p>` is not deep).
const NOT_NESTING: [&str; 33] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr", "p",
    "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "thead", "tbody", "tfoot", "colgroup", "caption", "rb",
    "rt", "rp", "html", "body",
];

/// Elements whose content is raw text: tags inside them are not tags.
const RAW_TEXT: [&str; 6] = ["script", "style", "textarea", "title", "xmp", "noscript"];

/// `html` with the tags nested deeper than `max_depth` removed; the input itself when none is.
pub fn cap_nesting(html: &str, max_depth: usize) -> Cow<'_, str> {
    let mut scanner = Scanner { html, at: 0, depth: 0, max_depth, out: None, copied_to: 0 };
    scanner.run();
    match scanner.out {
        None => Cow::Borrowed(html),
        Some(mut out) => {
            out.push_str(&html[scanner.copied_to..]);
            Cow::Owned(out)
        }
    }
}

struct Scanner<'a> {
    html: &'a str,
    at: usize,
    depth: usize,
    max_depth: usize,
    /// The rewritten page, started at the first tag dropped.
    out: Option<String>,
    /// Input before this offset is already in `out`.
    copied_to: usize,
}

impl Scanner<'_> {
    fn run(&mut self) {
        let bytes = self.html.as_bytes();
        while let Some(offset) = memchr_lt(&bytes[self.at..]) {
            let start = self.at + offset;
            let rest = &self.html[start..];
            if rest.starts_with("<!--") {
                self.at = rest.find("-->").map_or(self.html.len(), |end| start + end + 3);
            } else if let Some(closing) = rest.strip_prefix("</") {
                let end = tag_end(rest).map_or(self.html.len(), |end| start + end);
                let name = tag_name(closing);
                if counts(&name) {
                    if self.depth > self.max_depth {
                        self.drop_range(start, end);
                    }
                    self.depth = self.depth.saturating_sub(1);
                }
                self.at = end;
            } else if rest.len() > 1 && rest.as_bytes()[1].is_ascii_alphabetic() {
                let end = tag_end(rest).map_or(self.html.len(), |end| start + end);
                let name = tag_name(&rest[1..]);
                let self_closing = self.html[..end].ends_with("/>");
                if RAW_TEXT.contains(&name.as_str()) {
                    self.at = skip_raw_text(self.html, end, &name);
                } else {
                    if counts(&name) && !self_closing {
                        self.depth += 1;
                        if self.depth > self.max_depth {
                            self.drop_range(start, end);
                        }
                    }
                    self.at = end;
                }
            } else {
                self.at = start + 1;
            }
        }
    }

    fn drop_range(&mut self, start: usize, end: usize) {
        let out = self.out.get_or_insert_with(|| String::with_capacity(self.html.len() / 2));
        out.push_str(&self.html[self.copied_to..start]);
        self.copied_to = end;
    }
}

fn memchr_lt(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'<')
}

fn counts(name: &str) -> bool {
    !name.is_empty() && !NOT_NESTING.contains(&name)
}

/// The lowercase tag name at the start of `text`.
fn tag_name(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The offset just past the tag's closing `>`, skipping quoted attribute values.
fn tag_end(tag: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in tag.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            (None, '<') => return Some(i),
            _ => {}
        }
    }
    None
}

/// The offset past `</name>` after a raw-text element opened at `from`, or the end of the page.
fn skip_raw_text(html: &str, from: usize, name: &str) -> usize {
    let closing = format!("</{name}");
    let rest = &html[from..];
    let lower = rest.to_ascii_lowercase();
    match lower.find(&closing) {
        Some(at) => tag_end(&rest[at..]).map_or(html.len(), |end| from + at + end),
        None => html.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("<html><body>{}<p>inner text</p>{}</body></html>", "<div>".repeat(depth), "</div>".repeat(depth))
    }

    #[test]
    fn a_page_within_the_bound_is_returned_untouched() {
        let page = nested(40);
        assert!(matches!(cap_nesting(&page, 512), Cow::Borrowed(_)));
    }

    #[test]
    fn tags_beyond_the_bound_are_dropped_and_the_text_kept() {
        let page = nested(1000);
        let capped = cap_nesting(&page, 512);
        assert_eq!(capped.matches("<div>").count(), 512);
        assert_eq!(capped.matches("</div>").count(), 512);
        assert!(capped.contains("<p>inner text</p>"));
    }

    #[test]
    fn unclosed_paragraphs_and_void_elements_do_not_count_as_depth() {
        let page = format!("<div>{}</div>", "<p>para<br><img src=x>".repeat(2000));
        assert!(matches!(cap_nesting(&page, 512), Cow::Borrowed(_)));
    }

    #[test]
    fn tags_inside_scripts_and_comments_are_not_tags() {
        let page = format!("<script>{}</script><!-- {} -->", "<div>".repeat(2000), "<div>".repeat(2000));
        assert!(matches!(cap_nesting(&page, 512), Cow::Borrowed(_)));
    }

    #[test]
    fn a_page_nested_100_000_deep_parses_to_a_bounded_tree_with_its_text() {
        let page = nested(100_000);
        let capped = cap_nesting(&page, 512);
        let document = dom_query::Document::from(capped.as_ref());
        assert!(document.select("p").text().contains("inner text"));
        assert_eq!(document.select("div").length(), 512);
    }
}
