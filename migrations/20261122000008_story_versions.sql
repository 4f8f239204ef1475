-- Story versions (src/sink/stories.rs): each worker keeps the stories of its window in memory between
-- batches, and under the story lock reads only the stories changed since it last looked. Every write
-- of a story takes the next version; writes happen under that lock, so versions are committed in
-- order and none is seen out of turn.
CREATE SEQUENCE story_versions;
ALTER TABLE stories ADD COLUMN version bigint NOT NULL DEFAULT nextval('story_versions');
CREATE INDEX stories_version_idx ON stories (version);

-- Candidates used to be found by shared term; the cache finds them by time span instead.
DROP TABLE story_terms;
