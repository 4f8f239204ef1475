use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::ProcessArgs;
use crate::input::files::{expand_paths, read_messages};
use crate::settings::Settings;
use crate::stages::Pipeline;
use crate::stages::clean::templates::MemoryTemplates;
use crate::stages::dedup::near::MemoryNearIndex;
use crate::stages::dedup::stories::MemoryStoryIndex;
use crate::stages::dedup::{MemoryExactIndex, link_exact_copies};
use crate::worker::{Outcome, process_message};

/// The same stages as the worker, with dedup state and site templates learned in memory; articles
/// as JSON lines on stdout, dead letters as one line each on stderr.
pub fn process(settings: &Settings, args: &ProcessArgs) -> anyhow::Result<()> {
    let paths = if args.paths.is_empty() { vec![PathBuf::from("-")] } else { args.paths.clone() };
    let files = expand_paths(&paths)?;
    let pipeline = Pipeline::default();
    let mut index = MemoryExactIndex::default();
    let mut near_index = MemoryNearIndex::new(settings.dedup.near);
    let mut story_index = MemoryStoryIndex::new(settings.dedup.stories);
    let mut templates = settings.templates.enabled.then(|| MemoryTemplates::new(settings.templates.rule));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let (mut articles, mut dead) = (0usize, 0usize);
    for (index_in_input, message) in read_messages(files).enumerate() {
        let message = message.context("reading input")?;
        let fallback_id = || format!("input-{}", index_in_input + 1);
        match process_message(
            &pipeline,
            &message.payload,
            message.key.as_deref(),
            fallback_id,
            settings.worker.max_message_bytes,
            |site| templates.as_ref().and_then(|t| t.templates(site)),
        ) {
            Outcome::Article(mut article) => {
                if let (Some(templates), Some(site)) = (&mut templates, article.input.site.as_deref()) {
                    templates.record(site, &article.input.template_sightings);
                }
                link_exact_copies(std::iter::once(article.as_mut()), &mut index);
                near_index.link(&mut article);
                story_index.assign(&mut article);
                serde_json::to_writer(&mut out, &article)?;
                out.write_all(b"\n")?;
                articles += 1;
            }
            Outcome::Dead(reason) => {
                eprintln!("dead letter {}: {reason}", message.location);
                dead += 1;
            }
        }
    }
    out.flush()?;
    tracing::info!(articles, dead_letters = dead, "processed");
    Ok(())
}
