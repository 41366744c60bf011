"""The one boundary where driver exceptions become chimera-store errors (by SQLSTATE)."""

from __future__ import annotations

import re

import psycopg
from psycopg import errors as pg

from chimera_store.config import mask_password
from chimera_store.errors import (
    ChimeraError,
    ConnectionLost,
    DatabaseError,
    DatabaseUnavailable,
    HasChildren,
    InvalidInput,
    ParentNotFound,
    PermissionDenied,
    SchemaError,
    StatementCancelled,
    TransactionAborted,
    TransactionConflict,
)

# Foreign key constraint -> (parent entity, field) for "parent not found".
_PARENTS: dict[str, tuple[str, str]] = {
    "agents_campaign_id_fkey": ("campaign", "campaign_id"),
    "tasks_campaign_id_fkey": ("campaign", "campaign_id"),
    # Composite keys: a single-column DETAIL (from the trigger) means the parent is missing.
    "video_assets_agent_same_campaign_fkey": ("agent", "agent_id"),
    "video_assets_task_same_campaign_fkey": ("task", "task_id"),
}
# Composite keys that enforce the same-campaign rule.
_SAME_CAMPAIGN: dict[str, str] = {
    "video_assets_agent_same_campaign_fkey": "agent_id",
    "video_assets_task_same_campaign_fkey": "task_id",
}
_KEY_VALUE = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>[^)]*)\)")


# What the server (or libpq) says when it was reached but refused the login. A failed connection
# carries no SQLSTATE in psycopg, so the message is all there is.
_LOGIN_REFUSED = (
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "pg_hba.conf rejects",
    "permission denied for database",
)
_NO_SUCH_ROLE = re.compile(r'role "[^"]*" does not exist')


def translate_connect_error(exc: psycopg.Error) -> ChimeraError:
    return DatabaseUnavailable(_connect_failure(exc)[0])


def connect_failure_is_final(exc: psycopg.Error) -> bool:
    """True when retrying cannot help (login refused, no such database, bad settings); False when
    the server may simply not be up yet."""
    return _connect_failure(exc)[1]


def _connect_failure(exc: psycopg.Error) -> tuple[str, bool]:
    text = mask_password(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
    lowered = text.lower()
    if (
        isinstance(exc, pg.InvalidPassword | pg.InvalidAuthorizationSpecification)
        or any(phrase in lowered for phrase in _LOGIN_REFUSED)
        or _NO_SUCH_ROLE.search(text)
    ):
        return f"login refused: {text}", True
    if isinstance(exc, pg.InvalidCatalogName) or (
        "database" in lowered and "does not exist" in lowered
    ):
        return f"database does not exist: {text}", True
    if isinstance(exc, psycopg.ProgrammingError) or "for connection option" in lowered:
        return f"invalid connection settings: {text}", True
    return f"cannot reach the database: {text}", False


def _same_campaign_key(exc: psycopg.Error) -> tuple[str, str] | None:
    """(constraint, the key's first value) when a composite same-campaign key failed. The
    trigger's report of a missing parent names one column and is not one of these."""
    constraint = exc.diag.constraint_name or ""
    match = _KEY_VALUE.search(exc.diag.message_detail or "")
    if not isinstance(exc, pg.ForeignKeyViolation) or constraint not in _SAME_CAMPAIGN:
        return None
    if match is None or "," not in match.group("cols"):
        return None
    return constraint, match.group("vals").split(",")[0].strip()


def outside_campaign(exc: psycopg.Error) -> ParentNotFound | None:
    """For an import, which gives every asset its campaign: a same-campaign key failure means
    the asset's task or agent is not one of that campaign's (absent, or another campaign's)."""
    failed = _same_campaign_key(exc)
    if failed is None:
        return None
    constraint, value = failed
    entity, field = _PARENTS[constraint]
    return ParentNotFound(entity, value, field, how="is not one of this campaign's")


def translate(exc: psycopg.Error) -> ChimeraError:
    """Map one driver exception to the package's error."""
    diag = exc.diag
    constraint = diag.constraint_name or ""
    detail = diag.message_detail or ""
    if isinstance(exc, pg.ForeignKeyViolation):
        is_delete = "is still referenced" in detail
        if is_delete:
            return HasChildren(
                f"{diag.table_name or 'row'} is still referenced ({detail}); "
                "nothing is ever cascaded, purge the campaign instead"
            )
        failed = _same_campaign_key(exc)
        if failed is not None and failed[0] == "video_assets_task_same_campaign_fkey":
            # The asset's campaign_id is the task's own (its trigger reads it from the task; a
            # campaign import, which gives it, maps this with outside_campaign first): the task
            # was there for the trigger and gone for the key, deleted meanwhile (purge, clean).
            return ParentNotFound("task", failed[1], "task_id", how="was deleted meanwhile")
        if failed is not None:
            return InvalidInput(
                _SAME_CAMPAIGN[failed[0]],
                "not an agent of the task's campaign (another campaign's, or deleted meanwhile)",
            )
        match = _KEY_VALUE.search(detail)
        entity, field = _PARENTS.get(constraint, ("parent", "reference"))
        value = match.group("vals") if match else None
        return ParentNotFound(entity, value, field)
    if isinstance(exc, pg.CheckViolation):
        return InvalidInput(_field_of_check(constraint), f"violates {constraint}")
    if isinstance(exc, pg.NotNullViolation):
        return InvalidInput(diag.column_name or "value", "is required")
    if isinstance(exc, pg.UniqueViolation):
        return InvalidInput(_field_of_unique(detail), f"already exists ({detail})")
    if isinstance(exc, psycopg.DataError):  # SQLSTATE class 22 (pg.DataException is 22000 alone)
        return InvalidInput("value", diag.message_primary or str(exc))
    if isinstance(exc, pg.UndefinedTable | pg.UndefinedColumn | pg.UndefinedFunction):
        return SchemaError(
            f"the database schema is missing or outdated ({diag.message_primary}); "
            "run `chimera-store migrate`"
        )
    if isinstance(exc, pg.InsufficientPrivilege) and "alembic_version" in (
        diag.message_primary or ""
    ):
        return PermissionDenied(
            f"{diag.message_primary}: this database predates revision 0005_version_grants, which "
            "lets chimera_service and chimera_readonly read the schema revision; run "
            "`chimera-store migrate` as the database owner"
        )
    if isinstance(exc, pg.InsufficientPrivilege):
        return PermissionDenied(
            f"{diag.message_primary}: the role this store logs in as lacks that privilege "
            "(chimera_service may read and write the data, chimera_readonly only read it; "
            "docs/reliability.md, Roles); nothing was written"
        )
    if isinstance(exc, pg.InFailedSqlTransaction):
        return TransactionAborted(
            "this transaction was aborted by an earlier error in it and ignores every call "
            "until it ends; to go on after an error you expect, make the call that may fail "
            "inside a nested `with tx.transaction():` (a savepoint)"
        )
    if isinstance(exc, pg.DeadlockDetected | pg.SerializationFailure):
        return TransactionConflict(
            f"{diag.message_primary}: the transaction was rolled back, nothing of it was "
            "written; run it again (the whole `store.transaction()` block, if in one)"
        )
    if isinstance(exc, pg.QueryCanceled | pg.LockNotAvailable):
        return StatementCancelled(
            f"{diag.message_primary}: the server cancelled the statement (statement_timeout, "
            "lock_timeout or pg_cancel_backend), nothing of it was written"
        )
    if _connection_is_gone(exc):
        return ConnectionLost(f"connection lost: {diag.message_primary or exc}")
    if isinstance(exc, psycopg.InterfaceError):
        return ConnectionLost(f"connection unusable: {exc}")
    return DatabaseError(f"database error {diag.sqlstate}: {diag.message_primary or exc}")


def _connection_is_gone(exc: psycopg.Error) -> bool:
    """The connection itself failed: libpq's own errors (no SQLSTATE: the socket closed, the
    server went away), class 08 (connection exception) and the server ending the session
    (57P01-57P05: shutdown, crash, not accepting connections, database dropped, idle session
    timeout; 25P03: idle in transaction too long). Other operational errors (a deadlock, a
    timeout, a full disk) leave the connection usable and say something else."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    sqlstate = exc.diag.sqlstate or exc.sqlstate
    return (
        sqlstate is None
        or sqlstate.startswith("08")
        or sqlstate.startswith("57P")
        or sqlstate == "25P03"
    )


def _field_of_check(constraint: str) -> str:
    for table in ("video_assets", "campaigns", "agents", "tasks"):
        prefix = f"{table}_"
        if constraint.startswith(prefix) and constraint.endswith("_check"):
            return constraint[len(prefix) : -len("_check")]
    return constraint or "value"


def _field_of_unique(detail: str) -> str:
    match = _KEY_VALUE.search(detail)
    return match.group("cols") if match else "id"
