"""Status history (audit trail), idempotency keys, and the payload's assigned_worker_id.

Revision ID: 0002_history
Revises: 0001_schema
Create Date: 2026-11-26

Every status change made through the data API appends one row here (when, from, to, actor,
reason); an idempotency key makes a retried transition a no-op. History rows reference their
task or asset with ON DELETE NO ACTION: only the explicit purge removes them.
"""

from alembic import op

from chimera_store import migration_ddl as ddl
from chimera_store.migration_ddl import Col

revision = "0002_history"
down_revision = "0001_schema"
branch_labels = None
depends_on = None


def _history(table: str, subject: str, parent: str) -> None:
    ddl.create_table(
        table,
        [
            Col("id", "bigint GENERATED ALWAYS AS IDENTITY"),
            Col(subject, "uuid"),
            Col("from_status", "text", not_null=False),
            Col("to_status", "text"),
            Col("actor", "text"),
            Col("reason", "text", not_null=False),
            Col("idempotency_key", "text", not_null=False),
            Col("at", "timestamptz", default="now()"),
        ],
    )
    ddl.add_constraint(table, f"{table}_pkey", "PRIMARY KEY (id)")
    ddl.add_constraint(
        table,
        f"{table}_{subject}_fkey",
        f"FOREIGN KEY ({subject}) REFERENCES {parent} (id) ON DELETE NO ACTION",
    )
    ddl.add_constraint(table, f"{table}_idempotency_key", f"UNIQUE ({subject}, idempotency_key)")
    ddl.create_index(f"{table}_{subject}_idx", table, f"({subject}, id)")


def upgrade() -> None:
    _history("task_status_history", "task_id", "tasks")
    _history("asset_status_history", "asset_id", "video_assets")
    op.execute("ALTER TABLE tasks ADD COLUMN IF NOT EXISTS assigned_worker_id text")


def downgrade() -> None:
    ddl.refuse_data_loss(
        [
            ("task_status_history", None),
            ("asset_status_history", None),
            ("tasks", "assigned_worker_id"),
        ]
    )
    op.execute("ALTER TABLE tasks DROP COLUMN IF EXISTS assigned_worker_id")
    op.execute("DROP TABLE IF EXISTS asset_status_history")
    op.execute("DROP TABLE IF EXISTS task_status_history")
