-- Near-duplicates (src/stages/dedup/near.rs, src/sink/near.rs).

-- Each article's MinHash signature (128 × 4 bytes) and shingle count; `seq` is its place in arrival
-- order, kept on rewrites, so a replay is never a copy of a later article.
CREATE TABLE article_signatures (
    article_id  text PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    minhash     bytea NOT NULL,
    shingles    integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- LSH bands: for each band key, the first article that had it. Claimed inside each batch's
-- transaction; a second worker claiming the same band waits for the first to commit and then sees
-- its holder, so near-copies arriving at once on two workers are still linked.
CREATE TABLE lsh_bands (
    band        bigint PRIMARY KEY,
    article_id  text NOT NULL
);

-- Each copy set: the canonical article, its copies (exact and near) in arrival order, the outlets
-- that carried it, and how close the copies are.
CREATE VIEW copy_sets AS
SELECT c.id AS canonical_id,
       c.title,
       coalesce(c.source, substring(c.url FROM '://([^/]+)')) AS canonical_outlet,
       count(d.id) AS copies,
       array_agg(d.id ORDER BY d.ingested_at, d.id) AS copy_ids,
       array_agg(DISTINCT coalesce(d.source, substring(d.url FROM '://([^/]+)')))
           FILTER (WHERE coalesce(d.source, d.url) IS NOT NULL) AS copy_outlets,
       count(*) FILTER (WHERE d.duplicate_kind = 'exact') AS exact_copies,
       count(*) FILTER (WHERE d.duplicate_kind = 'near') AS near_copies,
       min(d.similarity) AS min_similarity,
       c.ingested_at AS first_seen,
       max(d.ingested_at) AS last_seen
FROM articles c
JOIN articles d ON d.duplicate_of = c.id
GROUP BY c.id;

-- One row per copy, beside its canonical article.
CREATE VIEW copy_links AS
SELECT d.id AS copy_id,
       coalesce(d.source, substring(d.url FROM '://([^/]+)')) AS copy_outlet,
       d.duplicate_kind AS kind,
       d.similarity,
       c.id AS canonical_id,
       coalesce(c.source, substring(c.url FROM '://([^/]+)')) AS canonical_outlet,
       d.title AS copy_title,
       c.title AS canonical_title
FROM articles d
JOIN articles c ON c.id = d.duplicate_of;
