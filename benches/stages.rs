//! Criterion benches for the stages, each a pure step, measured without Kafka or Postgres.
//!
//! Inputs when measuring (`cargo bench --bench stages`): the pages of ../shared/corpus/wcxb-dev when
//! present (crawler text and HTML), else the repo's sample articles; plus one synthetic 5 MB crawler
//! page for the worst case. `make test` runs them once each in test mode, on the sample articles and a
//! 200 KB page, so they keep compiling and working without taking minutes in a debug build.

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

use article_ingest::article::{Article, Content, RawArticle};
use article_ingest::stages::Stage;
use article_ingest::stages::clean::Cleaner;
use article_ingest::stages::dedup::ContentHasher;
use article_ingest::stages::dedup::near::{MemoryNearIndex, signature};
use article_ingest::stages::dedup::stories::{StoryCandidates, StoryRule, TermVector, story_vector};
use article_ingest::stages::metadata::MetadataExtractor;
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

/// The binary's allocator (src/main.rs), so the stages are measured as they run in the worker.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/wcxb-dev");
    dir.is_dir().then_some(dir)
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/articles")
}

fn read_files(dir: &Path, extension: &str) -> Vec<String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(extension))
        .map(|p| {
            let mut bytes = Vec::new();
            let mut file = std::fs::File::open(&p).expect("readable input");
            if extension.ends_with(".gz") {
                flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).expect("gzip input");
            } else {
                file.read_to_end(&mut bytes).expect("readable input");
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .filter(|page| !page.trim().is_empty())
        .collect()
}

/// Criterion measures when cargo passes `--bench`; under `cargo test` it runs each bench once.
fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// Crawler-text pages and HTML pages to measure on.
fn pages() -> (Vec<String>, Vec<String>) {
    match corpus_dir().filter(|_| measuring()) {
        Some(dir) => (read_files(&dir.join("text"), ".txt"), read_files(&dir.join("html"), ".html.gz")),
        None => (read_files(&fixtures_dir(), ".txt"), read_files(&fixtures_dir(), ".html")),
    }
}

fn article(content: Content) -> Article {
    Article::from_raw(RawArticle::new("bench", content))
}

/// A 5 MB crawler page (200 KB in test mode): the text pages' lines, each with a counter so no line
/// is a page-wide repeat.
fn large_page(text_pages: &[String]) -> String {
    let size = if measuring() { 5 << 20 } else { 200 << 10 };
    let mut page = String::with_capacity(size + 1024);
    let lines = text_pages.iter().flat_map(|p| p.lines()).collect::<Vec<_>>();
    for (i, line) in lines.iter().cycle().enumerate() {
        if page.len() >= size {
            break;
        }
        page.push_str(line);
        page.push_str(&format!(" {i}\n"));
    }
    page
}

/// A 5 MB HTML page (200 KB in test mode): the HTML pages' bodies one after another in one document.
fn large_html_page(html_pages: &[String]) -> String {
    let size = if measuring() { 5 << 20 } else { 200 << 10 };
    let mut page = String::from("<!doctype html><html><body>");
    for html in html_pages.iter().cycle() {
        if page.len() >= size {
            break;
        }
        page.push_str("<div>");
        page.push_str(html);
        page.push_str("</div>");
    }
    page.push_str("</body></html>");
    page
}

/// The cleaner over one page, as the pipeline runs it.
fn clean(content: Content) -> Article {
    let mut a = article(content);
    Cleaner.apply(&mut a);
    a
}

/// Benches the cleaner over `pages`, each wrapped by `content`, with their bytes as throughput.
fn bench_pages(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: String,
    pages: &[String],
    content: fn(String) -> Content,
) {
    group.throughput(Throughput::Bytes(pages.iter().map(|p| p.len() as u64).sum()));
    group.bench_function(name, |b| {
        b.iter(|| {
            for page in pages {
                black_box(clean(content(page.clone())).body);
            }
        })
    });
}

fn bench_clean(c: &mut Criterion) {
    let (text_pages, html_pages) = pages();
    let mut group = c.benchmark_group("clean");
    group.sample_size(10);
    bench_pages(&mut group, format!("text/{}_pages", text_pages.len()), &text_pages, Content::Text);
    bench_pages(&mut group, format!("html/{}_pages", html_pages.len()), &html_pages, Content::Html);
    let large = large_page(&text_pages);
    bench_pages(
        &mut group,
        format!("text/one_{}KB_page", large.len() >> 10),
        std::slice::from_ref(&large),
        Content::Text,
    );
    // The slowest real page is more telling than a synthetic one: the largest of the corpus.
    if let Some(largest) = html_pages.iter().max_by_key(|p| p.len()) {
        bench_pages(
            &mut group,
            format!("html/largest_page_{}KB", largest.len() >> 10),
            std::slice::from_ref(largest),
            Content::Html,
        );
    }
    let large_html = large_html_page(&html_pages);
    bench_pages(
        &mut group,
        format!("html/one_{}KB_page", large_html.len() >> 10),
        std::slice::from_ref(&large_html),
        Content::Html,
    );
    group.finish();
}

/// The crawler-text pages after the cleaner: the input of the stages that follow it.
fn cleaned_text_pages() -> Vec<Article> {
    let (text_pages, _) = pages();
    text_pages.iter().map(|page| clean(Content::Text(page.clone()))).collect()
}

fn bench_dedup_and_metadata(c: &mut Criterion) {
    let cleaned = cleaned_text_pages();
    let bytes: usize = cleaned.iter().map(|a| a.body.len()).sum();
    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(format!("dedup_hash/{}_articles", cleaned.len()), |b| {
        b.iter(|| {
            for a in &cleaned {
                let mut a = a.clone();
                ContentHasher::default().apply(&mut a);
                black_box(&a.content_hash);
            }
        })
    });
    // Near-duplicates in memory: signature, band lookup, verification, per article (the article
    // value itself is not cloned, only a bare one carrying the id).
    let bare: Vec<Article> = (0..cleaned.len())
        .map(|i| Article::from_raw(RawArticle::new(format!("article-{i}"), Content::Text(String::new()))))
        .collect();
    group.throughput(Throughput::Elements(cleaned.len() as u64));
    group.bench_function(format!("dedup_near/{}_articles", cleaned.len()), |b| {
        b.iter(|| {
            let mut index = MemoryNearIndex::default();
            for (a, body) in bare.iter().zip(cleaned.iter().map(|c| &c.body)) {
                let mut a = a.clone();
                a.input.signature = signature(body);
                black_box(index.link(&mut a));
            }
        })
    });
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(format!("metadata/{}_articles", cleaned.len()), |b| {
        // The copies are made and dropped outside the timed part: the worker moves its article
        // through the stages, it never copies one.
        b.iter_batched(
            || cleaned.clone(),
            |mut articles| {
                for a in &mut articles {
                    MetadataExtractor.apply(a);
                    black_box(&a.language);
                }
                articles
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Story assignment as the corpus grows: articles made of sentences drawn at random from every
/// cleaned body (as `make bench` generates them: each is its own, and all share one vocabulary, the
/// hard case for a term index), three seconds apart, so every story stays inside the window.
fn bench_stories(c: &mut Criterion) {
    let sentences: Vec<String> = cleaned_text_pages()
        .iter()
        .flat_map(|article| article.body.split_inclusive(". ").map(str::to_owned))
        .filter(|sentence| sentence.split_whitespace().count() >= 5)
        .collect();
    let count = if measuring() { 20_000 } else { 200 };
    let mut rng = fastrand::Rng::with_seed(2016);
    let vectors: Vec<TermVector> = (0..count)
        .map(|_| {
            let body: String = (0..24).map(|_| sentences[rng.usize(..sentences.len())].as_str()).collect();
            story_vector(None, &body)
        })
        .collect();
    let start = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(17_000);
    let rule = StoryRule::default();
    let mut group = c.benchmark_group("stages");
    group.sample_size(10);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function(format!("stories/{count}_articles"), |b| {
        b.iter(|| {
            let mut stories = StoryCandidates::new(rule, []);
            for (i, vector) in vectors.iter().enumerate() {
                let at = start + chrono::Duration::seconds(3 * i as i64);
                black_box(stories.assign(&format!("a{i}"), vector, at, i as i64, None));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench_clean, bench_dedup_and_metadata, bench_stories);
criterion_main!(benches);
