"""Reliability scenario 5b: a janitor requeues while the Workers it thinks dead submit.

Every task ends exactly one way: requeued (pending; its Worker's later submission refused with
StaleState) or submitted (review; the janitor skipped it or found it already moved). None is
both, none is lost, each has exactly one history entry.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from chimera_store import StaleState
from chimera_store.store import AsyncStore

FULL = os.environ.get("CHIMERA_STRESS") == "full"


async def _race(url: str, tasks: int, workers: int) -> tuple[Any, Counter[str]]:
    async with await AsyncStore.open(url, min_size=4, max_size=workers + 2) as store:
        c = await store.create_campaign("Race", "g", "active")
        long_ago = datetime.now(UTC) - timedelta(hours=2)
        held = [
            await store.create_task(
                c.id,
                "generate_content",
                "low",
                {"goal_description": "g"},
                status="in_progress",
                assigned_worker_id=f"w{i % workers}",
                created_at=long_ago,
            )
            for i in range(tasks)
        ]
        outcomes: Counter[str] = Counter()

        async def worker(n: int) -> None:
            # Each Worker submits its own tasks oldest first, a few ms apart (rendering), while
            # the janitor walks them newest first: the two meet in the middle.
            for task in held[n::workers]:
                try:
                    await store.submit_task(task.id, task_version=task.version, actor=f"w{n}")
                    outcomes["submitted"] += 1
                except StaleState:
                    outcomes["stale"] += 1
                await asyncio.sleep(0.005)

        janitor = store.requeue_tasks(
            unchanged_since=datetime.now(UTC) - timedelta(hours=1), actor="janitor"
        )
        results = await asyncio.gather(janitor, *(worker(n) for n in range(workers)))
        return results[0], outcomes


def test_requeue_racing_live_workers_settles_each_task_once(db_url: str) -> None:
    tasks, workers = (2000, 16) if FULL else (200, 8)
    requeue, outcomes = asyncio.run(_race(db_url, tasks, workers))
    assert outcomes["submitted"] + outcomes["stale"] == tasks
    assert outcomes["submitted"] > 0 and requeue.requeued  # they did meet
    assert len(requeue.requeued) == outcomes["stale"]  # each requeued task's Worker was refused
    assert set(requeue.skipped) <= set(requeue.found)
    with psycopg.connect(db_url) as conn:
        status = Counter(dict(conn.execute("SELECT status, count(*) FROM tasks GROUP BY status")))
        assert status == +Counter(pending=len(requeue.requeued), review=outcomes["submitted"])
        pending = {r[0] for r in conn.execute("SELECT id FROM tasks WHERE status = 'pending'")}
        assert pending == set(requeue.requeued)
        # One move each, never both: no task was requeued and submitted.
        per_task = conn.execute(
            "SELECT count(*), min(to_status), max(to_status) FROM task_status_history "
            "GROUP BY task_id"
        ).fetchall()
        assert len(per_task) == tasks and all(n == 1 for n, _, _ in per_task)
    print(
        f"\nrequeue race: {tasks} tasks, {workers} workers: {len(requeue.requeued)} requeued, "
        f"{outcomes['submitted']} submitted ({len(requeue.skipped)} of them skipped by the "
        "janitor after its listing)"
    )
