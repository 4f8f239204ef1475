//! `replay`: a bounded range of a topic through the stages into Postgres, beside the live worker.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

use crate::cli::ReplayArgs;
use crate::input::replay::{ReplayCounters, ReplayReader};
use crate::settings::Settings;
use crate::worker::{self, RunSummary, StopWhen};

/// How often progress is logged when stderr is not a terminal.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(10);

pub async fn replay(settings: &Settings, args: &ReplayArgs) -> anyhow::Result<()> {
    let topic = match &args.topic {
        Some(topic) => topic.clone(),
        None => settings.kafka.topics.first().context("no --topic and kafka.topics is empty")?.clone(),
    };
    let planning = (settings.kafka.clone(), topic.clone(), args.from.clone(), args.to);
    let reader = tokio::task::spawn_blocking(move || {
        let (kafka, topic, from, to) = planning;
        ReplayReader::plan(&kafka, &topic, &from, to)
    })
    .await??;
    let spans = reader.plan.messages();
    let ranges: Vec<String> =
        reader.plan.partitions.iter().map(|r| format!("{}:{}..{}", r.partition, r.start, r.end)).collect();
    info!(%topic, ranges = ?ranges, messages = spans, dry_run = args.dry_run, "replaying");

    let mut sink = super::sink(settings).await?.reporting_changes();
    if args.dry_run {
        sink = sink.rolling_back();
    } else if settings.database.migrate_on_start && !args.no_migrate {
        sink.migrate().await.context("applying migrations")?;
    }
    let counters = Arc::new(ReplayCounters::default());
    let progress = ReplayProgress::new(spans, counters.clone());
    let started = Instant::now();
    let stop = StopWhen { shutdown: super::cancel_on_signal(), idle_for: None };
    let summary = worker::replay(settings, sink, reader, counters.clone(), stop, progress.callback()).await?;
    progress.finish();
    print_summary(&topic, &summary, &counters, started.elapsed(), args.dry_run);
    Ok(())
}

/// A progress bar with rate and ETA on a terminal; a structured log line every few seconds otherwise.
struct ReplayProgress {
    bar: Option<ProgressBar>,
    spans: u64,
    counters: Arc<ReplayCounters>,
}

impl ReplayProgress {
    fn new(spans: u64, counters: Arc<ReplayCounters>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(spans);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} messages, {per_sec}, ETA {eta}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ReplayProgress { bar, spans, counters }
    }

    /// Called after each stored batch.
    fn callback(&self) -> worker::Progress {
        let (bar, spans, counters) = (self.bar.clone(), self.spans, self.counters.clone());
        let started = Instant::now();
        let mut last_log = Instant::now();
        Box::new(move |summary: &RunSummary| {
            let done = handled(summary, &counters);
            match &bar {
                Some(bar) => bar.set_position(done),
                None if last_log.elapsed() >= PROGRESS_LOG_EVERY => {
                    last_log = Instant::now();
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    let eta_secs = (spans.saturating_sub(done) as f64 / rate.max(1e-9)).round() as u64;
                    info!(done, of = spans, per_sec = rate.round() as u64, eta_secs, "replay progress");
                }
                None => {}
            }
        })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Messages the replay is done with: stored (as rows or dead letters) or skipped by time.
fn handled(summary: &RunSummary, counters: &ReplayCounters) -> u64 {
    summary.inserted
        + summary.updated
        + summary.unchanged
        + summary.dead_letters
        + counters.skipped.load(Ordering::Relaxed)
}

fn print_summary(topic: &str, summary: &RunSummary, counters: &ReplayCounters, took: Duration, dry_run: bool) {
    let read = counters.read.load(Ordering::Relaxed);
    let skipped = counters.skipped.load(Ordering::Relaxed);
    let seconds = took.as_secs_f64();
    let changed: Vec<String> = summary.changed_columns.iter().map(|(c, n)| format!("{c} {n}")).collect();
    info!(
        topic,
        read,
        skipped,
        inserted = summary.inserted,
        updated = summary.updated,
        unchanged = summary.unchanged,
        dead_letters = summary.dead_letters,
        seconds,
        dry_run,
        "replay done"
    );
    let verb = if dry_run { "would be" } else { "were" };
    println!("replay of {topic}{}", if dry_run { " (dry run: nothing was stored)" } else { "" });
    println!("  read          {read:>10}  in {seconds:.1} s ({:.0} messages/s)", read as f64 / seconds.max(1e-9));
    println!("  skipped       {skipped:>10}  outside the time range");
    println!("  inserted      {:>10}  new rows {verb} added", summary.inserted);
    println!("  updated       {:>10}  rows {verb} changed in place", summary.updated);
    println!("  unchanged     {:>10}  rows already as the stages make them", summary.unchanged);
    println!("  dead letters  {:>10}", summary.dead_letters);
    if !changed.is_empty() {
        println!("  changed columns: {}", changed.join(", "));
    }
}
