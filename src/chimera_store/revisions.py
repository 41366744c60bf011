"""The schema revisions this code ships and the one a database is at (and whether a migration
is running there), known without loading Alembic.

Every store that opens checks the database's revision against these, and every command of the
CLI can print the head; loading Alembic and SQLAlchemy for that cost about 0.4 s and 15 MB per
process. The revisions are the migration scripts' file names (`0006_task_heartbeats.py` is
revision `0006_task_heartbeats`, whose down revision is the file before it): a test holds
Alembic's own chain to exactly this, so the two cannot disagree.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chimera_store.errors import SchemaNewerThanCode
from chimera_store.sql import query

# "CHMR": one advisory lock key for every chimera-store migrator on a database.
MIGRATION_LOCK_KEY = 0x43484D52

_SCRIPT = re.compile(r"(\d{4}_\w+)\.py")


@functools.cache
def _shipped() -> tuple[str, ...]:
    scripts = resources.files("chimera_store.migrations").joinpath("versions")
    names = (_SCRIPT.fullmatch(entry.name) for entry in scripts.iterdir())
    return tuple(sorted(match.group(1) for match in names if match))


def known_revisions() -> list[str]:
    """Every revision this code ships, oldest first."""
    return list(_shipped())


def head_revision() -> str:
    return _shipped()[-1]


def ensure_known_revisions(revisions: list[str]) -> None:
    """Refuse a database at a revision this code does not ship: a newer chimera-store's."""
    unknown = [r for r in revisions if r not in _shipped()]
    if unknown:
        raise SchemaNewerThanCode(
            f"the database is at revision {', '.join(revisions)}, which this version of "
            f"chimera-store does not know (newest known: {head_revision()}); "
            "upgrade chimera-store instead"
        )


def pending_revisions(current: list[str]) -> list[str]:
    """The revisions after `current` ([] : an empty database), oldest first."""
    ensure_known_revisions(current)
    known = _shipped()
    start = max((known.index(r) + 1 for r in current), default=0)
    return list(known[start:])


def schema_behind(revisions: list[str] | None) -> str | None:
    """Why a database at these revisions (None: no version table) lacks what this code needs,
    or None when it has it: at head, or at a revision newer than this code knows (a newer
    chimera-store migrated it; its migrations keep older code working, so it may run on)."""
    if not revisions:
        return "the database has no chimera-store schema; run `chimera-store migrate`"
    try:
        pending = pending_revisions(revisions)
    except SchemaNewerThanCode:
        return None
    if not pending:
        return None
    return (
        f"the database schema is at {', '.join(revisions)} and this version of chimera-store "
        f"needs {head_revision()}; run `chimera-store migrate`"
    )


def current_revisions(driver: psycopg.Connection[Any]) -> list[str]:
    """The revision a database is at ([]: no version table, no chimera-store schema)."""
    present = driver.execute(query("version_table_exists")).fetchone()
    if not present or not present[0]:
        return []
    return [str(r[0]) for r in driver.execute(query("current_revisions")).fetchall()]


def migration_lock_holder(driver: psycopg.Connection[Any]) -> dict[str, Any] | None:
    """The session migrating this database (holding the migration lock), or None."""
    with driver.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("migration_lock_holder"), {"key": MIGRATION_LOCK_KEY}).fetchone()
    if row is None:
        return None
    running_for = row["running_for"]
    return {
        "pid": row["pid"],
        "usename": row["usename"],
        "application_name": row["application_name"],
        "running_for_s": None if running_for is None else round(running_for.total_seconds(), 1),
    }
