//! The stages over the repo's sample articles (everywhere) and over ../shared/seeds (where present).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use article_ingest::article::Article;
use article_ingest::input::files::{expand_paths, read_messages};
use article_ingest::stages::Pipeline;
use article_ingest::stages::dedup::{MemoryExactIndex, link_exact_copies};
use article_ingest::worker::{Outcome, process_message};
use serde::Deserialize;

#[derive(Deserialize)]
struct Expected {
    title: Option<String>,
    paragraphs: Vec<String>,
    boilerplate: Vec<String>,
    duplicate_of: Option<String>,
}

fn process_dir(dir: &Path) -> Vec<Article> {
    let pipeline = Pipeline::default();
    let mut index = MemoryExactIndex::default();
    let files = expand_paths(&[dir.to_path_buf()]).unwrap();
    read_messages(files)
        .map(|message| {
            let message = message.unwrap();
            match process_message(&pipeline, &message.payload, message.key.as_deref(), || unreachable!(), 1 << 24) {
                Outcome::Article(mut article) => {
                    link_exact_copies(std::iter::once(article.as_mut()), &mut index);
                    *article
                }
                Outcome::Dead(reason) => panic!("{}: {reason}", message.location),
            }
        })
        .collect()
}

#[test]
fn sample_articles_keep_every_paragraph_and_lose_every_boilerplate_line() {
    let dir = common::fixtures_dir();
    let expected: HashMap<String, Expected> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let articles = process_dir(&dir);
    assert_eq!(articles.len(), expected.len());
    for article in &articles {
        let want = &expected[&article.id];
        let paragraphs: Vec<&str> = article.body.split("\n\n").collect();
        assert_eq!(paragraphs, want.paragraphs, "{}: kept paragraphs", article.id);
        for snippet in &want.boilerplate {
            assert!(!article.body.contains(snippet.as_str()), "{}: boilerplate {snippet:?} left in", article.id);
        }
        assert_eq!(article.title, want.title, "{}: title", article.id);
        assert_eq!(article.duplicate_of, want.duplicate_of, "{}: duplicate_of", article.id);
        assert!(article.removed.iter().all(|r| !r.reason.is_empty()));
    }
}

/// ../shared/seeds: five real crawler pages of one story. Present beside every checkout of this
/// project and in CI; a user's clone has no such folder, and then there is nothing to check.
fn shared_seeds() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/seeds");
    dir.is_dir().then_some(dir)
}

/// The boilerplate the seeds carry, by kind (breadcrumbs, share bars, social bullets, prompts, teasers).
const SEED_BOILERPLATE: [&str; 14] = [
    "You are here",
    "Home »",
    "News / Russia / News",
    "SHARE THIS ARTICLE",
    "Press TV News Roku",
    "www.presstv.co.uk",
    "• facebook",
    "google plus",
    "Audio Only",
    "Do you like the content of this article?",
    "Post with no comments.",
    "Airstrikes Hit Two Hospitals in Besieged Syrian City of Aleppo",
    "U.S. Building Drone Base in One of Africa's Poorest Countries",
    "WATCH: Syria: Grad Rockets",
];

/// A seed line is a paragraph when it is prose: a sentence of five words or more.
fn seed_paragraphs(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| article_ingest::stages::text::word_count(l) >= 5)
        .filter(|l| article_ingest::stages::text::ends_like_sentence(l))
        .filter(|l| !SEED_BOILERPLATE.iter().any(|b| l.contains(b)))
        .collect()
}

pub fn check_seed_bodies(dir: &Path, bodies: &HashMap<String, String>) {
    assert_eq!(bodies.len(), 5, "five seeds, five articles");
    for (id, body) in bodies {
        let text = std::fs::read_to_string(dir.join(format!("{id}.txt"))).unwrap();
        for snippet in SEED_BOILERPLATE {
            assert!(!body.contains(snippet), "{id}: boilerplate {snippet:?} left in");
        }
        let kept: Vec<&str> = body.split("\n\n").collect();
        for paragraph in seed_paragraphs(&text) {
            assert!(kept.contains(&paragraph.as_str()), "{id}: paragraph dropped: {paragraph}");
        }
    }
}

#[test]
fn shared_seeds_keep_every_paragraph_and_lose_their_boilerplate() {
    let Some(dir) = shared_seeds() else {
        eprintln!("../shared/seeds not present: nothing to check here (the sample-article test covers the same kinds)");
        return;
    };
    let bodies: HashMap<String, String> = process_dir(&dir).into_iter().map(|a| (a.id, a.body)).collect();
    check_seed_bodies(&dir, &bodies);
}
