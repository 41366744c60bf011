"""Errors that leave the connection usable: deadlocks, serialization failures, timeouts.

psycopg files them all under OperationalError, as it does a dropped connection; they used to
reach callers as ConnectionLost ("connection lost: deadlock detected", CLI exit 4), which sends
a service to reconnect logic when the right move is to run the transaction again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from chimera_store import (
    ChimeraError,
    ConnectionLost,
    DatabaseError,
    StatementCancelled,
    TransactionConflict,
)
from chimera_store.records import Task
from chimera_store.store import AsyncStore, Store
from tests.helpers import run_cli, snapshot

CONTEXT = {"goal_description": "g"}


def with_options(url: str, options: str) -> str:
    """The connection string with server settings for every session it opens (libpq's
    `options`; in a URL: `?options=-c%20statement_timeout%3D5s`)."""
    return make_conninfo(url, options=options)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store.open(db_url, max_size=4) as s:
        yield s


def two_tasks(store: Store) -> tuple[Task, Task]:
    c = store.create_campaign("c", "g", "active")
    return (
        store.create_task(c.id, "generate_content", "high", CONTEXT),
        store.create_task(c.id, "generate_content", "high", CONTEXT),
    )


def test_a_deadlock_is_a_conflict_and_only_the_winner_is_written(store: Store, db_url: str) -> None:
    a, b = two_tasks(store)
    both_hold_one = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def transaction(name: str, first: Task, second: Task, priority: str) -> None:
        try:
            with store.transaction() as tx:
                tx.update_task(first.id, priority=priority)
                both_hold_one.wait()
                tx.update_task(second.id, priority=priority)  # each waits on the other's row
            outcomes[name] = "committed"
        except ChimeraError as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=transaction, args=("ab", a, b, "low")),
        threading.Thread(target=transaction, args=("ba", b, a, "medium")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(map(str, outcomes)) == ["ab", "ba"]
    winner = next(k for k, v in outcomes.items() if v == "committed")
    loser = outcomes["ba" if winner == "ab" else "ab"]
    assert isinstance(loser, TransactionConflict) and not isinstance(loser, ConnectionLost)
    assert loser.exit_code == 16
    assert str(loser).startswith("deadlock detected: the transaction was rolled back")
    # The winner's priority on both rows: nothing of the loser's first update survived.
    expected = "low" if winner == "ab" else "medium"
    assert {store.get_task(a.id).priority, store.get_task(b.id).priority} == {expected}
    # Running the loser again is safe and works.
    store.update_task(a.id, priority="high")
    assert store.get_task(a.id).priority == "high"


def test_a_serialization_failure_is_a_conflict(db_url: str) -> None:
    with (
        psycopg.connect(db_url) as first_conn,
        psycopg.connect(db_url) as second_conn,
        Store.open(db_url) as setup,
    ):
        task, _ = two_tasks(setup)
        for c in (first_conn, second_conn):
            c.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        first, second = Store(first_conn), Store(second_conn)
        with first_conn.transaction():
            first.get_task(task.id)
            with pytest.raises(TransactionConflict) as info, second_conn.transaction():
                second.get_task(task.id)  # its snapshot is taken here
                # `first` changes the row and commits while `second` still holds the snapshot.
                threading.Thread(target=_update_now, args=(db_url, task.id)).run()
                second.update_task(task.id, priority="medium")
        assert "could not serialize access" in str(info.value)
        assert setup.get_task(task.id).priority == "low"


def _update_now(url: str, task_id: Any) -> None:
    with Store.open(url) as other:
        other.update_task(task_id, priority="low")


def test_a_statement_timeout_cancels_without_writing(store: Store, db_url: str) -> None:
    a, _ = two_tasks(store)
    with Store.open(with_options(db_url, "-c statement_timeout=200")) as impatient:
        with store.transaction() as tx:
            tx.update_task(a.id, priority="low")  # holds the row lock
            before = snapshot(db_url)
            with pytest.raises(StatementCancelled) as info:
                impatient.update_task(a.id, priority="medium")
            assert snapshot(db_url) == before
        assert info.value.exit_code == 17
        assert "statement timeout" in str(info.value) and "nothing of it was written" in str(
            info.value
        )
        # The connection was fine: the same store goes on.
        assert impatient.update_task(a.id, priority="medium").priority == "medium"


def test_a_lock_timeout_cancels_without_writing(store: Store, db_url: str) -> None:
    a, _ = two_tasks(store)
    with Store.open(with_options(db_url, "-c lock_timeout=200")) as impatient:
        with store.transaction() as tx:
            tx.update_task(a.id, priority="low")
            with pytest.raises(StatementCancelled) as info:
                impatient.update_task(a.id, priority="medium")
        assert "lock timeout" in str(info.value)
        assert store.get_task(a.id).priority == "low"


def test_async_deadlock_is_a_conflict(db_url: str) -> None:
    async def scenario() -> list[Any]:
        async with await AsyncStore.open(db_url, max_size=4) as store:
            c = await store.create_campaign("c", "g", "active")
            a, b = [
                await store.create_task(c.id, "generate_content", "high", CONTEXT) for _ in range(2)
            ]
            held = [asyncio.Event(), asyncio.Event()]

            async def transaction(me: int, first: Task, second: Task) -> str:
                async with store.transaction() as tx:
                    await tx.update_task(first.id, priority="low")
                    held[me].set()
                    await held[1 - me].wait()
                    await tx.update_task(second.id, priority="low")
                return "committed"

            return await asyncio.gather(
                transaction(0, a, b), transaction(1, b, a), return_exceptions=True
            )

    outcomes = asyncio.run(scenario())
    assert outcomes.count("committed") == 1
    (error,) = [o for o in outcomes if o != "committed"]
    assert isinstance(error, TransactionConflict)


def test_cli_statement_timeout_exits_17(store: Store, db_url: str) -> None:
    a, _ = two_tasks(store)
    with store.transaction() as tx:
        tx.update_task(a.id, priority="low")
        result = run_cli(
            "task",
            "update",
            str(a.id),
            "--priority",
            "medium",
            url=with_options(db_url, "-c statement_timeout=300"),
        )
    assert result.returncode == 17, result.stderr
    assert result.stderr.startswith("error: canceling statement due to statement timeout")
    assert "Traceback" not in result.stderr
    assert store.get_task(a.id).priority == "low"


def test_async_statement_timeout_cancels_without_writing(store: Store, db_url: str) -> None:
    a, _ = two_tasks(store)

    async def attempt() -> StatementCancelled:
        url = with_options(db_url, "-c statement_timeout=200")
        async with await AsyncStore.open(url) as impatient:
            with pytest.raises(StatementCancelled) as info:
                await impatient.update_task(a.id, priority="medium")
            return info.value

    with store.transaction() as tx:
        tx.update_task(a.id, priority="low")
        error = asyncio.run(attempt())
    assert "statement timeout" in str(error)
    assert store.get_task(a.id).priority == "low"


def test_a_read_only_session_is_a_database_error_with_its_sqlstate(
    store: Store, db_url: str
) -> None:
    """What a service pointed at a standby (or a database set read-only) sees: the server's
    SQLSTATE and message as DatabaseError, exit 19 (it was the base ChimeraError, exit 1, which
    `check` uses for "the schema differs")."""
    read_only = with_options(db_url, "-c default_transaction_read_only=on")
    before = snapshot(db_url)
    with Store.open(read_only) as replica, pytest.raises(DatabaseError) as info:
        replica.create_campaign("x", "g")

    async def attempt() -> DatabaseError:
        async with await AsyncStore.open(read_only) as replica:
            with pytest.raises(DatabaseError) as info_async:
                await replica.create_campaign("x", "g")
            return info_async.value

    for error in (info.value, asyncio.run(attempt())):
        assert str(error) == (
            "database error 25006: cannot execute INSERT in a read-only transaction"
        )
        assert error.exit_code == 19
    result = run_cli("campaign", "create", "x", "--goal", "g", url=read_only)
    assert result.returncode == 19, result.stderr
    assert result.stderr.startswith("error: database error 25006")
    assert snapshot(db_url) == before
