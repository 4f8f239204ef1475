-- Stories (src/stages/dedup/stories.rs, src/sink/stories.rs): articles about one event share a
-- story_id, the id of the story's first article.

-- Each story's centroid (its 48 strongest terms: 8-byte key, 4-byte weight, little-endian), size and
-- time span; `seq` orders stories for ties.
CREATE TABLE stories (
    story_id    text PRIMARY KEY,
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    centroid    bytea NOT NULL,
    articles    bigint NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stories_last_seen_idx ON stories (last_seen);

-- Which stories have a term among their centroid's: the candidates for a new article.
CREATE TABLE story_terms (
    term      bigint NOT NULL,
    story_id  text NOT NULL,
    PRIMARY KEY (term, story_id)
);

CREATE INDEX articles_story_id_idx ON articles (story_id) WHERE story_id IS NOT NULL;

-- Each story: its articles, the outlets that told it, first and last seen.
CREATE VIEW story_overview AS
SELECT a.story_id,
       count(*) AS articles,
       count(*) FILTER (WHERE a.duplicate_of IS NULL) AS distinct_accounts,
       array_agg(DISTINCT coalesce(a.source, substring(a.url FROM '://([^/]+)')))
           FILTER (WHERE coalesce(a.source, a.url) IS NOT NULL) AS outlets,
       (array_agg(a.title ORDER BY a.ingested_at) FILTER (WHERE a.title IS NOT NULL))[1] AS first_title,
       array_agg(a.id ORDER BY a.ingested_at, a.id) AS article_ids,
       s.first_seen,
       s.last_seen
FROM articles a
JOIN stories s ON s.story_id = a.story_id
GROUP BY a.story_id, s.first_seen, s.last_seen;
