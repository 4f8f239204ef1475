//! Metadata extraction: title, publication date, publisher, authors and agency, dateline, language,
//! entities, quotes and keywords.
//!
//! Each key comes from the most trusted source that has it: the envelope (what the crawler knew),
//! then the HTML's own statements (`html_meta`: JSON-LD, meta tags, `<h1>`, `<time>`), then the URL,
//! then the text — the page header lines the cleaner set aside and the clean body. The rules, key by key:
//!
//! - `title`: envelope; else, for HTML, the page's `<h1>` (not a site-name `<h1>` linking home;
//!   without a date, section label, host name or "| tagline" printed beside the headline)
//!   when the social or `<title>` headline agrees with it or shares 30 % of its words, else that
//!   headline without its site and section names; else, for text, the header line most like the
//!   URL's slug and nearest the article.
//! - `published_at`: envelope; the date the page shows — on a line by its `<h1>`, in its date
//!   element (`post-date`, `<time>`), on a line next to the title's, else on a header line (date
//!   lines, bylines — never captions or the story, which name other days) — preferred to a
//!   disagreeing metadata date when it is one of the first three, or the page shows at most two
//!   days, and the metadata's publication date preferred when the day shown is its update's or a
//!   day apart from it (a UTC time against the publisher's local day), or a numeric day shown
//!   reads as it the other way round; HTML metadata; a date in the URL path (`/2016/09/30/`,
//!   `/2023/october/03/`); the dated line nearest the article
//!   (`nearest_dated_line`); the metadata's update time; else, with `fetched_at`, the
//!   lead's "today" or weekday ("on Thursday") as the most recent such day. Numeric dates are read
//!   in the order the page writes its dates out in words (`DayOrder`). Never after `fetched_at`,
//!   never before 1990; a date alone stays a date.
//! - `source`: envelope; the HTML's site name; a known publisher's host; a signature line ("Press
//!   TV's website …", "© 2016 teleSUR"); else the host itself.
//! - `authors`/`agency`: HTML authors, then byline lines ("By …", "Written by …"); a wire agency is
//!   the origin when a credit line, a byline, the dateline's parentheses or the HTML's author names it.
//! - `dateline`: see `dateline`. `language`: envelope, `<html lang>`, else the body's (`language`).
//! - `entities`, `quotes`, `keywords`: see their modules.

pub mod byline;
pub mod dateline;
pub mod entities;
pub mod html_meta;
pub mod keywords;
pub mod language;
pub mod quotes;

use std::cell::LazyCell;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};
use memchr::memmem::Finder;

use super::Stage;
use super::clean::Reason;
use super::dates::{DayOrder, OrderSource, find_date, find_date_in, find_dates_in, has_year, month_number};
use super::text::{ends_like_sentence, has_at_most_words, prefix_chars, split_paragraphs, word_count, words_up_to};
use crate::article::{Article, PublishedAt, RemovedLine};

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

/// Header lines nearest the article that are searched for a title, byline or date.
const HEADER_LINES: usize = 25;
/// Kept lines after which removed lines still count as the header.
const HEADER_KEPT_LINES: usize = 2;
/// A header line with more words than this is prose, not a date or byline line.
const MAX_HEADER_LINE_WORDS: usize = 16;
/// The longest byline line read for its date: a date, an author and a list of categories.
const MAX_BYLINE_LINE_WORDS: usize = 48;

#[derive(Debug, Default)]
pub struct MetadataExtractor;

impl Stage for MetadataExtractor {
    fn name(&self) -> &'static str {
        "metadata"
    }

    fn apply(&self, article: &mut Article) {
        // The entity finder reads every word of the body, and counts them on the way.
        let found = entities::find(&article.body);
        article.word_count = found.word_count;
        article.language = language(article);
        article.title = title(article);
        article.published_at = published_at(article);
        article.source = source(article);
        let dateline = dateline::find(lead_paragraph(&article.body));
        let (authors, agency, credited_place) = authors_and_agency(article, dateline.as_ref());
        article.authors = authors;
        article.agency = agency;
        article.dateline = dateline.map(|d| d.place).or(credited_place);
        article.quotes = quotes::find(&article.body, &found);
        article.entities = found.entities;
        article.keywords = keywords::extract(&article.body, article.language.as_deref(), article.word_count);
    }
}

/// The story's first paragraph of prose: a kept headline or standfirst before it is skipped.
fn lead_paragraph(body: &str) -> &str {
    const MIN_LEAD_WORDS: usize = 12;
    let mut paragraphs = split_paragraphs(body);
    let first = paragraphs.next().unwrap_or_default();
    std::iter::once(first).chain(paragraphs.take(2)).find(|p| word_count(p) >= MIN_LEAD_WORDS).unwrap_or(first)
}

/// The removed lines of the page header, nearest the article first: those before its first kept
/// line, then those among its first few (a standfirst often comes before the byline and date).
fn header(article: &Article) -> impl Iterator<Item = &RemovedLine> {
    header_indexes(article).map(|i| &article.removed[i])
}

/// `header`'s lines as indexes into `article.removed`.
fn header_indexes(article: &Article) -> impl Iterator<Item = usize> {
    let kept_before = &article.input.removed_kept_before;
    let at = |i: usize| kept_before.get(i).copied().unwrap_or(0);
    let before = lines_before_body(article);
    let early = (before..article.removed.len()).take_while(move |&i| at(i) <= HEADER_KEPT_LINES);
    (0..before).rev().take(HEADER_LINES).chain(early.take(HEADER_LINES))
}

/// The longest line read as a bare date.
const MAX_BARE_DATE_BYTES: usize = 32;

/// Whether removed line `i` is a bare date later than the bare date on the line before it:
/// "8/1/2025" then "8/27/2025", a publication day and its update, each on a line of its own.
fn is_update_after_bare_date(article: &Article, i: usize) -> bool {
    let bare_date = |i: usize| {
        let line = article.removed[i].line.trim();
        // The longest bare date, "September 30, 2016 12:00", fits; longer lines are not read.
        let short = line.len() <= MAX_BARE_DATE_BYTES;
        let found = short.then(|| find_date(line)).flatten();
        found.filter(|found| found.start == 0 && found.end == line.len()).map(|found| found.date)
    };
    i > 0 && bare_date(i).zip(bare_date(i - 1)).is_some_and(|(this, before)| this > before)
}

/// How many removed lines stand before the article's first kept line.
fn lines_before_body(article: &Article) -> usize {
    let kept_before = &article.input.removed_kept_before;
    (0..article.removed.len()).take_while(|&i| kept_before.get(i).copied().unwrap_or(0) == 0).count()
}

/// The article's paragraphs: its kept lines, which the cleaner joined with blank lines. Read as
/// they are needed: most rules want the first few of a body that may run to thousands.
fn paragraphs(article: &Article) -> impl Iterator<Item = &str> {
    split_paragraphs(&article.body).filter(|p| !p.is_empty())
}

/// Whether removed line `i` stands under the article, after all `paragraphs` of it.
fn is_below_body(article: &Article, i: usize, paragraphs: usize) -> bool {
    article.input.removed_kept_before.get(i).copied().unwrap_or(0) >= paragraphs
}

fn removed_with(article: &Article, reason: Reason) -> impl Iterator<Item = &str> {
    article.removed.iter().filter(move |r| r.reason == reason.as_str()).map(|r| r.line.as_str())
}

fn language(article: &Article) -> Option<String> {
    let hinted = article.input.lang_hint.as_deref();
    let declared = article.input.html_meta.as_ref().and_then(|m| m.language.as_deref());
    if let Some(code) = hinted.or(declared).and_then(iso_639_1) {
        return Some(code);
    }
    if article.word_count < language::MIN_WORDS {
        return None;
    }
    language::detect(&article.body)
}

/// Accepts "en", "EN", "en-GB", "en_US", "eng" and returns the two-letter code.
fn iso_639_1(code: &str) -> Option<String> {
    let primary = code.split(['-', '_']).next()?.to_ascii_lowercase();
    match primary.len() {
        2 => isolang::Language::from_639_1(&primary).map(|_| primary),
        3 => isolang::Language::from_639_3(&primary)?.to_639_1().map(str::to_owned),
        _ => None,
    }
}

fn title(article: &Article) -> Option<String> {
    if let Some(hint) = &article.input.title_hint {
        return Some(hint.clone());
    }
    if let Some(meta) = &article.input.html_meta {
        return html_title(meta);
    }
    text_title(article)
}

fn fold(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Separators between a headline and the site's name in `<title>` and social titles.
const TITLE_SEPARATORS: [&str; 7] = [" | ", " - ", " – ", " — ", " :: ", " · ", " • "];

/// The `<h1>` when another headline agrees with it: contains it, is contained in it, or shares at
/// least `MIN_SHARED_HEADLINE_WORDS` of its words (the page's visible headline is often a reworded
/// social one: "Top 10 Health and Nutrition Trends to Watch" beside "Health And Nutrition Trends
/// For 2026 - Tastewise"); else the social headline or `<title>` without the site's name.
fn html_title(meta: &html_meta::HtmlMeta) -> Option<String> {
    let others: Vec<String> = [&meta.headline, &meta.title_tag].into_iter().flatten().map(|t| fold(t)).collect();
    let site = meta.site_name.as_deref().map(fold);
    let social =
        || meta.headline.as_deref().or(meta.title_tag.as_deref()).map(|t| without_site_name(t, site.as_deref()));
    let h1 = meta.h1.as_deref().map(|h1| without_site_tail(headline_of_h1(h1), site.as_deref()));
    if let Some(h1) = h1.filter(|h1| h1.split_whitespace().count() <= 40) {
        let folded = fold(h1);
        let agrees = |other: &String| {
            other.contains(&folded)
                || (!other.is_empty() && folded.contains(other.as_str()))
                || shared_words(&folded, other) >= MIN_SHARED_HEADLINE_WORDS
        };
        if !folded.is_empty() && others.iter().any(agrees) {
            let tagged = [&meta.headline, &meta.title_tag].into_iter().flatten();
            if let Some(spelled_out) = tagged
                .map(|tagged| without_site_name(tagged, site.as_deref()))
                .find(|tagged| adds_only_numbers(&fold(tagged), &folded))
            {
                return Some(spelled_out);
            }
            // A headline set in capitals by the page's style is written properly in its tags: on
            // `make eval-meta` the tags' wording was the checked title twice, the <h1>'s once.
            let shouted = !h1.chars().any(char::is_lowercase);
            return Some(social().filter(|other| shouted && agrees(&fold(other))).unwrap_or_else(|| h1.to_owned()));
        }
    }
    social().or_else(|| meta.h1.clone())
}

/// Whether folded `longer` is folded `shorter` with only a count or a year beside it ("8 Recent
/// Trends in Photography", "15 Best Online Tutoring Platforms 2025"): numbers the visible headline
/// leaves to the page's design, which the tags spell out. A phrase ("… in 2026") is the tags' own
/// wording: on `make eval-meta` the checked title had it once and lacked it twice.
fn adds_only_numbers(longer: &str, shorter: &str) -> bool {
    let Some(at) = longer.find(shorter).filter(|_| !shorter.is_empty()) else { return false };
    let (before, after) = (&longer[..at], &longer[at + shorter.len()..]);
    if !(before.is_empty() || before.ends_with(' ')) || !(after.is_empty() || after.starts_with(' ')) {
        return false;
    }
    let is_number = |word: &&str| word.chars().all(|c| c.is_ascii_digit());
    let extra: Vec<&str> = before.split(' ').chain(after.split(' ')).filter(|w| !w.is_empty()).collect();
    !extra.is_empty() && extra.iter().all(is_number)
}

/// "Critics’ Choice: Best UK Art Exhibitions 2025 – Artlyst" → the headline, when the part after
/// the last separator is the site's (folded) name.
fn without_site_tail<'a>(headline: &'a str, site: Option<&str>) -> &'a str {
    let Some(site) = site.filter(|site| !site.is_empty()) else { return headline };
    TITLE_SEPARATORS
        .iter()
        .find_map(|separator| {
            let (head, tail) = headline.rsplit_once(separator)?;
            (fold(tail) == site && !head.trim().is_empty()).then(|| head.trim())
        })
        .unwrap_or(headline)
}

/// What separates a headline from what a page prints beside it.
const HEADLINE_PUNCTUATION: &str = "-–—:|·•";

/// Section labels some pages print before the headline in their `<h1>` ("Blog: …").
const H1_LABELS: [&str; 6] = ["blog", "news", "opinion", "analysis", "podcast", "video"];

/// An `<h1>` without what pages print in it beside the headline: a date before it ("Dec 18 2025
/// Preparing a transition in Debusine"), a section label ("Blog: …"), the site's host ("davidbau.com
/// Vibe Coding"), or a tagline after a bar ("Best Residential Movers in NYC 2025 | Top 19 Companies":
/// cut, the head was the checked title on 4 pages of `make eval-meta`, the whole on 1).
fn headline_of_h1(h1: &str) -> &str {
    let enough = |rest: &str| rest.split_whitespace().count() >= MIN_HEADLINE_WORDS;
    let mut headline = h1.trim();
    if let Some(found) = find_date(headline).filter(|found| found.start == 0)
        && let rest = after_separator(&headline[found.end..])
        && enough(rest)
    {
        headline = rest;
    }
    if let Some((label, rest)) = headline.split_once(": ")
        && H1_LABELS.contains(&label.to_lowercase().as_str())
        && enough(rest)
    {
        headline = rest;
    }
    headline = without_host_name(headline);
    headline = without_linked_host(headline);
    match headline.split_once(" | ") {
        Some((head, _)) if enough(head) => head.trim(),
        _ => headline,
    }
}

/// "davidbau.com Vibe Coding" → "Vibe Coding": a host name before a headline is the site's name.
fn without_host_name(title: &str) -> &str {
    match title.split_once(' ') {
        Some((first, rest)) if is_host_name(first) && rest.chars().any(char::is_alphabetic) => after_separator(rest),
        _ => title,
    }
}

/// "Grads Find Their Degrees No Longer Guarantee Jobs (latimes.com) 87" → the headline: link
/// aggregators print the linked story's host after it, and a comment count.
fn without_linked_host(h1: &str) -> &str {
    let Some((head, tail)) = h1.rsplit_once(" (") else { return h1 };
    let Some((host, after)) = tail.split_once(')') else { return h1 };
    let only_a_count = after.trim().chars().all(|c| c.is_ascii_digit());
    if only_a_count && is_host_name(host.trim_start_matches("www.")) && !head.trim().is_empty() {
        head.trim_end()
    } else {
        h1
    }
}

/// `rest` without the spaces and separator that lead it ("— Preparing a transition" → "Preparing a transition").
fn after_separator(rest: &str) -> &str {
    rest.trim_start_matches(|c: char| c.is_whitespace() || HEADLINE_PUNCTUATION.contains(c))
}

/// "davidbau.com": a word of letters, digits and hyphens with a dot before an alphabetic ending.
fn is_host_name(word: &str) -> bool {
    word.rsplit_once('.').is_some_and(|(name, ending)| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && (2..=6).contains(&ending.len())
            && ending.chars().all(|c| c.is_ascii_lowercase())
    })
}

/// Share of an `<h1>`'s words another headline uses, measured on `make eval-meta`: from a
/// quarter to a half scored within half a point of each other, 0.3 best.
const MIN_SHARED_HEADLINE_WORDS: f32 = 0.3;
/// An `<h1>` of fewer words is a label ("Blog", "Our Team"), not evidence of a shared headline.
const MIN_HEADLINE_WORDS: usize = 3;

/// Share of the distinct words of folded `headline` that folded `other` uses too.
fn shared_words(headline: &str, other: &str) -> f32 {
    let words: std::collections::HashSet<&str> = headline.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < MIN_HEADLINE_WORDS {
        return 0.0;
    }
    let theirs: std::collections::HashSet<&str> = other.split(' ').collect();
    words.iter().filter(|w| theirs.contains(*w)).count() as f32 / words.len() as f32
}

/// "Storm closes ports | The Herald" → "Storm closes ports": the site's name, when known, else the
/// shorter side of the last separator when it is short.
fn without_site_name(title: &str, site: Option<&str>) -> String {
    // "Headline | Section | Site" carries two such tails; "Site | Headline" the name in front.
    let mut title = without_host_name(title.trim());
    for _ in 0..MAX_SITE_SEGMENTS {
        match without_one_site_segment(title, site) {
            Some(rest) => title = rest,
            None => break,
        }
    }
    title.to_owned()
}

/// Site-name segments taken off one title.
const MAX_SITE_SEGMENTS: usize = 2;

fn without_one_site_segment<'a>(title: &'a str, site: Option<&str>) -> Option<&'a str> {
    let is_site = |part: &str| site.is_some_and(|site| fold(part) == site || site.contains(&fold(part)));
    let words = |part: &str| part.split_whitespace().count();
    for separator in TITLE_SEPARATORS {
        if let Some((head, tail)) = title.rsplit_once(separator)
            && (is_site(tail) || (words(tail) <= 4 && words(head) > words(tail)))
        {
            return Some(head.trim());
        }
        if let Some((head, tail)) = title.split_once(separator) {
            let is_domain = !head.contains(' ') && head.contains('.');
            if (is_site(head) || is_domain) && words(tail) > words(head) {
                return Some(tail.trim());
            }
        }
    }
    None
}

/// Words of the URL's last path segment: "/2025/09/04/top-nutrition-trends-for-fall/" → top, nutrition, …
fn slug_words(url: Option<&str>) -> Vec<String> {
    let Some(path) = url.and_then(|u| url::Url::parse(u).ok()).map(|u| u.path().to_owned()) else { return Vec::new() };
    let segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let segment = segment.rsplit_once('.').map_or(segment, |(stem, _)| stem);
    segment.split(['-', '_']).filter(|w| w.chars().any(char::is_alphabetic)).map(str::to_lowercase).collect()
}

/// The header line that reads most like the URL's slug, else the one the cleaner took for the title,
/// else the nearest headline-shaped line.
fn text_title(article: &Article) -> Option<String> {
    let slug = slug_words(article.url.as_deref());
    // A teaser is another article's headline, wherever it stands.
    let candidates: Vec<(usize, &RemovedLine)> = header(article)
        .enumerate()
        .filter(|(_, line)| is_headline_shaped(&line.line))
        .filter(|(_, line)| line.reason != Reason::Caption.as_str() && line.reason != Reason::Teaser.as_str())
        .filter(|(_, line)| find_date(&line.line).is_none() && byline::byline_names(&line.line).is_none())
        .collect();
    let score = |distance: usize, line: &RemovedLine| {
        let folded = fold(&line.line);
        let words: Vec<&str> = folded.split(' ').collect();
        let shared = words.iter().filter(|&&w| slug.iter().any(|s| s == w)).count() as f32;
        let slug_match = if slug.is_empty() { 0.0 } else { shared / slug.len().max(words.len()) as f32 };
        let titled = if line.reason == Reason::Title.as_str() { 0.3 } else { 0.0 };
        slug_match * 2.0 + titled + 0.2 / (distance as f32 + 1.0)
    };
    // Scored once each: the comparison below would score a line at every step.
    let scored: Vec<(f32, usize, &RemovedLine)> =
        candidates.iter().map(|&(distance, line)| (score(distance, line), distance, line)).collect();
    scored
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, _, line)| line.line.clone())
        .or_else(|| removed_with(article, Reason::Title).next().map(str::to_owned))
}

fn is_headline_shaped(line: &str) -> bool {
    // Counted up to one past the most a headline has: a paragraph is not walked to its end.
    let words = words_up_to(line, MAX_HEADLINE_WORDS + 1);
    (3..=MAX_HEADLINE_WORDS).contains(&words)
        && !line.ends_with([':', ','])
        && line.chars().next().is_some_and(char::is_uppercase)
        && !ends_like_sentence(line.trim_end_matches(['?', '!']))
        || (3..=MAX_HEADLINE_WORDS).contains(&words) && line.ends_with(['?', '!'])
}

/// A line of more words than this is prose, not a headline.
const MAX_HEADLINE_WORDS: usize = 30;

fn published_at(article: &Article) -> Option<PublishedAt> {
    let fetched_at = article.input.fetched_at;
    let meta = article.input.html_meta.as_ref();
    let published = meta.and_then(|m| m.published.as_deref()).and_then(parse_html_time);
    let modified = meta.and_then(|m| m.modified.as_deref()).and_then(parse_html_time);
    // The metadata's date that the page also shows by its headline (an update's, when the page
    // presents the update); else the date shown, when the page shows few dates (a page that lists
    // many is showing other articles' days, and its metadata knows better); else the metadata's.
    // A date by the headline or in the markup's date element is the page's own statement; a
    // header line's is trusted only on a page showing few days.
    // Found only if a numeric date needs it (`OrderSource`).
    let page_order = LazyCell::new(|| day_order(article));
    let order = || *page_order;
    let in_url = url_date(article.url.as_deref());
    let marked = meta.and_then(|m| m.marked_date.as_deref()).and_then(|d| find_date_in(d, order));
    let marked = marked.map(|found| PublishedAt::Date(found.date));
    let stated = meta
        .and_then(|m| headline_date(m, order))
        .or(marked)
        .or_else(|| title_line_date(article, order))
        .or_else(|| lead_date(article, order))
        .or_else(|| published_line(article, order));
    let shown_date = stated.or_else(|| header_date(article, order));
    // A page showing only its update day still has the publication day its metadata states, and
    // that is what `published_at` means. wcxb-dev's checked dates split on such pages (of those
    // whose metadata gives two days and whose text shows only the update's, the publication's
    // 27 times, the update's 19); on `make eval-meta` this rule gained 23 pages and lost 20.
    let agreeing = shown_date.and_then(|shown| {
        let same_day = |at: &PublishedAt| at.date() == shown.date();
        let a_day_apart = |at: &PublishedAt| at.date().signed_duration_since(shown.date()).num_days().abs() == 1;
        published
            .filter(same_day)
            .or_else(|| modified.filter(same_day).map(|update| published.unwrap_or(update)))
            // A day apart, the two are one publication told by two clocks (the page's time zone
            // and UTC, a listing's day): the metadata's is the exact statement. wcxb-dev's checked
            // dates side with the metadata 6 times to 3 (`make eval-meta`, HTML 0.883 → 0.888).
            .or_else(|| published.filter(a_day_apart))
            // A numeric day read in the wrong order ("09.10.2024") is the day the metadata or the
            // URL states year first (which leaves no doubt) read the other way round.
            .or_else(|| {
                let other = other_reading(shown.date())?;
                let year_first = meta.and_then(|m| m.published.as_deref()).is_some_and(starts_with_year);
                let published = published.filter(|at| year_first && at.date() == other);
                published.or(in_url.filter(|at| at.date() == other))
            })
    });
    let trusted_shown = shown_date.filter(|_| published.is_none() || stated.is_some() || shows_few_dates(article));
    let shown = agreeing.or(trusted_shown).or(published).or(shown_date);
    let relative = || fetched_at.and_then(|fetched| relative_day(&article.body, fetched)).map(PublishedAt::Date);
    // Each later source is read only when every earlier one gave nothing plausible.
    article
        .input
        .published_hint
        .into_iter()
        .chain(shown)
        .chain(in_url)
        .chain(std::iter::once_with(|| nearest_dated_line(article, order)).flatten())
        .chain(std::iter::once_with(|| comment_count_date(article, order)).flatten())
        // A page that states only when it was updated presents the update.
        .chain(modified)
        .chain(std::iter::once_with(relative).flatten())
        .chain(std::iter::once_with(|| only_dated_line(article, order)).flatten())
        .find(|at| is_plausible(*at, fetched_at))
}

/// Whether a metadata date is written year first ("2024-09-10T16:07Z"), which no day order misreads.
fn starts_with_year(value: &str) -> bool {
    value.len() >= 4 && value.as_bytes()[..4].iter().all(u8::is_ascii_digit)
}

/// The day with its day and month numbers exchanged, when that is another date: how "03/10/2023"
/// reads in the other order.
fn other_reading(day: NaiveDate) -> Option<NaiveDate> {
    (day.day() != day.month()).then(|| NaiveDate::from_ymd_opt(day.year(), day.day(), day.month())).flatten()
}

/// How the page writes numeric dates, from the dates it writes out in words: in its header and
/// footer lines, and in the HTML's own date element and lines around its headline.
fn day_order(article: &Article) -> DayOrder {
    let removed = article.removed.iter().map(|line| line.line.as_str());
    let meta = article.input.html_meta.as_ref();
    let marked = meta.and_then(|m| m.marked_date.as_deref());
    let around = meta.into_iter().flat_map(|m| m.around_headline.above.iter().chain(&m.around_headline.below));
    DayOrder::of_lines(removed.chain(marked).chain(around.map(String::as_str)))
}

/// Whether the page's removed lines show at most `MAX_SHOWN_DATES` different days.
fn shows_few_dates(article: &Article) -> bool {
    let mut days: Vec<NaiveDate> = Vec::new();
    for found in article.removed.iter().filter_map(|line| find_date(&line.line)) {
        if !days.contains(&found.date) {
            days.push(found.date);
            if days.len() > MAX_SHOWN_DATES {
                return false;
            }
        }
    }
    true
}

/// A page showing more different days than this lists other articles (teasers, archives, comments).
const MAX_SHOWN_DATES: usize = 2;

/// A short line whose date comes within its first words is a date line ("Kristian Larsen July 13,
/// 2025 — 7 minutes read", "Friday, December 19, 2025").
const MAX_WORDS_BEFORE_DATE: usize = 4;
/// Lines from the article's edge within which a dated line is still the article's own date.
const NEAR_ARTICLE_LINES: usize = 40;
/// More dated lines than this under an article are comments or teasers, not its footer.
const MAX_FOOTER_DATES: usize = 2;
/// Words on a line that say the date on it is the article's: "Posted on …", "Updated …", "By … on …".
const DATE_CUES: [&str; 8] = ["published", "updated", "posted", "modified", "released", "by", "on", "date"];

/// The last resort for the date a page shows: the dated line nearest the article's start, within
/// `NEAR_ARTICLE_LINES` — just before it or among its first `LEAD_DATE_PARAGRAPHS` paragraphs
/// (where a byline stands after a headline and standfirst the cleaner kept); else the one under it
/// (blogs put "Posted on … in Category" after the post), unless more than `MAX_FOOTER_DATES` lines
/// there carry dates, which makes them comments or teasers. A line longer than a date line needs
/// its date among its first words or a cue before it ("Posted by IndustrySelect on Tuesday,
/// August 29, 2023"); captions never count, and a teaser only when it opens with its date or a
/// cue, since teasers name other articles' days.
fn nearest_dated_line(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    let paragraph_count = paragraphs(article).count();
    let before = lines_before_body(article);
    let below_body = |i: usize| is_below_body(article, i, paragraph_count);
    let first_after = (0..article.removed.len()).find(|&i| below_body(i)).unwrap_or(article.removed.len());
    let mut above: Vec<(usize, &str, bool)> = Vec::new();
    let mut below: Vec<(usize, &str, bool)> = Vec::new();
    for (i, line) in article.removed.iter().enumerate() {
        let teaser = line.reason == Reason::Teaser.as_str();
        // A line without a year is no dated line (`dated_line`), wherever it stands.
        if !has_year(&line.line) || line.reason == Reason::Caption.as_str() || is_update_after_bare_date(article, i) {
            continue;
        }
        if i < before {
            above.push((before - i, &line.line, teaser));
        } else if below_body(i) {
            // Updates listed under a post ("Updated November 23, 2013") are not its date, nor
            // lines that make its footer look like comments.
            if !states_update(&line.line) {
                below.push((i - first_after + 1, &line.line, teaser));
            }
        } else if article.input.removed_kept_before.get(i).copied().unwrap_or(0) <= LEAD_DATE_PARAGRAPHS {
            above.push((0, &line.line, teaser));
        }
    }
    above.extend(paragraphs(article).take(HEADER_KEPT_LINES).map(|p| (0, p, false)));
    let dated = |lines: Vec<(usize, &str, bool)>| -> Vec<(usize, NaiveDate)> {
        let near = lines.into_iter().filter(|(distance, ..)| *distance <= NEAR_ARTICLE_LINES);
        near.filter_map(|line| dated_line(line, order)).collect()
    };
    let nearest = |found: Vec<(usize, NaiveDate)>| found.into_iter().min_by_key(|(distance, _)| *distance);
    let footer = dated(below);
    nearest(dated(above))
        .or_else(|| (footer.len() <= MAX_FOOTER_DATES).then(|| nearest(footer)).flatten())
        .map(|(_, date)| PublishedAt::Date(date))
}

/// The date of a line that states one as its own (see `nearest_dated_line`): a short line, or a
/// byline running on into its categories with the date among its first words.
fn dated_line((distance, line, teaser): (usize, &str, bool), order: impl OrderSource) -> Option<(usize, NaiveDate)> {
    // Most lines hold no year, and so no date: they are passed over before their words are counted.
    if !has_year(line) {
        return None;
    }
    // Counted once, up to the most a byline may have: a paragraph is not walked to its end.
    let words = line.split_whitespace().take(MAX_BYLINE_LINE_WORDS + 1).count();
    let short = words <= MAX_HEADER_LINE_WORDS;
    // A longer line is a byline that goes on into its categories ("Posted on November 25, 2024 in
    // College of Health Sciences, General, …"), not prose, when its date stands among its first
    // words and it does not end like a sentence ("On January 12, 2025, the ministry said … ." is
    // prose). A date further on in a long line is the last of several credits ("Written by … —
    // Updated on …"), not the article's.
    if !short && (words > MAX_BYLINE_LINE_WORDS || ends_like_sentence(line)) {
        return None;
    }
    let dates = find_dates_in(line, order);
    let found = dates.iter().min_by_key(|date| date.start)?;
    let lead = &line[..found.start];
    // "Author | Apr 21, 2017 | Category": a date opening one of a byline's fields opens it.
    let field = lead.rsplit('|').next().unwrap_or(lead);
    let opens =
        field.split_whitespace().filter(|w| w.chars().any(char::is_alphabetic)).count() <= MAX_WORDS_BEFORE_DATE;
    let accepted = if !short {
        opens
    } else if teaser {
        found.start == 0 || cue_before(lead)
    } else {
        opens || cue_before(lead)
    };
    // Two dates together ("May 21, 2025April 24, 2025", an update and the publication) say the
    // article was published on the earlier one.
    let earliest = dates.iter().map(|date| date.date).min().unwrap_or(found.date);
    accepted.then_some((distance, earliest))
}

/// Whether the words before a date on a line introduce it ("Updated", "Posted by X on").
fn cue_before(text: &str) -> bool {
    text.split(|c: char| !c.is_alphabetic())
        .rev()
        .flat_map(|word| camel_case_parts(word).rev())
        .filter(|w| !w.is_empty())
        .take(4)
        .any(|w| DATE_CUES.iter().any(|cue| w.eq_ignore_ascii_case(cue)))
}

/// A word cut where a crawler glued two together, at a capital after a lowercase letter:
/// "AnalystUpdated" → "Analyst", "Updated".
fn camel_case_parts(word: &str) -> std::vec::IntoIter<&str> {
    let bytes = word.as_bytes();
    let cuts = (1..bytes.len()).filter(|&i| bytes[i].is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase());
    let starts = std::iter::once(0).chain(cuts.clone());
    let ends = cuts.chain(std::iter::once(word.len()));
    starts.zip(ends).map(|(start, end)| &word[start..end]).collect::<Vec<_>>().into_iter()
}

/// The date on the dated line nearest the HTML page's headline, when the
/// headline stands outside the part of the page the cleaner read.
fn headline_date(meta: &html_meta::HtmlMeta, order: impl OrderSource) -> Option<PublishedAt> {
    let around = &meta.around_headline;
    // The lines under the headline first, so at equal distance the one where bylines stand wins.
    let below = around.below.iter().enumerate().map(|(i, line)| (i + 1, line.as_str(), false));
    let above = around.above.iter().enumerate().map(|(i, line)| (i + 1, line.as_str(), false));
    nearest_dated(below.chain(above), order)
}

/// The date of the nearest line (by the distance each comes with) that states one as its own;
/// among equally near lines, the first given.
fn nearest_dated<'a>(
    lines: impl IntoIterator<Item = (usize, &'a str, bool)>,
    order: impl OrderSource,
) -> Option<PublishedAt> {
    let dated = lines.into_iter().filter_map(|line| dated_line(line, order));
    dated.min_by_key(|(distance, _)| *distance).map(|(_, date)| PublishedAt::Date(date))
}

/// The article's first paragraphs, where a byline or date line the cleaner kept stands.
const LEAD_DATE_PARAGRAPHS: usize = 4;

/// The date of the one short dated line among the article's first paragraphs: the article's own
/// byline or date line, kept with it ("Posted by Peter Bell on August 21, 2019", "March 20, 2023 |
/// Wellness & Prevention"), which outranks the dates of lines removed around it. Two such lines are
/// a list of other articles the cleaner kept; a line stating an update ("Last Updated: …") is left
/// to the rules that weigh it against the publication day.
fn lead_date(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    let lead = paragraphs(article).take(LEAD_DATE_PARAGRAPHS);
    let mut dated =
        lead.enumerate().filter_map(|(i, paragraph)| dated_line((i, paragraph, false), order).map(|d| (paragraph, d)));
    let (line, (_, date)) = dated.next()?;
    if dated.next().is_some() || states_update(line) {
        return None;
    }
    Some(PublishedAt::Date(date))
}

/// The last resort: the day of the page's dated lines (short lines stating a date as their own,
/// anywhere on the page, captions aside) when they all name the same one. A page whose header
/// rules found nothing still often says it once, far from where the cleaner put the article's
/// start ("Posted on November 6th, 2025" under a menu the cleaner kept). A line the cleaner took
/// for a teaser counts as any other here: with no other day on the page, "Camille Cunningham 25
/// March 2025 Google algorithm, SEO basics" is the article's own byline (on wcxb-dev's text this
/// dated 2 pages right and 1 wrong that had no date before).
fn only_dated_line(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    let mut days = lines_but_captions(article).filter_map(|line| dated_line((0, line, false), order));
    let (_, day) = days.next()?;
    days.all(|(_, other)| other == day).then_some(PublishedAt::Date(day))
}

/// The date on the first short line that also counts the post's comments ("June 9, 2020 · 6
/// Comments", "TricksScott DavenportApril 10, 20175 Tips, Composition4 Comments"): a blog's meta
/// line for the post, wherever the cleaner put it, when the rules for lines near the article found
/// none (comments under it carry dates of their own).
fn comment_count_date(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    static COMMENT_COUNT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"(?i)\d+\s*comments?\b").expect("valid regex"));
    static COMMENT: LazyLock<[Finder<'static>; 2]> = LazyLock::new(|| [Finder::new("omment"), Finder::new("OMMENT")]);
    lines_but_captions_holding(article, &*COMMENT)
        .filter(|line| has_at_most_words(line, MAX_HEADER_LINE_WORDS))
        .filter(|line| COMMENT_COUNT.is_match(line))
        .find_map(|line| find_date_in(line, order))
        .map(|found| PublishedAt::Date(found.date))
}

/// Every line of the page, removed ones first, but captions (which date photos, not the article).
fn lines_but_captions(article: &Article) -> impl Iterator<Item = &str> {
    removed_but_captions(article).chain(paragraphs(article))
}

/// `lines_but_captions` holding one of `parts` (words looked for as bytes, by `memmem` finders
/// built once: nearly every line lacks them, and `str::contains` was 3 % of the stage). The body is
/// searched as a whole first, and split into paragraphs only when it holds one.
fn lines_but_captions_holding<'a>(article: &'a Article, parts: &'a [Finder<'static>]) -> impl Iterator<Item = &'a str> {
    let holds = move |text: &str| parts.iter().any(|part| part.find(text.as_bytes()).is_some());
    let paragraphs = paragraphs(article).take(if holds(&article.body) { usize::MAX } else { 0 });
    removed_but_captions(article).chain(paragraphs).filter(move |line| holds(line))
}

fn removed_but_captions(article: &Article) -> impl Iterator<Item = &str> {
    article.removed.iter().filter(|line| line.reason != Reason::Caption.as_str()).map(|line| line.line.as_str())
}

/// A line saying when the article was published holds little more than that.
const PUBLISHED_LINE_WORDS: usize = 8;

/// The date on a short line that says it is the publication's ("Published on 2021-01-18T19:55",
/// "Originally published March 3, 2020"), anywhere the cleaner put it but in captions.
fn published_line(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    static PUBLISHED: LazyLock<[Finder<'static>; 2]> =
        LazyLock::new(|| [Finder::new("ublished"), Finder::new("UBLISHED")]);
    lines_but_captions_holding(article, &*PUBLISHED).find_map(|line| {
        let short = has_at_most_words(line, PUBLISHED_LINE_WORDS);
        let found = short.then(|| find_date_in(line, order)).flatten()?;
        let says_published = has_any_word(&line[..found.start], &["published"]);
        (says_published && !states_update(line)).then_some(PublishedAt::Date(found.date))
    })
}

/// Whether a line says its date is an update's.
fn states_update(line: &str) -> bool {
    has_any_word(line, &["updated", "modified"])
}

/// Whether `text` holds one of `words` as a whole word, in any case.
fn has_any_word(text: &str, words: &[&str]) -> bool {
    text.split(|c: char| !c.is_alphabetic()).any(|w| words.iter().any(|word| w.eq_ignore_ascii_case(word)))
}

/// Removed lines after the title's line searched for its date, and before it.
const LINES_BELOW_TITLE: usize = 6;
const LINES_ABOVE_TITLE: usize = 2;

/// The date on the dated line nearest the title's own line, among the removed lines next to it
/// (at most one kept line, a standfirst, between them): where bylines and dates stand, even when
/// the cleaner kept some of the page's furniture before the story and the header rules miss it.
fn title_line_date(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    let title = article.title.as_deref()?;
    let at = article.removed.iter().position(|line| line.line == title)?;
    let kept_before = |i: usize| article.input.removed_kept_before.get(i).copied().unwrap_or(0);
    let beside = |i: usize| kept_before(i).abs_diff(kept_before(at)) <= 1;
    let below = (at + 1..article.removed.len()).take(LINES_BELOW_TITLE).map(|i| (i - at, i));
    let above = (at.saturating_sub(LINES_ABOVE_TITLE)..at).rev().map(|i| (at - i, i));
    let lines = below
        .chain(above)
        .filter(|(_, i)| beside(*i))
        .map(|(distance, i)| (distance, &article.removed[i]))
        .filter(|(_, line)| line.reason != Reason::Caption.as_str())
        // Next to the title, a line the cleaner took for a teaser ("Video - December 19, 2025")
        // is the article's own; so is the date on a line repeating the title before it
        // ("Keeping It Clean and Healthy September 9, 2021").
        .map(|(distance, line)| (distance, line.line.strip_prefix(title).unwrap_or(&line.line), false));
    nearest_dated(lines, order)
}

/// A date on a short header line near the headline (never a caption's or a teaser's), else on any
/// line the cleaner recognised as part of the header.
fn header_date(article: &Article, order: impl OrderSource) -> Option<PublishedAt> {
    // A teaser's date is another article's, unless the line opens with it (a date line the
    // cleaner took for a teaser because of its dash).
    header_indexes(article)
        .filter(|&i| !is_update_after_bare_date(article, i))
        .map(|i| &article.removed[i])
        .filter(|line| line.reason != Reason::Caption.as_str())
        .filter(|line| has_at_most_words(&line.line, MAX_HEADER_LINE_WORDS))
        .find_map(|line| {
            find_date_in(&line.line, order).filter(|found| line.reason != Reason::Teaser.as_str() || found.start == 0)
        })
        .or_else(|| {
            // Anywhere above the article's end; under it too only on a page that shows few days,
            // since comments under a post carry dates of their own.
            // Both read the whole page: found only if a header line stands under the article.
            let paragraphs = LazyCell::new(|| paragraphs(article).count());
            let few = LazyCell::new(|| shows_few_dates(article));
            HEADER_REASONS.iter().find_map(|reason| {
                article
                    .removed
                    .iter()
                    .enumerate()
                    .filter(|(i, line)| {
                        line.reason == reason.as_str() && (!is_below_body(article, *i, *paragraphs) || *few)
                    })
                    .find_map(|(_, line)| find_date_in(&line.line, order))
            })
        })
        .map(|found| PublishedAt::Date(found.date))
}

fn parse_html_time(value: &str) -> Option<PublishedAt> {
    PublishedAt::parse_iso8601(value).or_else(|| {
        if let Ok(at) = DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%z") {
            return Some(PublishedAt::DateTime(at));
        }
        let date_part = value.get(..10)?;
        NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
            .ok()
            .map(PublishedAt::Date)
            // Highwire Press's "2023 Jan 7" (chrono's `%b` takes full month names too).
            .or_else(|| NaiveDate::parse_from_str(value, "%Y %b %d").ok().map(PublishedAt::Date))
            .or_else(|| find_date(value).map(|f| PublishedAt::Date(f.date)))
    })
}

/// A date in the URL's path: `/2016/09/30/`, `/2016-09-30-`, `/20160930/`, `/2023/october/03/`.
fn url_date(url: Option<&str>) -> Option<PublishedAt> {
    static URL_DATE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        let months = "january|february|march|april|may|june|july|august|september|october|november|december";
        let pattern =
            format!(r"/((?:19|20)\d{{2}})[/-]?(0[1-9]|1[0-2]|(?i:{months}))[/-]?(0[1-9]|[12]\d|3[01])(?:[/_.-]|$)");
        regex::Regex::new(&pattern).expect("valid regex")
    });
    let path = url?.split(['?', '#']).next()?;
    let captures = URL_DATE.captures(path)?;
    let month = captures[2].parse().ok().or_else(|| month_number(&captures[2]))?;
    let date = NaiveDate::from_ymd_opt(captures[1].parse().ok()?, month, captures[3].parse().ok()?)?;
    Some(PublishedAt::Date(date))
}

/// "today" or "on Thursday" in the lead, resolved against the fetch time: the fetch day, or the
/// latest such weekday on or before it.
fn relative_day(body: &str, fetched_at: DateTime<Utc>) -> Option<NaiveDate> {
    let lead = prefix_chars(body, 300).to_lowercase();
    let fetched = fetched_at.date_naive();
    if lead.split(|c: char| !c.is_alphabetic()).any(|w| w == "today" || w == "tonight") {
        return Some(fetched);
    }
    const WEEKDAYS: [(&str, Weekday); 7] = [
        ("monday", Weekday::Mon),
        ("tuesday", Weekday::Tue),
        ("wednesday", Weekday::Wed),
        ("thursday", Weekday::Thu),
        ("friday", Weekday::Fri),
        ("saturday", Weekday::Sat),
        ("sunday", Weekday::Sun),
    ];
    let (_, weekday) =
        WEEKDAYS.iter().find(|(name, _)| lead.split(|c: char| !c.is_alphabetic()).any(|w| w == *name))?;
    let back = (fetched.weekday().num_days_from_monday() + 7 - weekday.num_days_from_monday()) % 7;
    Some(fetched - Duration::days(back.into()))
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

/// Publishers by host, for envelopes that name none (a short list of outlets; more belong in the
/// envelope's `source`).
const PUBLISHERS: [(&str, &str); 24] = [
    ("presstv.ir", "Press TV"),
    ("presstv.com", "Press TV"),
    ("telesurtv.net", "teleSUR"),
    ("telesurenglish.net", "teleSUR"),
    ("afp.com", "AFP"),
    ("reuters.com", "Reuters"),
    ("apnews.com", "AP"),
    ("bbc.co.uk", "BBC"),
    ("bbc.com", "BBC"),
    ("nytimes.com", "The New York Times"),
    ("washingtonpost.com", "The Washington Post"),
    ("theguardian.com", "The Guardian"),
    ("aljazeera.com", "Al Jazeera"),
    ("cnn.com", "CNN"),
    ("rt.com", "RT"),
    ("tass.com", "TASS"),
    ("dw.com", "Deutsche Welle"),
    ("france24.com", "France 24"),
    ("xinhuanet.com", "Xinhua"),
    ("dawn.com", "Dawn"),
    ("thenews.com.pk", "The News"),
    ("arabnews.com", "Arab News"),
    ("hurriyetdailynews.com", "Hürriyet Daily News"),
    ("timesofisrael.com", "The Times of Israel"),
];

fn source(article: &Article) -> Option<String> {
    if let Some(source) = &article.source {
        return Some(source.clone());
    }
    if let Some(site) = article.input.html_meta.as_ref().and_then(|m| m.site_name.clone()) {
        return Some(site);
    }
    let host =
        article.url.as_deref().and_then(|u| url::Url::parse(u).ok()).and_then(|u| u.host_str().map(str::to_owned));
    let known = host.as_deref().and_then(|host| {
        PUBLISHERS
            .iter()
            .find(|(domain, _)| host == *domain || host.ends_with(&format!(".{domain}")))
            .map(|(_, name)| name.to_string())
    });
    known.or_else(|| signature(article)).or_else(|| host.map(|h| h.trim_start_matches("www.").to_owned()))
}

/// A site naming itself in its furniture: "Press TV’s website can …", "© 2016 teleSUR", "(c) The
/// Herald". The word "copyright" counts only in lowercase: capitalised, it is most often a footer
/// link ("Copyright Policy"), which would name the site "Policy".
fn signature(article: &Article) -> Option<String> {
    static SIGNATURE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?P<own>\p{Lu}[\p{L}\d]*(?:\s\p{Lu}[\p{L}\d]*){0,3})[’']s? website\b|(?:©|\(c\)|copyright)\s*(?:\d{4}(?:\s*[-–]\s*\d{4})?\s*)?(?P<owner>[\p{L}][\p{L}\d.]*(?:\s[\p{Lu}][\p{L}\d.]*){0,3})")
            .expect("valid regex")
    });
    // Every match holds one of these words; testing for them first spares the regex (whose Unicode
    // classes can push it off its fast engine) the many lines that hold none.
    // Searched by `memmem` finders built once (`str::contains` builds a searcher per call and line).
    static SIGNS: LazyLock<[Finder<'static>; 4]> =
        LazyLock::new(|| [Finder::new("website"), Finder::new("©"), Finder::new("(c)"), Finder::new("copyright")]);
    let may_sign = |line: &str| SIGNS.iter().any(|sign| sign.find(line.as_bytes()).is_some());
    article.removed.iter().rev().take(60).filter(|line| may_sign(&line.line)).find_map(|line| {
        let captures = SIGNATURE.captures(&line.line)?;
        let name = captures.name("own").or_else(|| captures.name("owner"))?.as_str().trim_end_matches('.');
        (!name.eq_ignore_ascii_case("all") && name.len() >= 2).then(|| name.to_owned())
    })
}

/// Authors from the HTML, else from byline lines; the agency from credits, bylines, the dateline or
/// the HTML's author. An agency never stays among the authors. Also the place a credit line names
/// ("Agence France-Presse . Moscow"), the dateline when the story opens without one.
fn authors_and_agency(
    article: &Article,
    dateline: Option<&dateline::Dateline>,
) -> (Vec<String>, Option<String>, Option<String>) {
    let mut agency = dateline.and_then(|d| d.agency);
    let html_authors = article.input.html_meta.as_ref().map(|m| m.authors.clone()).unwrap_or_default();
    let byline_authors = || {
        header(article)
            .chain(article.removed.iter().filter(|r| r.reason == Reason::Byline.as_str()))
            .filter(|line| has_at_most_words(&line.line, MAX_HEADER_LINE_WORDS))
            .find_map(|line| byline::byline_names(&line.line))
            .unwrap_or_default()
    };
    let names = if html_authors.is_empty() { byline_authors() } else { html_authors };
    let mut authors = Vec::new();
    for name in names {
        match byline::agency_named(&name) {
            Some(named) => agency = agency.or(Some(named)),
            None => authors.push(name),
        }
    }
    let credit = removed_with(article, Reason::CreditLine).find_map(byline::credit_line);
    let credited_place = credit.as_ref().and_then(|(_, place)| place.clone());
    agency = agency.or(credit.map(|(credited, _)| credited));
    (authors, agency.map(str::to_owned), credited_place)
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

    #[test]
    fn markup_dates_are_read_as_iso_or_as_journals_write_them() {
        for (value, day) in
            [("2023-01-07T10:00:00+01:00", "2023-01-07"), ("2023 Jan 7", "2023-01-07"), ("2023/01/07", "2023-01-07")]
        {
            assert_eq!(parse_html_time(value).map(|at| at.date().to_string()).as_deref(), Some(day), "{value}");
        }
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
        // The page's "March 2, 2014" is after the fetch: the lead's "on Sunday" is read as the Sunday before.
        let article = extract(PAGE, Some("2014-03-01T12:00:00Z"));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2014-02-23");
    }

    #[test]
    fn a_caption_date_is_not_a_publication_date() {
        let page = "Portugal closed its ports on Sunday.\n\
            A pier is seen on February 27, 2014 as waves break over the wall of the old harbour in Porto\n\
            Ferries will sail again on Tuesday.";
        assert_eq!(extract(page, None).published_at, None);
    }

    const POST: &str = "Home | Blog | Contact\n\
        Campus gyms add recovery rooms\n\
        Campus recreation centres have added recovery rooms to their gyms this year, and students use them daily.\n\
        Massage guns, compression boots and stretching areas are now as common as treadmills in the larger centres.\n\
        Managers say the rooms cost little to run and bring in students who never lifted a weight before.\n";

    #[test]
    fn a_date_under_the_post_is_its_date_when_the_header_has_none() {
        let page = format!("{POST}• Industry Insights\n• February 10, 2025\nOur Services\n• Gym Design\n• Delivery");
        assert_eq!(extract(&page, None).published_at.unwrap().to_iso8601(), "2025-02-10");
    }

    /// An article as the cleaner leaves it: `kept` paragraphs, and `removed` lines (reason, line,
    /// kept paragraphs before it).
    fn cleaned(kept: &[&str], removed: &[(Reason, &str, usize)]) -> Article {
        let mut article = Article::from_raw(RawArticle::new("a", Content::Text(String::new())));
        article.body = kept.join("\n\n");
        article.removed = removed
            .iter()
            .map(|(reason, line, _)| RemovedLine { line: (*line).into(), reason: reason.as_str().into() })
            .collect();
        article.input.removed_kept_before = removed.iter().map(|(.., before)| *before).collect();
        article
    }

    const STORY: [&str; 2] = [
        "Campus recreation centres have added recovery rooms to their gyms this year, and students use them daily.",
        "Managers say the rooms cost little to run and bring in students who never lifted a weight before.",
    ];

    #[test]
    fn a_dated_byline_the_cleaner_kept_dates_the_article_over_dates_removed_around_it() {
        let kept =
            ["Campus gyms add recovery rooms", "Fitness", "On Behalf of Smith & Co | Apr 21, 2017 | Sports", STORY[0]];
        let sidebar = [(Reason::DateLine, "March 29, 2025", 0), (Reason::DateLine, "March 27, 2025", 0)];
        assert_eq!(published_at(&cleaned(&kept, &sidebar)).unwrap().to_iso8601(), "2017-04-21");
    }

    #[test]
    fn dated_lines_kept_as_a_list_or_stating_an_update_do_not_date_the_article() {
        let list = ["• [ December 3, 2025 ] Review: Bawah Reserve", "• [ December 1, 2025 ] Top 10 lists", STORY[0]];
        assert_eq!(lead_date(&cleaned(&list, &[]), DayOrder::default()), None);
        let updated = ["109 Comments | Jill Winger | Last Updated: March 11, 2019", STORY[0]];
        assert_eq!(lead_date(&cleaned(&updated, &[]), DayOrder::default()), None);
    }

    #[test]
    fn a_page_stating_one_day_far_from_the_article_is_dated_by_it() {
        let posted = (Reason::Classified, "Posted on November 6th, 2025", 0);
        let menu = menu_lines(60);
        let far: Vec<(Reason, &str, usize)> = std::iter::once(posted).chain(menu).collect();
        assert_eq!(published_at(&cleaned(&STORY, &far)).unwrap().to_iso8601(), "2025-11-06");
        let another_day = (Reason::Classified, "Posted on May 1, 2024", 0);
        let two_days: Vec<(Reason, &str, usize)> = std::iter::once(another_day).chain(far).collect();
        assert_eq!(published_at(&cleaned(&STORY, &two_days)), None);
        let byline = (Reason::Teaser, "Camille Cunningham 25 March 2025 Google algorithm, SEO basics", 0);
        let teaser: Vec<(Reason, &str, usize)> = std::iter::once(byline).chain(menu_lines(60)).collect();
        assert_eq!(only_dated_line(&cleaned(&STORY, &teaser), DayOrder::default()).unwrap().to_iso8601(), "2025-03-25");
    }

    fn menu_lines(count: usize) -> impl Iterator<Item = (Reason, &'static str, usize)> {
        (0..count).map(|_| (Reason::MenuItem, "• Solutions", 0))
    }

    #[test]
    fn a_long_byline_paragraph_opening_with_its_date_dates_the_article() {
        let byline = "Posted on November 25, 2024December 3, 2024 in College of Health Sciences, General, \
            Healthcare, Master of Science in Applied Nutrition & Dietetics, Master of Science in Nutrition";
        let kept = ["Nutritional myths debunked", byline, STORY[0]];
        assert_eq!(published_at(&cleaned(&kept, &[])).unwrap().to_iso8601(), "2024-11-25");
    }

    #[test]
    fn of_two_bare_date_lines_in_a_row_the_later_is_an_update() {
        let header = [
            (Reason::Byline, "By: Great Day Editorial Team", 0),
            (Reason::DateLine, "8/1/2025", 0),
            (Reason::DateLine, "8/27/2025", 0),
        ];
        assert_eq!(published_at(&cleaned(&STORY, &header)).unwrap().to_iso8601(), "2025-08-01");
        // Newest first, as a list of recent posts runs, the nearer line still dates the article.
        let sidebar = [(Reason::DateLine, "March 29, 2025", 0), (Reason::DateLine, "March 27, 2025", 0)];
        assert_eq!(published_at(&cleaned(&STORY, &sidebar)).unwrap().to_iso8601(), "2025-03-27");
    }

    #[test]
    fn a_line_saying_when_the_article_was_published_dates_it_wherever_it_stands() {
        let kept =
            ["□ 2021-08-09 Emphasized non-requirements", "□ 2023-06-12 Added privacy arguments", STORY[0], STORY[1]];
        let removed = [
            (Reason::MenuItem, "□ 2022-04-12 Link to Choosing Software", 0),
            (Reason::Classified, "Published on 2021-01-18T19:55", 4),
        ];
        assert_eq!(published_at(&cleaned(&kept, &removed)).unwrap().to_iso8601(), "2021-01-18");
        let updated = [(Reason::Classified, "Published 2019, updated on March 2, 2022", 4)];
        assert_eq!(published_line(&cleaned(&STORY, &updated), DayOrder::default()), None);
    }

    #[test]
    fn two_dates_together_date_the_article_by_the_earlier() {
        let kept = ["Espresso machines under $500", "May 21, 2025April 24, 2025 By The Ritualist", STORY[0]];
        assert_eq!(published_at(&cleaned(&kept, &[])).unwrap().to_iso8601(), "2025-04-24");
    }

    #[test]
    fn long_lines_with_a_date_in_prose_or_after_credits_do_not_date_the_article() {
        let prose = "On January 12, 2025, the ministers of the seven countries met in Geneva and agreed to \
            meet again before the summer to settle what remains.";
        let credits = "Medically reviewed by Kim Rose-Francis RDN, CDCES, LD — Written by Jillian Kubala, MS, RD \
            — Updated on March 7, 2025";
        for line in [prose, credits] {
            assert_eq!(published_at(&cleaned(&[line, STORY[0]], &[])), None, "{line}");
        }
        let teaser = "By Paul Frew, Home and Digital Security Expert & Gene Petrino, Home Security Expert \
            Last Updated on Feb 27, 2026";
        assert_eq!(published_at(&cleaned(&STORY, &[(Reason::Teaser, teaser, 0)])), None);
    }

    #[test]
    fn a_line_repeating_the_title_before_a_date_dates_the_article() {
        let title = "Campus gyms add recovery rooms";
        let removed =
            [(Reason::Teaser, "Campus gyms add recovery rooms September 9, 2021", 0), (Reason::Title, title, 0)];
        let mut article = cleaned(&STORY, &removed);
        article.title = Some(title.into());
        assert_eq!(title_line_date(&article, DayOrder::default()).unwrap().to_iso8601(), "2021-09-09");
    }

    #[test]
    fn a_byline_removed_among_the_first_paragraphs_dates_the_article_over_one_under_it() {
        let kept = ["The best clothing boxes", "Our readers voted for these", STORY[0], STORY[1]];
        let removed = [
            (Reason::Comments, "ByKathryn GiuffridaMar 5, 2025 | 6 comments", 3),
            (Reason::Comments, "Oct 1, 2021 | 34 comments", 4),
        ];
        assert_eq!(published_at(&cleaned(&kept, &removed)).unwrap().to_iso8601(), "2025-03-05");
    }

    #[test]
    fn a_cue_glued_to_the_word_before_still_introduces_a_date() {
        assert!(cue_before("Written by: Sean Peek, Senior AnalystUpdated "));
        assert!(!cue_before("Written by: Sean Peek, Senior Analyst "));
        assert_eq!(camel_case_parts("KeeganAugust").collect::<Vec<_>>(), ["Keegan", "August"]);
        assert_eq!(camel_case_parts("NATO").collect::<Vec<_>>(), ["NATO"]);
    }

    #[test]
    fn dates_of_comments_under_the_post_are_not_its_date() {
        let comments = "Ahmet Serhan January 23, 2025 10:01 am\nGreat list, thanks!\n\
            Maria Lopez January 21, 2025 2:06 pm\nVery useful.\nJon Reed January 19, 2025 6:23 pm\nAgreed.";
        assert_eq!(extract(&format!("{POST}{comments}"), None).published_at, None);
    }

    #[test]
    fn updates_listed_under_the_post_leave_its_posting_date() {
        let footer = [
            (Reason::DateLine, "Updated November 23, 2013", 4),
            (Reason::DateLine, "Updated September 26, 2011", 4),
            (Reason::MenuItem, "• Posted July 10, 2004", 4),
        ];
        assert_eq!(date_under_four_paragraphs(&footer), "2004-07-10");
    }

    /// The date of a four-paragraph story with `footer` removed under it.
    fn date_under_four_paragraphs(footer: &[(Reason, &str, usize)]) -> String {
        let kept = [STORY[0], STORY[1], STORY[0], STORY[1]];
        published_at(&cleaned(&kept, footer)).unwrap().to_iso8601()
    }

    #[test]
    fn the_line_counting_a_posts_comments_dates_it_over_the_comments() {
        let footer = [
            (Reason::Comments, "June 9, 2020 · 6 Comments", 4),
            (Reason::DateLine, "March 6, 2023 at 8:55 am", 4),
            (Reason::DateLine, "September 17, 2020 at 6:59 am", 4),
            (Reason::DateLine, "June 9, 2020 at 1:06 pm", 4),
        ];
        assert_eq!(date_under_four_paragraphs(&footer), "2020-06-09");
    }

    #[test]
    fn a_cue_before_a_date_makes_a_longer_line_a_date_line() {
        let page = POST.replacen(
            "Campus gyms add recovery rooms\n",
            "Campus gyms add recovery rooms\nPosted by IndustrySelect on Tuesday, August 29, 2023\n",
            1,
        );
        assert_eq!(extract(&page, None).published_at.unwrap().to_iso8601(), "2023-08-29");
    }

    fn extract_html(page: &str) -> Article {
        let mut article = Article::from_raw(RawArticle::new("a", Content::Html(page.into())));
        Cleaner.apply(&mut article);
        MetadataExtractor.apply(&mut article);
        article
    }

    /// An HTML post: `head` in the page's head, `header` above its `<main>`, `after` under it.
    fn html_post(head: &str, header: &str, after: &str) -> String {
        let story = "<p>Campus recreation centres have added recovery rooms to their gyms this year, and \
            students use them daily.</p><p>Massage guns, compression boots and stretching areas are now \
            as common as treadmills in the larger centres.</p><p>Managers say the rooms cost little to run \
            and bring in students who never lifted a weight before.</p>";
        format!("<html><head>{head}</head><body><header>{header}</header><main>{story}</main>{after}</body></html>")
    }

    #[test]
    fn the_date_by_a_headline_above_the_main_content_is_the_pages_date() {
        let header = "<nav><a href=\"/\">Home</a></nav><div class=\"top\"><h1>Campus gyms add recovery rooms</h1>\
            <div><span class=\"author-name\">Dakota Hebert</span> <span>July 3, 2025</span></div></div>";
        let head = r#"<meta property="article:published_time" content="2025-09-01T10:00:00Z">"#;
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2025-07-03");
    }

    #[test]
    fn a_date_element_outside_the_article_is_its_date_and_comment_dates_are_not() {
        let after = "<div class=\"comments\"><time>March 29, 2023</time><time>April 2, 2023</time></div>\
            <div class=\"byline\"><span class=\"author__meta-date\">March 30, 2023</span></div>";
        let article = extract_html(&html_post("", "", after));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2023-03-30");
    }

    #[test]
    fn an_update_shown_in_a_date_element_is_not_the_publication_date() {
        let after = "<p class=\"date\">Updated on November 18, 2025</p><p class=\"date\">Jul 31, 2024</p>";
        let article = extract_html(&html_post("", "", after));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2024-07-31");
    }

    #[test]
    fn a_page_showing_its_update_is_dated_by_its_publication() {
        let head = r#"<meta property="article:published_time" content="2015-05-12T06:05:27+00:00">
            <meta property="article:modified_time" content="2026-01-25T19:56:29+00:00">"#;
        let header = "<h1>What to expect on a first trip to Japan</h1><p>By Rhonda Krause</p><p>January 25, 2026</p>";
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2015-05-12T06:05:27Z");
    }

    #[test]
    fn a_metadata_time_a_day_from_the_day_shown_is_the_same_publication() {
        // 00:57 UTC on the 23rd is the evening of the 22nd where the page was written.
        let head = r#"<meta property="article:published_time" content="2026-02-23T00:57:30+00:00">"#;
        let header = "<h1>A week on the old post road</h1><p>By Ann Lee</p><p>February 22, 2026</p>";
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2026-02-23T00:57:30Z");
        // Two days apart, the page's own day stands.
        let head = head.replace("2026-02-23", "2026-02-24");
        let article = extract_html(&html_post(&head, header, ""));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2026-02-22");
    }

    #[test]
    fn a_numeric_day_shown_in_the_other_order_is_read_as_the_metadata_or_url_states_it() {
        // Dots are read day first, so "09.10.2024" alone is 9 October.
        let after = "<p class=\"date\">09.10.2024</p>";
        assert_eq!(extract_html(&html_post("", "", after)).published_at.unwrap().to_iso8601(), "2024-10-09");
        let head = r#"<meta property="article:published_time" content="2024-09-10T16:07:00Z">"#;
        let article = extract_html(&html_post(head, "", after));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2024-09-10T16:07:00Z");
        // A metadata date that is itself numeric settles nothing.
        let head = r#"<meta property="article:published_time" content="10-09-2024">"#;
        assert_eq!(extract_html(&html_post(head, "", after)).published_at.unwrap().to_iso8601(), "2024-10-09");
        // Slashes are read month first; the URL writes the month's name.
        let after = "<p class=\"date\">03/10/2023</p>";
        let mut raw = RawArticle::new("a", Content::Html(html_post("", "", after)));
        raw.url = Some("https://example.org/blog/2023/october/03/how-many-wine-styles/".into());
        let mut article = Article::from_raw(raw);
        Cleaner.apply(&mut article);
        MetadataExtractor.apply(&mut article);
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2023-10-03");
    }

    #[test]
    fn a_page_that_states_only_its_update_is_dated_by_it() {
        let head = r#"<meta property="article:modified_time" content="2023-06-12T10:39:42+00:00">"#;
        let article = extract_html(&html_post(head, "", ""));
        assert_eq!(article.published_at.unwrap().to_iso8601(), "2023-06-12T10:39:42Z");
    }

    #[test]
    fn the_visible_headline_wins_over_a_reworded_social_one() {
        let head = r#"<meta property="og:title" content="Health And Nutrition Trends For 2026 - Tastewise">"#;
        let header = "<h1>Top 10 Health and Nutrition Trends to Watch</h1>";
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.title.as_deref(), Some("Top 10 Health and Nutrition Trends to Watch"));
    }

    #[test]
    fn a_section_label_in_the_h1_does_not_replace_the_headline() {
        let head = r#"<meta property="og:title" content="Packing Tips Guide">"#;
        let article = extract_html(&html_post(head, "<h1>Blog</h1>", ""));
        assert_eq!(article.title.as_deref(), Some("Packing Tips Guide"));
    }

    #[test]
    fn a_site_name_h1_linking_home_is_not_the_headline() {
        let head = r#"<title>RogerBW's Blog: Advent of Code 2025 week 2</title>
            <meta property="og:title" content="Advent of Code 2025 week 2">"#;
        let header = r#"<h1><a href="/">RogerBW's Blog</a></h1>"#;
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.title.as_deref(), Some("Advent of Code 2025 week 2"));
    }

    #[test]
    fn what_pages_print_beside_the_headline_in_the_h1_is_not_part_of_it() {
        let cases = [
            ("Dec 18 2025 Preparing a transition in Debusine", "Preparing a transition in Debusine"),
            ("Blog: Best Social Media Agencies in 2025", "Best Social Media Agencies in 2025"),
            ("davidbau.com Vibe Coding", "Vibe Coding"),
            ("Best Residential Movers in NYC 2025 | Top 19 Companies", "Best Residential Movers in NYC 2025"),
            // Too little would be left: the h1 is the headline as it stands.
            ("Recap: 2025", "Recap: 2025"),
            ("Storm | Ports", "Storm | Ports"),
            ("Moving to St. Louis in 2025", "Moving to St. Louis in 2025"),
            (
                "Grads Find Their Degrees No Longer Guarantee Jobs (latimes.com) 87",
                "Grads Find Their Degrees No Longer Guarantee Jobs",
            ),
            ("Why Rust (the language) matters", "Why Rust (the language) matters"),
        ];
        for (h1, headline) in cases {
            assert_eq!(headline_of_h1(h1), headline, "{h1}");
        }
    }

    #[test]
    fn a_headline_in_capitals_gives_way_to_the_tags_headline_it_agrees_with() {
        let head = r#"<meta property="og:title" content="Best Drip Coffee Maker 2026: Buying Tips">"#;
        let article = extract_html(&html_post(head, "<h1>BEST DRIP COFFEE MAKER IN 2026: BUYING TIPS</h1>", ""));
        assert_eq!(article.title.as_deref(), Some("Best Drip Coffee Maker 2026: Buying Tips"));
    }

    #[test]
    fn a_count_or_year_the_h1_leaves_out_is_taken_from_the_tags() {
        let cases = [
            (
                "8 Recent Trends in Photography - Flatworld Solutions",
                "Recent Trends in Photography",
                "8 Recent Trends in Photography",
            ),
            (
                "15 Best Online Tutoring Platforms 2025",
                "15 Best Online Tutoring Platforms",
                "15 Best Online Tutoring Platforms 2025",
            ),
            // More than numbers added: the visible headline stands.
            (
                "Best Cheap Laptops Under $500 for 2026",
                "Best Cheap Laptops Under $500",
                "Best Cheap Laptops Under $500",
            ),
        ];
        for (og, h1, title) in cases {
            let head = format!(r#"<meta property="og:title" content="{og}">"#);
            let article = extract_html(&html_post(&head, &format!("<h1>{h1}</h1>"), ""));
            assert_eq!(article.title.as_deref(), Some(title), "{og}");
        }
    }

    #[test]
    fn the_site_name_printed_after_the_h1_headline_is_not_part_of_it() {
        let head = r#"<meta property="og:site_name" content="Artlyst">
            <meta property="og:title" content="Critics’ Choice: Best UK Exhibitions 2025 – Artlyst - Artlyst">"#;
        let header = "<h1>Critics’ Choice: Best UK Exhibitions 2025 – Artlyst</h1>";
        let article = extract_html(&html_post(head, header, ""));
        assert_eq!(article.title.as_deref(), Some("Critics’ Choice: Best UK Exhibitions 2025"));
    }

    #[test]
    fn site_and_section_names_come_off_either_end_of_a_title() {
        assert_eq!(
            without_site_name("How to help babies sleep through the night | Patient Education | UC Davis Health", None),
            "How to help babies sleep through the night"
        );
        assert_eq!(
            without_site_name("SoundStageXperience.com - The Five Best Noise-Canceling Headphones", None),
            "The Five Best Noise-Canceling Headphones"
        );
        assert_eq!(without_site_name("Storm closes ports", Some("the herald")), "Storm closes ports");
        assert_eq!(without_site_name("davidbau.com Vibe Coding", None), "Vibe Coding");
    }

    #[test]
    fn envelope_language_codes_are_normalised_to_two_letters() {
        assert_eq!(iso_639_1("en-GB").as_deref(), Some("en"));
        assert_eq!(iso_639_1("fra").as_deref(), Some("fr"));
        assert_eq!(iso_639_1("zz"), None);
    }
}
