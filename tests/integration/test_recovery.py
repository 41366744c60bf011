"""`requeue_tasks`: what Workers that died still hold goes back to pending, in both flavours."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chimera_store import InvalidInput, NotFound
from chimera_store.store import Store
from tests.helpers import snapshot

GOAL = {"goal_description": "x"}


def _stuck(store: Any, campaign: Any, worker: str, hours_ago: float) -> Any:
    return store.create_task(
        campaign.id,
        "generate_content",
        "low",
        GOAL,
        status="in_progress",
        assigned_worker_id=worker,
        created_at=datetime.now(UTC) - timedelta(hours=hours_ago),
    )


def test_requeue_tasks(store: Any, db_url: str) -> None:
    c = store.create_campaign("A", "g", "active")
    other = store.create_campaign("B", "g", "active")
    old_1, old_2 = _stuck(store, c, "w1", 3), _stuck(store, c, "w2", 2)
    elsewhere = _stuck(store, other, "w1", 3)
    recent = _stuck(store, c, "w1", 0)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    before = snapshot(db_url)
    dry = store.requeue_tasks(unchanged_since=hour_ago, actor="ops", campaign_id=c.id, dry_run=True)
    assert dry.found == [old_2.id, old_1.id] and dry.requeued == [] and dry.skipped == []
    assert snapshot(db_url) == before
    done = store.requeue_tasks(unchanged_since=hour_ago, actor="ops", assigned_worker_id="w1")
    assert sorted(done.requeued) == sorted([old_1.id, elsewhere.id]) and done.skipped == []
    assert store.get_task(old_1.id).status == "pending"
    assert store.get_task(old_2.id).status == "in_progress"  # w2's
    assert store.get_task(recent.id).status == "in_progress"  # not an hour old
    (entry,) = store.task_history(old_1.id)
    assert (entry.from_status, entry.to_status, entry.actor) == ("in_progress", "pending", "ops")
    assert entry.reason.startswith("requeued: in_progress unchanged since ")


def test_a_task_that_moves_meanwhile_is_skipped(store: Any, db_url: str) -> None:
    c = store.create_campaign("A", "g", "active")
    older, newer = _stuck(store, c, "w1", 3), _stuck(store, c, "w1", 2)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    handled: list[int] = []

    def live_worker_submits(n: int) -> None:
        # After the first (the newest) is handled, the older one's Worker turns out alive.
        handled.append(n)
        if len(handled) == 1:
            with Store.open(db_url) as worker_side:
                worker_side.transition_task(older.id, "review", actor="w1")

    outcome = store.requeue_tasks(
        unchanged_since=hour_ago, actor="ops", reason="node 3 died", progress=live_worker_submits
    )
    assert outcome.found == [newer.id, older.id]
    assert outcome.requeued == [newer.id] and outcome.skipped == [older.id]
    assert store.get_task(older.id).status == "review"  # the Worker's move stands
    assert store.task_history(newer.id)[0].reason == "node 3 died"
    assert handled == [1, 1]


def test_requeue_refuses_bad_input_and_changes_nothing(store: Any, db_url: str) -> None:
    c = store.create_campaign("A", "g", "active")
    _stuck(store, c, "w1", 3)
    before = snapshot(db_url)
    with pytest.raises(NotFound):
        store.requeue_tasks(
            unchanged_since=datetime.now(UTC), actor="ops", campaign_id=uuid.uuid4()
        )
    for fields, field in (
        ({"unchanged_since": datetime(2026, 1, 1)}, "unchanged_since"),
        ({"unchanged_since": None}, "unchanged_since"),
        ({"unchanged_since": datetime.now(UTC), "actor": ""}, "actor"),
        ({"unchanged_since": datetime.now(UTC), "campaign_id": "nope"}, "campaign_id"),
    ):
        with pytest.raises(InvalidInput) as info:
            store.requeue_tasks(**{"actor": "ops", **fields})
        assert info.value.field == field
    assert snapshot(db_url) == before
