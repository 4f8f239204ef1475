//! Near-duplicate linking inside the batch's link transaction: band claims in `lsh_bands`, the signatures
//! and arrival order of the holders from `article_signatures`, then the pure linker
//! (`stages::dedup::near::link_near_copies`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use sqlx::{Postgres, Row, Transaction};

use super::SinkError;
use crate::article::{Article, DuplicateKind, Origin};
use crate::stages::dedup::is_dedup_candidate;
use crate::stages::dedup::near::{Indexed, NearRule, Pending, Signature, link_near_copies};

/// New articles come after everything stored, in batch order.
const NEW_ARTICLES: i64 = i64::MAX / 2;

fn takes_part(article: &Article) -> bool {
    is_dedup_candidate(article)
        && article.input.signature.is_some()
        && article.duplicate_kind != Some(DuplicateKind::Exact)
}

/// Band holders this process has seen committed, so a band met again is not looked up again. A
/// band's holder never changes once committed (claims are only ever inserted, never updated or
/// deleted), so a remembered holder is the one Postgres would return. In `make bench` a near copy
/// finds most of its 64 bands held by the article it copies, a few batches earlier.
///
/// Bounded: two generations of `GENERATION` bands each; when the newer fills, the older is
/// dropped, so bands met recently stay and memory stays flat (about 30 MB at most).
#[derive(Debug, Clone, Default)]
pub(super) struct HeldBands(Arc<Mutex<Generations>>);

#[derive(Debug, Default)]
struct Generations {
    newer: HashMap<i64, Arc<str>>,
    older: HashMap<i64, Arc<str>>,
}

/// Holders learned by a batch's link transaction: remembered once it commits (`HeldBands::remember`).
pub(super) type LearnedHolders = Vec<(i64, Arc<str>)>;

impl HeldBands {
    /// Fits a table of 2¹⁹ buckets (hashbrown fills 7 in 8): 13 MB a generation.
    const GENERATION: usize = 450_000;

    /// Splits the claims into the bands whose holder is remembered, with that holder, and the rest.
    fn split<'a>(&self, claims: BTreeMap<i64, &'a str>) -> (HashMap<i64, Arc<str>>, BTreeMap<i64, &'a str>) {
        let generations = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut known = HashMap::new();
        let mut rest = BTreeMap::new();
        for (band, id) in claims {
            if let Some(holder) = generations.newer.get(&band).or_else(|| generations.older.get(&band)) {
                known.insert(band, holder.clone());
            } else {
                rest.insert(band, id);
            }
        }
        (known, rest)
    }

    /// Remembers holders read or claimed by a transaction that has committed.
    pub(super) fn remember(&self, learned: LearnedHolders) {
        let mut generations = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (band, holder) in learned {
            if generations.newer.len() >= Self::GENERATION {
                generations.older = std::mem::take(&mut generations.newer);
            }
            generations.newer.insert(band, holder);
        }
    }
}

/// Claims the batch's bands (first article in batch order, sorted by band so two workers never wait
/// on each other in a cycle), reads the holders, and links near copies (`duplicate_of`,
/// `duplicate_kind`). Bands `held` remembers are not looked up; the holders found in Postgres are
/// returned, for `held` to remember once this transaction commits.
pub(super) async fn link_near(
    tx: &mut Transaction<'_, Postgres>,
    articles: &mut [(Article, Origin)],
    rule: &NearRule,
    held: &HeldBands,
) -> Result<LearnedHolders, SinkError> {
    if articles.iter().all(|(a, _)| a.input.signature.is_none()) {
        return Ok(Vec::new());
    }
    let mut claims: BTreeMap<i64, &str> = BTreeMap::new();
    for (article, _) in articles.iter().filter(|(a, _)| takes_part(a)) {
        for band in article.input.signature.as_ref().map(Signature::bands).unwrap_or_default() {
            claims.entry(band).or_insert(article.id.as_str());
        }
    }
    let (mut holders, claims) = held.split(claims);
    let learned = if claims.is_empty() { Vec::new() } else { claim_bands(tx, claims).await? };
    holders.extend(learned.iter().cloned());
    let mut described: HashSet<&str> = holders.values().map(|holder| &**holder).collect();
    described.extend(articles.iter().map(|(a, _)| a.id.as_str()));
    described.extend(articles.iter().filter_map(|(a, _)| a.duplicate_of.as_deref()));
    let indexed = stored_signatures(tx, &described.into_iter().collect::<Vec<_>>()).await?;

    let mut pending: Vec<Pending> = articles
        .iter_mut()
        .enumerate()
        .map(|(i, (article, _))| Pending {
            order: indexed.get(&article.id).map_or(NEW_ARTICLES + i as i64, |known| known.order),
            article,
        })
        .collect();
    link_near_copies(&mut pending, &|band| holders.get(&band).map(|holder| &**holder), &indexed, rule);
    Ok(learned)
}

/// Claims for the batch (band → its first article with it) the bands `held` did not know, and
/// returns their holders. The insert comes first: the bands a worker has not met are nearly all
/// unheld (in a 30,000-article `make bench` a read of them first found none of the 621,869 held),
/// so a read first would only add a probe apiece. The insert keeps band order, so two workers never
/// wait on each other in a cycle; the bands it did not claim (held by an article this worker has
/// not met, or claimed by another worker meanwhile) are read in a statement of their own, which
/// under READ COMMITTED sees a claim the insert waited on once it has committed.
async fn claim_bands(
    tx: &mut Transaction<'_, Postgres>,
    claims: BTreeMap<i64, &str>,
) -> Result<LearnedHolders, SinkError> {
    let (bands, ids): (Vec<i64>, Vec<&str>) = claims.iter().map(|(band, id)| (*band, *id)).unzip();
    let claimed: HashSet<i64> = sqlx::query_scalar(
        "INSERT INTO lsh_bands (band, article_id) SELECT * FROM UNNEST($1::bigint[], $2::text[])
         ON CONFLICT DO NOTHING RETURNING band",
    )
    .bind(&bands)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let held_before: Vec<i64> = bands.iter().copied().filter(|band| !claimed.contains(band)).collect();
    let mut own_ids = SharedIds::default();
    let mut holders: LearnedHolders = claimed.into_iter().map(|band| (band, own_ids.of(claims[&band]))).collect();
    if !held_before.is_empty() {
        holders.extend(read_holders(tx, &held_before).await?);
    }
    Ok(holders)
}

async fn read_holders(tx: &mut Transaction<'_, Postgres>, bands: &[i64]) -> Result<LearnedHolders, SinkError> {
    let rows = sqlx::query("SELECT band, article_id FROM lsh_bands WHERE band = ANY($1)")
        .bind(bands)
        .fetch_all(&mut **tx)
        .await?;
    let mut ids = SharedIds::default();
    Ok(rows.iter().map(|row| (row.get(0), ids.of(row.get(1)))).collect())
}

/// One `Arc<str>` per article id, shared by all the bands it holds (up to 64), rather than a
/// string each.
#[derive(Default)]
struct SharedIds<'a>(HashMap<&'a str, Arc<str>>);

impl<'a> SharedIds<'a> {
    fn of(&mut self, id: &'a str) -> Arc<str> {
        self.0.entry(id).or_insert_with(|| Arc::from(id)).clone()
    }
}

/// Signatures, arrival order and canonical article of the given stored articles.
async fn stored_signatures(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[&str],
) -> Result<HashMap<String, Indexed>, SinkError> {
    let rows = sqlx::query(
        "SELECT article_id, seq, minhash, shingles, COALESCE(canonical_id, article_id)
         FROM article_signatures WHERE article_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let signature = Signature::from_stored(row.get::<&[u8], _>(2), row.get(3))?;
            Some((row.get(0), Indexed { signature, order: row.get(1), canonical: row.get(4) }))
        })
        .collect())
}

/// Stores the written articles' signatures with their canonical articles. New ones are numbered
/// (`seq`) in arrival order; a rewrite keeps its number. `batch` gives the arrival order.
pub(super) async fn store_signatures(
    tx: &mut Transaction<'_, Postgres>,
    written: &[&(Article, Origin)],
    batch: &[(Article, Origin)],
) -> Result<(), SinkError> {
    let mut arrival: HashMap<&str, usize> = HashMap::new();
    for (i, (article, _)) in batch.iter().enumerate() {
        arrival.entry(article.id.as_str()).or_insert(i);
    }
    let mut with_signature: Vec<(&Article, &Signature)> =
        written.iter().filter_map(|(a, _)| a.input.signature.as_ref().map(|s| (a, s))).collect();
    with_signature.sort_by_key(|(a, _)| arrival.get(a.id.as_str()).copied().unwrap_or(usize::MAX));
    if with_signature.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = with_signature.iter().map(|(a, _)| a.id.as_str()).collect();
    let minhashes: Vec<Vec<u8>> = with_signature.iter().map(|(_, s)| s.minhash_bytes()).collect();
    let shingles: Vec<i32> =
        with_signature.iter().map(|(_, s)| i32::try_from(s.shingles).unwrap_or(i32::MAX)).collect();
    let canonical: Vec<Option<&str>> = with_signature.iter().map(|(a, _)| a.duplicate_of.as_deref()).collect();
    sqlx::query(
        "INSERT INTO article_signatures (article_id, minhash, shingles, canonical_id)
         SELECT id, minhash, shingles, canonical FROM UNNEST($1::text[], $2::bytea[], $3::int[], $4::text[])
             WITH ORDINALITY AS u(id, minhash, shingles, canonical, arrival)
         ORDER BY arrival
         ON CONFLICT (article_id) DO UPDATE SET minhash = EXCLUDED.minhash, shingles = EXCLUDED.shingles,
             canonical_id = EXCLUDED.canonical_id, updated_at = now()",
    )
    .bind(&ids)
    .bind(&minhashes)
    .bind(&shingles)
    .bind(&canonical)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_of(bands: impl IntoIterator<Item = i64>) -> BTreeMap<i64, &'static str> {
        bands.into_iter().map(|band| (band, "new")).collect()
    }

    #[test]
    fn remembered_holders_answer_their_bands_and_the_rest_are_left_to_claim() {
        let held = HeldBands::default();
        held.remember(vec![(1, Arc::from("a")), (2, Arc::from("b"))]);
        let (known, rest) = held.split(claims_of([1, 2, 3]));
        assert_eq!(known.get(&1).map(|h| &**h), Some("a"));
        assert_eq!(known.get(&2).map(|h| &**h), Some("b"));
        assert_eq!(rest, claims_of([3]));
    }

    #[test]
    fn a_holder_is_forgotten_only_after_two_generations_of_newer_bands() {
        let held = HeldBands::default();
        let first = Arc::from("first");
        held.remember(vec![(-1, first)]);
        let fill = |from: i64| (from..from + HeldBands::GENERATION as i64).map(|band| (band, Arc::from("x"))).collect();
        held.remember(fill(0));
        assert_eq!(held.split(claims_of([-1])).0.len(), 1, "one generation later it is still known");
        held.remember(fill(HeldBands::GENERATION as i64));
        assert_eq!(held.split(claims_of([-1])).0.len(), 0, "two generations later it is gone");
        let generations = held.0.lock().unwrap();
        assert!(generations.newer.len() + generations.older.len() <= 2 * HeldBands::GENERATION);
    }
}
