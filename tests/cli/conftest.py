"""What the command-line tests share: invoking the app in-process, and a seeded database."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from chimera_store.cli import app
from chimera_store.demo import _id

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


def tasks_in_review(url: str, n: int) -> list[tuple[str, int, list[str]]]:
    """n tasks in review of the first campaign: id, version, their submitted assets."""
    with psycopg.connect(url) as conn:
        tasks = conn.execute(
            "SELECT id::text, version FROM tasks WHERE campaign_id = %s AND status = 'review' "
            "AND EXISTS (SELECT 1 FROM video_assets a WHERE a.task_id = tasks.id "
            "AND a.status = 'judge_pending') ORDER BY id LIMIT %s",
            (str(_id("campaign", 0)), n),
        ).fetchall()
        return [
            (
                tid,
                version,
                [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT id FROM video_assets WHERE task_id = %s "
                        "AND status = 'judge_pending' ORDER BY id",
                        (tid,),
                    )
                ],
            )
            for tid, version in tasks
        ]
