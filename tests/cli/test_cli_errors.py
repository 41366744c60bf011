"""A refused value is named the way the operator typed it (`--campaign`, `task_id`), not by the
data API's parameter (`campaign_id`, `id`), and nothing is written."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from chimera_store.demo import _id
from tests.cli.conftest import cli, rows

CAMPAIGN = str(_id("campaign", 0))
TASK = str(_id("task", 0))


def _snapshot(url: str) -> tuple[int, ...]:
    """Everything a refused command might have touched."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM tasks), (SELECT sum(version) FROM tasks), "
            "(SELECT sum(version) FROM campaigns), (SELECT sum(version) FROM video_assets), "
            "(SELECT count(*) FROM task_status_history), "
            "(SELECT count(*) FROM asset_status_history)"
        ).fetchone()
    assert row is not None
    return tuple(int(n) for n in row)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["assets", "list", "--agent", "nope"], "--agent: not a UUID"),
        (["assets", "list", "--task", "nope"], "--task: not a UUID"),
        (["assets", "list", "--campaign", CAMPAIGN, "--status", "done"], "--status: 'done'"),
        (["assets", "list", "--campaign", CAMPAIGN, "--tier", "gold"], "--tier: 'gold'"),
        (["assets", "list", "--campaign", CAMPAIGN, "--cursor", "xyz"], "--cursor: not a cursor"),
        (["tasks", "list", "--campaign", CAMPAIGN, "--type", "dance"], "--type: 'dance'"),
        (["tasks", "list", "--campaign", CAMPAIGN, "--priority", "asap"], "--priority: 'asap'"),
        (["campaigns", "list", "--status", "done"], "--status: 'done'"),
        (["campaign", "set-status", CAMPAIGN, "done"], "status: 'done' is not one of"),
        (["task", "show", "nope"], "task_id: not a UUID"),
        (["task", "export", "nope"], "task_id: not a UUID"),
        (["task", "set-status", "nope", "pending"], "task_id: not a UUID"),
        (["task", "set-status", TASK, "done"], "status: 'done' is not one of"),
        (["task", "set-status", TASK, "pending", "--actor", " "], "--actor: must not be empty"),
        (["asset", "show", "nope"], "asset_id: not a UUID"),
    ],
)
def test_refused_values_are_named_as_typed(seeded: str, args: list[str], named: str) -> None:
    before = _snapshot(seeded)
    result = cli(seeded, *args, input="")
    assert result.exit_code == 10, result.output
    assert result.output.startswith(f"error: {named}"), result.output
    assert "_id:" not in result.output or named.split(":")[0].endswith("_id")
    assert _snapshot(seeded) == before


@pytest.mark.parametrize(
    "args",
    [
        ["assets", "list", "--campaign", "nope"],
        ["agents", "list", "--campaign", "nope"],
        ["campaign", "show", "nope"],
        ["campaign", "purge", "nope", "--yes"],
        ["tasks", "import", "-", "--campaign", "nope"],
    ],
)
def test_a_campaign_named_by_no_id_or_name_is_not_found(seeded: str, args: list[str]) -> None:
    """Not "not a UUID" (a campaign may be named): looked up as a name, and not there."""
    before = _snapshot(seeded)
    result = cli(seeded, *args, input="")
    assert result.exit_code == 8, result.output
    assert result.output.startswith("error: campaign 'nope' not found"), result.output
    assert _snapshot(seeded) == before


def test_a_record_of_an_import_keeps_its_own_field_names(seeded: str) -> None:
    # The file's field, with its line: not renamed after an option of the command.
    exported = cli(seeded, "task", "export", TASK)
    assert exported.exit_code == 0, exported.output
    bad = {**json.loads(exported.stdout), "task_id": str(uuid.uuid4()), "priority": "asap"}
    before = rows(seeded, "tasks")
    result = cli(seeded, "tasks", "import", "-", "--campaign", CAMPAIGN, input=json.dumps(bad))
    assert result.exit_code == 10, result.output
    assert result.output.startswith("error: line 1: priority: "), result.output
    assert rows(seeded, "tasks") == before


def test_import_into_an_unknown_campaign_is_refused_before_reading(seeded: str) -> None:
    before = rows(seeded, "tasks")
    unknown = str(uuid.uuid4())
    result = cli(seeded, "tasks", "import", "-", "--campaign", unknown, input="not json\n")
    assert result.exit_code == 8, result.output
    assert f"campaign {unknown} not found" in result.output and "line" not in result.output
    assert rows(seeded, "tasks") == before


def test_assets_list_without_a_scope_is_a_usage_error(seeded: str) -> None:
    result = cli(seeded, "assets", "list", "--status", "draft")
    assert result.exit_code == 2, result.output
    assert "'--campaign', '--agent' or '--task'" in result.output
    assert "campaign_id" not in result.output
