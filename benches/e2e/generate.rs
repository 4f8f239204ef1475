//! Realistic crawler-text articles, as many as asked, reproducibly.
//!
//! Each page of the source set (wcxb-dev's crawler renderings when ../shared is there, the repo's
//! fixtures otherwise) is a frame: its menus, share bars, teasers and footers are kept line for line,
//! and each of its prose lines is a slot. A new article fills its page's slots with fresh paragraphs
//! drawn sentence by sentence from all pages' prose, so its body is its own (no near copy of any
//! other) while its boilerplate is its site's — the same site templates and the same cleaner work as
//! on real pages. A share of the articles are republished copies of a recent one, in another site's
//! frame, edited the ways outlets do: the last paragraph cut, a paragraph of their own inserted, a
//! new headline, or the text unchanged.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, SecondsFormat, TimeZone, Utc};

/// Without a checked main text (the fixtures), a line of at least this many words is taken for
/// the article's prose: a slot for the new article's own paragraphs.
const PROSE_WORDS: usize = 15;
/// With one (wcxb-dev), a line of the main text with at least this many words is a slot.
const MAIN_TEXT_WORDS: usize = 4;
/// At most this many boilerplate lines are kept before the first slot and after the last: a few wcxb
/// pages carry thousands of menu lines, more than a news site's template.
const MAX_FRAME_LINES: usize = 60;
/// Copies republish one of this many most recent stories (wire copy follows the original closely).
const RECENT_STORIES: usize = 2_000;

/// Where a page comes from: its host and its lines, prose lines as slots.
struct Page {
    host: String,
    lines: Vec<Line>,
}

enum Line {
    Frame(String),
    Slot { words: usize },
}

/// A story as first published, kept to be republished.
struct Story {
    id: String,
    title: String,
    paragraphs: Vec<String>,
}

pub struct Article {
    pub key: String,
    pub payload: Vec<u8>,
    pub is_copy: bool,
}

pub struct Generator {
    pages: Vec<Page>,
    sentences: Vec<String>,
    rng: fastrand::Rng,
    recent: VecDeque<Story>,
    copy_share: f64,
    produced: u64,
    epoch: DateTime<Utc>,
    /// Distinguishes runs in one database (the throughput run and the latency run).
    prefix: String,
}

impl Generator {
    /// Pages from `corpus` (a wcxb-dev folder) when it exists, else from `fixtures`.
    pub fn new(corpus: &Path, fixtures: &Path, copy_share: f64, seed: u64) -> Generator {
        let texts = page_texts(corpus).filter(|p| !p.is_empty()).unwrap_or_else(|| fixture_texts(fixtures));
        assert!(!texts.is_empty(), "no source pages in {} or {}", corpus.display(), fixtures.display());
        let mut sentences = Vec::new();
        let mut pages: Vec<Page> = texts.iter().map(|source| page(source, &mut sentences)).collect();
        pages.retain(|p| p.lines.iter().any(|l| matches!(l, Line::Slot { .. })));
        assert!(!sentences.is_empty(), "the source pages have no prose");
        Generator {
            pages,
            sentences,
            rng: fastrand::Rng::with_seed(seed),
            recent: VecDeque::with_capacity(RECENT_STORIES),
            copy_share,
            produced: 0,
            epoch: Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap(),
            prefix: String::from("a"),
        }
    }

    pub fn source_pages(&self) -> usize {
        self.pages.len()
    }

    /// Ids from now on start with `prefix`, so a second run of the generator writes new rows.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    pub fn next_article(&mut self) -> Article {
        self.produced += 1;
        let id = format!("{}-{:09}", self.prefix, self.produced);
        let page = self.rng.usize(..self.pages.len());
        let copy_of =
            (!self.recent.is_empty() && self.rng.f64() < self.copy_share).then(|| self.rng.usize(..self.recent.len()));
        let (title, text) = match copy_of {
            Some(story) => self.republish(story, page),
            None => self.write_new(&id, page),
        };
        let host = &self.pages[page].host;
        let fetched_at = self.epoch + Duration::seconds(self.produced as i64 * 3);
        let envelope = serde_json::json!({
            "id": id,
            "url": format!("https://{host}/news/{id}"),
            "fetched_at": fetched_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "title": title,
            "text": text,
        });
        Article { key: id, payload: serde_json::to_vec(&envelope).unwrap(), is_copy: copy_of.is_some() }
    }

    /// A new story in `page`'s frame; remembered for republishing.
    fn write_new(&mut self, id: &str, page: usize) -> (String, String) {
        let mut text = String::new();
        let mut paragraphs = Vec::new();
        for line in &self.pages[page].lines {
            match line {
                Line::Frame(frame) => push_line(&mut text, frame),
                Line::Slot { words } => {
                    let paragraph = paragraph(&mut self.rng, &self.sentences, *words);
                    push_line(&mut text, &paragraph);
                    paragraphs.push(paragraph);
                }
            }
        }
        let title = headline(&paragraphs);
        if self.recent.len() == RECENT_STORIES {
            self.recent.pop_front();
        }
        self.recent.push_back(Story { id: id.to_owned(), title: title.clone(), paragraphs });
        (title, text)
    }

    /// A recent story in another page's frame, edited as outlets do.
    fn republish(&mut self, story: usize, page: usize) -> (String, String) {
        let story = &self.recent[story];
        let mut paragraphs = story.paragraphs.clone();
        let mut title = story.title.clone();
        match self.rng.u8(..4) {
            0 if paragraphs.len() > 2 => {
                paragraphs.pop();
            }
            1 => {
                let own = paragraph(&mut self.rng, &self.sentences, 40);
                let at = self.rng.usize(..=paragraphs.len());
                paragraphs.insert(at, own);
            }
            2 => title = format!("{title} (updated: {})", story.id),
            _ => {}
        }
        let lines = &self.pages[page].lines;
        let first_slot = lines.iter().position(|l| matches!(l, Line::Slot { .. })).unwrap_or(lines.len());
        let last_slot = lines.iter().rposition(|l| matches!(l, Line::Slot { .. })).map_or(lines.len(), |i| i + 1);
        let mut text = String::new();
        let frames = |range: &[Line], text: &mut String| {
            for line in range {
                if let Line::Frame(frame) = line {
                    push_line(text, frame);
                }
            }
        };
        frames(&lines[..first_slot], &mut text);
        for paragraph in &paragraphs {
            push_line(&mut text, paragraph);
        }
        frames(&lines[last_slot.max(first_slot)..], &mut text);
        (title, text)
    }
}

fn push_line(text: &mut String, line: &str) {
    text.push_str(line);
    text.push('\n');
}

/// Random prose sentences until the paragraph has about `words` words; a short slot (a heading, a
/// list item) gets the first words of one sentence.
fn paragraph(rng: &mut fastrand::Rng, sentences: &[String], words: usize) -> String {
    if words < 8 {
        let sentence = &sentences[rng.usize(..sentences.len())];
        return sentence.split_whitespace().take(words).collect::<Vec<_>>().join(" ");
    }
    let mut paragraph = String::new();
    let mut count = 0;
    while count < words {
        let sentence = &sentences[rng.usize(..sentences.len())];
        if !paragraph.is_empty() {
            paragraph.push(' ');
        }
        paragraph.push_str(sentence);
        count += sentence.split_whitespace().count();
    }
    paragraph
}

/// The first words of the first paragraph, as a headline.
fn headline(paragraphs: &[String]) -> String {
    paragraphs.first().map(|p| p.split_whitespace().take(10).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

/// A source page: its host, its crawler text and, when known, its checked main text.
struct SourceText {
    host: String,
    text: String,
    main_text: Option<String>,
}

/// Each wcxb-dev page.
fn page_texts(corpus: &Path) -> Option<Vec<SourceText>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus.join("text")).ok()?.flatten().map(|e| e.path()).collect();
    names.sort();
    let pages = names
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let truth = corpus.join("truth").join(path.file_stem()?).with_extension("json");
            let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(truth).ok()?).ok()?;
            let host = truth["url"].as_str().and_then(|u| url::Url::parse(u).ok()?.host_str().map(str::to_owned));
            Some(SourceText {
                host: host.unwrap_or_else(|| "unknown.example".into()),
                text,
                main_text: truth["main_content"].as_str().map(str::to_owned),
            })
        })
        .collect();
    Some(pages)
}

/// Each fixture article, under a made-up host.
fn fixture_texts(fixtures: &Path) -> Vec<SourceText> {
    let mut names: Vec<PathBuf> =
        std::fs::read_dir(fixtures).into_iter().flatten().flatten().map(|e| e.path()).collect();
    names.retain(|p| p.extension().is_some_and(|e| e == "txt"));
    names.sort();
    names
        .iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let host = format!("{}.example", path.file_stem()?.to_string_lossy().replace('_', "-"));
            Some(SourceText { host, text, main_text: None })
        })
        .collect()
}

/// The page's frame, its prose lines' sentences added to `sentences`. Prose is what the checked
/// main text holds, when there is one: everything else is the site's boilerplate.
fn page(source: &SourceText, sentences: &mut Vec<String>) -> Page {
    let lines: Vec<&str> = source.text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let main_text = source.main_text.as_deref().map(collapse_spaces);
    let is_prose = |line: &str| match &main_text {
        // Crawler renderings prefix list items with bullets the main text does not have.
        Some(main) => {
            let core = collapse_spaces(line.trim_start_matches(|c: char| !c.is_alphanumeric()));
            core.split(' ').count() >= MAIN_TEXT_WORDS && main.contains(&core)
        }
        None => line.split_whitespace().count() >= PROSE_WORDS,
    };
    let first = lines.iter().position(|l| is_prose(l)).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| is_prose(l)).map_or(first, |i| i + 1);
    let head = &lines[first.saturating_sub(MAX_FRAME_LINES)..first];
    let body = &lines[first..last];
    let tail = &lines[last..(last + MAX_FRAME_LINES).min(lines.len())];
    let as_line = |line: &&str| {
        if is_prose(line) {
            sentences.extend(sentences_of(line));
            Line::Slot { words: line.split_whitespace().count() }
        } else {
            Line::Frame((*line).to_owned())
        }
    };
    Page { host: source.host.clone(), lines: head.iter().chain(body).chain(tail).map(as_line).collect() }
}

fn collapse_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The sentences of five words or more in a page's prose lines: the pool new paragraphs come from.
fn sentences_of(prose: &str) -> impl Iterator<Item = String> + '_ {
    prose
        .split_inclusive(['.', '!', '?'])
        .map(str::trim)
        .filter(|s| s.split_whitespace().count() >= 5)
        .map(str::to_owned)
}
