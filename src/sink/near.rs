//! Near-duplicate linking inside the batch's link transaction: band claims in `lsh_bands`, the signatures
//! and arrival order of the holders from `article_signatures`, then the pure linker
//! (`stages::dedup::near::link_near_copies`).

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// Claims the batch's bands (first article in batch order, sorted by band so two workers never wait
/// on each other in a cycle), reads the holders, and links near copies (`duplicate_of`, `duplicate_kind`).
pub(super) async fn link_near(
    tx: &mut Transaction<'_, Postgres>,
    articles: &mut [(Article, Origin)],
    rule: &NearRule,
) -> Result<(), SinkError> {
    if articles.iter().all(|(a, _)| a.input.signature.is_none()) {
        return Ok(());
    }
    let mut claims: BTreeMap<i64, &str> = BTreeMap::new();
    for (article, _) in articles.iter().filter(|(a, _)| takes_part(a)) {
        for band in article.input.signature.as_ref().map(Signature::bands).unwrap_or_default() {
            claims.entry(band).or_insert(article.id.as_str());
        }
    }
    let holders = if claims.is_empty() { HashMap::new() } else { claim_bands(tx, claims).await? };
    let mut described: HashSet<&str> = holders.values().map(String::as_str).collect();
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
    link_near_copies(&mut pending, &|band| holders.get(&band).map(String::as_str), &indexed, rule);
    Ok(())
}

/// Returns each band's holder, claiming for the batch (band → its first article with it) the bands
/// nobody holds yet. The holders are read first: most of an article's bands (two in three in
/// `make bench`) are held already, and an insert tried for them only to find each taken costs
/// Postgres an index probe apiece on top of the read that follows. Only the unheld bands are
/// inserted, still in band order; a band another worker claimed meanwhile is not returned by the
/// insert and is read again in a statement of its own, which under READ COMMITTED sees that claim
/// once the insert has waited for its commit.
async fn claim_bands(
    tx: &mut Transaction<'_, Postgres>,
    claims: BTreeMap<i64, &str>,
) -> Result<HashMap<i64, String>, SinkError> {
    let bands: Vec<i64> = claims.keys().copied().collect();
    let mut holders = read_holders(tx, &bands).await?;
    let (unheld, ids): (Vec<i64>, Vec<&str>) =
        claims.iter().filter(|(band, _)| !holders.contains_key(*band)).map(|(band, id)| (*band, *id)).unzip();
    if unheld.is_empty() {
        return Ok(holders);
    }
    let claimed: HashSet<i64> = sqlx::query_scalar(
        "INSERT INTO lsh_bands (band, article_id) SELECT * FROM UNNEST($1::bigint[], $2::text[])
         ON CONFLICT DO NOTHING RETURNING band",
    )
    .bind(&unheld)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let raced: Vec<i64> = unheld.iter().copied().filter(|band| !claimed.contains(band)).collect();
    holders.extend(claimed.into_iter().map(|band| (band, claims[&band].to_owned())));
    if !raced.is_empty() {
        holders.extend(read_holders(tx, &raced).await?);
    }
    Ok(holders)
}

async fn read_holders(tx: &mut Transaction<'_, Postgres>, bands: &[i64]) -> Result<HashMap<i64, String>, SinkError> {
    let rows = sqlx::query("SELECT band, article_id FROM lsh_bands WHERE band = ANY($1)")
        .bind(bands)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
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
