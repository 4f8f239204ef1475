//! Site templates: lines a site prints on every article — a slogan under the headline, a
//! disclaimer, a signature, a call to action — that read like article text, so the line classifier
//! keeps them. They are learned from the stream, per site (host of `url`, else `source`).
//!
//! The cleaner reports, for each article, the lines it kept near the edges of the text (the first
//! and last `EDGE_LINES`, each at most `MAX_TEMPLATE_WORDS` words: where sites put their furniture).
//! The sink counts them per site, once per distinct article (an article counts when it is first
//! inserted, so a replay never counts twice), numbering each site's articles as they arrive. A line
//! becomes a template when `TemplateRule::holds`: seen in at least `min_articles` distinct articles
//! *and* in at least `min_share` of the site's articles since it was first seen. The share is what
//! protects a sentence that legitimately recurs — a background paragraph a site repeats across a
//! series of stories, a correction notice on a few articles: it appears in a small share of the
//! site's output, never in most of it, so it is never learned. A line not seen in the site's last
//! `forget_after_articles` articles is forgotten, template or not, which lets a redesign's old lines
//! go. A line not yet learned is forgotten sooner, once unseen for `TemplateRule::candidate_window`
//! articles: most candidates are an article's own first and last lines, seen once, and keeping each
//! for the whole window stored about `2 × EDGE_LINES × forget_after_articles` lines a site (16,000),
//! which across thousands of sites made the table, and every batch's writes to it, grow for good.
//!
//! State lives in Postgres (`site_lines`, `sites`), shared by every worker; `MemoryTemplates` applies
//! the same rule in memory for `process` and tests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::stages::text::{normalize_line, word_count};

/// The template lines known for one site, by `line_key`.
pub type SiteTemplates = HashSet<i64>;

/// Lines looked at from each end of the kept text.
pub const EDGE_LINES: usize = 8;
/// Longer lines are article prose, not furniture, whatever their recurrence.
pub const MAX_TEMPLATE_WORDS: usize = 40;
/// What `site_lines.line` keeps of a line, for people reading the table.
const SAMPLE_CHARS: usize = 200;

/// The site an article belongs to: the host of its URL without `www.`, else its source, folded.
pub fn site_key(url: Option<&str>, source: Option<&str>) -> Option<String> {
    let host = url
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(|h| h.trim_start_matches("www.").to_ascii_lowercase()));
    host.or_else(|| source.map(|s| normalize_line(s).to_lowercase())).filter(|site| !site.is_empty())
}

/// A line's identity for counting: whitespace and case folded, hashed to 64 bits (BLAKE3's first
/// eight bytes: a collision between two lines of one site is out of reach).
pub fn line_key(line: &str) -> i64 {
    let folded = normalize_line(line).to_lowercase();
    let hash = blake3::hash(folded.as_bytes());
    i64::from_le_bytes(hash.as_bytes()[..8].try_into().expect("eight bytes"))
}

/// One kept line the sink counts towards its site's templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub key: i64,
    pub line: String,
}

/// The candidate template lines of one article: the first and last `EDGE_LINES` kept lines of at
/// most `MAX_TEMPLATE_WORDS` words, each once.
pub fn sightings(kept: &[&str]) -> Vec<Sighting> {
    let total = kept.len();
    let mut seen = HashSet::new();
    kept.iter()
        .enumerate()
        .filter(|(i, _)| *i < EDGE_LINES || *i + EDGE_LINES >= total)
        .map(|(i, line)| (i, *line))
        .filter(|(_, line)| word_count(line) <= MAX_TEMPLATE_WORDS)
        .map(|(_, line)| Sighting { key: line_key(line), line: line.chars().take(SAMPLE_CHARS).collect() })
        .filter(|s| seen.insert(s.key))
        .collect()
}

/// When a recurring line counts as the site's template.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemplateRule {
    /// Distinct articles of the site the line must have been seen in.
    pub min_articles: u32,
    /// Share of the site's articles since the line's first sighting that must contain it.
    pub min_share: f64,
    /// A line unseen in the site's last this-many articles is forgotten.
    pub forget_after_articles: i64,
}

impl Default for TemplateRule {
    fn default() -> Self {
        TemplateRule { min_articles: 20, min_share: 0.5, forget_after_articles: 1000 }
    }
}

impl TemplateRule {
    /// `first` and `last` number the site's articles the line was first and last seen in.
    pub fn holds(&self, sightings: i64, first: i64, last: i64) -> bool {
        let span = (last - first + 1).max(1);
        sightings >= i64::from(self.min_articles) && sightings as f64 >= self.min_share * span as f64
    }

    /// Articles of its site a line not yet learned may go unseen before it is forgotten:
    /// `2 × min_articles`, within `forget_after_articles`. A line on half of a site's articles is all
    /// but never missing from 40 in a row (one chance in 2^40), and a line that comes back after
    /// that is counted afresh, with a shorter span, so it is learned no later than it would have been.
    pub fn candidate_window(&self) -> i64 {
        (2 * i64::from(self.min_articles)).clamp(1, self.forget_after_articles.max(1))
    }

    /// Whether a line last seen at article `last` of its site is kept at article `now`.
    pub fn keeps(&self, is_template: bool, last: i64, now: i64) -> bool {
        let window = if is_template { self.forget_after_articles } else { self.candidate_window() };
        last > now - window
    }
}

/// Site templates learned in memory, by the same rule as the Postgres sink.
#[derive(Debug, Default)]
pub struct MemoryTemplates {
    rule: TemplateRule,
    sites: HashMap<String, MemorySite>,
}

#[derive(Debug, Default)]
struct MemorySite {
    articles: i64,
    lines: HashMap<i64, LineCount>,
    templates: Arc<SiteTemplates>,
}

#[derive(Debug, Clone, Copy)]
struct LineCount {
    sightings: i64,
    first: i64,
    last: i64,
}

impl MemoryTemplates {
    pub fn new(rule: TemplateRule) -> Self {
        MemoryTemplates { rule, sites: HashMap::new() }
    }

    pub fn templates(&self, site: &str) -> Option<Arc<SiteTemplates>> {
        self.sites.get(site).map(|s| s.templates.clone()).filter(|t| !t.is_empty())
    }

    /// Counts one new article of `site` with its candidate lines.
    pub fn record(&mut self, site: &str, sightings: &[Sighting]) {
        let rule = self.rule;
        let state = self.sites.entry(site.to_owned()).or_default();
        state.articles += 1;
        let now = state.articles;
        let mut learned = Vec::new();
        for sighting in sightings {
            let count = state.lines.entry(sighting.key).or_insert(LineCount { sightings: 0, first: now, last: now });
            count.sightings += 1;
            count.last = now;
            if rule.holds(count.sightings, count.first, count.last) && !state.templates.contains(&sighting.key) {
                learned.push(sighting.key);
            }
        }
        let templates = &state.templates;
        state.lines.retain(|key, count| {
            let is_template = templates.contains(key) || learned.contains(key);
            rule.keeps(is_template, count.last, now)
        });
        let forgotten = state.templates.iter().any(|key| !state.lines.contains_key(key));
        if !learned.is_empty() || forgotten {
            let mut templates: SiteTemplates =
                state.templates.iter().copied().filter(|key| state.lines.contains_key(key)).collect();
            templates.extend(learned);
            state.templates = Arc::new(templates);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_site_is_the_url_host_without_www_else_the_source() {
        assert_eq!(site_key(Some("https://www.Example.com/a/b"), Some("Example")).as_deref(), Some("example.com"));
        assert_eq!(site_key(Some("not a url"), Some(" Press  TV ")).as_deref(), Some("press tv"));
        assert_eq!(site_key(None, None), None);
    }

    #[test]
    fn line_keys_ignore_case_and_spacing() {
        assert_eq!(line_key("Follow  us on Telegram"), line_key("follow us on telegram "));
        assert_ne!(line_key("Follow us on Telegram"), line_key("Follow us on Twitter"));
    }

    #[test]
    fn only_short_lines_near_the_edges_are_candidates() {
        let long = "word ".repeat(MAX_TEMPLATE_WORDS + 1);
        let mut lines: Vec<String> = (0..30).map(|i| format!("Paragraph number {i}.")).collect();
        lines[0] = long.clone();
        let candidates = sightings(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(candidates.len(), 2 * EDGE_LINES - 1);
        assert!(candidates.iter().all(|s| s.line != long && s.line != "Paragraph number 15."));
    }

    fn line(text: &str) -> Sighting {
        Sighting { key: line_key(text), line: text.into() }
    }

    #[test]
    fn a_line_on_every_article_becomes_a_template_after_min_articles() {
        let mut memory = MemoryTemplates::new(TemplateRule::default());
        for i in 0..20 {
            assert!(memory.templates("example.com").is_none(), "learned too early, at article {i}");
            memory
                .record("example.com", &[line("Views expressed are the author's own."), line(&format!("Story {i}."))]);
        }
        let templates = memory.templates("example.com").expect("learned after 20 articles");
        assert!(templates.contains(&line_key("Views expressed are the author's own.")));
        assert_eq!(templates.len(), 1);
        assert!(memory.templates("other.org").is_none());
    }

    #[test]
    fn a_sentence_in_a_small_share_of_the_sites_articles_is_never_learned() {
        let mut memory = MemoryTemplates::new(TemplateRule::default());
        for i in 0..400 {
            let mut seen = vec![line(&format!("Story {i}."))];
            if i % 10 == 0 {
                seen.push(line("The war began in February 2022."));
            }
            memory.record("example.com", &seen);
        }
        assert!(memory.templates("example.com").is_none());
    }

    #[test]
    fn lines_unseen_for_the_forgetting_window_are_dropped_templates_included() {
        let rule = TemplateRule { min_articles: 2, min_share: 0.5, forget_after_articles: 10 };
        let mut memory = MemoryTemplates::new(rule);
        memory.record("example.com", &[line("Old slogan")]);
        memory.record("example.com", &[line("Old slogan")]);
        assert!(memory.templates("example.com").is_some());
        for i in 0..10 {
            memory.record("example.com", &[line(&format!("Story {i}."))]);
        }
        assert!(memory.templates("example.com").is_none());
        assert!(memory.sites["example.com"].lines.len() <= 10);
    }

    #[test]
    fn a_line_not_yet_learned_is_forgotten_after_twice_min_articles_a_template_only_after_the_window() {
        let rule = TemplateRule { min_articles: 3, min_share: 0.5, forget_after_articles: 100 };
        let mut memory = MemoryTemplates::new(rule);
        memory.record("example.com", &[line("Slogan"), line("Seen once")]);
        for i in 0..2 {
            memory.record("example.com", &[line("Slogan"), line(&format!("Story {i}."))]);
        }
        assert!(memory.templates("example.com").is_some_and(|t| t.contains(&line_key("Slogan"))));
        for i in 2..50 {
            memory.record("example.com", &[line(&format!("Story {i}."))]);
        }
        let site = &memory.sites["example.com"];
        assert!(!site.lines.contains_key(&line_key("Seen once")));
        assert!(site.lines.contains_key(&line_key("Slogan")), "a template stays for forget_after_articles");
        assert!(site.lines.len() <= 1 + 2 * 3, "one template and the last six articles' lines: {}", site.lines.len());
    }

    #[test]
    fn a_line_back_after_a_long_absence_is_counted_afresh_and_learned() {
        let mut memory = MemoryTemplates::new(TemplateRule::default());
        for i in 0..100 {
            let mut seen = vec![line(&format!("Story {i}."))];
            // Every other article, but missing from the 41 from the 9th to the 49th: counted from
            // its first sighting it would stay under half of the site's articles for good.
            if i % 2 == 0 && !(10..50).contains(&i) {
                seen.push(line("Support independent journalism."));
            }
            memory.record("example.com", &seen);
        }
        assert!(
            memory.templates("example.com").is_some_and(|t| t.contains(&line_key("Support independent journalism.")))
        );
    }
}
