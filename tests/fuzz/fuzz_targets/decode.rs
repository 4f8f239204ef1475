//! Any bytes through the envelope decoder: a RawArticle or a one-line reason, never a panic.
#![no_main]

use article_ingest::input::envelope::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(reason) = decode(data, Some(b"key"), || "fuzz".to_owned(), 1 << 20) {
        let line = reason.to_string();
        assert!(!line.contains('\n'), "a reason is one line: {line:?}");
    }
});
