"""`requeue_tasks`: what Workers that died still hold goes back to pending, in both flavours."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from chimera_store import InvalidInput, NotFound, StaleState
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
    assert entry.reason.startswith("requeued from w1: in_progress unchanged since ")


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


def test_heartbeats_keep_a_slow_workers_task(store: Any, db_url: str) -> None:
    """A Worker on a long render sends heartbeats: its task is not 'unchanged', the requeue
    leaves it alone, and its version (hence its submission) is untouched."""
    c = store.create_campaign("A", "g", "active")
    slow, dead = _stuck(store, c, "w1", 3), _stuck(store, c, "w2", 3)
    beat = store.heartbeat_task(slow.id, task_version=slow.version)
    assert abs((beat - datetime.now(UTC)).total_seconds()) < 60
    beaten = store.get_task(slow.id)
    assert beaten == slow._replace(heartbeat_at=beat)  # the version stays
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    listed = store.list_tasks(c.id, status="in_progress", unchanged_since=hour_ago).items
    assert [t.id for t in listed] == [dead.id]
    done = store.requeue_tasks(unchanged_since=hour_ago, actor="ops")
    assert done.found == [dead.id] and done.requeued == [dead.id]
    assert store.get_task(slow.id).status == "in_progress"
    # A cut-off after the last heartbeat: the task is stuck after all.
    later = datetime.now(UTC) + timedelta(seconds=1)
    stuck = store.list_tasks(c.id, status="in_progress", unchanged_since=later).items
    assert [t.id for t in stuck] == [slow.id]
    submitted = store.submit_task(slow.id, task_version=slow.version, actor="w1")
    assert submitted.task.version == slow.version + 1


def test_a_heartbeat_during_the_requeue_keeps_the_task(store: Any, db_url: str) -> None:
    c = store.create_campaign("A", "g", "active")
    older, newer = _stuck(store, c, "w1", 3), _stuck(store, c, "w1", 2)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)

    handled: list[int] = []

    def worker_beats(n: int) -> None:
        # Listed as stuck; after the newest is handled, the older one's Worker (alive, only
        # slow) beats before the requeue gets to it.
        handled.append(n)
        if len(handled) == 1:
            with Store.open(db_url) as worker_side:
                worker_side.heartbeat_task(older.id, task_version=older.version)

    outcome = store.requeue_tasks(unchanged_since=hour_ago, actor="ops", progress=worker_beats)
    assert outcome.found == [newer.id, older.id]
    assert outcome.requeued == [newer.id] and outcome.skipped == [older.id]
    assert store.get_task(older.id).status == "in_progress"
    assert store.task_history(older.id) == []


def test_a_stale_heartbeat_is_refused_and_changes_nothing(store: Any, db_url: str) -> None:
    c = store.create_campaign("A", "g", "active")
    task = _stuck(store, c, "w1", 3)
    store.requeue_tasks(unchanged_since=datetime.now(UTC), actor="ops")  # taken back
    before = snapshot(db_url)
    with pytest.raises(StaleState) as info:
        store.heartbeat_task(task.id, task_version=task.version)
    assert "stale heartbeat" in str(info.value) and "task is pending" in str(info.value)
    with pytest.raises(NotFound):
        store.heartbeat_task(uuid.uuid4(), task_version=1)
    for bad, field in (({"task_id": "nope"}, "task_id"), ({"task_version": 0}, "task_version")):
        with pytest.raises(InvalidInput) as invalid:
            store.heartbeat_task(**{"task_id": task.id, "task_version": task.version, **bad})
        assert invalid.value.field == field
    assert snapshot(db_url) == before
    # Claimed again by another Worker: the first one's claimed version is stale too.
    again = store.transition_task(task.id, "in_progress", actor="w2", assigned_worker_id="w2")
    with pytest.raises(StaleState):
        store.heartbeat_task(task.id, task_version=task.version)
    assert store.heartbeat_task(task.id, task_version=again.version) is not None


def test_only_a_heartbeat_leaves_the_version(store: Any, db_url: str) -> None:
    """The database keeps versions: a heartbeat written by hand moves nothing, a change does."""
    c = store.create_campaign("A", "g", "active")
    task = _stuck(store, c, "w1", 1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE tasks SET heartbeat_at = now() WHERE id = %s", (task.id,))
        assert store.get_task(task.id).version == task.version
        conn.execute(
            "UPDATE tasks SET heartbeat_at = now(), priority = 'high' WHERE id = %s", (task.id,)
        )
    assert store.get_task(task.id).version == task.version + 1


def test_the_default_reason_names_the_worker_that_held_the_task(store: Any) -> None:
    c = store.create_campaign("A", "g", "active")
    held = _stuck(store, c, "worker-3", 3)
    unheld = store.create_task(c.id, "reply_comment", "low", GOAL, status="in_progress",
                               created_at=datetime.now(UTC) - timedelta(hours=3))  # fmt: skip
    # Relative to now, as the tasks' times are: a fixed cut-off (it was 2026-12-07 09:30) is
    # later than "3 hours ago" from some hour on, and then nothing was requeued.
    cut_off = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    moved = store.requeue_tasks(unchanged_since=cut_off, actor="janitor")
    assert set(moved.requeued) == {held.id, unheld.id}
    reasons = {t.id: store.task_history(t.id)[-1].reason for t in (held, unheld)}
    since = cut_off.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert reasons == {
        held.id: f"requeued from worker-3: in_progress unchanged since {since}",
        unheld.id: f"requeued: in_progress unchanged since {since}",
    }
