-- myroom schema, version 3. Applied versions are kept by sqlx in
-- `_sqlx_migrations` now; the table of the runner it replaced goes. A database
-- that runner migrated runs versions 1 and 2 again first, changing nothing.

DROP TABLE IF EXISTS myroom_schema;
