//! Site templates in Postgres: counting each new article's candidate lines per site inside the
//! batch transaction, and the worker's cache of what has been learned (see
//! `stages::clean::templates` for the rule and why it spares sentences that legitimately recur).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{PgPool, Postgres, Row, Transaction};

use super::SinkError;
use super::connection::{LOOKUP_TIMEOUT, on_connection};
use crate::article::{Article, Origin};
use crate::stages::clean::templates::{SiteTemplates, TemplateRule};

/// A line learned as a site's template.
pub type LearnedTemplate = (String, i64);

/// One line's sightings in this batch.
struct BatchCount<'a> {
    line: &'a str,
    sightings: i64,
    first: i64,
    last: i64,
}

/// Counts the candidate lines of the batch's new articles (`inserted`: ids first written by this
/// batch, so a replayed article never counts twice), learns the lines the rule now holds for, and
/// forgets lines unseen for the rule's window. Sites and lines are locked in sorted order, so two
/// workers' batches never wait on each other in a cycle. Returns what was learned.
pub(super) async fn record_sightings(
    tx: &mut Transaction<'_, Postgres>,
    articles: &[&(Article, Origin)],
    inserted: &HashSet<String>,
    rule: &TemplateRule,
) -> Result<Vec<LearnedTemplate>, SinkError> {
    let mut by_site: BTreeMap<&str, Vec<&Article>> = BTreeMap::new();
    for (article, _) in articles.iter().copied().filter(|(a, _)| inserted.contains(&a.id)) {
        if let Some(site) = article.input.site.as_deref() {
            by_site.entry(site).or_default().push(article);
        }
    }
    if by_site.is_empty() {
        return Ok(Vec::new());
    }
    let site_totals = count_site_articles(tx, &by_site).await?;
    let mut counts: BTreeMap<(&str, i64), BatchCount> = BTreeMap::new();
    for (site, site_articles) in &by_site {
        // Number the site's new articles in batch order, continuing its count.
        let first_number = site_totals[*site] - site_articles.len() as i64 + 1;
        for (number, article) in (first_number..).zip(site_articles) {
            for sighting in &article.input.template_sightings {
                counts
                    .entry((site, sighting.key))
                    .and_modify(|c| {
                        c.sightings += 1;
                        c.last = number;
                    })
                    .or_insert(BatchCount { line: &sighting.line, sightings: 1, first: number, last: number });
            }
        }
    }
    let learned = upsert_lines(tx, &counts, rule).await?;
    forget_old_lines(tx, &by_site.keys().copied().collect::<Vec<_>>(), rule).await?;
    Ok(learned)
}

/// Adds the batch's new articles to each site's count; returns the counts after.
async fn count_site_articles(
    tx: &mut Transaction<'_, Postgres>,
    by_site: &BTreeMap<&str, Vec<&Article>>,
) -> Result<HashMap<String, i64>, SinkError> {
    let sites: Vec<&str> = by_site.keys().copied().collect();
    let added: Vec<i64> = by_site.values().map(|a| a.len() as i64).collect();
    let rows = sqlx::query(
        "INSERT INTO sites (site, articles) SELECT * FROM UNNEST($1::text[], $2::bigint[])
         ON CONFLICT (site) DO UPDATE SET articles = sites.articles + EXCLUDED.articles, updated_at = now()
         RETURNING site, articles",
    )
    .bind(&sites)
    .bind(&added)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Adds the sightings and marks the lines the rule now holds for. Only lines past `min_articles`
/// come back to be judged, so the answer stays small.
async fn upsert_lines(
    tx: &mut Transaction<'_, Postgres>,
    counts: &BTreeMap<(&str, i64), BatchCount<'_>>,
    rule: &TemplateRule,
) -> Result<Vec<LearnedTemplate>, SinkError> {
    let sites: Vec<&str> = counts.keys().map(|(site, _)| *site).collect();
    let keys: Vec<i64> = counts.keys().map(|(_, key)| *key).collect();
    let lines: Vec<&str> = counts.values().map(|c| c.line).collect();
    let sightings: Vec<i64> = counts.values().map(|c| c.sightings).collect();
    let firsts: Vec<i64> = counts.values().map(|c| c.first).collect();
    let lasts: Vec<i64> = counts.values().map(|c| c.last).collect();
    let candidates = sqlx::query(
        "WITH counted AS (
             INSERT INTO site_lines (site, line_hash, line, sightings, first_sight, last_sight)
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
             ON CONFLICT (site, line_hash) DO UPDATE SET
                 sightings = site_lines.sightings + EXCLUDED.sightings, last_sight = EXCLUDED.last_sight
             RETURNING site, line_hash, sightings, first_sight, last_sight, is_template)
         SELECT site, line_hash, sightings, first_sight, last_sight FROM counted
         WHERE NOT is_template AND sightings >= $7",
    )
    .bind(&sites)
    .bind(&keys)
    .bind(&lines)
    .bind(&sightings)
    .bind(&firsts)
    .bind(&lasts)
    .bind(i64::from(rule.min_articles))
    .fetch_all(&mut **tx)
    .await?;
    let mut learned: Vec<LearnedTemplate> = candidates
        .into_iter()
        .filter(|row| rule.holds(row.get(2), row.get(3), row.get(4)))
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    if learned.is_empty() {
        return Ok(learned);
    }
    learned.sort();
    let (sites, keys): (Vec<&str>, Vec<i64>) = learned.iter().map(|(s, k)| (s.as_str(), *k)).unzip();
    sqlx::query(
        "UPDATE site_lines SET is_template = true, learned_at = now()
         WHERE (site, line_hash) IN (SELECT * FROM UNNEST($1::text[], $2::bigint[]))",
    )
    .bind(&sites)
    .bind(&keys)
    .execute(&mut **tx)
    .await?;
    Ok(learned)
}

/// Deletes the lines of these sites that `TemplateRule::keeps` no longer: templates unseen in their
/// last `forget_after_articles` articles, other lines unseen in their last `candidate_window`. Rows
/// another batch holds are skipped (they are being seen again, or go next time), so this never waits.
async fn forget_old_lines(
    tx: &mut Transaction<'_, Postgres>,
    sites: &[&str],
    rule: &TemplateRule,
) -> Result<(), SinkError> {
    sqlx::query(
        "DELETE FROM site_lines WHERE (site, line_hash) IN (
             SELECT l.site, l.line_hash FROM site_lines l JOIN sites s ON s.site = l.site
             WHERE l.site = ANY($1) AND l.last_sight <= s.articles - $3
                 AND (NOT l.is_template OR l.last_sight <= s.articles - $2)
             FOR UPDATE OF l SKIP LOCKED)",
    )
    .bind(sites)
    .bind(rule.forget_after_articles)
    .bind(rule.candidate_window())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The templates of one site as Postgres holds them now, or an error after `LOOKUP_TIMEOUT`.
pub async fn load_site_templates(pool: &PgPool, site: &str) -> Result<SiteTemplates, SinkError> {
    let keys: Vec<i64> = on_connection(pool, Some(LOOKUP_TIMEOUT), async |connection| {
        let query = sqlx::query_scalar("SELECT line_hash FROM site_lines WHERE site = $1 AND is_template");
        Ok(query.bind(site).fetch_all(connection).await?)
    })
    .await?;
    Ok(keys.into_iter().collect())
}

/// A worker's copy of the templates of the sites it has seen lately. A site's entry is reloaded once
/// it is `refresh` old, so what other workers learn arrives within that time; what this worker's own
/// batches learn is added at once (`add_learned`). At most `capacity` sites are kept.
pub struct TemplateCache {
    sites: HashMap<String, CachedSite>,
    refresh: Duration,
    capacity: usize,
}

struct CachedSite {
    templates: Arc<SiteTemplates>,
    loaded: Instant,
}

impl TemplateCache {
    pub fn new(refresh: Duration, capacity: usize) -> Self {
        TemplateCache { sites: HashMap::new(), refresh, capacity: capacity.max(1) }
    }

    /// The site's templates, loaded from Postgres when missing or stale. When Postgres does not
    /// answer, the copy held (possibly none) serves: templates are an improvement, never a reason
    /// to stop the stream, and the batch write will wait for Postgres anyway.
    pub async fn get(&mut self, pool: &PgPool, site: &str) -> Option<Arc<SiteTemplates>> {
        let fresh = self.sites.get(site).is_some_and(|cached| cached.loaded.elapsed() < self.refresh);
        if !fresh {
            match load_site_templates(pool, site).await {
                Ok(templates) => self.insert(site, templates),
                Err(error) => tracing::warn!(site, %error, "site templates not loaded; using the copy held"),
            }
        }
        self.sites.get(site).map(|cached| cached.templates.clone()).filter(|t| !t.is_empty())
    }

    /// How many sites' templates are held.
    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    pub fn add_learned(&mut self, learned: &[LearnedTemplate]) {
        for (site, key) in learned {
            if let Some(cached) = self.sites.get_mut(site) {
                Arc::make_mut(&mut cached.templates).insert(*key);
            }
        }
    }

    fn insert(&mut self, site: &str, templates: SiteTemplates) {
        if self.sites.len() >= self.capacity && !self.sites.contains_key(site) {
            // Make room by dropping the stalest half: cheap, and a dropped site is only reloaded.
            let mut ages: Vec<Instant> = self.sites.values().map(|c| c.loaded).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            self.sites.retain(|_, cached| cached.loaded > cutoff);
        }
        self.sites.insert(site.to_owned(), CachedSite { templates: Arc::new(templates), loaded: Instant::now() });
    }
}
