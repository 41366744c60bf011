"""chimera-store: the persistence layer of Project Chimera."""

from chimera_store.errors import (
    ChimeraError,
    ConnectionLost,
    DatabaseError,
    DatabaseUnavailable,
    DataLossRefused,
    HasChildren,
    IncompatibleSchema,
    InvalidInput,
    InvalidTransition,
    MigrationLockTimeout,
    NotFound,
    ParentNotFound,
    PermissionDenied,
    SchemaError,
    SchemaNewerThanCode,
    StaleState,
    StatementCancelled,
    TransactionAborted,
    TransactionConflict,
)

__version__ = "0.1.0"

__all__ = [
    "ChimeraError",
    "ConnectionLost",
    "DataLossRefused",
    "DatabaseError",
    "DatabaseUnavailable",
    "HasChildren",
    "IncompatibleSchema",
    "InvalidInput",
    "InvalidTransition",
    "MigrationLockTimeout",
    "NotFound",
    "ParentNotFound",
    "PermissionDenied",
    "SchemaError",
    "SchemaNewerThanCode",
    "StaleState",
    "StatementCancelled",
    "TransactionAborted",
    "TransactionConflict",
    "__version__",
]
