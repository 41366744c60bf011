"""What the command-line tests share: invoking the app in-process, and a seeded database."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from chimera_store.cli import app

runner = CliRunner()


def cli(url: str, *args: str, input: str | None = None) -> Any:
    return runner.invoke(app, ["--database-url", url, *args], input=input)


def rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def seeded(db_url: str) -> str:
    result = cli(db_url, "demo")
    assert result.exit_code == 0, result.output
    return db_url
