-- Large values (bodies, the removed lines, entities and quotes) are compressed with lz4 instead of
-- pglz when they are moved out of line: lz4 compresses several times faster for a little less
-- ratio, and the article row is the most expensive part of writing a batch (make bench).
ALTER TABLE articles
    ALTER COLUMN body SET COMPRESSION lz4,
    ALTER COLUMN removed SET COMPRESSION lz4,
    ALTER COLUMN entities SET COMPRESSION lz4,
    ALTER COLUMN quotes SET COMPRESSION lz4;
ALTER TABLE dead_letters ALTER COLUMN payload SET COMPRESSION lz4;
