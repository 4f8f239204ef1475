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

use crate::article::{Article, RawArticle};
use clean::templates::SiteTemplates;

/// One step over an article value.
pub trait Stage: Send + Sync {
    fn name(&self) -> &'static str;
    fn apply(&self, article: &mut Article);
}

/// The stages in flow order: clean → dedup (content hash) → metadata.
pub struct Pipeline {
    stages: Vec<Box<dyn Stage>>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            stages: vec![
                Box::new(clean::Cleaner),
                Box::new(dedup::ContentHasher),
                Box::new(metadata::MetadataExtractor),
            ],
        }
    }
}

impl Pipeline {
    /// Runs every stage. A panic inside a stage is a bug, but it must not take the worker or the
    /// partition down: it becomes an error the caller turns into a dead letter. `site_templates`
    /// are the lines learned so far as the article's site's templates.
    pub fn run(&self, raw: RawArticle, site_templates: Option<Arc<SiteTemplates>>) -> Result<Article, String> {
        let mut article = Article::from_raw(raw);
        article.input.site_templates = site_templates;
        for stage in &self.stages {
            catch_unwind(AssertUnwindSafe(|| stage.apply(&mut article))).map_err(|panic| {
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
}
