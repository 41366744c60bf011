"""Schema administration: migrate, downgrade, history (status and check: schema_state; SQL
scripts rendered ahead of time: migration_scripts).

Wraps Alembic (scripts in `chimera_store/migrations`) with what operators need on top: a lock that
serialises concurrent migrators, timeouts that name what blocks, adoption of compatible existing
tables, a guard against downgrades that drop data, and one clear error per failure.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
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
    TransactionConflict,
)
from chimera_store.revisions import (
    MIGRATION_LOCK_KEY,
    current_revisions,
    ensure_known_revisions,
    head_revision,
    known_revisions,
    migration_lock_holder,
)
from chimera_store.schema_contract import existing_tables
from chimera_store.sql import query


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
    holder = migration_lock_holder(driver)
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


def run_alembic(step: Any, cfg: Config, revision: str) -> None:
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
        run_alembic(command.upgrade, alembic_config(conn, url=url, settings=settings), to)
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
        run_alembic(command.downgrade, cfg, revision)
        after = current_revisions(driver)
    return MigrationOutcome(before=before, after=after)


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
