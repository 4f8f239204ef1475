//! Any text as a crawler body through every stage: no stage may panic (the pipeline would turn it
//! into a `stage failed` dead letter, which is a bug).
#![no_main]

use article_ingest::article::{Content, RawArticle};
use article_ingest::stages::Pipeline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if text.trim().is_empty() {
        return;
    }
    let pipeline = Pipeline::default();
    if let Err(reason) = pipeline.run(RawArticle::new("fuzz", Content::Text(text.to_owned())), None) {
        panic!("{reason}");
    }
});
