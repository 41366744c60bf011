"""An update that changes nothing keeps the row's version (and a campaign's updated_at).

Revision ID: 0004_noop_updates
Revises: 0003_roles
Create Date: 2026-11-26

Versions are what the Judge's optimistic commit compares. The triggers of 0001 bumped them on
every UPDATE, so a write that set the values a row already had (a Planner re-saving a campaign's
goal, `update_task(id, priority=<same>)`, `UPDATE tasks SET priority = priority`) made every
commit based on that row fail as stale although nothing had changed. Now the version moves only
when a column does (compared with IS DISTINCT FROM: jsonb by value, so `1` and `1.0` are equal).

Only the two trigger functions are replaced: no table is locked or rewritten, and a downgrade
restores the 0001 bodies (no data to lose).
"""

from alembic import op

revision = "0004_noop_updates"
down_revision = "0003_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_touch_campaign() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- updated_at and version are kept by the database, whatever the client sends,
            -- and move only when some other column changed.
            NEW.updated_at := OLD.updated_at;
            NEW.version := OLD.version;
            IF NEW IS DISTINCT FROM OLD THEN
                NEW.updated_at := now();
                NEW.version := OLD.version + 1;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_bump_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version;
            IF NEW IS DISTINCT FROM OLD THEN
                NEW.version := OLD.version + 1;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_touch_campaign() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- updated_at and version are kept by the database, whatever the client sends.
            NEW.updated_at := now();
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_bump_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.version := OLD.version + 1;
            RETURN NEW;
        END
        $$
        """
    )
