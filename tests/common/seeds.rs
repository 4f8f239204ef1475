//! Checks on ../shared/seeds, shared by the stage tests and the end-to-end tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// ../shared/seeds: five real crawler pages of one story. Present beside every checkout of this
/// project and in CI; a user's clone has no such folder, and then there is nothing to check.
pub fn shared_seeds() -> Option<PathBuf> {
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
