-- Site templates learned from the stream: lines a site prints on most of its articles
-- (src/stages/clean/templates.rs has the rule; src/sink/templates.rs writes these tables).

-- Each site's count of distinct articles, which numbers them for site_lines.
CREATE TABLE sites (
    site        text PRIMARY KEY,
    articles    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Candidate lines per site: how many of the site's articles showed each, and which article numbers
-- first and last did. A line unseen in the site's last `forget_after_articles` articles is deleted,
-- which bounds the table.
CREATE TABLE site_lines (
    site         text NOT NULL,
    line_hash    bigint NOT NULL,
    line         text NOT NULL,
    sightings    bigint NOT NULL,
    first_sight  bigint NOT NULL,
    last_sight   bigint NOT NULL,
    is_template  boolean NOT NULL DEFAULT false,
    learned_at   timestamptz,
    PRIMARY KEY (site, line_hash)
);

CREATE INDEX site_lines_by_last_sight ON site_lines (site, last_sight);
CREATE INDEX site_lines_templates ON site_lines (site) WHERE is_template;
