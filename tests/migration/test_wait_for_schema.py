"""`check --wait` / `schema_state.wait_for_schema`: a service's start-up waits for `migrate`."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from chimera_store import migrator, schema_state
from chimera_store.errors import DatabaseUnavailable, InvalidInput, SchemaNewerThanCode
from chimera_store.revisions import head_revision
from tests.helpers import revisions, run_cli

NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing"


def test_waits_until_a_migration_running_elsewhere_is_done(empty_db_url: str) -> None:
    timer = threading.Timer(2.0, migrator.migrate, args=(empty_db_url,))
    timer.start()
    try:
        started = time.monotonic()
        waited = run_cli("check", "--wait", "60", url=empty_db_url)
        elapsed = time.monotonic() - started
    finally:
        timer.join()
    assert waited.returncode == 0, waited.stderr
    assert "schema matches this version" in waited.stdout
    assert "waiting: revision is none (never migrated)" in waited.stderr
    assert elapsed >= 2.0  # it did wait for the migration, and returned once it was done
    assert revisions(empty_db_url) == [head_revision()]


def test_a_schema_still_behind_when_the_time_is_up(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url, to="0003_roles")
    said: list[str] = []
    diffs = schema_state.wait_for_schema(empty_db_url, timeout=1.5, poll=0.2, on_wait=said.append)
    assert diffs[0] == f"revision is 0003_roles, expected {head_revision()}"
    assert said == [diffs[0]]  # each reason once, not once per poll
    cli = run_cli("check", "--wait", "1", url=empty_db_url)
    assert cli.returncode == 1
    assert "- revision is 0003_roles" in cli.stderr
    assert revisions(empty_db_url) == ["0003_roles"]  # waiting changes nothing


def test_drift_at_head_is_reported_at_once(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("DROP INDEX video_assets_campaign_id_idx")
    started = time.monotonic()
    cli = run_cli("check", "--wait", "60", url=empty_db_url)
    assert cli.returncode == 1
    assert "video_assets_campaign_id_idx" in cli.stderr
    assert "waiting" not in cli.stderr
    assert time.monotonic() - started < 30  # no waiting can mend it
    as_json = run_cli("check", "--json", "--wait", "5", url=empty_db_url)
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["matches"] is False and data["head"] == head_revision()
    assert any("video_assets_campaign_id_idx" in d for d in data["differences"])
    migrator.downgrade("base", empty_db_url, allow_data_loss=True)
    migrator.migrate(empty_db_url)
    mended = run_cli("check", "--json", url=empty_db_url)
    assert mended.returncode == 0
    assert json.loads(mended.stdout) == {
        "matches": True,
        "head": head_revision(),
        "differences": [],
    }


def test_a_newer_schema_is_refused_at_once(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url)
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_future'")
    with pytest.raises(SchemaNewerThanCode):
        schema_state.wait_for_schema(empty_db_url, timeout=60)
    cli = run_cli("check", "--wait", "60", url=empty_db_url)
    assert cli.returncode == 5 and "0099_future" in cli.stderr


def test_a_database_that_never_answers(empty_db_url: str) -> None:
    with pytest.raises(DatabaseUnavailable):
        schema_state.wait_for_schema(NOWHERE, timeout=1, poll=0.2)
    cli = run_cli("check", "--wait", "1", url=NOWHERE)
    assert cli.returncode == 4, cli.stderr
    assert "waiting: cannot reach the database" in cli.stderr
    assert "error: cannot reach the database" in cli.stderr


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"timeout": -1}, "timeout"),  # was taken as 0
        ({"timeout": None}, "timeout"),  # was a TypeError
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": 5, "poll": 0}, "poll"),  # would look as fast as the server answers
        ({"timeout": 5, "poll": "1"}, "poll"),
    ],
)
def test_a_bad_timeout_or_poll_is_named(settings: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        schema_state.wait_for_schema(NOWHERE, **settings)  # type: ignore[arg-type]
    assert info.value.field == field
