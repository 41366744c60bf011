"""`clean`: finished work goes, work in flight stays, for both flavours of the data API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chimera_store import NotFound
from tests.helpers import snapshot

GOAL = {"goal_description": "post"}
CUTOFF = datetime(2026, 6, 1, tzinfo=UTC)
OLD = CUTOFF - timedelta(days=30)


def _finished_task(store: Any, campaign: Any, agent: Any, statuses: list[str]) -> Any:
    """A complete task created before the cut-off, with one history row and its assets
    (each moved once, so each has a history row too)."""
    task = store.create_task(
        campaign.id, "generate_content", "low", GOAL, status="review", created_at=OLD
    )
    store.transition_task(task.id, "complete", actor="judge")
    for status in statuses:
        start = {"published": "approved", "rejected": "judge_pending"}[status]
        asset = store.create_asset(agent.id, task.id, "tiktok", "tier1", "r", status=start)
        store.transition_asset(asset.id, status, actor="judge")
    return task


def _world(store: Any) -> dict[str, Any]:
    c = store.create_campaign("Retention", "g", "active")
    a = store.create_agent(c.id, "a/SOUL.md", "r")
    finished = _finished_task(store, c, a, ["published", "rejected"])
    no_assets = _finished_task(store, c, a, [])
    # Complete but one asset approved, not yet published: in flight.
    in_flight = store.create_task(
        c.id, "generate_content", "low", GOAL, status="complete", created_at=OLD
    )
    store.create_asset(a.id, in_flight.id, "tiktok", "tier1", "r", status="approved")
    pending = store.create_task(c.id, "generate_content", "low", GOAL, created_at=OLD)
    recent = store.create_task(c.id, "generate_content", "low", GOAL, status="complete")
    return {
        "finished": finished,
        "no_assets": no_assets,
        "in_flight": in_flight,
        "pending": pending,
        "recent": recent,
    }


def test_clean_removes_finished_work_and_only_that(store: Any, db_url: str) -> None:
    w = _world(store)
    dry = store.clean(CUTOFF, dry_run=True)
    assert (dry.tasks, dry.video_assets, dry.history) == (2, 2, 0)
    archived: list[dict[str, Any]] = []
    progress: list[int] = []
    counts = store.clean(CUTOFF, batch_size=1, archive=archived.append, progress=progress.append)
    # Two tasks, two assets; history: a row per task and per asset.
    assert (counts.tasks, counts.video_assets, counts.history) == (2, 2, 4)
    assert progress == [1, 1]  # one batch per task at batch_size 1
    by_id = {r["task"]["id"]: r for r in archived}
    assert set(by_id) == {str(w["finished"].id), str(w["no_assets"].id)}
    finished = by_id[str(w["finished"].id)]
    assert [h["to_status"] for h in finished["history"]] == ["complete"]
    assert sorted(a["status"] for a in finished["video_assets"]) == ["published", "rejected"]
    assert all(len(a["history"]) == 1 for a in finished["video_assets"])
    for gone in ("finished", "no_assets"):
        with pytest.raises(NotFound):
            store.get_task(w[gone].id)
    for kept in ("in_flight", "pending", "recent"):
        assert store.get_task(w[kept].id) == w[kept]
    assert len(store.list_assets(task_id=w["in_flight"].id).items) == 1
    again = store.clean(CUTOFF)
    assert (again.tasks, again.video_assets, again.history) == (0, 0, 0)


def test_an_archive_that_fails_keeps_its_batch(store: Any, db_url: str) -> None:
    _world(store)
    before = snapshot(db_url)

    def broken(record: dict[str, Any]) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.clean(CUTOFF, archive=broken)
    assert snapshot(db_url) == before  # the batch being archived was rolled back
