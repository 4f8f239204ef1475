-- Least privilege for article-ingest: one role changes the schema, another only reads and writes
-- rows. Run once as a superuser, in the target database, with psql:
--   psql -v migrator_password=… -v worker_password=… -d articles -f deploy/postgres/roles.sql
-- Then `article-ingest migrate` runs as article_ingest_migrator (a Kubernetes init container, a
-- deploy step), and the workers run as article_ingest_worker with database.migrate_on_start = false.

-- The role names can be changed with -v migrator=… -v worker=….
\if :{?migrator}
\else
    \set migrator article_ingest_migrator
\endif
\if :{?worker}
\else
    \set worker article_ingest_worker
\endif

CREATE ROLE :"migrator" LOGIN PASSWORD :'migrator_password';
CREATE ROLE :"worker" LOGIN PASSWORD :'worker_password';

-- The migrator owns what it creates in the schema; nobody else may create there.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"migrator";
GRANT USAGE ON SCHEMA public TO :"worker";

-- Whatever the migrator creates, the worker may read and write, never alter or drop.
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"worker";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"worker";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT EXECUTE ON FUNCTIONS TO :"worker";
