"""`task submit`, `task approve` and `task reject`: an operator's submission of a task in
progress, or verdict on a task in review, moves the task and its assets together, with history,
or changes nothing."""

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


def _task_in_progress_with_drafts(url: str, drafts: int) -> tuple[str, int, list[str]]:
    """A task in progress of the first campaign with `drafts` more drafts (made here, as its
    Worker would have before it died): id, version, all of its drafts."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT t.id::text, t.version, g.id FROM tasks t "
            "JOIN agents g ON g.campaign_id = t.campaign_id "
            "WHERE t.campaign_id = %s AND t.status = 'in_progress' ORDER BY t.id LIMIT 1",
            (CAMPAIGN,),
        ).fetchone()
        assert row is not None
        task_id, version, agent_id = row
        conn.execute(
            "INSERT INTO video_assets (agent_id, task_id, platform, tier, "
            "character_reference_id) SELECT %s, %s, 'tiktok', 'tier1', 'r' "
            "FROM generate_series(1, %s)",
            (agent_id, task_id, drafts),
        )
        existing = conn.execute(
            "SELECT id::text FROM video_assets WHERE task_id = %s AND status = 'draft'",
            (task_id,),
        ).fetchall()
    return task_id, version, sorted(r[0] for r in existing)


def test_submit_moves_a_task_in_progress_and_its_drafts_to_review(seeded: str) -> None:
    task_id, version, drafts = _task_in_progress_with_drafts(seeded, 3)
    before = snapshot(seeded)
    refused = [
        (["task", "submit", task_id, "--task-version", str(version + 1)], 12, "stale submission"),
        (["task", "submit", task_id, "--asset", "nope"], 10, "--asset: not a UUID"),
        (["task", "submit", task_id, "--asset", str(_id("task", 1))], 10, "not a draft asset"),
        (["task", "submit", str(_id("task", 999_999))], 8, "not found"),
    ]
    for args, code, words in refused:
        result = cli(seeded, *args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output, (args, result.output)
    assert snapshot(seeded) == before
    # Only some drafts: the one named goes to the Judge, the others stay drafts.
    done = cli(seeded, "task", "submit", task_id, "--asset", drafts[0], "--actor", "ops-li")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(f"task {task_id}: in_progress -> review (version {version + 1});")
    assert "1 asset submitted" in done.stdout
    status, assets = _statuses(seeded, task_id)
    assert status == "review"
    assert {a: assets[a] for a in drafts} == {
        a: "judge_pending" if a == drafts[0] else "draft" for a in drafts
    }
    assert _last_history(seeded, "task_status_history", "task_id", task_id)[:3] == (
        "in_progress",
        "review",
        "ops-li",
    )
    # Submitted twice: the task is in review now, refused and nothing changed.
    after = snapshot(seeded)
    again = cli(seeded, "task", "submit", task_id, "--json")
    assert again.exit_code == 12 and "task is review" in again.output, again.output
    assert snapshot(seeded) == after


def test_submit_takes_every_draft_by_default(seeded: str) -> None:
    task_id, version, drafts = _task_in_progress_with_drafts(seeded, 2)
    done = cli(
        seeded, "task", "submit", task_id, "--reason", "worker died after rendering", "--json"
    )
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert (data["task"]["status"], data["task"]["version"]) == ("review", version + 1)
    assert sorted(data["submitted_asset_ids"]) == drafts
    assert _last_history(seeded, "task_status_history", "task_id", task_id)[3] == (
        "worker died after rendering"
    )
