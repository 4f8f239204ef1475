//! The README's "Inspecting with SQL" queries, run with psql as a user would, against a database
//! holding the seeds (../shared/seeds) and one broken message: each must print what the README
//! shows under it. Without ../shared/seeds the queries run against the repo's sample articles and
//! must succeed, but their output is not compared (the README shows the seeds').
//!
//! `PRINT_README_RESULTS=1` prints what each query returns, to paste after a deliberate change.

mod common;

use std::path::Path;
use std::process::Command;

use article_ingest::article::{DeadLetter, Origin};
use article_ingest::sink::Batch;
use article_ingest::stages::Pipeline;
use article_ingest::worker::{Outcome, process_message};
use common::TestDb;

/// When the crawler fetched the seeds, as its envelope would say: the evening of the day the story
/// broke (it resolves "today" in the texts).
const FETCHED_AT: &str = "2016-09-30T18:00:00Z";

const BEGIN: &str = "<!-- readme-queries:begin -->";
const END: &str = "<!-- readme-queries:end -->";

/// Each ```sql block of the section with the ```text block that follows it.
fn readme_queries() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = &readme[readme.find(BEGIN).expect("the README marks its queries")..readme.find(END).unwrap()];
    let blocks: Vec<(&str, String)> = section
        .split("```")
        .skip(1)
        .step_by(2)
        .map(|block| {
            let (lang, body) = block.split_once('\n').unwrap_or((block, ""));
            (lang.trim(), body.to_owned())
        })
        .collect();
    let mut pairs = Vec::new();
    for pair in blocks.chunks(2) {
        assert!(
            pair.len() == 2 && pair[0].0 == "sql" && pair[1].0 == "text",
            "each ```sql block is followed by ```text"
        );
        pairs.push((pair[0].1.clone(), pair[1].1.clone()));
    }
    assert!(pairs.len() >= 8, "the README shows its queries");
    pairs
}

/// Stores every file of `dir` (sorted, one envelope each with `FETCHED_AT`, as a crawler publishes them), plus one
/// broken message, in one batch through the worker's own stages and sink.
async fn load(db: &TestDb, dir: &Path) {
    let pipeline = Pipeline::default();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "txt" || e == "html"));
    files.sort();
    let mut batch = Batch::default();
    for (offset, path) in files.iter().enumerate() {
        let origin = Origin { topic: "articles".into(), partition: 0, offset: offset as i64 };
        let key = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(path).unwrap();
        let is_html = path.extension().is_some_and(|e| e == "html");
        let body_key = if is_html { "html" } else { "text" };
        let payload =
            serde_json::to_vec(&serde_json::json!({ "id": key, "fetched_at": FETCHED_AT, body_key: text })).unwrap();
        match process_message(&pipeline, &payload, Some(key.as_bytes()), || key.clone(), 1 << 20, |_| None) {
            Outcome::Article(article) => batch.articles.push((*article, origin)),
            Outcome::Dead(reason) => panic!("{key}: {reason}"),
        }
    }
    batch.dead_letters.push(DeadLetter {
        origin: Origin { topic: "articles".into(), partition: 0, offset: files.len() as i64 },
        key: None,
        payload: b"{\"text\": \"unfinished".to_vec(),
        kind: "broken_json",
        reason: "broken JSON envelope: EOF while parsing a string at line 1 column 20".into(),
    });
    db.sink("g").await.write_batch(&mut batch).await.unwrap();
}

/// psql's aligned output of `sql`, without the row-count footer.
fn psql(db: &TestDb, sql: &str) -> String {
    let output = Command::new("psql")
        .args(["--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--pset", "footer=off", "--dbname", &db.url])
        .args(["--command", sql])
        .output()
        .expect("psql (PostgreSQL's client) is installed");
    assert!(output.status.success(), "{sql}\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn trimmed_lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect()
}

#[tokio::test]
async fn readme_queries_return_what_the_readme_shows_on_the_seeds() {
    let db = TestDb::new().await;
    let seeds = common::seeds::shared_seeds();
    load(&db, seeds.as_deref().unwrap_or(&common::fixtures_dir())).await;
    let print = std::env::var_os("PRINT_README_RESULTS").is_some();
    for (sql, shown) in readme_queries() {
        let got = psql(&db, &sql);
        if print {
            println!("```sql\n{sql}```\n```text\n{got}```\n");
        }
        if seeds.is_some() && !print {
            assert_eq!(trimmed_lines(&got), trimmed_lines(&shown), "README query:\n{sql}");
        }
    }
    if seeds.is_none() {
        eprintln!("../shared/seeds not present: the README's queries ran on the sample articles, output not compared");
    }
}
