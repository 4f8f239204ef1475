-- Entities and quotes, one row each, so "who is quoted most this week" or "every article naming
-- Aleppo" is an indexed query. Derived from articles.entities / articles.quotes by the sink in the
-- same transaction as the article, and rewritten whenever the article is (replay, retry).
CREATE TABLE article_entities (
    article_id  text NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('person', 'place', 'organization')),
    name        text NOT NULL,
    PRIMARY KEY (article_id, kind, name)
);
CREATE INDEX article_entities_name_idx ON article_entities (kind, name);

CREATE TABLE article_quotes (
    article_id  text    NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    ordinal     integer NOT NULL,
    speaker     text,
    quote       text    NOT NULL,
    PRIMARY KEY (article_id, ordinal)
);
CREATE INDEX article_quotes_speaker_idx ON article_quotes (speaker) WHERE speaker IS NOT NULL;
