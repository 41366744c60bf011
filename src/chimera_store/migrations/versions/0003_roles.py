"""Least-privilege roles: chimera_service (DML only) and chimera_readonly (SELECT only).

Revision ID: 0003_roles
Revises: 0002_history
Create Date: 2026-11-26

Roles are cluster-wide, so they are created only if missing (and never dropped by a downgrade:
another database on the server may use them); the grants are per database. Both roles are
NOLOGIN groups: grant them to the login roles your services and operators use, e.g.
`GRANT chimera_service TO planner_app;`. If the migrating user may not create roles, the roles
must be created by an administrator first; the grants are applied either way.
"""

from alembic import op

revision = "0003_roles"
down_revision = "0002_history"
branch_labels = None
depends_on = None

TABLES = (
    "campaigns",
    "agents",
    "tasks",
    "video_assets",
    "task_status_history",
    "asset_status_history",
)


def upgrade() -> None:
    for role in ("chimera_service", "chimera_readonly"):
        op.execute(
            f"""
            DO $$
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
                    CREATE ROLE {role} NOLOGIN;
                END IF;
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- another database's migration created it at the same moment
            END
            $$
            """  # noqa: S608 - role names are constants of this script
        )
    tables = ", ".join(TABLES)
    op.execute("GRANT USAGE ON SCHEMA public TO chimera_service, chimera_readonly")
    # No TRUNCATE, REFERENCES or TRIGGER, and no ownership: the service role cannot change DDL.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO chimera_service")
    op.execute(
        "GRANT USAGE ON SEQUENCE task_status_history_id_seq, asset_status_history_id_seq "
        "TO chimera_service"
    )
    op.execute(f"GRANT SELECT ON {tables} TO chimera_readonly")


def downgrade() -> None:
    tables = ", ".join(TABLES)
    op.execute(f"REVOKE ALL ON {tables} FROM chimera_service, chimera_readonly")
    op.execute(
        "REVOKE ALL ON SEQUENCE task_status_history_id_seq, asset_status_history_id_seq "
        "FROM chimera_service"
    )
    op.execute("REVOKE USAGE ON SCHEMA public FROM chimera_service, chimera_readonly")
