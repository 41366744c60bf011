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


async def _held_tasks(store: AsyncStore, name: str, tasks: int, workers: int) -> list[Any]:
    """`tasks` tasks of a new campaign, in progress for two hours, held by `workers` Workers in
    turn (w0, w1, ...)."""
    c = await store.create_campaign(name, "g", "active")
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    return [
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


async def _race(url: str, tasks: int, workers: int) -> tuple[Any, Counter[str]]:
    async with await AsyncStore.open(url, min_size=4, max_size=workers + 2) as store:
        held = await _held_tasks(store, "Race", tasks, workers)
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


async def _heartbeats(url: str, tasks: int, workers: int, window: float) -> dict[str, Any]:
    """Live Workers beat every task they hold, dead ones do not; a janitor requeues what has
    not moved nor beaten for `window` seconds, again and again, for twice the window."""
    async with await AsyncStore.open(url, min_size=4, max_size=workers + 2) as store:
        held = await _held_tasks(store, "Beats", tasks, workers)
        live = {f"w{n}" for n in range(0, workers, 2)}  # every other Worker is alive
        stop = asyncio.Event()
        beats: Counter[str] = Counter()

        async def beat_all(n: int) -> None:
            for task in held[n::workers]:
                await store.heartbeat_task(task.id, task_version=task.version)
                beats["sent"] += 1

        async def live_worker(n: int) -> None:
            while not stop.is_set():
                await beat_all(n)
                await asyncio.sleep(0.05)

        async def janitor() -> list[Any]:
            requeued = []
            deadline = asyncio.get_running_loop().time() + 2 * window
            while asyncio.get_running_loop().time() < deadline:
                cut_off = datetime.now(UTC) - timedelta(seconds=window)
                done = await store.requeue_tasks(unchanged_since=cut_off, actor="janitor")
                requeued.extend(done.requeued)
                await asyncio.sleep(0.1)
            stop.set()
            return requeued

        alive = [n for n in range(workers) if f"w{n}" in live]
        await asyncio.gather(*(beat_all(n) for n in alive))  # beating before the janitor starts
        results = await asyncio.gather(janitor(), *(live_worker(n) for n in alive))
        by_id = {t.id: t for t in held}
        return {
            "requeued": [by_id[i] for i in results[0]],
            "live": [t for t in held if t.assigned_worker_id in live],
            "dead": [t for t in held if t.assigned_worker_id not in live],
            "beats": beats["sent"],
        }


def test_a_janitor_never_takes_a_task_whose_worker_beats(db_url: str) -> None:
    """Scenario 5c: with heartbeats, a requeue window far shorter than any render. Every dead
    Worker's task is requeued once; no live Worker's task ever is (its heartbeats all land:
    a StaleState would fail the gather)."""
    tasks, workers = (2000, 16) if FULL else (160, 8)
    out = asyncio.run(_heartbeats(db_url, tasks, workers, window=2.0))
    requeued = [t.id for t in out["requeued"]]
    assert len(requeued) == len(set(requeued))
    assert set(requeued) == {t.id for t in out["dead"]}
    with psycopg.connect(db_url) as conn:
        status = dict(conn.execute("SELECT id, status FROM tasks").fetchall())
        assert all(status[t.id] == "in_progress" for t in out["live"])
        assert all(status[t.id] == "pending" for t in out["dead"])
    print(
        f"\nheartbeats: {tasks} tasks, {workers} workers (half alive): {len(requeued)} requeued, "
        f"{out['beats']} heartbeats, no live Worker's task taken"
    )
