//! The three stages, each a plain step over one `Article`, and the pipeline that runs them in order.
//!
//! Stages never touch Kafka or Postgres: dedup state is consulted after the stages, by the sink inside
//! the batch transaction (see `dedup::ExactIndex`), so every stage is a unit-testable function.

pub mod clean;
pub mod dates;
pub mod dedup;
pub mod metadata;
pub mod text;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prometheus_client::metrics::histogram::Histogram;

use crate::article::{Article, RawArticle};
use clean::templates::SiteTemplates;

/// One step over an article value.
pub trait Stage: Send + Sync {
    fn name(&self) -> &'static str;
    fn apply(&self, article: &mut Article);
}

/// The stages in flow order: clean → dedup (content hash) → metadata, each with the time spent in
/// it so far (summed over the threads that share the pipeline).
pub struct Pipeline {
    stages: Vec<StageSlot>,
}

struct StageSlot {
    stage: Box<dyn Stage>,
    nanos: AtomicU64,
    /// Where each article's time in the stage is observed, when metrics are on.
    histogram: Option<Histogram>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline::with_dedup(true)
    }
}

impl Pipeline {
    /// The stages; with `dedup` off the dedup stage computes only the content hash.
    pub fn with_dedup(dedup: bool) -> Self {
        let hasher = dedup::ContentHasher { linking: dedup };
        let stages: Vec<Box<dyn Stage>> =
            vec![Box::new(clean::Cleaner), Box::new(hasher), Box::new(metadata::MetadataExtractor)];
        Pipeline {
            stages: stages
                .into_iter()
                .map(|stage| StageSlot { stage, nanos: AtomicU64::new(0), histogram: None })
                .collect(),
        }
    }

    /// Also observes each article's time in each stage in the histogram `histogram_for(stage name)`.
    pub fn observed(mut self, histogram_for: impl Fn(&'static str) -> Histogram) -> Self {
        for slot in &mut self.stages {
            slot.histogram = Some(histogram_for(slot.stage.name()));
        }
        self
    }

    /// Runs every stage. A panic inside a stage is a bug, but it must not take the worker or the
    /// partition down: it becomes an error the caller turns into a dead letter. `site_templates`
    /// are the lines learned so far as the article's site's templates.
    pub fn run(&self, raw: RawArticle, site_templates: Option<Arc<SiteTemplates>>) -> Result<Article, String> {
        let mut article = Article::from_raw(raw);
        article.input.site_templates = site_templates;
        for StageSlot { stage, nanos, histogram } in &self.stages {
            let started = Instant::now();
            let applied = catch_unwind(AssertUnwindSafe(|| stage.apply(&mut article)));
            let took = started.elapsed();
            nanos.fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
            if let Some(histogram) = histogram {
                histogram.observe(took.as_secs_f64());
            }
            applied.map_err(|panic| {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                crate::input::envelope::one_line(&format!("{} stage failed: {message}", stage.name()))
            })?;
        }
        Ok(article)
    }

    /// Time spent in each stage since the pipeline was made, by stage name.
    pub fn stage_times(&self) -> Vec<(&'static str, Duration)> {
        self.stages
            .iter()
            .map(|slot| (slot.stage.name(), Duration::from_nanos(slot.nanos.load(Ordering::Relaxed))))
            .collect()
    }
}
