//! Training support: reads JSONL envelopes (`{"id", "text" | "html", …}`) on stdin and writes, per
//! article, its lines with the classifier's features and whether the rules drop the line anyway:
//! `{"id", "lines": [[text, [f, …], ruled_out], …]}`.
//! `scripts/train_cleaner.py` runs it over wcxb-dev, so training sees exactly what the cleaner sees.

use std::io::{BufRead, BufWriter, Write};

use article_ingest::input::envelope::decode;
use article_ingest::stages::clean::features::FEATURE_NAMES;
use article_ingest::stages::clean::lines_with_features;

fn main() -> anyhow::Result<()> {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &serde_json::json!({ "feature_names": FEATURE_NAMES.as_slice() }))?;
    out.write_all(b"\n")?;
    for (index, line) in stdin.lines().enumerate() {
        let line = line?;
        let raw = match decode(line.as_bytes(), None, || format!("line-{}", index + 1), usize::MAX) {
            Ok(raw) => raw,
            Err(reason) => {
                eprintln!("line {}: {reason}", index + 1);
                continue;
            }
        };
        let lines: Vec<serde_json::Value> = lines_with_features(&raw.content)
            .into_iter()
            .map(|l| serde_json::json!([l.text, l.features.as_slice(), l.ruled_out]))
            .collect();
        serde_json::to_writer(&mut out, &serde_json::json!({ "id": raw.id, "lines": lines }))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}
