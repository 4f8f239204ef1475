//! Messages from files, for `produce` and `process`: a `.txt`/`.html` file is one raw message keyed by
//! its file name; a `.jsonl` file holds one envelope per line, keyed by its `id`; a directory stands
//! for the files in it (sorted, recursively); `-` is JSONL on standard input.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

/// A message read from a file: what a producer would send as key and value.
#[derive(Debug, Clone, PartialEq)]
pub struct FileMessage {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// `path` or `path:line`, for messages about it.
    pub location: String,
}

const RAW_EXTENSIONS: [&str; 4] = ["txt", "html", "htm", "xhtml"];
const JSONL_EXTENSIONS: [&str; 2] = ["jsonl", "ndjson"];

/// Expands directories into the files they hold that look like inputs, in a stable order.
pub fn expand_paths(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || path.is_file() {
            files.push(path.clone());
        } else if path.is_dir() {
            let mut found = Vec::new();
            collect_dir(path, &mut found)?;
            found.sort();
            files.extend(found);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no such file or directory", path.display()),
            ));
        }
    }
    Ok(files)
}

fn collect_dir(dir: &Path, found: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_dir(&path, found)?;
        } else if is_input_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase()
}

fn is_input_file(path: &Path) -> bool {
    let ext = extension(path);
    RAW_EXTENSIONS.contains(&ext.as_str()) || JSONL_EXTENSIONS.contains(&ext.as_str())
}

/// Every message in `files`, lazily: a large JSONL backfill is never held in memory whole.
pub fn read_messages(files: Vec<PathBuf>) -> impl Iterator<Item = io::Result<FileMessage>> {
    files.into_iter().flat_map(|path| -> Box<dyn Iterator<Item = io::Result<FileMessage>>> {
        let location = path.display().to_string();
        if path.as_os_str() == "-" {
            return Box::new(jsonl_messages(BufReader::new(io::stdin()), location));
        }
        if JSONL_EXTENSIONS.contains(&extension(&path).as_str()) {
            return match File::open(&path) {
                Ok(file) => Box::new(jsonl_messages(BufReader::new(file), location)),
                Err(e) => Box::new(std::iter::once(Err(e))),
            };
        }
        let key = path.file_stem().map(|stem| stem.to_string_lossy().into_owned().into_bytes());
        Box::new(std::iter::once(std::fs::read(&path).map(|payload| FileMessage { key, payload, location })))
    })
}

fn jsonl_messages(reader: impl BufRead + 'static, location: String) -> impl Iterator<Item = io::Result<FileMessage>> {
    reader.split(b'\n').enumerate().filter_map(move |(index, line)| {
        let mut payload = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        if payload.last() == Some(&b'\r') {
            payload.pop();
        }
        if payload.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        Some(Ok(FileMessage { key: envelope_id(&payload), payload, location: format!("{location}:{}", index + 1) }))
    })
}

/// The envelope's `id`, used as the Kafka key so a topic's partitioning follows articles.
fn envelope_id(payload: &[u8]) -> Option<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        id: Option<String>,
    }
    serde_json::from_slice::<IdOnly>(payload).ok()?.id.map(String::into_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_yields_raw_files_keyed_by_name_and_jsonl_lines_keyed_by_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.txt"), "Body text.").unwrap();
        std::fs::write(dir.path().join("a.jsonl"), "{\"id\":\"j1\",\"text\":\"x\"}\n\n{\"text\":\"y\"}\r\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let files = expand_paths(&[dir.path().to_path_buf()]).unwrap();
        let messages: Vec<FileMessage> = read_messages(files).map(Result::unwrap).collect();
        assert_eq!(messages.len(), 3);
        assert_eq!(messages[0].key.as_deref(), Some(&b"j1"[..]));
        assert_eq!(messages[1].key, None);
        assert_eq!(messages[1].payload, b"{\"text\":\"y\"}");
        assert!(messages[1].location.ends_with("a.jsonl:3"));
        assert_eq!(messages[2].key.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn a_missing_path_is_an_error_not_an_empty_input() {
        assert!(expand_paths(&[PathBuf::from("/nonexistent/x")]).is_err());
    }
}
