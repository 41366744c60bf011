"""`task approve` and `task reject`: an operator's verdict on a task in review moves the task
and its submitted assets together, with history, or changes nothing."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from chimera_store.demo import _id
from tests.cli.conftest import cli, tasks_in_review
from tests.helpers import snapshot

CAMPAIGN = str(_id("campaign", 0))


def _statuses(url: str, task_id: str) -> tuple[str, dict[str, str]]:
    with psycopg.connect(url) as conn:
        task = conn.execute("SELECT status FROM tasks WHERE id = %s", (task_id,)).fetchone()
        assets = conn.execute(
            "SELECT id::text, status FROM video_assets WHERE task_id = %s", (task_id,)
        ).fetchall()
    assert task is not None
    return task[0], dict(assets)


def _last_history(url: str, table: str, key: str, record_id: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT from_status, to_status, actor, reason FROM {table} WHERE {key} = %s "
            "ORDER BY id DESC LIMIT 1",
            (record_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_approve_completes_the_task_and_approves_its_submitted_assets(seeded: str) -> None:
    (task_id, version, submitted), (other_id, _v, other_assets) = tasks_in_review(seeded, 2)
    _status, before = _statuses(seeded, task_id)
    done = cli(seeded, "task", "approve", task_id, "--actor", "reviewer-ana", "--reason", "ok")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"task {task_id}: review -> complete (version {version + 1});")
    assert f"{len(submitted)} asset" in done.stdout
    status, after = _statuses(seeded, task_id)
    assert status == "complete"
    for asset_id, was in before.items():  # drafts, rejected or published ones stay as they were
        assert after[asset_id] == ("approved" if asset_id in submitted else was)
    assert _last_history(seeded, "task_status_history", "task_id", task_id) == (
        "review",
        "complete",
        "reviewer-ana",
        "ok",
    )
    assert _last_history(seeded, "asset_status_history", "asset_id", submitted[0])[:3] == (
        "judge_pending",
        "approved",
        "reviewer-ana",
    )
    # Only some assets: the one named is approved, the others stay submitted.
    some = cli(seeded, "task", "approve", other_id, "--asset", other_assets[0], "--json")
    assert some.exit_code == 0, some.output
    assert json.loads(some.stdout)["approved_asset_ids"] == [other_assets[0]]
    assert {
        status for a, status in _statuses(seeded, other_id)[1].items() if a in other_assets[1:]
    } <= {"judge_pending"}


def test_refused_verdicts_change_nothing(seeded: str) -> None:
    (task_id, version, _assets), other = tasks_in_review(seeded, 2)
    before = snapshot(seeded)
    cases = [
        # The task changed since the version the operator reviewed.
        (["task", "approve", task_id, "--task-version", str(version - 1)], 12, "stale commit"),
        (
            ["task", "reject", task_id, "--reason", "r", "--task-version", str(version - 1)],
            12,
            "stale rejection",
        ),
        (["task", "reject", task_id], 2, "--reason"),  # a rejection says why
        (["task", "approve", task_id, "--asset", "nope"], 10, "--asset: not a UUID"),
        # A real asset, but not one this task submitted: refused, not silently skipped.
        (["task", "approve", task_id, "--asset", other[2][0]], 10, "not a submitted asset"),
        (["task", "approve", task_id, "--task-version", "0"], 10, "--task-version:"),
        (["task", "approve", str(_id("task", 999_999))], 8, "not found"),
    ]
    for args, code, words in cases:
        result = cli(seeded, *args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output, (args, result.output)
    assert snapshot(seeded) == before
    # Approving twice: the second finds the task complete, and changes nothing.
    assert cli(seeded, "task", "approve", task_id).exit_code == 0
    after_first = snapshot(seeded)
    again = cli(seeded, "task", "approve", task_id)
    assert again.exit_code == 12 and "task is complete" in again.output
    assert snapshot(seeded) == after_first


def test_a_paused_campaign_refuses_approval_but_not_rejection(seeded: str) -> None:
    (task_id, version, submitted), _second = tasks_in_review(seeded, 2)
    assert cli(seeded, "campaign", "set-status", CAMPAIGN, "paused").exit_code == 0
    before = snapshot(seeded)
    refused = cli(seeded, "task", "approve", task_id)
    assert refused.exit_code == 12 and "campaign is paused" in refused.output
    assert snapshot(seeded) == before
    rejected = cli(seeded, "task", "reject", task_id, "--reason", "off-brand", "--json")
    assert rejected.exit_code == 0, rejected.output
    data = json.loads(rejected.stdout)
    assert data["task"]["status"] == "pending" and data["task"]["version"] == version + 1
    assert sorted(data["rejected_asset_ids"]) == submitted
    status, assets = _statuses(seeded, task_id)
    assert status == "pending" and all(assets[a] == "rejected" for a in submitted)
    actor = _last_history(seeded, "task_status_history", "task_id", task_id)
    assert actor[:2] == ("review", "pending") and actor[3] == "off-brand"
    assert str(actor[2]).startswith("operator")  # the login name when --actor is not given
