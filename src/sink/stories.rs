//! Story clustering inside the batch transaction: the candidate stories (sharing a term, active in
//! the window) from `stories` and `story_terms`, the pure `StoryCandidates::assign`, and the updated stories
//! written back. Assignment runs under one transaction-scoped advisory lock, so batches of several
//! workers cluster one after another and see each other's stories, as a single worker would.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};

use super::SinkError;
use crate::article::{Article, Origin};
use crate::stages::dedup::stories::{Story, StoryCandidates, StoryRule, TermVector, article_time};

/// The advisory lock key of story assignment ("stories" in ASCII).
const STORIES_LOCK: i64 = 0x73_74_6f_72_69_65_73;
/// What `candidate_stories` reads of a story, in `Story`'s order.
const STORY_COLUMNS: &str = "SELECT story_id, seq, centroid, articles, first_seen, last_seen FROM stories";
/// New stories come after every stored one, in batch order.
const NEW_STORIES: i64 = i64::MAX / 2;

/// Gives each article of the batch its story; returns how many stories were opened.
pub(super) async fn assign_stories(
    tx: &mut Transaction<'_, Postgres>,
    articles: &mut [(Article, Origin)],
    rule: &StoryRule,
) -> Result<usize, SinkError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(STORIES_LOCK).execute(&mut **tx).await?;
    let mut known_ids: Vec<&str> = articles.iter().map(|(a, _)| a.id.as_str()).collect();
    known_ids.extend(articles.iter().filter_map(|(a, _)| a.duplicate_of.as_deref()));
    let mut story_of: HashMap<String, String> =
        sqlx::query("SELECT id, story_id FROM articles WHERE id = ANY($1) AND story_id IS NOT NULL")
            .bind(&known_ids)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
    let mut candidates = StoryCandidates::new(*rule, candidate_stories(tx, articles, &story_of, rule).await?);
    let mut changed = BTreeSet::new();
    let mut opened = 0;
    for (i, (article, _)) in articles.iter_mut().enumerate() {
        if let Some(story) = story_of.get(&article.id) {
            // A replay keeps its story, and its terms are already in the centroid.
            article.story_id = Some(story.clone());
            continue;
        }
        let copy_story = article.duplicate_of.as_ref().and_then(|c| story_of.get(c)).cloned();
        if article.input.story_terms.is_empty() && copy_story.is_none() {
            continue;
        }
        let before = candidates.len();
        let story = candidates.assign(
            &article.id,
            &article.input.story_terms,
            article_time(article),
            NEW_STORIES + i as i64,
            copy_story.as_deref(),
        );
        opened += usize::from(candidates.len() > before);
        changed.insert(story.clone());
        story_of.insert(article.id.clone(), story.clone());
        article.story_id = Some(story);
    }
    let changed: Vec<&Story> = changed.iter().filter_map(|id| candidates.get(id)).collect();
    store_stories(tx, &changed).await?;
    Ok(opened)
}

/// Stories sharing one of an article's probe terms (`TermVector::probe_keys`: enough to find every
/// story it could join) and active within the window of the batch's times, and the stories of the
/// batch's copies' canonical articles.
async fn candidate_stories(
    tx: &mut Transaction<'_, Postgres>,
    articles: &[(Article, Origin)],
    story_of: &HashMap<String, String>,
    rule: &StoryRule,
) -> Result<Vec<Story>, SinkError> {
    let terms: BTreeSet<i64> =
        articles.iter().flat_map(|(a, _)| a.input.story_terms.probe_keys(rule.min_similarity)).collect();
    let terms: Vec<i64> = terms.into_iter().collect();
    let copy_stories: Vec<&str> = articles
        .iter()
        .filter_map(|(a, _)| a.duplicate_of.as_ref().and_then(|c| story_of.get(c)).map(String::as_str))
        .collect();
    let times: Vec<DateTime<Utc>> = articles.iter().map(|(a, _)| article_time(a)).collect();
    let window = chrono::Duration::days(rule.window_days);
    let from = times.iter().min().copied().unwrap_or_else(Utc::now) - window;
    let to = times.iter().max().copied().unwrap_or_else(Utc::now) + window;
    // Two queries, not one with `OR`: an `IN (subquery)` under `OR` cannot become a semi-join, and
    // once story_terms grew the planner ran the subquery once per story. On `make bench`'s database
    // (5,465 stories) EXPLAIN ANALYZE showed 67 s for that plan; batches took 33–49 s instead of 5.
    let mut rows = sqlx::query(&format!("{STORY_COLUMNS} WHERE story_id = ANY($1)"))
        .bind(&copy_stories)
        .fetch_all(&mut **tx)
        .await?;
    rows.extend(
        sqlx::query(&format!(
            "{STORY_COLUMNS} WHERE story_id IN (SELECT story_id FROM story_terms WHERE term = ANY($1))
             AND last_seen >= $2 AND first_seen <= $3"
        ))
        .bind(&terms)
        .bind(from)
        .bind(to)
        .fetch_all(&mut **tx)
        .await?,
    );
    // A story found by both queries is listed twice; `StoryCandidates::new` keeps it once.
    Ok(rows
        .into_iter()
        .map(|row| Story {
            id: row.get(0),
            order: row.get(1),
            centroid: TermVector::from_bytes(row.get::<&[u8], _>(2)),
            articles: row.get(3),
            first_seen: row.get(4),
            last_seen: row.get(5),
        })
        .collect())
}

async fn store_stories(tx: &mut Transaction<'_, Postgres>, stories: &[&Story]) -> Result<(), SinkError> {
    if stories.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = stories.iter().map(|s| s.id.as_str()).collect();
    let centroids: Vec<Vec<u8>> = stories.iter().map(|s| s.centroid.to_bytes()).collect();
    let sizes: Vec<i64> = stories.iter().map(|s| s.articles).collect();
    let firsts: Vec<DateTime<Utc>> = stories.iter().map(|s| s.first_seen).collect();
    let lasts: Vec<DateTime<Utc>> = stories.iter().map(|s| s.last_seen).collect();
    sqlx::query(
        "INSERT INTO stories (story_id, centroid, articles, first_seen, last_seen)
         SELECT * FROM UNNEST($1::text[], $2::bytea[], $3::bigint[], $4::timestamptz[], $5::timestamptz[])
         ON CONFLICT (story_id) DO UPDATE SET centroid = EXCLUDED.centroid, articles = EXCLUDED.articles,
             first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, updated_at = now()",
    )
    .bind(&ids)
    .bind(&centroids)
    .bind(&sizes)
    .bind(&firsts)
    .bind(&lasts)
    .execute(&mut **tx)
    .await?;
    let (terms, owners): (Vec<i64>, Vec<&str>) =
        stories.iter().flat_map(|s| s.centroid.keys().into_iter().map(|k| (k, s.id.as_str()))).unzip();
    sqlx::query(
        "INSERT INTO story_terms (term, story_id) SELECT * FROM UNNEST($1::bigint[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&terms)
    .bind(&owners)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
