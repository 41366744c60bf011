-- Catalog queries: schema introspection for `check`, `status` and adoption.

-- name: catalog_columns
SELECT c.relname AS table_name,
       a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS data_type,
       a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS column_default
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(%(tables)s)
ORDER BY c.relname, a.attnum;

-- name: catalog_constraints
SELECT c.relname AS table_name,
       con.conname AS name,
       pg_get_constraintdef(con.oid) AS definition
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%(tables)s)
  AND con.contype <> 'n'  -- PostgreSQL 18 lists NOT NULL as constraints; columns carry it already
ORDER BY c.relname, con.conname;

-- name: catalog_indexes
SELECT t.relname AS table_name,
       i.relname AS name,
       pg_get_indexdef(i.oid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = current_schema() AND t.relname = ANY(%(tables)s)
ORDER BY t.relname, i.relname;

-- name: catalog_triggers
SELECT c.relname AS table_name,
       tg.tgname AS name,
       pg_get_triggerdef(tg.oid) AS definition
FROM pg_trigger tg
JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname = ANY(%(tables)s) AND NOT tg.tgisinternal
ORDER BY c.relname, tg.tgname;

-- name: catalog_functions
-- The body and what it runs with: a SECURITY DEFINER function altered to INVOKER, or its pinned
-- search_path changed, is drift as much as a new body is.
SELECT p.proname AS name,
       md5(p.prosrc || ' security_definer=' || p.prosecdef::text
           || ' config=' || coalesce(array_to_string(p.proconfig, ';'), '')) AS definition_md5
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = current_schema() AND p.proname LIKE 'chimera\_%%'
ORDER BY p.proname;

-- name: existing_tables
SELECT c.relname AS table_name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND c.relname = ANY(%(tables)s)
ORDER BY c.relname;

-- name: version_table_exists
SELECT to_regclass(current_schema() || '.alembic_version') IS NOT NULL AS present;

-- name: current_revisions
SELECT version_num FROM alembic_version ORDER BY version_num;

-- name: server_version
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       current_database() AS database,
       current_user AS role;

-- name: try_migration_lock
SELECT pg_try_advisory_xact_lock(%(key)s) AS acquired;

-- name: migration_lock_holder
SELECT a.pid, a.usename, a.application_name, a.state,
       now() - a.xact_start AS running_for
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND ((l.classid::bigint << 32) | l.objid::bigint) = %(key)s
  -- Advisory locks are per database: a migration of another database on the server is not ours.
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
LIMIT 1;

-- name: table_lock_holders
SELECT DISTINCT a.pid, a.usename, a.application_name, a.state, l.mode,
       c.relname AS table_name, left(a.query, 120) AS query
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.granted AND n.nspname = current_schema()
  AND c.relname = ANY(%(tables)s)
  AND l.pid <> pg_backend_pid()
ORDER BY a.pid;

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: current_schema
SELECT current_schema() AS s;

-- name: migration_timeouts
SELECT set_config('lock_timeout', %(lock_timeout)s, true),
       set_config('statement_timeout', %(statement_timeout)s, true);

-- name: status_lock_timeout
-- How long `status` waits for a table another session holds exclusively (a migration's DDL).
SET lock_timeout = '2s';
