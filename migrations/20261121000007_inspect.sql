-- What users inspect with psql: full-text search over every article, the kind of each dead letter,
-- and views for the everyday questions (README, "Inspecting with SQL").

-- The text-search configuration for an article's language (ISO 639-1); `simple` (no stemming, no
-- stop words) for a language Postgres has no dictionary for. IMMUTABLE, so the generated column
-- below can use it, and queries can too: websearch_to_tsquery(article_search_config('en'), '…').
CREATE FUNCTION article_search_config(language text) RETURNS regconfig
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE language
        WHEN 'ar' THEN 'arabic' WHEN 'da' THEN 'danish' WHEN 'de' THEN 'german' WHEN 'el' THEN 'greek'
        WHEN 'en' THEN 'english' WHEN 'es' THEN 'spanish' WHEN 'fi' THEN 'finnish' WHEN 'fr' THEN 'french'
        WHEN 'ga' THEN 'irish' WHEN 'hu' THEN 'hungarian' WHEN 'id' THEN 'indonesian' WHEN 'it' THEN 'italian'
        WHEN 'lt' THEN 'lithuanian' WHEN 'ne' THEN 'nepali' WHEN 'nl' THEN 'dutch' WHEN 'no' THEN 'norwegian'
        WHEN 'nb' THEN 'norwegian' WHEN 'pt' THEN 'portuguese' WHEN 'ro' THEN 'romanian' WHEN 'ru' THEN 'russian'
        WHEN 'sv' THEN 'swedish' WHEN 'ta' THEN 'tamil' WHEN 'tr' THEN 'turkish'
        ELSE 'simple'
    END::regconfig
$$;

-- Title words weigh more than body words in ts_rank. Stored, so a search never re-parses bodies.
ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector(article_search_config(language), coalesce(title, '')), 'A')
    || setweight(to_tsvector(article_search_config(language), body), 'B')
) STORED;

CREATE INDEX articles_search_idx ON articles USING gin (search);

-- The kind of failure, a short stable name (`broken_json`, `too_large`, `stage_failed`, …), beside
-- the one-line reason that carries the details. Dead letters stored before this column are 'unknown'.
ALTER TABLE dead_letters ADD COLUMN kind text NOT NULL DEFAULT 'unknown';
CREATE INDEX dead_letters_kind_idx ON dead_letters (kind, created_at);

-- The newest articles first, with their metadata (add LIMIT).
CREATE VIEW latest_articles AS
SELECT a.id,
       coalesce(a.published_at::date, a.published_date) AS published,
       a.source,
       a.title,
       a.authors,
       a.agency,
       a.dateline,
       a.language,
       a.word_count,
       a.duplicate_of,
       a.duplicate_kind,
       a.story_id,
       a.url,
       a.ingested_at
FROM articles a
ORDER BY a.ingested_at DESC, a.id;

-- Dead letters by kind: how many, since when, and one reason as an example.
CREATE VIEW dead_letters_by_reason AS
SELECT kind,
       count(*) AS dead_letters,
       min(created_at) AS first_seen,
       max(created_at) AS last_seen,
       (array_agg(reason ORDER BY created_at DESC))[1] AS latest_reason
FROM dead_letters
GROUP BY kind;

-- Articles landed per hour, with how many were copies and how many outlets they came from.
CREATE VIEW ingestion_per_hour AS
SELECT date_trunc('hour', ingested_at) AS hour,
       count(*) AS articles,
       count(*) FILTER (WHERE duplicate_kind = 'exact') AS exact_copies,
       count(*) FILTER (WHERE duplicate_kind = 'near') AS near_copies,
       count(DISTINCT coalesce(source, substring(url FROM '://([^/]+)'))) AS outlets
FROM articles
GROUP BY 1;
