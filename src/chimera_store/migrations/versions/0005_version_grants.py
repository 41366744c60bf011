"""The least-privilege roles may read the schema revision (alembic_version).

Revision ID: 0005_version_grants
Revises: 0004_noop_updates
Create Date: 2026-11-27

`Store.open` checks the schema revision before serving (a database behind the code's migrations
is refused), and `chimera-store status` / `check` show it. 0003 granted the two roles the six
data tables but not Alembic's version table, so a service logging in as a member of
`chimera_service` or `chimera_readonly`, as docs/reliability.md recommends, could not open a
store ("permission denied for table alembic_version"). SELECT only: neither role may change the
revision. A downgrade revokes it (no data to lose).
"""

from alembic import op

revision = "0005_version_grants"
down_revision = "0004_noop_updates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("GRANT SELECT ON alembic_version TO chimera_service, chimera_readonly")


def downgrade() -> None:
    op.execute("REVOKE SELECT ON alembic_version FROM chimera_service, chimera_readonly")
