"""The package's one error hierarchy.

Every error a caller can see derives from `ChimeraError` and carries an `exit_code` that the command
line returns. Driver exceptions are translated into these at one boundary (`chimera_store.dberrors`),
so no caller ever has to catch a psycopg exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self
from uuid import UUID


class ChimeraError(Exception):
    """Base of every error raised by chimera-store."""

    exit_code = 1
    #: For a bulk call, the 1-based record (in the iterable given) the error is about.
    position: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self._unplaced = message  # the message without the record it is about

    def at_record(self, position: int, *, shown_as: str | None = None) -> Self:
        """Say which record of a bulk call this error is about: `position` is 1-based in the
        iterable given, and the message starts `record N:` (or `shown_as:`, e.g. a file line)."""
        self.position = position
        self.message = f"{shown_as or f'record {position}'}: {self._unplaced}"
        return self

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ChimeraError):
    """Bad configuration: an unparseable database URL, an unusable CHIMERA_HOME."""

    exit_code = 3


class DatabaseUnavailable(ChimeraError):
    """The server cannot be reached, refused the login, or the embedded server failed to start."""

    exit_code = 4


class ConnectionLost(DatabaseUnavailable):
    """The connection died during an operation (the socket closed, the server shut down or ended
    the session). A transaction it was in is rolled back; a single write whose reply was lost may
    have committed or not (read back to tell)."""


class SchemaError(ChimeraError):
    """The live schema is not what this version expects (missing, outdated, or incompatible)."""

    exit_code = 5


class SchemaNewerThanCode(SchemaError):
    """The database is at a revision this version of chimera-store does not know."""


class IncompatibleSchema(SchemaError):
    """Existing tables cannot be adopted; `differences` lists why, one readable line each."""

    def __init__(self, message: str, differences: list[str]) -> None:
        super().__init__(message)
        self.differences = differences


class MigrationLockTimeout(ChimeraError):
    """A migration could not get a lock in time; the message names the blocking session."""

    exit_code = 6


class DataLossRefused(ChimeraError):
    """A downgrade step would drop data and `--allow-data-loss` was not given."""

    exit_code = 7


class NotFound(ChimeraError):
    """The entity with that id does not exist."""

    exit_code = 8

    def __init__(self, entity: str, entity_id: UUID | str) -> None:
        super().__init__(f"{entity} {entity_id} not found")
        self.entity = entity
        self.entity_id = entity_id


class ParentNotFound(ChimeraError):
    """A referenced parent (campaign, agent, task) does not exist."""

    exit_code = 9

    def __init__(
        self, entity: str, entity_id: UUID | str | None, field: str, *, how: str = "does not exist"
    ) -> None:
        target = f"{entity} {entity_id}" if entity_id is not None else entity
        super().__init__(f"{field}: {target} {how}")
        self.entity = entity
        self.entity_id = entity_id
        self.field = field


class InvalidInput(ChimeraError):
    """Input refused before (or instead of) any write: names the field and the reason."""

    exit_code = 10

    def __init__(self, field: str, reason: str, *, position: int | None = None) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        if position is not None:
            self.at_record(position)


class InvalidTransition(ChimeraError):
    """A life-cycle change that the rules do not allow; nothing was changed."""

    exit_code = 11

    def __init__(
        self,
        entity: str,
        entity_id: UUID,
        current: str,
        requested: str,
        allowed: Sequence[str] = (),
    ) -> None:
        # The message says what *is* possible, so an operator's next command needs no manual.
        if current == requested:
            hint = "it is already there"
        elif allowed:
            hint = f"from {current!r} it can move to {', '.join(map(repr, allowed))}"
        else:
            hint = f"{current!r} is final"
        super().__init__(
            f"{entity} {entity_id}: cannot move from {current!r} to {requested!r} ({hint})"
        )
        self.entity = entity
        self.entity_id = entity_id
        self.current = current
        self.requested = requested
        self.allowed = tuple(allowed)


class StaleState(ChimeraError):
    """An optimistic commit found the state changed since it was read; nothing was changed."""

    exit_code = 12

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


class HasChildren(ChimeraError):
    """Deleting a row that still has children is refused (the schema never cascades)."""

    exit_code = 13


class OperationCancelled(ChimeraError):
    """The operator declined a guarded operation (no `--yes`)."""

    exit_code = 14


class TransactionConflict(ChimeraError):
    """PostgreSQL rolled the call's transaction back because it conflicted with another one (a
    deadlock, or a serialization failure at REPEATABLE READ / SERIALIZABLE). Nothing of that
    transaction was written; running it again is safe and usually succeeds."""

    exit_code = 16


class StatementCancelled(ChimeraError):
    """The server cancelled the statement: `statement_timeout`, `lock_timeout` (a row or table
    lock not granted in time), or an operator's `pg_cancel_backend`. Nothing of the statement was
    written (inside `store.transaction()`, the whole transaction is aborted). The connection is
    fine."""

    exit_code = 17


class PermissionDenied(ChimeraError):
    """The role the store logs in as lacks a privilege the call needs (a member of
    `chimera_readonly` writing, say). Nothing was written."""

    exit_code = 18


class DatabaseError(ChimeraError):
    """Any other error the server reported (a read-only transaction on a standby, a full disk):
    its SQLSTATE and message are in the text."""

    exit_code = 19


class TransactionAborted(ChimeraError):
    """A call inside `store.transaction()` after an earlier call in it failed: PostgreSQL ignores
    every statement until the transaction ends. To go on after an error you expect, run the call
    that may fail in a nested `tx.transaction()` (a savepoint)."""

    exit_code = 15
