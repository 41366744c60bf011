"""A Worker's heartbeat on the task it holds: tasks.heartbeat_at.

Revision ID: 0006_task_heartbeats
Revises: 0005_version_grants
Create Date: 2026-12-07

A task in progress whose status has not changed for an hour may have a dead Worker or a long
render. `heartbeat_task` sets `heartbeat_at` while the Worker is alive, and the requeue of stuck
tasks (`unchanged_since`) leaves a task with a recent heartbeat alone, so its window can be
shorter than the longest render.

A heartbeat is not a change of the task: the version stays, so the Worker's `submit_task` at
the version it claimed still holds. Tasks get their own version trigger, which compares the row
without `heartbeat_at`; campaigns and assets keep `chimera_bump_version`.

Adding a nullable column without a default changes only the catalog (no rewrite); the table's
lock is held for that moment. A downgrade drops the column (guarded: refused while a task holds
a heartbeat, unless data loss is allowed) and gives tasks back the shared trigger.
"""

from alembic import op

from chimera_store import migration_ddl as ddl

revision = "0006_task_heartbeats"
down_revision = "0005_version_grants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tasks ADD COLUMN IF NOT EXISTS heartbeat_at timestamptz")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION chimera_bump_task_version() RETURNS trigger
        LANGUAGE plpgsql AS $$
        DECLARE
            probe tasks;
        BEGIN
            -- As chimera_bump_version, but a heartbeat alone is no change of the task.
            NEW.version := OLD.version;
            probe := NEW;
            probe.heartbeat_at := OLD.heartbeat_at;
            IF probe IS DISTINCT FROM OLD THEN
                NEW.version := OLD.version + 1;
            END IF;
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        "CREATE OR REPLACE TRIGGER tasks_bump_version BEFORE UPDATE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION chimera_bump_task_version()"
    )


def downgrade() -> None:
    ddl.refuse_data_loss([("tasks", "heartbeat_at")])
    op.execute(
        "CREATE OR REPLACE TRIGGER tasks_bump_version BEFORE UPDATE ON tasks "
        "FOR EACH ROW EXECUTE FUNCTION chimera_bump_version()"
    )
    op.execute("DROP FUNCTION IF EXISTS chimera_bump_task_version()")
    op.execute("ALTER TABLE tasks DROP COLUMN IF EXISTS heartbeat_at")
