//! The stages over the repo's sample articles (everywhere) and over ../shared/seeds (where present).

mod common;

use std::collections::HashMap;
use std::path::Path;

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
            match process_message(
                &pipeline,
                &message.payload,
                message.key.as_deref(),
                || unreachable!(),
                1 << 24,
                |_| None,
            ) {
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

#[test]
fn shared_seeds_keep_every_paragraph_and_lose_their_boilerplate() {
    let Some(dir) = common::seeds::shared_seeds() else {
        eprintln!("../shared/seeds not present: nothing to check here (the sample-article test covers the same kinds)");
        return;
    };
    let bodies: HashMap<String, String> = process_dir(&dir).into_iter().map(|a| (a.id, a.body)).collect();
    common::seeds::check_seed_bodies(&dir, &bodies);
}
