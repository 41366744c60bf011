"""The service role may have the data tables analysed when they have no statistics yet.

Revision ID: 0007_analyse_function
Revises: 0006_task_heartbeats
Create Date: 2026-12-07

Right after a large load into a new database, before autovacuum's first ANALYZE, PostgreSQL
plans the check of each task or agent a purge or `clean` deletes for remaining assets to read
the whole campaign's index every time: 10,000 tasks and 200,000 assets purged in 150 s, against
3.3 s with statistics (docs/operations.md). Only a table's owner may ANALYZE it (before
PostgreSQL 17's MAINTAIN privilege), so a purge run as `chimera_service` stayed slow.

`chimera_analyse_new_tables()` runs as its owner (SECURITY DEFINER) and takes no argument: it
analyses only the six data tables, only those that hold rows and have no statistics, and
returns their names. The caller chooses nothing, so the function grants nothing but "have the
statistics made a little sooner than autovacuum would". Its search_path is pinned (pg_catalog,
then pg_temp last) and the tables are named with their schema, as PostgreSQL's documentation
asks of SECURITY DEFINER functions. EXECUTE goes to `chimera_service` only (not PUBLIC, not
`chimera_readonly`, which deletes nothing). A downgrade drops the function (no data).
"""

from alembic import op

revision = "0007_analyse_function"
down_revision = "0006_task_heartbeats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION public.chimera_analyse_new_tables() RETURNS text[]
        LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$
        DECLARE
            analysed text[] := ARRAY[]::text[];
            table_name text;
        BEGIN
            FOR table_name IN
                SELECT c.relname FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r'
                  AND c.relname = ANY (ARRAY['campaigns', 'agents', 'tasks', 'video_assets',
                                             'task_status_history', 'asset_status_history'])
                  AND pg_relation_size(c.oid) > 0
                  AND NOT EXISTS (SELECT 1 FROM pg_stats s
                                  WHERE s.schemaname = n.nspname AND s.tablename = c.relname)
                ORDER BY c.relname
            LOOP
                EXECUTE format('ANALYZE public.%I', table_name);
                analysed := analysed || table_name;
            END LOOP;
            RETURN analysed;
        END
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION public.chimera_analyse_new_tables() FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION public.chimera_analyse_new_tables() TO chimera_service")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS public.chimera_analyse_new_tables()")
