-- Signatures stored before `canonical_id` existed name their canonical article only through
-- `articles.duplicate_of`; copy it here, so the near-copy lookup reads `article_signatures` alone
-- (src/sink/near.rs, `stored_signatures`) instead of joining each holder to its article row, a
-- random page of the largest table for every holder of every batch.
UPDATE article_signatures s
SET canonical_id = a.duplicate_of
FROM articles a
WHERE a.id = s.article_id AND s.canonical_id IS NULL AND a.duplicate_of IS NOT NULL;
