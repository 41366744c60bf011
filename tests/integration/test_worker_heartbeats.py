"""`chimera_store.worker.heartbeats`: an asyncio Worker's task kept alive while it works, and
the work stopped the moment the task is taken back."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from chimera_store import InvalidInput, NotFound, StaleState
from chimera_store.ids import new_id as uuid7
from chimera_store.store import AsyncStore, Store
from chimera_store.worker import heartbeats, heartbeats_sync

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
            # was a TypeError; an infinite interval overflowed heartbeats_sync's thread
            for every in (0, "60", float("inf")):
                with pytest.raises(InvalidInput) as info:
                    async with heartbeats(store, task.id, task_version=task.version, every=every):  # type: ignore[arg-type]
                        pass
                assert info.value.field == "every"

    asyncio.run(run())


def test_a_beat_held_up_is_logged_and_the_beats_go_on(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The store waits at most 100 ms for a row lock; an operator's transaction holds the task's
    # row for 0.5 s, so the beats in between fail (StatementCancelled). They used to end the
    # beats for good, silently, and raise from the `async with` once the work was done.
    url = make_conninfo(db_url, options="-c lock_timeout=100ms")

    async def run() -> None:
        async with await AsyncStore.open(url, max_size=3) as store:
            task = await _claimed(store)
            async with await psycopg.AsyncConnection.connect(db_url) as operator:
                held = await operator.execute(
                    "SELECT heartbeat_at FROM tasks WHERE id = %s FOR UPDATE", (task.id,)
                )
                before = await held.fetchone()
                async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                    await asyncio.sleep(0.5)  # the beats meet the lock
                    await operator.rollback()
                    await asyncio.sleep(0.3)  # and then go through again
            assert before is not None and before[0] is None
            beaten = await store.get_task(task.id)
            assert beaten.heartbeat_at is not None and beaten.version == task.version
            assert (await store.submit_task(task.id, task_version=task.version, actor="w1")).task

    with caplog.at_level(logging.WARNING, logger="chimera_store.worker"):
        asyncio.run(run())
    missed = [r.getMessage() for r in caplog.records if r.name == "chimera_store.worker"]
    assert missed and all("not sent" in m and "lock timeout" in m for m in missed), missed


def test_a_beat_over_a_lost_connection_is_logged_and_the_work_goes_on(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Over one connection nothing replaces it: every beat after the server ends the session
    # fails with ConnectionLost; the Worker's render is not cut short for that.
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=3) as store:
            task = await _claimed(store)
        conn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
        single = AsyncStore(conn)
        pid = conn.info.backend_pid
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        async with heartbeats(single, task.id, task_version=task.version, every=0.05):
            await asyncio.sleep(0.3)
        await conn.close()

    with caplog.at_level(logging.WARNING, logger="chimera_store.worker"):
        asyncio.run(run())
    missed = [r.getMessage() for r in caplog.records if r.name == "chimera_store.worker"]
    assert len(missed) >= 2 and all("not sent" in m for m in missed), missed


def test_a_purged_task_stops_the_work_with_not_found(db_url: str) -> None:
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=3) as store:
            task = await _claimed(store)
            with pytest.raises(NotFound) as info:
                async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                    await store.purge_campaign(task.campaign_id)
                    await asyncio.sleep(30)  # cut short at the next beat
            assert info.value.entity == "task"

    started = time.monotonic()
    asyncio.run(run())
    assert time.monotonic() - started < 5


def test_a_bad_task_id_or_version_is_refused_before_any_work(db_url: str) -> None:
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=1) as store:
            for task_id, version, field in (("nope", 1, "task_id"), (uuid7(), -1, "task_version")):
                with pytest.raises(InvalidInput) as info:
                    async with heartbeats(store, task_id, task_version=version):
                        raise AssertionError("the block ran")
                assert info.value.field == field

    asyncio.run(run())


def test_a_transactions_store_is_refused(db_url: str) -> None:
    # Its beats would commit only with the transaction, unseen by any janitor meanwhile, and a
    # failed one would abort the caller's transaction.
    async def run() -> None:
        async with await AsyncStore.open(db_url, max_size=2) as store:
            task = await _claimed(store)
            assert not store.in_transaction
            async with store.transaction() as tx:
                assert tx.in_transaction
                with pytest.raises(InvalidInput) as info:
                    async with heartbeats(tx, task.id, task_version=task.version):
                        raise AssertionError("the block ran")
                assert info.value.field == "store"
                assert (await tx.get_task(task.id)).heartbeat_at is None  # still usable
            async with heartbeats(store, task.id, task_version=task.version, every=0.05):
                await asyncio.sleep(0.2)
            assert (await store.get_task(task.id)).heartbeat_at is not None

    asyncio.run(run())


def test_in_transaction_says_whether_writes_wait_for_a_commit(db_url: str) -> None:
    with Store.open(db_url, max_size=2) as store:
        assert not store.in_transaction
        with store.transaction() as tx:
            assert tx.in_transaction
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert not Store(conn).in_transaction  # autocommit: each call commits
    with psycopg.connect(db_url) as conn:
        assert Store(conn).in_transaction  # not autocommit: the caller commits
        conn.execute("SELECT 1")
        assert Store(conn).in_transaction  # and now inside its transaction


def _claimed_sync(store: Store) -> Any:
    c = store.create_campaign("W", "g", "active")
    t = store.create_task(c.id, "generate_content", "low", GOAL)
    return store.transition_task(t.id, "in_progress", actor="w1", assigned_worker_id="w1")


def test_sync_beats_from_a_thread_while_the_block_runs_and_stop_after(db_url: str) -> None:
    with Store.open(db_url, max_size=3) as store:
        task = _claimed_sync(store)
        with heartbeats_sync(store, task.id, task_version=task.version, every=0.05) as beats:
            time.sleep(0.4)  # the render, in this thread
            beats.check()  # nothing refused
        beaten = store.get_task(task.id)
        assert beaten.heartbeat_at is not None and beaten.version == task.version
        time.sleep(0.2)
        assert store.get_task(task.id).heartbeat_at == beaten.heartbeat_at  # none after
        assert not [t for t in threading.enumerate() if t.name.startswith("chimera-heartbeats")]
        store.submit_task(task.id, task_version=task.version, actor="w1")


def test_sync_a_task_taken_back_is_raised_at_the_next_check_or_at_the_end(db_url: str) -> None:
    with Store.open(db_url, max_size=3) as store:
        task = _claimed_sync(store)
        started = time.monotonic()
        with (
            pytest.raises(StaleState) as info,
            heartbeats_sync(store, task.id, task_version=task.version, every=0.05) as beats,
        ):
            store.transition_task(task.id, "pending", actor="ops", reason="rebalance")
            for _ in range(3000):  # a long render, checking between frames
                beats.check()
                time.sleep(0.01)
        assert time.monotonic() - started < 5 and beats.refused.is_set()
        assert "stale heartbeat" in str(info.value)
        # A block that never checks: raised by the `with` as the block ends.
        again = store.transition_task(task.id, "in_progress", actor="w2", assigned_worker_id="w2")
        with (
            pytest.raises(StaleState),
            heartbeats_sync(store, task.id, task_version=again.version, every=0.05),
        ):
            store.transition_task(task.id, "pending", actor="ops")
            time.sleep(0.3)
        # Refused before any beat: a bad interval, a transaction's store.
        with (
            pytest.raises(InvalidInput) as bad,
            heartbeats_sync(store, task.id, task_version=again.version, every=0),
        ):
            raise AssertionError("the block ran")
        assert bad.value.field == "every"
        with (
            store.transaction() as tx,
            pytest.raises(InvalidInput) as in_tx,
            heartbeats_sync(tx, task.id, task_version=again.version),
        ):
            raise AssertionError("the block ran")
        assert in_tx.value.field == "store"
