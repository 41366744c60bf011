"""Schema administration: migrate, downgrade, status, check, history.

Wraps Alembic (scripts in `chimera_store/migrations`) with what operators need on top: a lock that
serialises concurrent migrators, timeouts that name what blocks, adoption of compatible existing
tables, a guard against downgrades that drop data, and one clear error per failure.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg.rows import dict_row
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from chimera_store import schema_contract
from chimera_store.config import resolve_target
from chimera_store.dberrors import translate_connect_error
from chimera_store.errors import (
    ChimeraError,
    DatabaseUnavailable,
    IncompatibleSchema,
    InvalidInput,
    MigrationLockTimeout,
    SchemaError,
    SchemaNewerThanCode,
    TransactionConflict,
)
from chimera_store.sql import query

# "CHMR": one advisory lock key for every chimera-store migrator on a database.
MIGRATION_LOCK_KEY = 0x43484D52


@dataclass(frozen=True)
class MigrationSettings:
    """Time limits of a migration run (seconds)."""

    lock_wait: float = 60.0  # waiting for another migrator to finish
    lock_timeout: float = 5.0  # waiting for a table lock held by an application session
    statement_timeout: float = 300.0


@dataclass
class MigrationOutcome:
    before: list[str]
    after: list[str]
    adopted: bool = False

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.adopted


def open_engine(url: str | None) -> Engine:
    """A single-connection SQLAlchemy engine for Alembic, over psycopg 3."""
    libpq_url = url or resolve_target().url

    def connect() -> Any:
        try:
            # No server-side prepared statements: admin work is not hot, and they break behind a
            # transaction-mode pooler (pgbouncer < 1.21).
            return psycopg.connect(
                libpq_url, application_name="chimera-store migrate", prepare_threshold=None
            )
        except psycopg.Error as exc:
            raise translate_connect_error(exc) from None

    return sa.create_engine("postgresql+psycopg://", creator=connect, poolclass=NullPool)


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw


def prepare_migration_transaction(conn: Connection, settings: MigrationSettings) -> None:
    """Inside the migration transaction: timeouts, then the migration lock (waits its turn)."""
    driver = _driver(conn)
    driver.execute(
        query("migration_timeouts"),
        {
            "lock_timeout": f"{int(settings.lock_timeout * 1000)}ms",
            "statement_timeout": f"{int(settings.statement_timeout * 1000)}ms",
        },
    )
    deadline = time.monotonic() + settings.lock_wait
    delay = 0.05
    while True:
        row = driver.execute(query("try_migration_lock"), {"key": MIGRATION_LOCK_KEY}).fetchone()
        if row and row[0]:
            return
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"another migration holds the migration lock ({_lock_holder(driver)}); "
                f"gave up after {settings.lock_wait:g}s"
            )
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _lock_holder(driver: psycopg.Connection[Any]) -> str:
    holder = _migration_running(driver)
    if holder is None:
        return "holder unknown"
    return (
        f"pid {holder['pid']}, user {holder['usename']}, application {holder['application_name']!r}"
    )


def alembic_config(
    connection: Connection | None = None,
    *,
    url: str | None = None,
    settings: MigrationSettings | None = None,
    allow_data_loss: bool = False,
    output: io.StringIO | None = None,
) -> Config:
    cfg = Config(output_buffer=output)
    cfg.set_main_option("script_location", "chimera_store:migrations")
    cfg.attributes["connection"] = connection
    cfg.attributes["url"] = url
    cfg.attributes["settings"] = settings or MigrationSettings()
    cfg.attributes["allow_data_loss"] = allow_data_loss
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def current_revisions(driver: psycopg.Connection[Any]) -> list[str]:
    present = driver.execute(query("version_table_exists")).fetchone()
    if not present or not present[0]:
        return []
    return [str(r[0]) for r in driver.execute(query("current_revisions")).fetchall()]


def existing_tables(driver: psycopg.Connection[Any]) -> list[str]:
    """Which of the chimera tables exist in the current schema."""
    rows = driver.execute(
        query("existing_tables"), {"tables": list(schema_contract.SCHEMA_TABLES)}
    ).fetchall()
    return [str(r[0]) for r in rows]


def schema_behind(revisions: list[str] | None) -> str | None:
    """Why a database at these revisions (None: no version table) lacks what this code needs,
    or None when it has it: at head, or at a revision newer than this code knows (a newer
    chimera-store migrated it; its migrations keep older code working, so it may run on)."""
    if not revisions:
        return "the database has no chimera-store schema; run `chimera-store migrate`"
    try:
        ensure_known_revisions(revisions)
    except SchemaNewerThanCode:
        return None
    if not pending_revisions(revisions):
        return None
    return (
        f"the database schema is at {', '.join(revisions)} and this version of chimera-store "
        f"needs {head_revision()}; run `chimera-store migrate`"
    )


def known_revisions() -> list[str]:
    """Every revision this code ships, oldest first."""
    return [r.revision for r in reversed(list(script_directory().walk_revisions()))]


def _known(revisions: list[str]) -> None:
    scripts = script_directory()
    for rev in revisions:
        if scripts.get_revision(rev) is None:  # pragma: no cover - alembic raises instead
            raise SchemaNewerThanCode(rev)


def ensure_known_revisions(revisions: list[str]) -> None:
    try:
        _known(revisions)
    except Exception as exc:
        if isinstance(exc, ChimeraError):
            raise
        raise SchemaNewerThanCode(
            f"the database is at revision {', '.join(revisions)}, which this version of "
            f"chimera-store does not know (newest known: {head_revision()}); "
            "upgrade chimera-store instead"
        ) from None


def _run_alembic(step: Any, cfg: Config, revision: str) -> None:
    """Alembic's own refusals (an unknown or unreachable target) are the caller's input."""
    try:
        step(cfg, revision)
    except CommandError as exc:
        known = ", ".join(known_revisions())
        raise InvalidInput(
            "revision", f"{exc} (known: {known}; also head, base, -N, +N); nothing was changed"
        ) from None


@contextmanager
def _migration_connection(url: str | None, settings: MigrationSettings) -> Iterator[Connection]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            prepare_migration_transaction(conn, settings)
            yield conn
    except sa.exc.DBAPIError as exc:
        raise _translate_migration_error(exc, url) from None
    finally:
        engine.dispose()


def _translate_migration_error(exc: sa.exc.DBAPIError, url: str | None) -> ChimeraError:
    orig = exc.orig
    if isinstance(orig, psycopg.errors.LockNotAvailable):
        return MigrationLockTimeout(
            f"migration gave up waiting for a table lock ({_describe_blockers(url)}); "
            "nothing was changed"
        )
    if isinstance(orig, psycopg.errors.QueryCanceled):
        return MigrationLockTimeout(
            f"migration exceeded its statement_timeout ({orig}); nothing was changed"
        )
    if isinstance(orig, psycopg.errors.DeadlockDetected):
        detail = orig.diag.message_detail or ""
        return TransactionConflict(
            "migration rolled back by a deadlock with another session, nothing was changed; run "
            f"it again (when the application is quiet, if it recurs): {' '.join(detail.split())}"
        )
    if isinstance(orig, psycopg.OperationalError):
        return DatabaseUnavailable(f"lost the database during the migration: {orig}")
    first_line = str(orig).strip().splitlines()[0] if str(orig).strip() else repr(orig)
    if isinstance(orig, psycopg.errors.InsufficientPrivilege) and "create role" in first_line:
        # Revision 0003 creates two group roles when missing; an owner without CREATEROLE cannot.
        return SchemaError(
            f"migration failed, nothing was changed: {first_line}. An administrator can create "
            "the roles first (CREATE ROLE chimera_service NOLOGIN; CREATE ROLE chimera_readonly "
            "NOLOGIN;) and the migration will only grant to them (docs/migrations.md)"
        )
    return SchemaError(f"migration failed, nothing was changed: {orig}")


def _describe_blockers(url: str | None) -> str:
    try:
        with (
            psycopg.connect(
                url or resolve_target().url, autocommit=True, prepare_threshold=None
            ) as conn,
            conn.cursor(row_factory=dict_row) as cur,
        ):
            rows = cur.execute(
                query("table_lock_holders"), {"tables": list(schema_contract.SCHEMA_TABLES)}
            ).fetchall()
    except psycopg.Error:
        return "blocker unknown"
    if not rows:
        return "the blocking session has since gone"
    return "; ".join(
        f"blocked by pid {r['pid']} (user {r['usename']}, application {r['application_name']!r}, "
        f"{r['state']}, {r['mode']} on {r['table_name']})"
        for r in rows
    )


def migrate(
    url: str | None = None,
    *,
    to: str = "head",
    settings: MigrationSettings | None = None,
) -> MigrationOutcome:
    """Bring the database to `to` (default head). Safe to run twice and from many processes."""
    settings = settings or MigrationSettings()
    with _migration_connection(url, settings) as conn:
        driver = _driver(conn)
        before = current_revisions(driver)
        ensure_known_revisions(before)
        adopting = False
        if not before:
            existing = existing_tables(driver)
            if existing:
                live = schema_contract.snapshot(driver)
                blockers = schema_contract.adoption_blockers(live)
                if blockers:
                    raise IncompatibleSchema(
                        "existing tables "
                        + ", ".join(existing)
                        + " are not compatible with the chimera schema; nothing was changed",
                        blockers,
                    )
                adopting = True
        _run_alembic(command.upgrade, alembic_config(conn, url=url, settings=settings), to)
        after = current_revisions(driver)
        if adopting and after == [head_revision()]:
            diffs = schema_contract.differences(
                schema_contract.snapshot(driver), schema_contract.expected_snapshot()
            )
            if diffs:
                raise IncompatibleSchema(
                    "existing tables could not be brought to the chimera schema; "
                    "nothing was changed",
                    diffs,
                )
    return MigrationOutcome(before=before, after=after, adopted=adopting)


def downgrade(
    revision: str,
    url: str | None = None,
    *,
    allow_data_loss: bool = False,
    settings: MigrationSettings | None = None,
) -> MigrationOutcome:
    """Step the schema down to `revision` ('base' removes it); refuses to drop data unless allowed."""
    settings = settings or MigrationSettings()
    with _migration_connection(url, settings) as conn:
        driver = _driver(conn)
        before = current_revisions(driver)
        ensure_known_revisions(before)
        cfg = alembic_config(conn, url=url, settings=settings, allow_data_loss=allow_data_loss)
        _run_alembic(command.downgrade, cfg, revision)
        after = current_revisions(driver)
    return MigrationOutcome(before=before, after=after)


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
    _run_alembic(
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
    _run_alembic(
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


def pending_revisions(current: list[str]) -> list[str]:
    scripts = script_directory()
    lower = current[0] if current else "base"
    revs = list(scripts.iterate_revisions("heads", lower))
    return [r.revision for r in reversed(revs) if r.revision not in current]


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
        running = _migration_running(conn)
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


def _migration_running(driver: psycopg.Connection[Any]) -> dict[str, Any] | None:
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


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down revision, message), oldest first."""
    revs = list(script_directory().walk_revisions())
    out: list[tuple[str, str | None, str]] = []
    for rev in reversed(revs):
        down = rev.down_revision
        out.append(
            (
                rev.revision,
                down if isinstance(down, str) or down is None else ",".join(down),
                (rev.doc or "").splitlines()[0] if rev.doc else "",
            )
        )
    return out
