//! HTML → one block per line, so the line cleaner can judge an HTML page like crawler text, plus
//! what a main-content extractor makes of the page, as evidence for the line classifier.
//!
//! One parse serves everything: `dom_query` (html5ever, the browser-grade HTML5 parser Servo uses,
//! so broken markup reads the way a browser reads it) builds the tree; the block walk reads it
//! first, iteratively (`walk`), so deeply nested pages cannot exhaust the stack; then the same tree
//! goes to the main-content extractor. The walk drops what is never article text (scripts, styles,
//! navigation, forms, asides) and prefers `<article>`/`<main>` when the page has one.
//!
//! Main content: `dom_smoothie`, a port of Mozilla's Readability over `dom_query`. Measured on
//! wcxb-dev (793 pages) as a stand-alone extractor it scored bag-of-words F1 0.928 at 6.6 ms a page,
//! rs-trafilatura 0.934 at 25 ms; running the text cleaner over either one's output scored lower
//! still (0.907, 0.911), because an extract has lost the page context the cleaner reads. So the
//! extractor's verdict enters as a feature of each block line (`in_main_content`) and the
//! classifier learns how far to trust it; dom_smoothie for its speed at equal quality, and because
//! it takes the tree we already parsed.

use std::sync::LazyLock;

use dom_query::{Document, Matcher, NodeData, NodeId, Tree, TreeNode};
use foldhash::{HashMap, HashMapExt};

use crate::stages::metadata::html_meta::{self, HtmlMeta};
use crate::stages::text::normalize_line;

pub struct Extracted {
    pub text: String,
    /// What the page says about its article, read from the same parse for the metadata stage.
    pub meta: HtmlMeta,
    pub evidence: HtmlEvidence,
}

/// What the markup says about the lines of `Extracted::text`, for the line classifier.
pub struct HtmlEvidence {
    /// What the Readability port took for the article, when it found one.
    pub main_content: Option<MainContent>,
    /// One per line of the text, in order.
    pub blocks: Vec<BlockInfo>,
}

/// Markup facts about one block line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockInfo {
    /// Share of the line's characters inside links: menus and link lists are mostly links.
    pub link_density: f32,
    pub tag: BlockTag,
    /// An ancestor's class or id names page furniture (comment, share, related, sidebar, …).
    pub furniture_hint: bool,
    /// An ancestor's class or id names article content (article, content, entry, post, story, …).
    pub content_hint: bool,
    /// An ancestor's class or id names reader comments. Comments are prose, shaped like the article,
    /// and their classes often name content too ("commentBody"), so they get their own fact.
    pub comment_hint: bool,
    /// What the nearest hinted ancestor names: the page's outer wrappers often carry content words
    /// ("single-post") whatever sits inside them, so the innermost hint says more than any hint.
    pub innermost_furniture: bool,
    pub innermost_content: bool,
    /// Words inside the parent element of this line's block, and inside its grandparent.
    /// An article's paragraphs are siblings in one container heavy with text; each comment, teaser
    /// or card sits in a container of its own with few words.
    pub container_words: u32,
    pub grand_container_words: u32,
    /// Share of those words inside links: a list of teasers is mostly links, an article is not.
    pub container_link_density: f32,
    pub grand_container_link_density: f32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BlockTag {
    Paragraph,
    Heading,
    ListItem,
    TableCell,
    #[default]
    Other,
}

/// Class and id words of page furniture and of content, after Readability's own lists.
static FURNITURE_HINT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)comment|share|social|related|sidebar|widget|footer|header|nav|menu|breadcrumb|promo|advert|\bads?\b|banner|subscribe|newsletter|cookie|popup|modal|masthead|byline|author|meta|tags?\b|recommend|trending|popular")
        .expect("valid regex")
});
static COMMENT_HINT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(?i)comment|reply|respond|disqus|discussion").expect("valid regex"));
static CONTENT_HINT: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?i)article|content|entry|post|story|text|body|main|blog|prose|rich").expect("valid regex")
});

/// The article text a main-content extractor found, for asking whether a line belongs to it.
pub struct MainContent {
    lines: std::collections::HashSet<String>,
    text: String,
}

/// Lines this long are looked up inside the extract's running text too, in case it joined blocks.
const MIN_WORDS_FOR_SUBSTRING: usize = 5;

fn fold(text: &str) -> String {
    normalize_line(text).to_lowercase()
}

impl MainContent {
    fn new(text: &str) -> Option<Self> {
        let lines: std::collections::HashSet<String> = text.lines().map(fold).filter(|line| !line.is_empty()).collect();
        (!lines.is_empty()).then(|| MainContent { lines, text: fold(text) })
    }

    pub fn contains(&self, line: &str) -> bool {
        let line = fold(line);
        self.lines.contains(&line)
            || (line.split(' ').count() >= MIN_WORDS_FOR_SUBSTRING && self.text.contains(line.as_str()))
    }
}

fn readability(document: Document) -> Option<MainContent> {
    let config = dom_smoothie::Config { text_mode: dom_smoothie::TextMode::Formatted, ..Default::default() };
    let article = dom_smoothie::Readability::with_document(document, None, Some(config)).ok()?.parse().ok()?;
    MainContent::new(&article.text_content)
}

/// Elements whose content is never article text. `form` is not among them: some frameworks wrap
/// the whole page in one.
const SKIPPED: [&str; 13] = [
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
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

fn matcher(css: &str) -> Matcher {
    Matcher::new(css).expect("valid selector")
}

static CONTENT_ROOTS: LazyLock<Matcher> =
    LazyLock::new(|| matcher("article, main, [itemprop=articleBody], [role=main]"));
/// Readability's cost grows steeply with nesting and size; real articles nest a few dozen levels
/// and weigh well under a megabyte. Beyond these bounds the page goes without its evidence.
const READABILITY_MAX_DEPTH: usize = 256;
const READABILITY_MAX_BYTES: usize = 4 << 20;

/// Chromium's bound on parser nesting (see `nesting`).
const MAX_PARSE_DEPTH: usize = 512;

pub fn extract(page: &str) -> Extracted {
    let page = &*super::nesting::cap_nesting(page, MAX_PARSE_DEPTH);
    let document = Document::from(page);
    let root = main_content_root(&document);
    let blocks = block_text(&document.tree, root);
    let mut meta = html_meta::read(&document);
    meta.around_headline = lines_around_headline(&document, root);
    let within_bounds = blocks.max_depth <= READABILITY_MAX_DEPTH && page.len() <= READABILITY_MAX_BYTES;
    Extracted {
        text: blocks.text,
        meta,
        evidence: HtmlEvidence {
            main_content: within_bounds.then(|| readability(document)).flatten(),
            blocks: blocks.blocks,
        },
    }
}

/// The `<article>`/`<main>` holding the most text, else `<body>`, else the document root.
fn main_content_root(document: &Document) -> NodeId {
    let tree = &document.tree;
    let body = tree.body().map(|body| body.id);
    let body_chars = body.map_or(0, |body| text_len(tree, body));
    document
        .select_matcher(&CONTENT_ROOTS)
        .nodes()
        .iter()
        .map(|node| (text_len(tree, node.id), node.id))
        .filter(|(len, _)| *len * 4 >= body_chars) // a small <article> teaser is not the content
        .max_by_key(|(len, _)| *len)
        .map(|(_, id)| id)
        .or(body)
        .unwrap_or_else(|| tree.root_id())
}

/// Lines read around the headline, on each side.
const LINES_ABOVE_HEADLINE: usize = 3;
const LINES_BELOW_HEADLINE: usize = 12;

static HEADLINE: LazyLock<Matcher> = LazyLock::new(|| matcher("h1"));

/// The lines just above and below the page's `<h1>` when it stands outside the part of the page
/// the cleaner reads: many sites put the headline, byline and date in a header above `<main>`,
/// and without these lines the metadata stage would never see the date the page shows.
fn lines_around_headline(document: &Document, root: NodeId) -> html_meta::AroundHeadline {
    let tree = &document.tree;
    let Some(body) = tree.body().map(|body| body.id) else { return Default::default() };
    let headline = document.select_matcher(&HEADLINE).nodes().iter().find(|h1| !h1.text().trim().is_empty()).cloned();
    let Some(headline) = headline.filter(|h1| root != body && !h1.ancestors_it(None).any(|a| a.id == root)) else {
        return Default::default();
    };
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut headline_at: Option<usize> = None;
    let end_line = |line: &mut String, lines: &mut Vec<String>| {
        let trimmed = line.trim();
        if !trimmed.is_empty() {
            lines.push(trimmed.to_owned());
        }
        line.clear();
    };
    walk(tree, body, |step| {
        if headline_at.is_some_and(|at| lines.len() > at + LINES_BELOW_HEADLINE) {
            return false;
        }
        match step {
            Step::Enter(node) => match &node.data {
                NodeData::Element(el) => {
                    let name: &str = &el.name.local;
                    if SKIPPED.contains(&name) {
                        return false;
                    }
                    if BLOCKS.contains(&name) {
                        end_line(&mut line, &mut lines);
                    }
                    if node.id == headline.id {
                        headline_at = Some(lines.len());
                    }
                    true
                }
                NodeData::Text { contents } => {
                    append_text(&mut line, contents);
                    false
                }
                _ => false,
            },
            Step::Leave(node) => {
                if element_name(node).is_some_and(|name| BLOCKS.contains(&name)) {
                    end_line(&mut line, &mut lines);
                }
                true
            }
        }
    });
    end_line(&mut line, &mut lines);
    let Some(at) = headline_at else { return Default::default() };
    html_meta::AroundHeadline {
        above: lines[..at].iter().rev().take(LINES_ABOVE_HEADLINE).cloned().collect(),
        below: lines.iter().skip(at + 1).take(LINES_BELOW_HEADLINE).cloned().collect(),
    }
}

fn text_len(tree: &Tree, root: NodeId) -> usize {
    let mut len = 0;
    walk(tree, root, |step| {
        if let Step::Enter(TreeNode { data: NodeData::Text { contents }, .. }) = step {
            len += contents.len();
        }
        true
    });
    len
}

/// One step of a depth-first walk: entering a node (answer whether to descend into it), or leaving
/// one that was descended into.
enum Step<'a> {
    Enter(&'a TreeNode),
    Leave(&'a TreeNode),
}

/// Visits the subtree at `root` in document order without recursion, so no nesting depth can
/// exhaust the stack.
fn walk(tree: &Tree, root: NodeId, mut visit: impl FnMut(Step<'_>) -> bool) {
    let links = |id: NodeId| tree.query_node_or(&id, (None, None, None), |n| (n.first_child, n.next_sibling, n.parent));
    let mut current = root;
    'descend: loop {
        let descend = tree.query_node_or(&current, false, |node| visit(Step::Enter(node)));
        if descend {
            if let (Some(child), ..) = links(current) {
                current = child;
                continue;
            }
            tree.query_node(&current, |node| visit(Step::Leave(node)));
        }
        let mut node = current;
        loop {
            if node == root {
                break 'descend;
            }
            let (_, next_sibling, parent) = links(node);
            if let Some(sibling) = next_sibling {
                current = sibling;
                continue 'descend;
            }
            let Some(parent) = parent else { break 'descend };
            tree.query_node(&parent, |node| visit(Step::Leave(node)));
            node = parent;
        }
    }
}

fn element_name(node: &TreeNode) -> Option<&str> {
    match &node.data {
        NodeData::Element(el) => Some(&el.name.local),
        _ => None,
    }
}

/// Text of the subtree, one block per line, whitespace folded inside a block, with what the markup
/// says about each line.
fn block_text(tree: &Tree, root: NodeId) -> Lines {
    let mut out = Lines::default();
    // Open elements and what each says about the line being built.
    let mut ancestry: Vec<Ancestor> = Vec::new();
    let mut subtree_words: HashMap<NodeId, SubtreeWords> = HashMap::new();
    walk(tree, root, |step| match step {
        Step::Enter(node) => match &node.data {
            NodeData::Element(el) => {
                let name: &str = &el.name.local;
                if SKIPPED.contains(&name) {
                    return false;
                }
                if BLOCKS.contains(&name) {
                    out.end_line();
                    out.tag = block_tag(name);
                }
                let class = el.attr_ref(dom_query::local_name!("class")).unwrap_or("");
                let id = el.attr_ref(dom_query::local_name!("id")).unwrap_or("");
                let hinted = |hint: &regex::Regex| hint.is_match(class) || hint.is_match(id);
                ancestry.push(Ancestor {
                    id: node.id,
                    block: BLOCKS.contains(&name),
                    words: SubtreeWords::default(),
                    is_container: false,
                    link: name == "a",
                    furniture: hinted(&FURNITURE_HINT),
                    content: hinted(&CONTENT_HINT),
                    comment: hinted(&COMMENT_HINT),
                });
                out.max_depth = out.max_depth.max(ancestry.len());
                true
            }
            NodeData::Text { contents } => {
                out.note_ancestry(&mut ancestry);
                let in_link = ancestry.iter().any(|a| a.link);
                out.append(contents, in_link);
                let words = contents.split_whitespace().count();
                for ancestor in &mut ancestry {
                    ancestor.words.all += words;
                    ancestor.words.in_links += if in_link { words } else { 0 };
                }
                false
            }
            _ => false,
        },
        Step::Leave(node) => {
            if let Some(name) = element_name(node) {
                if let Some(closed) = ancestry.pop().filter(|a| a.is_container) {
                    subtree_words.insert(closed.id, closed.words);
                }
                if BLOCKS.contains(&name) {
                    out.end_line();
                }
            }
            true
        }
    });
    out.end_line();
    // The walk does not leave its root.
    subtree_words.extend(ancestry.iter().map(|a| (a.id, a.words)));
    out.count_container_words(&subtree_words);
    out
}

fn block_tag(name: &str) -> BlockTag {
    match name {
        "p" | "blockquote" | "pre" => BlockTag::Paragraph,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => BlockTag::Heading,
        "li" | "dd" | "dt" => BlockTag::ListItem,
        "td" | "th" => BlockTag::TableCell,
        _ => BlockTag::Other,
    }
}

/// What an open element says about the text inside it.
struct Ancestor {
    id: NodeId,
    block: bool,
    /// Words of text met inside it so far.
    words: SubtreeWords,
    /// Some line's parent or grandparent: its words are kept when it closes.
    is_container: bool,
    link: bool,
    furniture: bool,
    content: bool,
    comment: bool,
}

/// The lines being built and what is known of the current one.
#[derive(Default)]
struct Lines {
    text: String,
    blocks: Vec<BlockInfo>,
    max_depth: usize,
    line: String,
    link_chars: usize,
    tag: BlockTag,
    furniture: bool,
    content: bool,
    comment: bool,
    innermost_furniture: bool,
    innermost_content: bool,
    /// The parent and grandparent of the current line's block, from its first piece of text.
    containers: Option<Containers>,
    /// Per finished line: its words and its containers.
    line_words: Vec<(usize, Containers)>,
}

type Containers = [Option<NodeId>; 2];

/// Words of text inside an element, and how many of them sit inside links.
#[derive(Debug, Clone, Copy, Default)]
struct SubtreeWords {
    all: usize,
    in_links: usize,
}

impl Lines {
    /// Folds in the hints of the elements around a piece of the line's text.
    fn note_ancestry(&mut self, ancestry: &mut [Ancestor]) {
        self.furniture |= ancestry.iter().any(|a| a.furniture);
        self.content |= ancestry.iter().any(|a| a.content);
        self.comment |= ancestry.iter().any(|a| a.comment);
        if let Some(nearest) = ancestry.iter().rev().find(|a| a.furniture || a.content || a.comment) {
            self.innermost_furniture |= nearest.furniture || nearest.comment;
            self.innermost_content |= nearest.content;
        }
        if self.containers.is_none() {
            let block = ancestry.iter().rposition(|a| a.block).unwrap_or(0);
            let mut above = |levels: usize| {
                let container = &mut ancestry[block.checked_sub(levels)?];
                container.is_container = true;
                Some(container.id)
            };
            self.containers = Some([above(1), above(2)]);
        }
    }

    /// Fills each line's container facts from the subtree totals, once every line is known.
    fn count_container_words(&mut self, subtree_words: &HashMap<NodeId, SubtreeWords>) {
        let words_in = |container: Option<NodeId>, own: usize| {
            let words = container.and_then(|id| subtree_words.get(&id).copied());
            let words = words.unwrap_or(SubtreeWords { all: own, in_links: 0 });
            let density = words.in_links as f32 / words.all.max(1) as f32;
            (u32::try_from(words.all).unwrap_or(u32::MAX), density)
        };
        for (block, (own, [parent, grandparent])) in self.blocks.iter_mut().zip(&self.line_words) {
            (block.container_words, block.container_link_density) = words_in(*parent, *own);
            (block.grand_container_words, block.grand_container_link_density) = words_in(*grandparent, *own);
        }
    }

    fn append(&mut self, text: &str, in_link: bool) {
        let before = self.line.len();
        append_text(&mut self.line, text);
        if in_link {
            self.link_chars += self.line.len() - before;
        }
    }

    fn end_line(&mut self) {
        let trimmed = self.line.trim();
        if !trimmed.is_empty() {
            self.text.push_str(trimmed);
            self.text.push('\n');
            self.blocks.push(BlockInfo {
                link_density: (self.link_chars as f32 / self.line.len().max(1) as f32).min(1.0),
                tag: self.tag,
                furniture_hint: self.furniture,
                content_hint: self.content,
                comment_hint: self.comment,
                innermost_furniture: self.innermost_furniture,
                innermost_content: self.innermost_content,
                container_words: 0,
                grand_container_words: 0,
                container_link_density: 0.0,
                grand_container_link_density: 0.0,
            });
            self.line_words.push((trimmed.split_whitespace().count(), self.containers.unwrap_or_default()));
        }
        self.containers = None;
        self.line.clear();
        self.link_chars = 0;
        self.furniture = false;
        self.content = false;
        self.comment = false;
        self.innermost_furniture = false;
        self.innermost_content = false;
        self.tag = BlockTag::Other;
    }
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
        assert_eq!(extracted.meta.headline.as_deref(), Some("Storm closes ports"));
        assert_eq!(extracted.meta.published.as_deref(), Some("2014-03-02T09:00:00Z"));
        assert_eq!(extracted.evidence.blocks.len(), 4);
        assert_eq!(extracted.evidence.blocks[0].tag, BlockTag::Heading);
        assert_eq!(extracted.evidence.blocks[1].tag, BlockTag::Paragraph);
    }

    #[test]
    fn link_lists_and_hinted_classes_are_recorded_per_line() {
        let page = r#"<body><div class="post-content"><p>Portugal closed its ports on Sunday.</p></div>
            <ul class="related-links"><li><a href="/a">Storm hits Porto</a></li></ul></body>"#;
        let blocks = extract(page).evidence.blocks;
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].content_hint && !blocks[0].furniture_hint && blocks[0].link_density == 0.0);
        assert!(blocks[1].furniture_hint && blocks[1].link_density > 0.9);
        assert_eq!(blocks[1].tag, BlockTag::ListItem);
    }

    #[test]
    fn comments_inside_a_content_wrapper_are_told_apart_from_the_article() {
        let page = r#"<body class="single-post"><div class="entry-content"><p>Portugal closed its ports.</p></div>
            <ol class="comments"><li><div class="commentBody"><p>Great post, thanks!</p></div></li></ol></body>"#;
        let blocks = extract(page).evidence.blocks;
        assert_eq!(blocks.len(), 2);
        let (article, comment) = (blocks[0], blocks[1]);
        assert!(!article.comment_hint && article.innermost_content && !article.innermost_furniture);
        assert!(comment.comment_hint && comment.innermost_furniture && comment.content_hint);
    }

    #[test]
    fn sibling_paragraphs_share_their_container_words_and_a_lone_card_does_not() {
        let page = r#"<body><div class="story"><p>One two three.</p><h2>Four five</h2><p>Six seven eight nine.</p></div>
            <div class="cards"><div class="card"><p>Other story here</p></div></div></body>"#;
        let blocks = extract(page).evidence.blocks;
        let words: Vec<u32> = blocks.iter().map(|b| b.container_words).collect();
        assert_eq!(words, [9, 9, 9, 3]);
        assert_eq!(blocks[3].grand_container_words, 3);
        assert_eq!(blocks[0].grand_container_words, 12);
        assert_eq!(blocks[0].container_link_density, 0.0);
    }

    #[test]
    fn a_list_of_links_has_a_dense_container() {
        let page = r#"<body><div><p>Storm closes <a href="/p">every port</a> on the coast today.</p></div>
            <ul><li><a href="/a">Storm hits Porto</a></li><li><a href="/b">Ferries stop</a></li><li>Live</li></ul></body>"#;
        let blocks = extract(page).evidence.blocks;
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0].container_link_density, 0.25);
        assert!((blocks[1].container_link_density - 5.0 / 6.0).abs() < 1e-6);
    }

    #[test]
    fn deeply_nested_markup_does_not_exhaust_the_stack_nor_reach_readability() {
        let depth = 5_000;
        let page = format!("{}<p>Deep text.</p>{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let extracted = extract(&page);
        assert!(extracted.text.contains("Deep text."));
        assert!(extracted.evidence.main_content.is_none());
    }
}
