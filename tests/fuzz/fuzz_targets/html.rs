//! Any markup as an HTML body through every stage (parse, extraction, metadata): no panic.
#![no_main]

use article_ingest::article::{Content, RawArticle};
use article_ingest::stages::Pipeline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let html = String::from_utf8_lossy(data).into_owned();
    if html.trim().is_empty() {
        return;
    }
    let pipeline = Pipeline::default();
    if let Err(reason) = pipeline.run(RawArticle::new("fuzz", Content::Html(html)), None) {
        panic!("{reason}");
    }
});
