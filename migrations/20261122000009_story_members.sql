-- Which story each article was placed in (src/sink/stories.rs). Stories are assigned and committed in
-- a short transaction of their own, before the batch's articles are written, so the story lock is not
-- held while they are and two batches can write articles at once. A batch retried after that commit,
-- or an article read again, finds its story here and is not counted in it twice.
CREATE TABLE story_members (
    article_id  text PRIMARY KEY,
    story_id    text NOT NULL
);
INSERT INTO story_members (article_id, story_id)
SELECT id, story_id FROM articles WHERE story_id IS NOT NULL;
