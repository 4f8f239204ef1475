//! Configuration: built-in defaults, then `--config FILE`, then `ARTICLE_INGEST__…` environment
//! variables, then `DATABASE_URL`. `article-ingest config` prints the result with secrets redacted.

use std::collections::BTreeMap;
use std::path::Path;

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

use crate::stages::clean::templates::TemplateRule;
use crate::stages::dedup::near::NearRule;
use crate::stages::dedup::stories::StoryRule;

const DEFAULTS: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub worker: WorkerSettings,
    pub templates: TemplateSettings,
    pub dedup: DedupSettings,
    pub ops: OpsSettings,
}

/// The HTTP listener for /metrics, /healthz and /readyz (`ops::server`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpsSettings {
    /// Address `run` listens on; empty: no listener.
    pub listen: String,
}

/// Deduplication thresholds (`stages::dedup::near`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DedupSettings {
    /// Off: every article is stored as its own (no copy links, no stories); `content_hash` is still
    /// filled. For feeds known to carry no copies, and to measure what dedup costs (`make bench`).
    pub enabled: bool,
    #[serde(flatten)]
    pub near: NearRule,
    pub stories: StoryRule,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topics: Vec<String>,
    pub group_id: String,
    pub auto_offset_reset: OffsetReset,
    pub session_timeout_ms: u32,
    #[serde(default, deserialize_with = "librdkafka_options")]
    pub options: BTreeMap<String, String>,
}

/// A `[kafka.options]` value as the config layers deliver it: environment keys such as
/// `ARTICLE_INGEST__KAFKA__OPTIONS__SASL.PASSWORD` arrive split at the dots into nested tables, and
/// values such as `500` arrive as numbers.
#[derive(Deserialize)]
#[serde(untagged)]
enum OptionValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Flag(bool),
    Nested(BTreeMap<String, OptionValue>),
}

/// librdkafka properties as flat dotted keys with string values.
fn librdkafka_options<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error> {
    fn flatten(prefix: &str, table: BTreeMap<String, OptionValue>, out: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let key = if prefix.is_empty() { key } else { format!("{prefix}.{key}") };
            match value {
                OptionValue::Text(text) => drop(out.insert(key, text)),
                OptionValue::Integer(n) => drop(out.insert(key, n.to_string())),
                OptionValue::Float(x) => drop(out.insert(key, x.to_string())),
                OptionValue::Flag(flag) => drop(out.insert(key, flag.to_string())),
                OptionValue::Nested(inner) => flatten(&key, inner, out),
            }
        }
    }
    let mut options = BTreeMap::new();
    flatten("", BTreeMap::<String, OptionValue>::deserialize(deserializer)?, &mut options);
    Ok(options)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    Earliest,
    Latest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub migrate_on_start: bool,
    /// Postgres `statement_timeout` for the worker's sessions, in ms; 0: none.
    pub statement_timeout_ms: u64,
    /// A batch's work still unfinished after this many ms is given up and retried, and Postgres ends
    /// sessions idle inside a transaction this long (`idle_in_transaction_session_timeout`); 0: none.
    pub transaction_timeout_ms: u64,
    /// Where Postgres's autovacuum is off, the worker vacuums the tables it churns this often (s);
    /// 0: never.
    pub vacuum_interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSettings {
    pub max_message_bytes: usize,
    pub batch_max_rows: usize,
    pub batch_max_bytes: usize,
    pub batch_linger_ms: u64,
    pub max_in_flight: usize,
    /// Batches written at once, each in its own transaction, committing in batch order.
    pub concurrent_writes: usize,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
}

/// Site templates learned from the stream (`stages::clean::templates`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TemplateSettings {
    pub enabled: bool,
    #[serde(flatten)]
    pub rule: TemplateRule,
    pub refresh_secs: u64,
    pub cache_sites: usize,
}

impl Settings {
    /// Loads the layers in order; `env` stands for the process environment so tests can supply their own.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, config::ConfigError> {
        let env = &read_secret_files(env)?;
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        let environment = Environment::with_prefix("ARTICLE_INGEST")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .with_list_parse_key("kafka.topics")
            .try_parsing(true)
            .source(Some(env.clone().into_iter().collect()));
        builder = builder.add_source(environment);
        if let Some(url) = env.get("DATABASE_URL") {
            builder = builder.set_override("database.url", url.as_str())?;
        }
        builder.build()?.try_deserialize()
    }

    pub fn from_process_env(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        Self::load(file, &std::env::vars().collect())
    }

    /// The effective configuration as TOML, with passwords and secret options replaced by "***".
    pub fn redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = redact_url(&shown.database.url);
        for (key, value) in shown.kafka.options.iter_mut() {
            if is_secret_key(key) {
                *value = "***".into();
            }
        }
        toml_string(&shown)
    }
}

/// `X_FILE=/path` stands for `X` set to the file's content, without its trailing newline, for
/// `DATABASE_URL` and every `ARTICLE_INGEST__…` key: secrets mounted as files (Docker and Kubernetes
/// secrets, systemd credentials) never pass through the environment or a process listing.
fn read_secret_files(env: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, config::ConfigError> {
    let mut resolved = env.clone();
    for (key, path) in env {
        let Some(target) = key.strip_suffix("_FILE") else { continue };
        if target != "DATABASE_URL" && !target.starts_with("ARTICLE_INGEST__") {
            continue;
        }
        if env.contains_key(target) {
            return Err(config::ConfigError::Message(format!("set {target} or {key}, not both")));
        }
        let secret = std::fs::read_to_string(path)
            .map_err(|error| config::ConfigError::Message(format!("{key}: cannot read {path}: {error}")))?;
        resolved.remove(key);
        resolved.insert(target.to_owned(), secret.trim_end_matches(['\n', '\r']).to_owned());
    }
    Ok(resolved)
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "key.pem", "private"].iter().any(|s| key.contains(s))
}

pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

fn toml_string(settings: &Settings) -> String {
    // serde_json → a small TOML rendering keeps the dependency list short; the shape is two levels.
    let value = serde_json::to_value(settings).expect("settings serialise");
    let mut out = String::new();
    render_table(&mut out, "", &value);
    out
}

fn render_table(out: &mut String, prefix: &str, value: &serde_json::Value) {
    let Some(map) = value.as_object() else { return };
    let (tables, scalars): (Vec<_>, Vec<_>) = map.iter().partition(|(_, v)| v.is_object());
    if !prefix.is_empty() {
        out.push_str(&format!("[{prefix}]\n"));
    }
    for (key, v) in scalars {
        out.push_str(&format!("{} = {}\n", toml_key(key), v));
    }
    for (key, v) in tables {
        if !out.is_empty() {
            out.push('\n');
        }
        let path = if prefix.is_empty() { toml_key(key) } else { format!("{prefix}.{}", toml_key(key)) };
        render_table(out, &path, v);
    }
}

fn toml_key(key: &str) -> String {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_load_without_any_file_or_environment() {
        let settings = Settings::load(None, &env(&[])).unwrap();
        assert_eq!(settings.kafka.topics, ["articles"]);
        assert_eq!(settings.worker.batch_max_rows, 500);
    }

    #[test]
    fn environment_overrides_defaults_and_database_url_wins() {
        let settings = Settings::load(
            None,
            &env(&[
                ("ARTICLE_INGEST__KAFKA__BROKERS", "b1:9092"),
                ("ARTICLE_INGEST__KAFKA__TOPICS", "a,b"),
                ("ARTICLE_INGEST__WORKER__BATCH_MAX_ROWS", "7"),
                ("ARTICLE_INGEST__DATABASE__URL", "postgres://x@h/ignored"),
                ("DATABASE_URL", "postgres://u:pw@h/db"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.kafka.brokers, "b1:9092");
        assert_eq!(settings.kafka.topics, ["a", "b"]);
        assert_eq!(settings.worker.batch_max_rows, 7);
        assert_eq!(settings.database.url, "postgres://u:pw@h/db");
    }

    #[test]
    fn template_learning_is_on_by_default_and_its_rule_is_configurable() {
        let defaults = Settings::load(None, &env(&[])).unwrap().templates;
        assert!(defaults.enabled);
        assert_eq!(defaults.rule, TemplateRule::default());
        let tuned = Settings::load(
            None,
            &env(&[("ARTICLE_INGEST__TEMPLATES__MIN_ARTICLES", "5"), ("ARTICLE_INGEST__TEMPLATES__MIN_SHARE", "0.8")]),
        )
        .unwrap()
        .templates;
        assert_eq!((tuned.rule.min_articles, tuned.rule.min_share), (5, 0.8));
    }

    #[test]
    fn a_config_file_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.toml");
        std::fs::write(&path, "[kafka]\ngroup_id = \"from-file\"\nbrokers = \"file:9092\"\n").unwrap();
        let settings = Settings::load(Some(&path), &env(&[("ARTICLE_INGEST__KAFKA__BROKERS", "env:9092")])).unwrap();
        assert_eq!(settings.kafka.group_id, "from-file");
        assert_eq!(settings.kafka.brokers, "env:9092");
    }

    #[test]
    fn a_secret_can_come_from_a_mounted_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("database-url");
        std::fs::write(&url, "postgres://u:from-file@h/db\n").unwrap();
        let password = dir.path().join("sasl-password");
        std::fs::write(&password, "s3cret").unwrap();
        let settings = Settings::load(
            None,
            &env(&[
                ("DATABASE_URL_FILE", url.to_str().unwrap()),
                ("ARTICLE_INGEST__KAFKA__OPTIONS__SASL.PASSWORD_FILE", password.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(settings.database.url, "postgres://u:from-file@h/db");
        assert_eq!(settings.kafka.options.get("sasl.password").map(String::as_str), Some("s3cret"));
        let from_env = Settings::load(None, &env(&[("ARTICLE_INGEST__KAFKA__OPTIONS__STATISTICS.INTERVAL.MS", "500")]));
        assert_eq!(from_env.unwrap().kafka.options.get("statistics.interval.ms").map(String::as_str), Some("500"));
        assert!(!settings.redacted_toml().contains("s3cret"));
    }

    #[test]
    fn a_secret_given_both_inline_and_as_a_file_is_refused() {
        let error = Settings::load(None, &env(&[("DATABASE_URL", "postgres://h/db"), ("DATABASE_URL_FILE", "/x")]));
        assert!(error.unwrap_err().to_string().contains("not both"));
    }

    #[test]
    fn printed_config_redacts_passwords_and_secret_options() {
        let mut settings = Settings::load(None, &env(&[("DATABASE_URL", "postgres://u:hunter2@h/db")])).unwrap();
        settings.kafka.options.insert("sasl.password".into(), "hunter2".into());
        settings.kafka.options.insert("security.protocol".into(), "SASL_SSL".into());
        let shown = settings.redacted_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://u:***@h/db"));
        assert!(shown.contains("\"security.protocol\" = \"SASL_SSL\""));
    }
}
