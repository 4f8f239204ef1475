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

/// The metadata fixtures (invented, of the seeds' kinds) through the stages, fetched the day they ran.
fn metadata_fixture(name: &str) -> Article {
    use article_ingest::article::{Content, RawArticle};
    let path = common::fixtures_dir().join("../metadata").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let fetched_at = chrono::DateTime::parse_from_rfc3339("2014-03-06T18:00:00Z").unwrap().to_utc();
    let raw = RawArticle { fetched_at: Some(fetched_at), ..RawArticle::new(name, Content::Text(text)) };
    Pipeline::default().run(raw, None).unwrap()
}

fn assert_has(list: &[String], wanted: &[&str], what: &str) {
    for name in wanted {
        assert!(list.iter().any(|x| x == name), "{what}: {name} missing from {list:?}");
    }
}

#[test]
fn a_wire_story_gives_its_dateline_people_places_and_quotes_with_their_speaker() {
    let article = metadata_fixture("m001_wire_dateline.txt");
    assert_eq!(article.title.as_deref(), Some("Portugal says ferry strike will go on despite EU warning"));
    assert_eq!(article.published_at.unwrap().to_iso8601(), "2014-03-06", "'today' is the fetch day");
    assert_eq!(article.dateline.as_deref(), Some("Lisbon"));
    assert_has(&article.entities.people, &["Tiago Mendes", "Anna Keller", "Rui Costa"], "people");
    assert!(!article.entities.people.iter().any(|p| ["Mendes", "Keller", "Costa"].contains(&p.as_str())));
    assert_has(&article.entities.places, &["Lisbon", "Portugal", "Brussels", "Porto"], "places");
    assert_has(&article.entities.organizations, &["European Commission"], "organisations");
    assert_eq!(article.quotes.len(), 3, "{:?}", article.quotes);
    assert!(article.quotes.iter().all(|q| q.speaker.as_deref() == Some("Tiago Mendes")), "{:?}", article.quotes);
    assert_eq!(article.language.as_deref(), Some("en"));
    assert!(!article.keywords.is_empty());
}

#[test]
fn a_credit_line_gives_the_agency_the_place_and_the_date() {
    let article = metadata_fixture("m002_credit_line.txt");
    assert_eq!(article.title.as_deref(), Some("Portugal says ferry strike will go on"));
    assert_eq!(article.published_at.unwrap().to_iso8601(), "2014-03-06");
    assert_eq!(article.agency.as_deref(), Some("AFP"));
    assert!(article.authors.is_empty(), "an agency is not an author: {:?}", article.authors);
    assert_eq!(article.dateline.as_deref(), Some("Lisbon"));
    assert_eq!(article.quotes.len(), 1);
    assert_eq!(article.quotes[0].speaker.as_deref(), Some("Rui Costa"), "said Costa, who … resolves to the full name");
}

#[test]
fn an_outlets_own_account_attributes_pronoun_quotes_to_the_last_person_named() {
    let article = metadata_fixture("m003_own_account.txt");
    assert_eq!(article.dateline.as_deref(), Some("Brussels"));
    assert_eq!(article.agency, None);
    assert_has(&article.entities.people, &["Anna Keller", "Jonas Weber", "Rui Costa"], "people");
    let speakers: Vec<Option<&str>> = article.quotes.iter().map(|q| q.speaker.as_deref()).collect();
    assert_eq!(speakers, [Some("Jonas Weber"), Some("Jonas Weber")]);
}

#[test]
fn shared_seeds_give_the_dates_credit_datelines_people_places_and_peskov_quotes() {
    use article_ingest::article::{Content, RawArticle};
    let Some(dir) = common::seeds::shared_seeds() else {
        eprintln!("../shared/seeds not present: the metadata fixtures cover the same kinds");
        return;
    };
    let fetched_at = chrono::DateTime::parse_from_rfc3339("2016-09-30T18:00:00Z").unwrap().to_utc();
    let mut articles = HashMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let id = path.file_stem().unwrap().to_string_lossy()[..3].to_owned();
        let raw = RawArticle {
            fetched_at: Some(fetched_at),
            ..RawArticle::new(id.clone(), Content::Text(std::fs::read_to_string(&path).unwrap()))
        };
        articles.insert(id, Pipeline::default().run(raw, None).unwrap());
    }
    let date = |id: &str| articles[id].published_at.unwrap().to_iso8601();
    assert_eq!(date("001"), "2016-09-30");
    assert_eq!(date("004"), "2016-09-29");
    assert_eq!(articles["001"].agency.as_deref(), Some("AFP"));
    assert_eq!(articles["000"].dateline.as_deref(), Some("Moscow"));
    assert_eq!(articles["003"].dateline.as_deref(), Some("Washington"));
    let people: Vec<String> = articles.values().flat_map(|a| a.entities.people.clone()).collect();
    let places: Vec<String> = articles.values().flat_map(|a| a.entities.places.clone()).collect();
    assert_has(
        &people,
        &[
            "Dmitry Peskov",
            "John Kerry",
            "Sergei Lavrov",
            "Bashar al-Assad",
            "John Kirby",
            "Sergei Ryabkov",
            "Ban Ki-moon",
        ],
        "people",
    );
    assert_has(&places, &["Moscow", "Washington", "Syria", "Aleppo"], "places");
    let peskov: Vec<&str> = articles["000"]
        .quotes
        .iter()
        .filter(|q| q.speaker.as_deref() == Some("Dmitry Peskov"))
        .map(|q| q.text.as_str())
        .collect();
    assert_eq!(peskov.len(), 3, "{:?}", articles["000"].quotes);
    assert!(peskov[0].starts_with("We have unfortunately taken note"));
}
