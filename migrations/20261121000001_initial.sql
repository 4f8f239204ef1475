-- One row per article: the `process` output contract plus where the row came from.
CREATE TABLE articles (
    id              text PRIMARY KEY,
    url             text,
    source          text,
    title           text,
    body            text        NOT NULL,
    removed         jsonb       NOT NULL DEFAULT '[]',
    -- published_date is set whenever a publication date is known; published_at only when the
    -- time of day is known too (a date alone never gets an invented time).
    published_date  date,
    published_at    timestamptz,
    authors         text[]      NOT NULL DEFAULT '{}',
    agency          text,
    dateline        text,
    language        text,
    word_count      integer     NOT NULL,
    entities        jsonb       NOT NULL DEFAULT '{"people": [], "places": [], "organizations": []}',
    quotes          jsonb       NOT NULL DEFAULT '[]',
    keywords        text[]      NOT NULL DEFAULT '{}',
    content_hash    text        NOT NULL,
    duplicate_of    text,
    duplicate_kind  text        CHECK (duplicate_kind IN ('exact', 'near')),
    similarity      real,
    story_id        text,
    fetched_at      timestamptz,
    kafka_topic     text,
    kafka_partition integer,
    kafka_offset    bigint,
    -- 1 on first write; +1 each time the same id is written again (a replay or a re-sent article).
    revision        integer     NOT NULL DEFAULT 1,
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX articles_content_hash_idx ON articles (content_hash);
CREATE INDEX articles_duplicate_of_idx ON articles (duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE INDEX articles_published_date_idx ON articles (published_date);
CREATE INDEX articles_ingested_at_idx ON articles (ingested_at);

-- Exact-dedup state shared by every worker: the first article that carried each normalised body.
CREATE TABLE content_hashes (
    content_hash text        PRIMARY KEY,
    article_id   text        NOT NULL,
    first_seen   timestamptz NOT NULL DEFAULT now()
);

-- Messages that could not become articles, kept whole with a one-line reason.
CREATE TABLE dead_letters (
    id              bigserial   PRIMARY KEY,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    key             bytea,
    payload         bytea       NOT NULL,
    reason          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE INDEX dead_letters_reason_idx ON dead_letters (reason);

-- The consumer's position: the next offset to read, written in the same transaction as the rows it
-- covers. This, not Kafka's committed offsets, is where a worker resumes. NULL: nothing written yet.
CREATE TABLE kafka_offsets (
    consumer_group  text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, kafka_partition)
);
