//! Hostile input: every kind either becomes an article or a dead letter with its reason, never a
//! panic (a panic caught in a stage is a `stage failed` dead letter: a bug, so it fails here too),
//! and what becomes an article is accepted by Postgres (text cannot hold NUL, jsonb no \u0000).

mod common;

use article_ingest::article::{DeadLetter, Origin};
use article_ingest::sink::Batch;
use article_ingest::stages::Pipeline;
use article_ingest::worker::{Outcome, process_message};
use common::TestDb;
use proptest::prelude::*;

/// The worker's default message limit (config/default.toml).
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

fn run(pipeline: &Pipeline, payload: &[u8]) -> Outcome {
    process_message(pipeline, payload, None, || "hostile".to_owned(), MAX_MESSAGE_BYTES, |_| None)
}

fn envelope(fields: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&fields).unwrap()
}

/// What each hostile input must become: an article, or a dead letter whose reason says this.
enum Expect {
    Article,
    Dead(&'static str),
}

fn hostile_inputs() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let deep = format!(
        "<html><body>{}<p>Deep inside, a sentence of the article survives the nesting.</p>{}</body></html>",
        "<div>".repeat(100_000),
        "</div>".repeat(100_000)
    );
    let many_keys: serde_json::Map<String, serde_json::Value> = (0..10_000)
        .map(|i| (format!("k{i}"), serde_json::Value::from(i)))
        .chain([("text".to_owned(), "A body among ten thousand keys, long enough to keep.".into())])
        .collect();
    vec![
        ("50 MB body", vec![b'a'; 50 * 1024 * 1024], Expect::Dead("exceeds max_message_bytes")),
        ("one 10 MB line", "word ".repeat(2_000_000).into_bytes(), Expect::Article),
        ("HTML nested 100,000 deep", deep.into_bytes(), Expect::Article),
        ("NUL and control characters", envelope(serde_json::json!({"title": "Ti\u{0}tle\u{7}", "text": "Text with \u{0} NUL and \u{1b}[31m escape codes in a sentence of the story.\nSecond line\u{0}."})), Expect::Article),
        ("raw NUL bytes", b"Headline\nA paragraph with a raw \x00 NUL byte in the middle of its words.".to_vec(), Expect::Article),
        ("lone surrogate escape", br#"{"text": "broken \ud800 surrogate"}"#.to_vec(), Expect::Dead("broken JSON envelope")),
        ("Latin-1 bytes", b"Caf\xe9 cr\xe8me br\xfbl\xe9e in a sentence".to_vec(), Expect::Dead("invalid UTF-8")),
        ("mixed encodings", [&b"UTF-8 caf\xc3\xa9 then Latin-1 caf"[..], b"\xe9"].concat(), Expect::Dead("invalid UTF-8")),
        ("right-to-left text", "خبر عاجل\nقالت وزارة الخارجية اليوم إن المحادثات ستستمر في جنيف الأسبوع المقبل بعد توقف قصير.".as_bytes().to_vec(), Expect::Article),
        ("CJK text", "台风关闭港口\n台风周四关闭了该国所有港口，渔船被要求返回港口，政府官员在记者会上说。".as_bytes().to_vec(), Expect::Article),
        ("emoji", "Storm 🌀 closes ports 🚢\nThe storm 🌀 closed every port on Thursday, officials said 👍 at a briefing.".as_bytes().to_vec(), Expect::Article),
        ("bidi overrides", "Title \u{202e}desrever\u{202c}\nA sentence with a right-to-left override \u{202e}inside\u{202c} it, and more words.".as_bytes().to_vec(), Expect::Article),
        ("empty", Vec::new(), Expect::Dead("empty message")),
        ("whitespace only", b" \n\t\r\n  ".to_vec(), Expect::Dead("empty or only whitespace")),
        ("whitespace-only envelope body", envelope(serde_json::json!({"text": " \n "})), Expect::Dead("empty or only whitespace")),
        ("10,000 keys", serde_json::to_vec(&many_keys).unwrap(), Expect::Article),
        ("huge number as id", br#"{"id": 1e400, "text": "Body."}"#.to_vec(), Expect::Dead("broken JSON envelope")),
        ("huge number as a field", br#"{"text": "Body of the story in a sentence.", "score": 123456789012345678901234567890}"#.to_vec(), Expect::Article),
        ("JSON nested 100,000 deep", format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)).into_bytes(), Expect::Dead("envelope has neither text nor html")),
    ]
}

#[tokio::test]
async fn every_hostile_input_becomes_an_article_postgres_accepts_or_a_dead_letter_with_its_reason() {
    let pipeline = Pipeline::default();
    let mut batch = Batch::default();
    for (offset, (name, payload, expect)) in hostile_inputs().into_iter().enumerate() {
        let origin = Origin { topic: "hostile".into(), partition: 0, offset: offset as i64 };
        match (run(&pipeline, &payload), expect) {
            (Outcome::Article(mut article), Expect::Article) => {
                article.id = format!("hostile-{offset}");
                batch.articles.push((*article, origin));
            }
            (Outcome::Dead(reason), Expect::Dead(wanted)) => {
                assert!(reason.contains(wanted), "{name}: reason `{reason}` should say `{wanted}`");
                assert!(!reason.contains('\n') && reason.len() <= 300, "{name}: one short line");
                batch.dead_letters.push(DeadLetter { origin, key: None, payload, kind: "hostile", reason });
            }
            (Outcome::Article(_), Expect::Dead(wanted)) => panic!("{name}: became an article, expected `{wanted}`"),
            (Outcome::Dead(reason), Expect::Article) => panic!("{name}: became a dead letter: {reason}"),
        }
    }
    let db = TestDb::new().await;
    let report = db.sink("g").await.write_batch(&mut batch).await.expect("Postgres takes every outcome");
    assert_eq!(report.inserted, batch.articles.len());
    assert_eq!(report.dead_letters, batch.dead_letters.len());
    let nul_free: i64 = db.count("SELECT count(*) FROM articles WHERE body LIKE '%' || chr(1) || '%'").await;
    assert_eq!(nul_free, 0, "control characters are gone from stored text");
}

fn check_no_stage_failure(pipeline: &Pipeline, payload: &[u8]) -> Result<(), TestCaseError> {
    if let Outcome::Dead(reason) = run(pipeline, payload) {
        prop_assert!(!reason.contains("stage failed"), "a stage panicked: {reason}");
    }
    Ok(())
}

fn article_like_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[A-Z][a-z]{2,9}( [a-z]{1,8}){3,14}[.!?]",
            "(Share|Home|Menu|By|Photo:|WATCH:|Related|MOSCOW:|\u{a9} 2016)[ A-Za-z0-9|»/-]{0,30}",
            "\\PC{0,80}",
            "<(div|p|span|script|a href=\"x\")>[^<]{0,40}(</div>|</p>)?",
        ],
        0..24,
    )
    .prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_make_a_stage_fail(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        check_no_stage_failure(&Pipeline::default(), &bytes)?;
    }

    #[test]
    fn arbitrary_article_like_text_and_html_never_make_a_stage_fail(text in article_like_text(), html in any::<bool>()) {
        let payload = if html { format!("<html><body>{text}</body></html>") } else { text };
        check_no_stage_failure(&Pipeline::default(), payload.as_bytes())?;
    }

    #[test]
    fn arbitrary_envelopes_never_make_a_stage_fail(
        title in proptest::option::of("\\PC{0,60}"),
        text in article_like_text(),
        url in proptest::option::of("(https?://)?[a-z0-9.-]{0,20}(/[a-z0-9/-]{0,30})?"),
        fetched_at in proptest::option::of("20[0-9]{2}-[01][0-9]-[0-3][0-9](T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z)?"),
        published_at in proptest::option::of("\\PC{0,25}"),
    ) {
        let mut fields = serde_json::json!({ "text": text });
        for (key, value) in [("title", title), ("url", url), ("fetched_at", fetched_at), ("published_at", published_at)] {
            if let Some(value) = value {
                fields[key] = value.into();
            }
        }
        check_no_stage_failure(&Pipeline::default(), &envelope(fields))?;
    }
}
