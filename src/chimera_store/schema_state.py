"""What state a database's schema is in: `status` (server, revision, pending migrations, row
counts, a migration running), `check` (the live schema against this version's) and
`wait_for_schema` (a service's start-up waiting for `migrate`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from chimera_store import schema_contract
from chimera_store import validation as v
from chimera_store.errors import DatabaseUnavailable
from chimera_store.revisions import (
    current_revisions,
    ensure_known_revisions,
    head_revision,
    migration_lock_holder,
    pending_revisions,
)
from chimera_store.schema_contract import existing_tables
from chimera_store.sql import query


@dataclass(frozen=True)
class Status:
    server_version: str
    server_version_num: int
    database: str
    role: str
    embedded: bool
    current: list[str]
    head: str
    pending: list[str]
    # None: the table stayed locked (by a migration's DDL, say) past status's 2 s lock_timeout.
    row_counts: dict[str, int | None]
    # The session holding the migration lock: pid, usename, application_name, running_for_s.
    migration_running: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_version": self.server_version,
            "server_version_num": self.server_version_num,
            "database": self.database,
            "role": self.role,
            "embedded": self.embedded,
            "current": self.current,
            "head": self.head,
            "pending": self.pending,
            "up_to_date": not self.pending and self.current == [self.head],
            "row_counts": self.row_counts,
            "migration_running": self.migration_running,
        }


def status(url: str | None = None, *, embedded: bool = False) -> Status:
    from psycopg import sql

    from chimera_store.connect import connect_sync

    with connect_sync(url) as conn:
        # A migration's DDL holds its tables exclusively; `status` is what an operator runs
        # then, so a count waits a moment and says "locked" instead of hanging with it.
        conn.execute(query("status_lock_timeout"))
        info = conn.execute(query("server_version")).fetchone()
        assert info is not None
        current = current_revisions(conn)
        ensure_known_revisions(current)
        existing = existing_tables(conn)
        running = migration_lock_holder(conn)
        counts: dict[str, int | None] = {}
        for table in existing:
            try:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                ).fetchone()
            except psycopg.errors.LockNotAvailable:
                counts[table] = None
                continue
            counts[table] = int(row[0]) if row else 0
    return Status(
        server_version=str(info[0]),
        server_version_num=int(info[1]),
        database=str(info[2]),
        role=str(info[3]),
        embedded=embedded,
        current=current,
        head=head_revision(),
        pending=pending_revisions(current),
        row_counts=counts,
        migration_running=running,
    )


def check(url: str | None = None) -> list[str]:
    """Differences between the live schema and this version's; empty when they match."""
    return _check(url)[1]


def _check(url: str | None, connect_timeout: float | None = None) -> tuple[list[str], list[str]]:
    """The database's revisions and the differences `check` reports."""
    from chimera_store.connect import connect_sync

    with connect_sync(url, connect_timeout=connect_timeout) as conn:
        current = current_revisions(conn)
        ensure_known_revisions(current)
        diffs: list[str] = []
        head = head_revision()
        if current != [head]:
            shown = ", ".join(current) if current else "none (never migrated)"
            diffs.append(f"revision is {shown}, expected {head}")
        diffs.extend(
            schema_contract.differences(
                schema_contract.snapshot(conn), schema_contract.expected_snapshot()
            )
        )
    return current, diffs


def wait_for_schema(
    url: str | None = None,
    *,
    timeout: float,
    poll: float = 1.0,
    on_wait: Callable[[str], None] | None = None,
) -> list[str]:
    """Wait up to `timeout` seconds until the live schema is this version's: for a service's
    start-up (or a deployment's init step) that must not run before `migrate` has finished, as
    Airflow's `db check-migrations`. Returns [] once it is, else the last differences.

    Waits while the database does not answer (still starting, not yet created) or its revision is
    behind this version's head (a migration pending or in progress). Returns the differences at
    once when waiting cannot help: the database at head but different (drift). A revision newer
    than this code raises SchemaNewerThanCode at once; a database that never answered raises its
    DatabaseUnavailable when the time is up. `on_wait` is told each new reason to go on waiting.
    """
    v.check_seconds(timeout, "timeout", zero_ok=True)
    v.check_seconds(poll, "poll", most=3600.0)
    deadline = time.monotonic() + timeout
    said = None
    while True:
        left = deadline - time.monotonic()
        try:
            # A host that drops packets must not hold one attempt past the deadline.
            current, diffs = _check(url, connect_timeout=max(1.0, min(left, 10.0)))
        except DatabaseUnavailable as exc:
            if left <= 0:
                raise
            reason = str(exc)
        else:
            if not diffs or current == [head_revision()] or left <= 0:
                return diffs
            reason = diffs[0]
        if on_wait is not None and reason != said:
            on_wait(reason)
            said = reason
        time.sleep(max(0.0, min(poll, deadline - time.monotonic())))
