"""`ping()` and `pool_stats()`: what a service's probes and metrics read from its store."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from chimera_store import ConnectionLost, DatabaseUnavailable, ParentNotFound
from chimera_store.store import AsyncStore, Store
from tests.integration.conftest import Sync

_SESSIONS = "FROM pg_stat_activity WHERE datname = current_database() AND application_name = "
_END = "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) " + _SESSIONS + "'chimera-store'"
# The timeout form waits (up to 5 s) until each backend has exited.
_END_AND_WAIT = (
    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
    + _SESSIONS
    + "'chimera-store'"
)


def _end_store_sessions(url: str, *, wait: bool = True) -> int:
    """The server ends every session the store opened on this database (a restart, say). With
    `wait`, each is gone when this returns; without, the ends may still be on their way to the
    client."""
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute(_END_AND_WAIT if wait else _END).fetchone()
    assert row is not None
    return int(row[0])


def test_ping_answers_and_pool_stats_count(store: Any, db_url: str) -> None:
    took = store.ping()
    assert isinstance(took, float) and 0 < took < 30_000
    stats = store.pool_stats()
    assert stats["pool_max"] == 4 and 1 <= stats["pool_size"] <= 4
    assert stats["pool_available"] <= stats["pool_size"]
    assert stats["requests_num"] >= 1  # the ping's checkout, at least
    # The server ended the pool's sessions: the next probe still answers, on a new connection.
    assert _end_store_sessions(db_url) >= 1
    assert store.ping() > 0


def test_a_store_over_one_connection(db_url: str) -> None:
    conn = psycopg.connect(db_url, autocommit=True, application_name="chimera-store")
    store = Store(conn)
    try:
        assert store.ping() > 0 and store.pool_stats() == {}
        with store.transaction() as tx:  # inside a transaction too, on its connection
            assert tx.ping() > 0 and tx.pool_stats() == {}
        _end_store_sessions(db_url)
        with pytest.raises(ConnectionLost):  # one connection: nothing to replace it with
            store.ping()
    finally:
        conn.close()


def test_ping_of_a_closed_store_says_so(db_url: str) -> None:
    store = Store.open(db_url, max_size=1)
    store.close()
    with pytest.raises(DatabaseUnavailable) as info:
        store.ping()
    assert "this store is closed" in str(info.value)

    async def closed_async() -> None:
        astore = await AsyncStore.open(db_url, max_size=1)
        await astore.close()
        with pytest.raises(DatabaseUnavailable):
            await astore.ping()

    asyncio.run(closed_async())


def test_a_ping_right_after_the_sessions_end_still_answers(store: Any, db_url: str) -> None:
    """The end of a pooled session may reach the client after the checkout's check and before
    the ping's answer: the ping then tries once more on a new connection (a probe must not call
    a database down that answers). Ten times, each racing the ends as they arrive."""
    for _ in range(10):
        store.ping()
        assert _end_store_sessions(db_url, wait=False) >= 1
        assert store.ping() > 0


def _callers_pool(flavour: str, url: str, runner: asyncio.Runner) -> tuple[Any, Any]:
    """A pool of the caller's own, in psycopg's default mode (not autocommit): one connection,
    so a call that left it in a transaction would be seen by the next."""
    if flavour == "sync":
        pool = ConnectionPool(url, min_size=1, max_size=1, open=True)
        return pool, Sync(Store(pool), None)
    apool = AsyncConnectionPool(url, min_size=1, max_size=1, open=False)
    runner.run(apool.open())
    return apool, Sync(AsyncStore(apool), runner)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_callers_pool_without_autocommit(
    flavour: str, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each call is committed at its end, as by the pool's own `connection()` block (another
    session sees the row), and a refused call is rolled back there, not by the pool with a
    warning: the connection goes back idle and the next call works."""
    with asyncio.Runner() as runner:
        pool, store = _callers_pool(flavour, db_url, runner)
        try:
            created = store.create_campaign("caller's pool", "g", "draft")
            with psycopg.connect(db_url) as other:
                seen = other.execute("SELECT name FROM campaigns WHERE id = %s", (created.id,))
                assert seen.fetchone() == ("caller's pool",)
            with caplog.at_level(logging.WARNING), pytest.raises(ParentNotFound):
                store.create_agent(uuid.uuid4(), "agents/x/SOUL.md", "lora:x")
            assert store.get_campaign(created.id) == created
            assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert store.pool_stats()["pool_available"] == 1
        finally:
            closing = pool.close()
            if flavour == "async":
                runner.run(closing)


@pytest.mark.store_settings(min_size=3, max_size=3)
def test_calls_one_after_another_reuse_the_connection_returned_last(
    store: Any, db_url: str
) -> None:
    """The store's pool hands out the idle connection returned last (newest first), so calls
    made one after another stay on one warm server process instead of going round all three
    (docs/performance.md): of the pool's three sessions, one ran the lookups."""
    assert store.pool_stats()["pool_size"] == 3
    created = store.create_campaign("newest first", "g", "draft")
    for _ in range(9):
        assert store.get_campaign(created.id) == created
    with psycopg.connect(db_url, autocommit=True) as admin:
        last = admin.execute("SELECT query " + _SESSIONS + "'chimera-store'").fetchall()
    assert len(last) == 3
    assert sum("FROM campaigns WHERE id" in query for (query,) in last) == 1, last
