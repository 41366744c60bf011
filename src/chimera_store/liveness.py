"""Telling, without a round trip, that the server has hung up on an idle pooled connection.

When PostgreSQL restarts (an upgrade, a failover) or ends a session (`pg_terminate_backend`,
`idle_session_timeout`), it sends its goodbye and closes the socket; a pooled connection that is
idle does not notice until its next query fails. Without a check, each connection of a pool
costs one caller a ConnectionLost after every restart. psycopg_pool's own check sends an empty
query (a round trip on every checkout); this one asks the kernel whether the socket has anything
to read, which an idle connection never has unless the server spoke first: about a microsecond.
"""

from __future__ import annotations

import select
from typing import Any

import psycopg
from psycopg.pq import ConnStatus, TransactionStatus


def server_hung_up(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """True when an idle connection is closed, broken, or has unread input from the server
    (its goodbye; a notification would count too, and the pool's connections never LISTEN)."""
    pgconn = conn.pgconn
    if pgconn.status != ConnStatus.OK:
        return True
    if pgconn.transaction_status != TransactionStatus.IDLE:
        return True  # a pooled connection is returned idle; anything else cannot be reused
    return _readable(pgconn.socket)


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # poll, not select: select fails on descriptors >= 1024
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)  # Windows has no poll
    return bool(readable)
