"""`tasks requeue`: the tasks Workers that died still hold go back to pending, checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from chimera_store.store import Store
from tests.cli.conftest import cli
from tests.helpers import snapshot

GOAL = {"goal_description": "x"}


def _world(url: str) -> dict[str, Any]:
    old = datetime.now(UTC) - timedelta(hours=3)
    with Store.open(url) as store:
        c = store.create_campaign("Requeue", "g", "active")

        def task(**fields: Any) -> Any:
            return store.create_task(c.id, "generate_content", "low", GOAL, **fields)

        return {
            "campaign": c,
            "dead_1": task(status="in_progress", assigned_worker_id="w1", created_at=old),
            "dead_2": task(status="in_progress", assigned_worker_id="w2", created_at=old),
            "busy": task(status="in_progress", assigned_worker_id="w3"),  # claimed just now
            "queued": task(created_at=old),  # pending: nothing to hand back
        }


def _status(url: str, task: Any) -> str:
    with Store.open(url) as store:
        return str(store.get_task(task.id).status)


def test_requeue_moves_only_what_has_not_moved_for_that_long(db_url: str) -> None:
    w = _world(db_url)
    cid = str(w["campaign"].id)
    before = snapshot(db_url)
    dry = cli(db_url, "tasks", "requeue", "--campaign", cid, "--unchanged-since", "1h", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would requeue 2 tasks (dry run: nothing changed)" in dry.output
    assert str(w["dead_1"].id) in dry.output and str(w["busy"].id) not in dry.output
    assert snapshot(db_url) == before
    one = cli(db_url, "tasks", "requeue", "--campaign", cid, "--unchanged-since", "1h",
              "--worker", "w1", "--actor", "ops:ana")  # fmt: skip
    assert one.exit_code == 0, one.output
    assert "requeued 1 tasks (in_progress -> pending)" in one.output
    assert (
        _status(db_url, w["dead_1"]) == "pending" and _status(db_url, w["dead_2"]) == "in_progress"
    )
    with Store.open(db_url) as store:
        (entry,) = store.task_history(w["dead_1"].id)
    assert (entry.from_status, entry.to_status, entry.actor) == (
        "in_progress",
        "pending",
        "ops:ana",
    )
    assert entry.reason is not None and entry.reason.startswith(
        "requeued from w1: in_progress unchanged"
    )
    rest = cli(db_url, "tasks", "requeue", "--campaign", cid, "--unchanged-since", "1h", "--json")
    assert rest.exit_code == 0, rest.output
    data = json.loads(rest.stdout)
    assert data["requeued"] == [str(w["dead_2"].id)] and data["skipped"] == []
    assert _status(db_url, w["busy"]) == "in_progress" and _status(db_url, w["queued"]) == "pending"
    again = cli(db_url, "tasks", "requeue", "--campaign", cid, "--unchanged-since", "1h")
    assert again.exit_code == 0 and "requeued 0 tasks" in again.output


def test_a_task_that_moves_after_the_listing_is_skipped(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Worker was alive after all: it submits between the listing and the move."""
    w = _world(db_url)
    listing = Store.iterate

    def list_then_worker_moves(self: Store, *args: Any, **kwargs: Any) -> Any:
        found = list(listing(self, *args, **kwargs))
        with Store.open(db_url) as other:
            other.transition_task(w["dead_2"].id, "review", actor="w2")
        return iter(found)

    monkeypatch.setattr(Store, "iterate", list_then_worker_moves)
    result = cli(db_url, "tasks", "requeue", "--campaign", str(w["campaign"].id),
                 "--unchanged-since", "1h")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "requeued 1 tasks (in_progress -> pending); skipped 1 that moved or beat meanwhile" in (
        result.output
    )
    assert _status(db_url, w["dead_1"]) == "pending"
    assert _status(db_url, w["dead_2"]) == "review"  # the live Worker's move stands


def test_requeue_refuses_what_it_cannot_do(db_url: str) -> None:
    w = _world(db_url)
    before = snapshot(db_url)
    missing = cli(db_url, "tasks", "requeue", "--campaign", "00000000-0000-4000-8000-000000000000",
                  "--unchanged-since", "1h")  # fmt: skip
    assert missing.exit_code == 8 and "not found" in missing.output
    bad = cli(db_url, "tasks", "requeue", "--campaign", str(w["campaign"].id),
              "--unchanged-since", "lately")  # fmt: skip
    assert bad.exit_code == 10 and "--unchanged-since: 'lately' is neither" in bad.output
    required = cli(db_url, "tasks", "requeue", "--campaign", str(w["campaign"].id))
    assert required.exit_code == 2 and "--unchanged-since" in required.output
    assert snapshot(db_url) == before


def test_the_default_reason_gives_the_time_in_utc(db_url: str) -> None:
    w = _world(db_url)
    plus_two = timezone(timedelta(hours=2))
    typed = (datetime.now(UTC) - timedelta(hours=1)).astimezone(plus_two).replace(microsecond=0)
    result = cli(db_url, "tasks", "requeue", "--campaign", str(w["campaign"].id), "--worker", "w1",
                 "--unchanged-since", typed.isoformat())  # fmt: skip
    assert result.exit_code == 0, result.output
    with Store.open(db_url) as store:
        (entry,) = store.task_history(w["dead_1"].id)
    utc = typed.astimezone(UTC)
    assert entry.reason == (
        f"requeued from w1: in_progress unchanged since {utc:%Y-%m-%d %H:%M:%S} UTC"
    )


def test_without_a_campaign_every_campaign_is_searched(db_url: str) -> None:
    """A Worker node that died held tasks of several campaigns: `--worker` alone finds them."""
    first, second = _world(db_url), _world(db_url)
    result = cli(db_url, "tasks", "requeue", "--worker", "w1", "--unchanged-since", "1h", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(data["requeued"]) == sorted([str(first["dead_1"].id), str(second["dead_1"].id)])
    for w in (first, second):
        assert _status(db_url, w["dead_1"]) == "pending"
        assert _status(db_url, w["dead_2"]) == "in_progress"  # another worker's
