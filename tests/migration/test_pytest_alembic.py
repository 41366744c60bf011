"""pytest-alembic's built-in suite on real PostgreSQL.

test_model_definitions_match_ddl is not used: we keep no SQLAlchemy models; the equivalent proof is
test_fresh_migration_matches_contract (migrations vs the expected-schema snapshot).
"""

from pytest_alembic.tests import (  # noqa: F401
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
