"""`chimera_store.worker.heartbeats`: an asyncio Worker's task kept alive while it works, and
the work stopped the moment the task is taken back."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chimera_store import InvalidInput, StaleState
from chimera_store.store import AsyncStore
from chimera_store.worker import heartbeats

GOAL = {"goal_description": "g"}


async def _claimed(store: AsyncStore) -> Any:
    c = await store.create_campaign("W", "g", "active")
    t = await store.create_task(
        c.id,
        "generate_content",
        "low",
        GOAL,
        created_at=datetime.now(UTC) - timedelta(hours=2),
    )
    return await store.transition_task(t.id, "in_progress", actor="w1", assigned_worker_id="w1")


def test_beats_while_the_block_runs_and_stops_after(db_url: str) -> None:
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=3) as store:
            task = await _claimed(store)
            async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                await asyncio.sleep(0.4)  # the render
            beaten = await store.get_task(task.id)
            assert beaten.heartbeat_at is not None and beaten.version == task.version
            # The janitor's cut-off is older than the last beat: the task is not stuck.
            cut_off = beaten.heartbeat_at - timedelta(milliseconds=1)
            assert (await store.requeue_tasks(unchanged_since=cut_off, actor="ops")).found == []
            await asyncio.sleep(0.2)
            assert (await store.get_task(task.id)).heartbeat_at == beaten.heartbeat_at
            done = await store.submit_task(task.id, task_version=task.version, actor="w1")
            assert done.task.status == "review"

    asyncio.run(run())


def test_a_task_taken_back_stops_the_work(db_url: str) -> None:
    async def run() -> float:
        async with await AsyncStore.open(db_url, max_size=3) as store:
            task = await _claimed(store)

            async def operator() -> None:
                await asyncio.sleep(0.1)
                await store.transition_task(task.id, "pending", actor="ops", reason="rebalance")

            started = time.monotonic()
            taking_back = asyncio.create_task(operator())
            with pytest.raises(StaleState) as info:
                async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                    await asyncio.sleep(30)  # a long render, cut short
            await taking_back
            assert "stale heartbeat" in str(info.value) and "task is pending" in str(info.value)
            assert (await store.get_task(task.id)).status == "pending"
            return time.monotonic() - started

    assert asyncio.run(run()) < 5


def test_the_callers_own_cancel_is_not_taken_for_a_refusal(db_url: str) -> None:
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=3) as store:
            task = await _claimed(store)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                        await asyncio.sleep(30)
            beat = (await store.get_task(task.id)).heartbeat_at
            await asyncio.sleep(0.2)  # no beat after the block
            assert (await store.get_task(task.id)).heartbeat_at == beat
            with pytest.raises(InvalidInput) as info:
                async with heartbeats(store, task.id, task_version=task.version, every=0):
                    pass
            assert info.value.field == "every"

    asyncio.run(run())
