//! Boilerplate stripping: keeps the article's paragraphs and drops menus, breadcrumbs, share bars,
//! captions, teasers, bylines and footers, recording every dropped line with its reason in `removed`.
//!
//! It works on lines (one block per line, as crawlers dump pages; HTML is first turned into such
//! lines by `html`). Each line is judged from its own shape and a small documented lexicon
//! (`LineShape::judge`), then from its place in the page: the article region runs from the first to
//! the last sentence-shaped paragraph; short lines outside it are page furniture, the first
//! headline-shaped line before it is the title.

pub mod features;
mod html;
pub mod model;
mod nesting;
pub mod templates;

use foldhash::{HashSet, HashSetExt};
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

use super::Stage;
use super::dates::is_date_line;
use super::text::{ends_like_sentence, ends_with_colon, normalize_line};
use crate::article::{Article, RemovedLine};

/// Why a line was dropped. The text is what `removed[].reason` shows users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Title,
    Headline,
    Breadcrumb,
    MenuItem,
    Share,
    Subscribe,
    Comments,
    Engagement,
    Caption,
    CaptionLike,
    Teaser,
    Legal,
    Link,
    Label,
    DateLine,
    Byline,
    CreditLine,
    Repeated,
    OutsideArticle,
    Classified,
    SiteTemplate,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Title => "title",
            Reason::Headline => "headline before the article",
            Reason::Breadcrumb => "breadcrumb",
            Reason::MenuItem => "menu or link list item",
            Reason::Share => "share or social links",
            Reason::Subscribe => "subscribe or sign-in prompt",
            Reason::Comments => "comments widget",
            Reason::Engagement => "reader engagement prompt",
            Reason::Caption => "photo caption",
            Reason::CaptionLike => "caption-like line without closing punctuation",
            Reason::Teaser => "teaser headline of another article",
            Reason::Legal => "legal or cookie notice",
            Reason::Link => "bare link",
            Reason::Label => "button or label",
            Reason::DateLine => "date line",
            Reason::Byline => "byline",
            Reason::CreditLine => "agency credit line",
            Reason::Repeated => "repeated line",
            Reason::OutsideArticle => "short line outside the article",
            Reason::Classified => "classified as boilerplate",
            Reason::SiteTemplate => "site template: on most of this site's articles",
        }
    }
}

/// A line-level cue from the lexicon: pattern, reason, longest line in words it applies to.
struct Cue {
    pattern: &'static str,
    reason: Reason,
    max_words: usize,
}

fn cue(pattern: &'static str, reason: Reason, max_words: usize) -> Cue {
    Cue { pattern, reason, max_words }
}

/// All cues in one automaton: a line is scanned once, whatever the lexicon's size. Word boundaries
/// are ASCII (the cue words are), which keeps the regex engine on its fast DFA for any text.
static LEXICON_SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(LEXICON.iter().map(|c| c.pattern.replace(r"\b", r"(?-u:\b)"))).expect("valid lexicon regexes")
});
static LONGEST_CUE_LINE: LazyLock<usize> = LazyLock::new(|| LEXICON.iter().map(|c| c.max_words).max().unwrap_or(0));

/// The documented lexicon of boilerplate cues. Each applies only to lines up to a length, so a
/// paragraph that merely mentions "Twitter" or "comments" is never dropped for it.
static LEXICON: LazyLock<Vec<Cue>> = LazyLock::new(|| {
    vec![
        cue(r"(?i)\byou are here\b|^home\s*[»›>/|]", Reason::Breadcrumb, 30),
        cue(
            r"(?i)\(photos?( by|:)|\|\s*(photo|image|picture)s?\b|^(photo|image|picture|file photo)s?\s*:|\b(photo|image) (credit|courtesy)\b|\bgetty images\b",
            Reason::Caption,
            80,
        ),
        cue(
            r"(?i)^(watch|video|listen|audio|read more|read also|also read|more on this|related( articles| stories| news)?|see also|recommended|trending|most (read|popular|viewed))\s*[:|»›\-–]",
            Reason::Teaser,
            25,
        ),
        cue(
            r"(?i)^(share|tweet|e-?mail|print|pin it|whatsapp|facebook|twitter|linkedin|reddit|telegram|google( plus|\+)?|instagram|youtube|roku|rss|copy link)\b",
            Reason::Share,
            6,
        ),
        cue(r"(?i)\bshare (this|on|via)\b|\bfollow us\b", Reason::Share, 10),
        cue(
            r"(?i)\b(subscribe|newsletter|sign up|log ?in|sign in|register now|create an account)\b",
            Reason::Subscribe,
            12,
        ),
        cue(
            r"(?i)\b(no|\d+) comments?\b|^comments?\b|leave a (comment|reply)|post (a|with no) comments?|join the (discussion|conversation)",
            Reason::Comments,
            8,
        ),
        cue(
            r"(?i)\b(do|did) you (like|enjoy)\b|\brate this\b|\bwas this (article|story|helpful)\b",
            Reason::Engagement,
            14,
        ),
        cue(
            r"(?i)\bcookies?\b|privacy policy|terms of (use|service)|all rights reserved|^copyright\b|©",
            Reason::Legal,
            40,
        ),
        cue(r"^(https?://|www\.)\S+$", Reason::Link, 1),
        cue(r"(?i:^(by|written by|reporting by|text by))\s+\p{Lu}", Reason::Byline, 10),
        cue(
            r"(?i)\b(agence france[- ]presse|afp|reuters|associated press|xinhua|dpa|anadolu|efe|ansa|upi|press trust of india|ians)\b",
            Reason::CreditLine,
            6,
        ),
    ]
});

const BREADCRUMB_SEPARATORS: [char; 5] = ['»', '›', '>', '/', '|'];

/// Breadcrumb separators between short segments: "News / Russia / News", "Home » World".
static BREADCRUMB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^.!?]{1,40}(\s[»›>/|]\s[^.!?]{1,40}){2,}$").expect("valid regex"));
static BULLET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[•·▪►▸◦‣□■●*\-–—]\s+").expect("valid regex"));

/// What one line looks like on its own, and how the page laid it out.
pub(crate) struct LineShape {
    pub(crate) text: String,
    /// Its words, characters and what the classifier's features count in them.
    pub(crate) stats: features::LineStats,
    pub(crate) sentence: bool,
    /// Leading whitespace in the page: crawler dumps indent menus and nested lists.
    pub(crate) indent: usize,
    /// A blank line stood before it: a block boundary.
    pub(crate) blank_before: bool,
    /// The lexicon cue that fired on the line, if any (computed once).
    lexicon_cue: Option<Reason>,
    /// Else the shape cue (breadcrumb separators, short bullet, date line, all-caps label).
    shape_cue: Option<Reason>,
    /// The text in lowercase, for finding repeats.
    pub(crate) folded: String,
}

impl LineShape {
    fn new(raw: &str, blank_before: bool) -> Self {
        let text = normalize_line(raw);
        let stats = features::LineStats::of(&text);
        let sentence = ends_like_sentence(&text);
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let folded = crate::stages::text::to_lowercase(&text);
        let mut line =
            LineShape { text, stats, sentence, indent, blank_before, lexicon_cue: None, shape_cue: None, folded };
        line.lexicon_cue = line.compute_lexicon_cue();
        if line.lexicon_cue.is_none() {
            line.shape_cue = line.compute_shape_cue();
        }
        line
    }

    /// Splits a page into its non-empty lines.
    pub(crate) fn page(page: &str) -> Vec<LineShape> {
        let mut lines = Vec::new();
        let mut blank_before = true;
        for raw in page.lines() {
            if raw.trim().is_empty() {
                blank_before = true;
                continue;
            }
            lines.push(LineShape::new(raw, blank_before));
            blank_before = false;
        }
        lines
    }

    /// Words holding a letter or digit.
    pub(crate) fn words(&self) -> usize {
        self.stats.words
    }

    /// A paragraph of prose: the evidence that marks the article region.
    pub(crate) fn is_paragraph(&self) -> bool {
        (self.sentence && self.words() >= 5) || self.words() >= 40
    }

    pub(crate) fn is_headline_shaped(&self) -> bool {
        (2..=25).contains(&self.words()) && !self.sentence && !ends_with_colon(&self.text)
    }

    /// The judgement a line earns on its own, before its place in the page is known.
    fn judge(&self) -> Option<Reason> {
        self.lexicon_cue.or(self.shape_cue)
    }

    fn compute_lexicon_cue(&self) -> Option<Reason> {
        if self.words() > *LONGEST_CUE_LINE {
            return None;
        }
        // Most lines hold no cue: the set's plain search passes over them several times faster
        // than the overlapping one, which only a line holding a cue needs.
        if !LEXICON_SET.is_match(&self.text) {
            return None;
        }
        let matched = LEXICON_SET.matches(&self.text);
        let cue = matched.iter().map(|i| &LEXICON[i]).find(|c| self.words() <= c.max_words);
        // A credit line names the agency and a place, never a full sentence.
        cue.filter(|c| c.reason != Reason::CreditLine || !self.sentence).map(|c| c.reason)
    }

    fn compute_shape_cue(&self) -> Option<Reason> {
        if self.text.contains(BREADCRUMB_SEPARATORS) && BREADCRUMB.is_match(&self.text) {
            return Some(Reason::Breadcrumb);
        }
        if BULLET.is_match(&self.text) && self.words() <= 6 && !self.sentence {
            return Some(Reason::MenuItem);
        }
        if is_date_line(&self.text) {
            return Some(Reason::DateLine);
        }
        if self.stats.is_all_caps() && self.words() <= 5 && !self.text.ends_with([':', '-', '—']) {
            return Some(Reason::Label);
        }
        None
    }
}

/// The boilerplate-stripping stage.
#[derive(Debug, Default)]
pub struct Cleaner;

impl Stage for Cleaner {
    fn name(&self) -> &'static str {
        "clean"
    }

    fn apply(&self, article: &mut Article) {
        let templates = article.input.site_templates.clone();
        let (mut cleaned, overflow) = match article.input.html.take() {
            Some(page) => {
                let (page, html_overflow) = within_budget(&page, MAX_HTML_BYTES);
                let extracted = html::extract(page);
                article.input.html_meta = Some(extracted.meta);
                let (text, text_overflow) = within_budget(&extracted.text, MAX_TEXT_BYTES);
                let cleaned = classify_lines(text, Some(&extracted.evidence), templates.as_deref());
                (cleaned, html_overflow.or(text_overflow))
            }
            None => {
                let (text, overflow) = within_budget(&article.body, MAX_TEXT_BYTES);
                (classify_lines(text, None, templates.as_deref()), overflow)
            }
        };
        cleaned.removed.extend(overflow);
        article.body = cleaned.kept.join("\n\n");
        article.input.removed_kept_before = cleaned.kept_before;
        article.removed = cleaned.removed;
        article.input.template_sightings = cleaned.sightings;
    }
}

/// The size budget: real articles are far smaller (wcxb-dev's largest crawler page is 130 KB of
/// text, its largest HTML page 1.8 MB), and the cleaner's cost grows with size, so what lies beyond
/// is not examined. That keeps any page, however large, within tens of milliseconds, and the same
/// input always gets the same cut (a time budget would not).
pub const MAX_TEXT_BYTES: usize = 512 << 10;
pub const MAX_HTML_BYTES: usize = 2 << 20;

/// The page up to `limit` bytes, cut at the last line break (or, for markup, tag) before it, and the
/// `removed` entry that says what was left out.
fn within_budget(page: &str, limit: usize) -> (&str, Option<RemovedLine>) {
    if page.len() <= limit {
        return (page, None);
    }
    let mut end = limit;
    while !page.is_char_boundary(end) {
        end -= 1;
    }
    let end = page[..end].rfind(['\n', '<']).filter(|&at| at > 0).unwrap_or(end);
    let (kept, rest) = page.split_at(end);
    let first_line: String = rest.trim_start().lines().next().unwrap_or_default().chars().take(200).collect();
    let reason = format!(
        "over the cleaner's size budget: the last {} bytes of the page ({} lines) were not examined",
        rest.len(),
        rest.lines().filter(|l| !l.trim().is_empty()).count()
    );
    (kept, Some(RemovedLine { line: first_line, reason }))
}

/// What the cleaner made of a page.
pub struct Cleaned {
    pub kept: Vec<String>,
    pub removed: Vec<RemovedLine>,
    /// Kept lines that may be the site's furniture, for learning its templates.
    pub sightings: Vec<templates::Sighting>,
    /// For each removed line, how many kept lines stood before it in the page.
    pub kept_before: Vec<usize>,
}

/// One line as the classifier sees it: its text, its features, and whether the rules drop it
/// whatever the model says.
pub struct ClassifiedLine {
    pub text: String,
    pub features: features::Features,
    pub ruled_out: bool,
}

/// The text lines of a page (HTML turned into lines first) with what the classifier sees;
/// `clean-features` dumps these to train it.
pub fn lines_with_features(content: &crate::article::Content) -> Vec<ClassifiedLine> {
    match content {
        crate::article::Content::Text(text) => analyse(text, None).into_classified_lines(),
        crate::article::Content::Html(page) => {
            let extracted = html::extract(page);
            analyse(&extracted.text, Some(&extracted.evidence)).into_classified_lines()
        }
    }
}

/// A page as the classifier sees it: its lines, the rules' verdict on each, and their features.
/// The cleaner and `clean-features` (training) both start from this, so they cannot drift apart.
struct PageAnalysis {
    lines: Vec<LineShape>,
    verdicts: Vec<Option<Reason>>,
    features: Vec<features::Features>,
    /// Dropped whatever the model says (`forced_drops`).
    ruled_out: Vec<bool>,
}

/// `html`: for an HTML page, what its markup says about the lines.
fn analyse(page: &str, html: Option<&html::HtmlEvidence>) -> PageAnalysis {
    let lines = LineShape::page(page);
    let verdicts = rule_verdicts(&lines);
    let features = features::page_features(&lines, &verdicts, html);
    let ruled_out = forced_drops(&lines, &verdicts, html);
    PageAnalysis { lines, verdicts, features, ruled_out }
}

impl PageAnalysis {
    fn into_classified_lines(self) -> Vec<ClassifiedLine> {
        self.lines
            .into_iter()
            .zip(self.features)
            .zip(self.ruled_out)
            .map(|((line, features), ruled_out)| ClassifiedLine { ruled_out, text: line.text, features })
            .collect()
    }
}

/// The rule pass over a page: each line's shape and the verdict the rules give it.
pub(crate) fn rule_verdicts(lines: &[LineShape]) -> Vec<Option<Reason>> {
    let mut verdicts: Vec<Option<Reason>> = lines.iter().map(LineShape::judge).collect();
    mark_repeats(lines, &mut verdicts);
    mark_region(lines, &mut verdicts);
    verdicts
}

/// Splits a page into kept paragraphs and removed lines with reasons.
pub fn clean_lines(page: &str) -> (Vec<String>, Vec<RemovedLine>) {
    let cleaned = classify_lines(page, None, None);
    (cleaned.kept, cleaned.removed)
}

/// The line classifier decides what the rules leave open. A line on which a lexicon cue fired is
/// dropped whatever the model says: those cues are documented boilerplate in any site's layout.
/// Shape cues and positional guesses (short bullets, date lines, all-caps labels, teaser-shaped
/// headings, outside the article, caption-like, repeated) are evidence the model weighs; they are
/// right too rarely to overrule it (title-case teaser headings are most often an article's own
/// subheadings), with a lower bar for prose on short messages
/// (`SHORT_PAGE_LINES`). Dropped lines carry the rule's reason when one fired. Then a kept line the
/// site's learned templates list goes too (`templates`).
fn classify_lines(
    page: &str,
    html: Option<&html::HtmlEvidence>,
    site_templates: Option<&templates::SiteTemplates>,
) -> Cleaned {
    let PageAnalysis { lines, verdicts, features, ruled_out } = analyse(page, html);
    let model = &*model::BUILT_IN;
    let short_page = lines.len() < SHORT_PAGE_LINES;
    let open: Vec<usize> = (0..lines.len()).filter(|&i| !ruled_out[i]).collect();
    let probabilities = model.probabilities(&open.iter().map(|&i| &features[i]).collect::<Vec<_>>());
    let mut keep = vec![false; lines.len()];
    for (i, probability) in open.into_iter().zip(probabilities) {
        let rules_keep_prose = verdicts[i].is_none() && lines[i].sentence;
        let bar = if short_page && rules_keep_prose { SHORT_PAGE_PROSE_FLOOR } else { model.threshold };
        keep[i] = probability >= bar;
    }
    let keep = drop_trailing_lead_ins(&lines, keep);
    let kept_texts: Vec<&str> = lines.iter().zip(&keep).filter(|(_, k)| **k).map(|(l, _)| l.text.as_str()).collect();
    let sightings = templates::sightings(&kept_texts);
    let is_template = |text: &str| site_templates.is_some_and(|t| t.contains(&templates::line_key(text)));
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let mut kept_before = Vec::new();
    for ((line, verdict), keep) in lines.into_iter().zip(verdicts).zip(keep) {
        let reason = match (keep, verdict) {
            (true, _) if is_template(&line.text) => Reason::SiteTemplate,
            (true, _) => {
                kept.push(line.text);
                continue;
            }
            (false, verdict) => verdict.unwrap_or(Reason::Classified),
        };
        removed.push(RemovedLine { line: line.text, reason: reason.as_str().to_owned() });
        kept_before.push(kept.len());
    }
    Cleaned { kept, removed, sightings, kept_before }
}

/// The model learned from whole crawled pages (wcxb-dev: 5th percentile 80 lines, 5 of 793 pages
/// under 40). A shorter message is mostly article already and outside what it has seen, so there a
/// sentence the rules keep, however short ("Ferries were cancelled."), is dropped only when the
/// model is confident.
const SHORT_PAGE_LINES: usize = 40;
const SHORT_PAGE_PROSE_FLOOR: f32 = 0.1;

/// Dropped whatever the model says: the title (it moves to metadata), every line a lexicon cue
/// fired on, and title-case teaser headlines between paragraphs ("Airstrikes Hit Two Hospitals in
/// Besieged Syrian City of Aleppo"), which news pages scatter through their articles. On a page
/// with `SUBHEADING_PAGE_TEASERS` or more of them they are the article's own subheadings, as they are
/// when the markup makes them headings; then the model decides.
fn forced_drops(lines: &[LineShape], verdicts: &[Option<Reason>], html: Option<&html::HtmlEvidence>) -> Vec<bool> {
    let shaped_teaser =
        |(line, verdict): (&LineShape, &Option<Reason>)| *verdict == Some(Reason::Teaser) && line.lexicon_cue.is_none();
    let teasers = lines.iter().zip(verdicts).filter(|&pair| shaped_teaser(pair)).count();
    let subheadings = teasers >= SUBHEADING_PAGE_TEASERS;
    let heading = |i: usize| {
        let block = html.and_then(|h| h.blocks.get(i));
        block.is_some_and(|b| b.tag == html::BlockTag::Heading && b.link_density < 0.5)
    };
    let forced = |(i, (line, verdict)): (usize, (&LineShape, &Option<Reason>))| match verdict {
        _ if line.lexicon_cue.is_some() => true,
        Some(Reason::Title) => true,
        Some(Reason::Teaser) => !subheadings && !heading(i),
        _ => false,
    };
    lines.iter().zip(verdicts).enumerate().map(forced).collect()
}

/// Teaser-shaped lines on one page from which they are taken for subheadings.
const SUBHEADING_PAGE_TEASERS: usize = 3;

/// A line ending in a colon introduces what follows. After the last kept line, it introduces only
/// removed content ("Follow us on:", "…at the following addresses:"), so it goes with it.
fn drop_trailing_lead_ins(lines: &[LineShape], mut keep: Vec<bool>) -> Vec<bool> {
    while let Some(last) = keep.iter().rposition(|k| *k) {
        let introduces_removed = ends_with_colon(&lines[last].text) && last + 1 < lines.len();
        if !introduces_removed {
            break;
        }
        keep[last] = false;
    }
    keep
}

/// Judges lines by their place: before, inside or after the article region.
fn mark_region(lines: &[LineShape], verdicts: &mut [Option<Reason>]) {
    let is_paragraph = |i: usize| verdicts[i].is_none() && lines[i].is_paragraph();
    let Some(first) = (0..lines.len()).find(|&i| is_paragraph(i)) else {
        mark_header(lines, verdicts, lines.len());
        return;
    };
    let last = (0..lines.len()).rev().find(|&i| is_paragraph(i)).unwrap_or(first);

    mark_header(lines, verdicts, first);
    for i in first..=last {
        if verdicts[i].is_none() {
            verdicts[i] = judge_inside(&lines[i]);
        }
    }
    for i in last + 1..lines.len() {
        if verdicts[i].is_none() && !lines[i].is_paragraph() {
            verdicts[i] = Some(Reason::OutsideArticle);
        }
    }
}

/// Before the first paragraph: the first headline-shaped line is the title, later ones are
/// subheadings and standfirsts without punctuation, anything else short is page furniture.
fn mark_header(lines: &[LineShape], verdicts: &mut [Option<Reason>], end: usize) {
    let mut title_seen = false;
    for i in 0..end {
        if verdicts[i].is_some() {
            continue;
        }
        let line = &lines[i];
        verdicts[i] = Some(if line.is_headline_shaped() && !title_seen {
            title_seen = true;
            Reason::Title
        } else if line.is_headline_shaped() && line.words() >= 4 {
            Reason::Headline
        } else {
            Reason::OutsideArticle
        });
    }
}

/// Inside the article: keep everything but captions and teasers that sit between paragraphs.
fn judge_inside(line: &LineShape) -> Option<Reason> {
    if line.sentence || ends_with_colon(&line.text) {
        return None;
    }
    if line.words() >= 6 && line.stats.title_case_ratio() >= 0.8 {
        return Some(Reason::Teaser);
    }
    // Prose that never closes its sentence is how captions and image alt texts read.
    if line.words() >= 12 {
        return Some(Reason::CaptionLike);
    }
    None
}

/// A line seen before on the same page (a title printed twice, a menu repeated in the footer).
fn mark_repeats(lines: &[LineShape], verdicts: &mut [Option<Reason>]) {
    let mut seen = HashSet::new();
    for (line, verdict) in lines.iter().zip(verdicts.iter_mut()) {
        let first_time = seen.insert(line.folded.as_str());
        if !first_time && verdict.is_none() {
            *verdict = Some(Reason::Repeated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(page: &str) -> Vec<(String, String)> {
        clean_lines(page).1.into_iter().map(|r| (r.line, r.reason)).collect()
    }

    const AGENCY_PAGE: &str = "date 2014-03-02 You are here: Home » World » Europe\n\
        \n\
        Storm closes ports along the coast\n\
        \n\
        Ferries cancelled as winds reach 120 km/h\n\
        \n\
        March 2, 2014\n\
        Agence France-Presse . Lisbon\n\
        \n\
        Portugal closed its main ports on Sunday as a storm battered the Atlantic coast.\n\
        “We are asking everyone to stay at home,” the civil protection agency said.\n\
        Ferries were cancelled.\n\
        Fishermen brought their boats ashore before dawn, local television showed.\n\
        \n\
        Do you like the content of this article?\n\
        COMMENT\n";

    #[test]
    fn agency_page_keeps_every_paragraph_and_names_each_drop() {
        let (kept, removed) = clean_lines(AGENCY_PAGE);
        assert_eq!(
            kept,
            [
                "Portugal closed its main ports on Sunday as a storm battered the Atlantic coast.",
                "“We are asking everyone to stay at home,” the civil protection agency said.",
                "Ferries were cancelled.",
                "Fishermen brought their boats ashore before dawn, local television showed.",
            ]
        );
        let reasons: Vec<&str> = removed.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "breadcrumb",
                "title",
                "headline before the article",
                "date line",
                "agency credit line",
                "reader engagement prompt",
                "comments widget"
            ]
        );
    }

    /// The rules' verdict on each line with `needle` in it, and whether they force it out whatever
    /// the model says.
    fn forced_out(page: &str, needle: &str) -> Vec<(Option<Reason>, bool)> {
        let analysis = analyse(page, None);
        let lines = analysis.lines.iter().zip(analysis.verdicts.iter().zip(&analysis.ruled_out));
        lines.filter(|(line, _)| line.text.contains(needle)).map(|(_, (verdict, forced))| (*verdict, *forced)).collect()
    }

    #[test]
    fn teaser_headlines_are_forced_out_unless_the_page_is_built_of_them() {
        let paragraph = "The storm closed every port on the coast on Sunday, officials said.";
        let one_teaser =
            format!("{paragraph}\nRecord Waves Batter Surfing Town of Nazaré as Crowds Gather\n{paragraph} Again.");
        assert_eq!(forced_out(&one_teaser, "Record Waves"), [(Some(Reason::Teaser), true)]);

        let sections = [
            "How We Chose the Best Travel Insurance Plans",
            "What Each Plan Covers for Older Travellers",
            "Which Plan Suits a Long Cruise Best",
        ];
        let guide: String = sections.iter().enumerate().map(|(i, s)| format!("Part {i}: {paragraph}\n{s}\n")).collect();
        let guide = format!("{guide}{paragraph}");
        for section in sections {
            assert_eq!(forced_out(&guide, section), [(Some(Reason::Teaser), false)], "{section}");
        }
    }

    #[test]
    fn menus_captions_and_teasers_inside_a_page_are_dropped() {
        let page = "• Live\n  • facebook\n  • twitter\n\
            The harbour master inspects a damaged pier in Porto, March 2, 2014. | Photo: Reuters\n\
            Published 2 March 2014\n\
            The storm is the third to hit the coast this winter, forecasters said.\n\
            Record Waves Batter Surfing Town of Nazaré as Crowds Gather\n\
            WATCH: Storm hits Porto\n\
            Forecasters expect calmer weather from Tuesday, when the wind turns north.\n\
            Post with no comments.";
        let got = reasons(page);
        let reason_of = |line: &str| got.iter().find(|(l, _)| l.contains(line)).map(|(_, r)| r.as_str());
        assert_eq!(reason_of("Live"), Some("menu or link list item"));
        assert_eq!(reason_of("facebook"), Some("menu or link list item"));
        assert_eq!(reason_of("harbour master"), Some("photo caption"));
        assert_eq!(reason_of("Published 2 March"), Some("date line"));
        assert_eq!(reason_of("Record Waves"), Some("teaser headline of another article"));
        assert_eq!(reason_of("WATCH:"), Some("teaser headline of another article"));
        assert_eq!(reason_of("Post with no comments."), Some("comments widget"));
        assert_eq!(got.len(), 8);
    }

    #[test]
    fn trailing_site_notices_and_share_bars_are_dropped() {
        let page = "Section   /   World   /   News\n\
            Storm closes ports\n\
            The storm closed every port on the coast on Sunday, officials said.\n\
            Ferries will sail again on Tuesday.\n\
            Our website can also be reached at the following addresses:\n\
            www.example.co.uk\n\
            SHARE THIS ARTICLE\n\
            Example News Roku";
        let (kept, removed) = clean_lines(page);
        assert_eq!(kept.len(), 2);
        assert_eq!(removed.len(), 6);
        assert_eq!(removed[0].reason, "breadcrumb");
    }

    #[test]
    fn a_title_printed_twice_is_dropped_once_as_title_then_as_repeat() {
        let page = "Storm closes ports\nStorm closes ports\nThe storm closed every port on the coast on Sunday.";
        let got = reasons(page);
        assert_eq!(got[0].1, "title");
        assert_eq!(got[1].1, "repeated line");
    }

    #[test]
    fn the_rules_flag_an_unpunctuated_caption_between_paragraphs() {
        let page = "The storm closed every port on the coast on Sunday, officials said.\n\
            Fishermen are seen on March 1, 2014 pulling their boats up the beach at Nazaré before the storm arrived\n\
            Ferries will sail again on Tuesday, the operator said.";
        let lines = LineShape::page(page);
        assert_eq!(rule_verdicts(&lines), [None, Some(Reason::CaptionLike), None]);
    }

    #[test]
    fn a_short_message_keeps_its_prose_paragraphs() {
        let (kept, _) = clean_lines(
            "Storm closes ports\nThe storm closed every port on the coast on Sunday, officials said.\n\
             Ferries will sail again on Tuesday.",
        );
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn a_page_over_the_size_budget_is_cut_at_a_line_and_the_cut_is_reported_once() {
        let line =
            |i: usize| format!("Report {i}: the storm closed every port on the coast on Sunday, officials said.\n");
        let mut page = String::new();
        let mut lines = 0;
        while page.len() <= MAX_TEXT_BYTES {
            page.push_str(&line(lines));
            lines += 1;
        }
        for i in 0..1000 {
            page.push_str(&line(lines + i));
        }
        let mut article =
            Article::from_raw(crate::article::RawArticle::new("big", crate::article::Content::Text(page)));
        Cleaner.apply(&mut article);
        assert!(article.body.len() < MAX_TEXT_BYTES);
        assert!(article.body.split("\n\n").all(|kept| kept.ends_with("officials said.")), "cut between lines");
        assert!(!article.body.contains(line(lines - 1).trim_end()));
        let cut: Vec<_> = article.removed.iter().filter(|r| r.reason.contains("size budget")).collect();
        assert_eq!(cut.len(), 1);
        assert!(cut[0].reason.contains("(1001 lines)"), "{}", cut[0].reason);
        assert_eq!(cut[0].line, line(lines - 1).trim_end());
    }

    #[test]
    fn a_paragraph_that_mentions_twitter_or_comments_is_kept() {
        let page =
            "Twitter said on Monday it would remove the comments of accounts that spread false claims about the storm.";
        assert_eq!(clean_lines(page).0.len(), 1);
    }
}
