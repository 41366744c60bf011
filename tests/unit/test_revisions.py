"""`chimera_store.revisions` knows the shipped revisions from the scripts' file names, without
Alembic; here it is held to Alembic's own chain, and the CLI is held to not loading Alembic or
SQLAlchemy for commands that do not migrate (they cost about 0.4 s per command)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory

from chimera_store import migrator, revisions
from chimera_store.errors import SchemaNewerThanCode


def test_the_shipped_revisions_are_alembics_chain() -> None:
    scripts = ScriptDirectory.from_config(migrator.alembic_config())
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [r.revision for r in chain] == revisions.known_revisions()
    # Linear: each file's down revision is the file before it (what `pending` relies on).
    assert [r.down_revision for r in chain] == [None, *revisions.known_revisions()[:-1]]
    assert scripts.get_heads() == [revisions.head_revision()]
    assert len(revisions.known_revisions()) >= 6


def test_pending_and_what_a_store_needs() -> None:
    known = revisions.known_revisions()
    head = revisions.head_revision()
    assert revisions.pending_revisions([]) == known
    assert revisions.pending_revisions([head]) == []
    assert revisions.pending_revisions(["0003_roles"]) == known[known.index("0003_roles") + 1 :]
    assert revisions.schema_behind([head]) is None
    behind = revisions.schema_behind(["0003_roles"])
    assert behind is not None and f"needs {head}" in behind
    no_schema = revisions.schema_behind([])
    assert no_schema is not None and "no chimera-store schema" in no_schema
    # A newer chimera-store's revision: refused by migrations, but a store may run on it.
    with pytest.raises(SchemaNewerThanCode, match="0099_future"):
        revisions.pending_revisions(["0099_future"])
    assert revisions.schema_behind(["0099_future"]) is None


@pytest.mark.parametrize(
    "code",
    [
        "import chimera_store.cli",
        "from chimera_store.store import Store, AsyncStore",
        "import chimera_store.schema_state, chimera_store.worker",
    ],
)
def test_what_does_not_migrate_does_not_load_alembic(code: str) -> None:
    """Nor pydantic: only queue payloads need it (building their models cost every service
    0.2 s at import; Typer loads it anyway when a command runs, not at import)."""
    heavy = "{'alembic', 'sqlalchemy', 'pydantic'}"
    probe = f"{code}; import sys; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
