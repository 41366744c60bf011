"""Migrations as SQL scripts rendered ahead of time (`migrate --sql`, `downgrade --sql`), for
review or for a DBA to apply: Alembic's offline mode, with this project's lock, timeouts and
data-loss guard in the script."""

from __future__ import annotations

import io

from alembic import command

from chimera_store.errors import IncompatibleSchema, InvalidInput
from chimera_store.migrator import alembic_config, run_alembic
from chimera_store.revisions import (
    current_revisions,
    ensure_known_revisions,
    head_revision,
    known_revisions,
)
from chimera_store.schema_contract import existing_tables


def render_sql(url: str | None = None, *, start: str | None = None, to: str = "head") -> str:
    """The SQL that `migrate` runs to bring a database from `start` to `to`, as one script for
    review or for a DBA to apply by hand (psql -1 -f is not needed: it is one transaction, with
    the migration lock and the timeouts of online runs). Nothing is changed anywhere.

    `start` is a revision, or "base" for an empty database; None reads the database's current
    revision (and only reads). Empty when there is nothing to do. A database whose tables were
    made outside chimera-store is refused: adopting them depends on what they hold, which a
    script rendered ahead of time cannot know; `migrate` does it online.
    """
    if start is None:
        start = _current_for_render(url)
        if start == to or (to == "head" and start == head_revision()):
            return ""
    elif start != "base":
        known = known_revisions()
        if start not in known:
            raise InvalidInput(
                "start", f"{start!r} is not a revision (known: base, {', '.join(known)})"
            )
    output = io.StringIO()
    target = to if start == "base" else f"{start}:{to}"
    run_alembic(
        lambda cfg, rev: command.upgrade(cfg, rev, sql=True),
        alembic_config(output=output),
        target,
    )
    return output.getvalue()


def render_downgrade_sql(
    revision: str,
    url: str | None = None,
    *,
    start: str | None = None,
    allow_data_loss: bool = False,
) -> str:
    """The SQL that `downgrade` runs to step a database from `start` down to `revision`, as one
    script (one transaction, the migration lock and timeouts). Nothing is changed anywhere.

    A step that would drop a table or column is guarded in the script itself: applied to a
    database where it holds data, the script raises and its transaction changes nothing, as
    `downgrade` refuses online. `allow_data_loss` leaves the guard out. `revision` is a
    revision, `base` or `-N`; `start` a revision (None: the database's current one, read only).
    """
    known = known_revisions()
    if start is None:
        # Tables made outside chimera-store do not matter here: without a revision there is
        # nothing to step down from.
        start = _current_for_render(url, refuse_foreign_tables=False)
        if start == "base":
            return ""
    elif start not in known:
        raise InvalidInput("start", f"{start!r} is not a revision (known: {', '.join(known)})")
    target = _absolute_downgrade_target(revision, start, known)
    if target == start:
        return ""
    output = io.StringIO()
    run_alembic(
        lambda cfg, rev: command.downgrade(cfg, rev, sql=True),
        alembic_config(output=output, allow_data_loss=allow_data_loss),
        f"{start}:{target}",
    )
    return output.getvalue()


def _absolute_downgrade_target(revision: str, start: str, known: list[str]) -> str:
    """`-N` counted down from `start` (offline, Alembic takes only named revisions)."""
    if not revision.startswith("-"):
        return revision
    try:
        steps = int(revision[1:])
    except ValueError:
        raise InvalidInput("revision", f"{revision!r} is not -N (a number of steps)") from None
    if steps < 1:
        raise InvalidInput("revision", f"{revision!r}: the steps down must be 1 or more")
    position = known.index(start) - steps
    if position < -1:
        raise InvalidInput(
            "revision", f"{revision!r}: {start} is {known.index(start) + 1} steps above base"
        )
    return "base" if position == -1 else known[position]


def _current_for_render(url: str | None, *, refuse_foreign_tables: bool = True) -> str:
    from chimera_store.connect import connect_sync

    with connect_sync(url) as conn:
        current = current_revisions(conn)
        ensure_known_revisions(current)
        existing = [] if current or not refuse_foreign_tables else existing_tables(conn)
    if existing:
        raise IncompatibleSchema(
            "this database has tables made outside chimera-store ("
            + ", ".join(existing)
            + "): adopting them depends on what they hold, which a script rendered ahead of time "
            "cannot know; run `chimera-store migrate` against it instead",
            [],
        )
    return current[0] if current else "base"
