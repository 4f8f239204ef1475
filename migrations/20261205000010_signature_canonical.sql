-- Each signature's canonical article (NULL: the article is its own). A batch's copies are linked and
-- committed before its articles are written (src/sink/postgres.rs, `link_batch`), so the next batch,
-- linked meanwhile, must find a holder's canonical article here rather than in `articles`.
ALTER TABLE article_signatures ADD COLUMN canonical_id text;
