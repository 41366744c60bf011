"""The store's connections: opening a pool, checking it out, transactions, and the helpers every
call goes through (one row, a page, a record by id)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Self, TypeVar
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.pq import TransactionStatus
from psycopg.rows import AsyncRowFactory, args_row, tuple_row
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from chimera_store import validation as v
from chimera_store.config import resolve_target
from chimera_store.dberrors import connect_failure_is_final, translate, translate_connect_error
from chimera_store.errors import (
    ConnectionLost,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    SchemaError,
)
from chimera_store.jsonb_loads import adapters as jsonb_adapters
from chimera_store.liveness import server_hung_up
from chimera_store.records import Agent, Campaign, Page, Task, VideoAsset, encode_cursor
from chimera_store.revisions import schema_behind
from chimera_store.schema_contract import SCHEMA_TABLES
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store.pause import async_sleep

R = TypeVar("R", Campaign, Agent, Task, VideoAsset)
T = TypeVar("T")
Row = TypeVar("Row")


def reader(conn: AsyncConnection[Any], row_factory: AsyncRowFactory[Row]) -> AsyncCursor[Row]:
    """A cursor for the rows a call reads, with its row factory named (a connection or pool a
    caller passes in may have another, such as psycopg's `dict_row`) and results in binary:
    uuids as 16 bytes and times as numbers, not text to parse (a 100-row page 8 % faster), and
    whatever DateStyle the session has (psycopg cannot parse timestamps in the SQL, German or
    Postgres styles a database or role may be set to). Over a caller's connection whose cursors
    bind on the client (ClientCursor), which cannot take binary results: text."""
    binary = not issubclass(conn.cursor_factory, inputs.CLIENT_SIDE_CURSORS)
    return conn.cursor(row_factory=row_factory, binary=binary)


def tuples(conn: AsyncConnection[Any]) -> AsyncCursor[tuple[Any, ...]]:
    """A `reader` of plain tuples, for the statements whose rows the store reads by position."""
    return reader(conn, tuple_row)


_log = logging.getLogger("chimera_store.pool")
_statistics_log = logging.getLogger("chimera_store.statistics")
_RECHECK_TIMEOUT = 5.0  # s: the direct attempt that says why the pool timed out
_SCHEMA_POLL = 1.0  # s: between looks at the schema while `open(schema_wait=...)` waits


class StoreCore:
    """What every call of the store stands on: its pool or connection, and transactions. The
    calls themselves are in the classes `AsyncStore` is made of (store.py)."""

    def __init__(
        self,
        source: AsyncConnectionPool[AsyncConnection[Any]] | AsyncConnection[Any],
        *,
        owns_pool: bool = False,
    ) -> None:
        if not isinstance(source, (AsyncConnectionPool, AsyncConnection)):
            # A URL here is the usual slip; without this the first call failed an assert.
            name, pool, conn = type(self).__name__, AsyncConnectionPool, AsyncConnection
            raise TypeError(
                f"{name}() takes a pool ({pool.__name__}) or a connection ({conn.__name__}), not "
                f"{type(source).__name__}; for a URL use {name}.open(url)"
            )
        inputs.check_callers_settings(source)
        self._pool = source if isinstance(source, AsyncConnectionPool) else None
        self._conn = source if isinstance(source, AsyncConnection) else None
        self._owns_pool = owns_pool

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 30.0,
        prepare_threshold: int | None = 5,
        max_idle: float = 600.0,
        check_schema: bool = True,
        schema_wait: float = 0.0,
    ) -> Self:
        """A store over a new connection pool. `prepare_threshold=None` for pgbouncer < 1.21.

        The pool grows up to `max_size` while calls wait and closes connections idle for
        `max_idle` seconds, down to `min_size`; it hands out the idle connection returned last.
        With `check_schema`, a database without this version's migrations is refused at once
        (SchemaError) rather than at the first call that needs them; with `schema_wait`, only
        after waiting that many seconds for them (a service started beside its migration job)."""
        inputs.check_pool_settings(
            min_size, max_size, connect_timeout, max_idle, prepare_threshold, schema_wait
        )
        if url is not None and not isinstance(url, str):
            raise InvalidInput("url", f"must be a libpq URL (a str), got {type(url).__name__}")
        target_url = url or resolve_target().url
        # One direct attempt first: a refused login or a missing database is final, so it is
        # reported at once instead of after the pool has retried for `connect_timeout` seconds.
        # An unreachable server is left to the pool, which keeps trying (a service may start
        # before its database).
        failure = await _connect_once(target_url, connect_timeout)
        if failure is not None and connect_failure_is_final(failure):
            raise translate_connect_error(failure)

        async def check(conn: AsyncConnection[Any]) -> None:
            await _refresh_if_hung_up(pool, conn)

        pool: AsyncConnectionPool[AsyncConnection[Any]] = _NewestFirstPool(
            target_url,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            max_idle=max_idle,
            check=check,
            open=False,
            kwargs={
                "context": jsonb_adapters(),
                "autocommit": True,
                "prepare_threshold": prepare_threshold,
                "application_name": "chimera-store",
                # Whatever the database or role sets: what the store writes is any Unicode.
                "client_encoding": "UTF8",
            },
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            await pool.close()
            failure = await _connect_once(target_url, connect_timeout)  # to say *why*
            if failure is not None:
                raise translate_connect_error(failure) from None
            raise DatabaseUnavailable("timed out connecting to the database") from None
        if check_schema:
            try:
                await _check_schema(pool, schema_wait)
            except BaseException:
                await pool.close()
                raise
        return cls(pool, owns_pool=True)

    async def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- health ------------------------------------------------------------------------------

    async def ping(self) -> float:
        """One round trip to the database, as any call makes it (a pool connection checked out,
        a statement, the answer): the milliseconds it took. For a service's readiness or
        liveness probe: a database that does not answer raises what any call would
        (DatabaseUnavailable, ConnectionLost), after the pool's own wait at most.

        A pooled connection the server ended just before (a restart) fails before its end was
        seen: the ping then replaces the pool's idle connections (a restart ended them all, as
        the checkout's check assumes) and tries once more on a new one, so a probe does not
        report a database down that answers (a `SELECT 1` is safe to repeat)."""
        start = time.perf_counter()
        try:
            await self._ping_once()
        except ConnectionLost:
            if self._pool is None:  # one connection: nothing to replace it with
                raise
            await self._pool.drain()
            await self._ping_once()
        return (time.perf_counter() - start) * 1000

    async def _ping_once(self) -> None:
        async with self._connection() as conn:
            try:
                await conn.execute(query("ping"))
            except psycopg.Error as exc:
                raise translate(exc) from None

    def pool_stats(self) -> dict[str, int]:
        """The pool's counters, for a service's metrics: psycopg_pool's `get_stats()`
        (`pool_size`, `pool_available`, `requests_waiting`, `requests_wait_ms`, ...; not
        `usage_ms`, see `_connection`). Empty for a store over one connection (or a
        transaction's)."""
        return {} if self._pool is None else dict(self._pool.get_stats())

    # --- connections and transactions -------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._conn is not None:
            yield self._conn
            return
        pool = self._pool
        assert pool is not None
        conn = await self._checkout(pool)
        # What `async with pool.connection()` does, minus what a call of ours never needs: it
        # commits even an idle connection (a lock and a wait) and times the use for its
        # `usage_ms` counter. 10 us of a 0.4 ms insert (docs/performance.md).
        try:
            yield conn
        except BaseException as exc:
            await _roll_back_after_error(conn)
            if isinstance(exc, psycopg.Error):
                raise translate(exc) from None
            if isinstance(exc, UnicodeEncodeError):  # a caller's pool on a non-UTF8 database
                raise inputs.encoding_error(conn.info.parameter_status("client_encoding")) from None
            raise
        else:
            # A caller's pool need not be in autocommit mode: then the call's statements are
            # in a transaction the block's end commits, as the pool's own block would.
            if conn.pgconn.transaction_status != TransactionStatus.IDLE and not conn.closed:
                try:
                    await conn.commit()
                except psycopg.Error as exc:
                    raise translate(exc) from None
        finally:
            await pool.putconn(conn)

    async def _checkout(
        self, pool: AsyncConnectionPool[AsyncConnection[Any]]
    ) -> AsyncConnection[Any]:
        try:
            return await pool.getconn()
        except PoolClosed:
            raise DatabaseUnavailable(
                "this store is closed (by `close()` or the end of its `with` block); open a new one"
            ) from None
        except PoolTimeout:
            # Either every connection is busy or the pool cannot open one: a direct attempt
            # tells which (only on this slow path), so a server that is down is not reported
            # as a busy pool. (A caller's pool may log in with kwargs this URL lacks: not tried.)
            url = pool.conninfo
            if self._owns_pool and isinstance(url, str):
                failure = await _connect_once(url, _RECHECK_TIMEOUT)
                if failure is not None:
                    raise translate_connect_error(failure) from None
            raise DatabaseUnavailable(
                f"no database connection free within {pool.timeout:g} s (all "
                f"{pool.max_size} of the pool's connections in use; inside "
                "`store.transaction() as tx`, call `tx`, not `store`)"
            ) from None
        except psycopg.Error as exc:
            raise translate(exc) from None

    @property
    def in_transaction(self) -> bool:
        """True when what this store writes is seen by others only once a transaction ends:
        the store a `transaction()` block yields, or one over a connection of the caller's that
        is not in autocommit mode (the caller commits) or is inside a transaction."""
        conn = self._conn
        return conn is not None and (
            not conn.autocommit or conn.info.transaction_status != TransactionStatus.IDLE
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Self]:
        """Run several operations atomically: `async with store.transaction() as tx: ...`."""
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    yield type(self)(conn)
            except psycopg.Error as exc:
                raise translate(exc) from None

    async def _analyse_new_tables(self, conn: AsyncConnection[Any]) -> None:
        """Before a large delete: have the tables that hold rows but no statistics yet analysed
        (one catalog read when they have statistics, the usual case). Without them each deleted
        task's foreign-key check reads the whole campaign's index (tables_without_statistics in
        store.sql). The owner and chimera_service may (chimera_analyse_new_tables, revision
        0007); another role gets a warning in the log: its delete is right, only slow."""
        tables = {"tables": list(SCHEMA_TABLES)}
        cur = await tuples(conn).execute(query("tables_without_statistics"), tables)
        missing = await cur.fetchall()
        if not missing:
            return
        if all(may_analyse for _, may_analyse in missing):
            await conn.execute(query("analyse_new_tables"))
            return
        _statistics_log.warning(
            "no planner statistics yet for %s, so this delete may be slow: run ANALYZE as "
            "the tables' owner, or wait for autovacuum",
            ", ".join(name for name, _ in missing),
        )

    async def _one(self, row_type: type[R], name: str, params: Mapping[str, Any]) -> R | None:
        async with self._connection() as conn:
            try:
                cur = reader(conn, args_row(row_type))
                await cur.execute(query(name), params)
                return await cur.fetchone()
            except psycopg.Error as exc:
                raise translate(exc) from None

    async def _page(
        self,
        row_type: type[R],
        name: str,
        filters: Mapping[str, Any],
        limit: int,
        cursor: str | None,
    ) -> Page[R]:
        statement, params = inputs.list_statement(name, filters, limit=limit, cursor=cursor)
        rows: list[R] = []
        async with self._connection() as conn:
            try:
                # Tuple rows, which psycopg builds in C, then one C call per record: a row
                # factory runs two Python frames per row (about 4% of a 100-row page's client
                # CPU).
                cur = await tuples(conn).execute(statement, params)
                rows = list(map(row_type._make, await cur.fetchall()))
            except psycopg.Error as exc:
                raise translate(exc) from None
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return Page(items=rows, next_cursor=next_cursor)

    async def iterate(
        self,
        list_method: inputs.AsyncLister[T],
        /,
        *args: Any,
        page_size: int = 500,
        **filters: Any,
    ) -> AsyncIterator[T]:
        """Every record a list method finds, newest first, fetched page by page.

        `store.iterate(store.list_assets, campaign_id=c, status="draft")`, looped over with
        `for` (`async for` on an AsyncStore).
        Each page is its own short query (keyset), so no connection or transaction is held
        between pages; rows created after the walk started are newer and not included.
        """
        arguments = inputs.paging_filters(list_method, filters, page_size)
        cursor: str | None = None
        while True:
            page = await list_method(*args, **arguments, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def _get(self, row_type: type[R], name: str, entity: str, id: UUID | str) -> R:
        key = v.check_uuid(id, "id")
        row = await self._one(row_type, name, {"id": key})
        if row is None:
            raise NotFound(entity, key)
        return row


class _NewestFirstPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """psycopg_pool's pool, handing out the idle connection returned last rather than the one
    idle longest (last in, first out: SQLAlchemy's `pool_use_lifo`, node-postgres, npgsql).

    A service's calls are mostly one after another, so with round robin each went to a server
    process that had sat idle while the others ran: 25 - 50 us more per call with four
    connections than with one (docs/performance.md). Newest first keeps one process busy and
    warm; the connections a burst opened wait at the other end until `max_idle` closes them
    (docs/api.md: keep it below a server's idle timeout). Only the store's own pool: a
    caller's is theirs.
    """

    async def _get_ready_connection(self, *args: Any, **kwargs: Any) -> AsyncConnection[Any] | None:
        # Under the pool's lock. The pool appends a returned connection on the right and takes
        # from the left: the rightmost moves to the left first, the others keep their order.
        # Arguments and attribute as psycopg_pool has them (private, pinned version); should
        # they change, calls go on, in turn (test_health's newest-first test then fails).
        idle = getattr(self, "_pool", None)
        if isinstance(idle, deque) and idle:
            idle.rotate(1)
        return await super()._get_ready_connection(*args, **kwargs)


async def _roll_back_after_error(conn: AsyncConnection[Any]) -> None:
    """As a connection's `with` block ends on an error: roll back what is open, and let a
    failure to (a broken connection) not hide the error itself; the pool then replaces it."""
    if conn.closed:
        return
    try:
        await conn.rollback()
    except Exception as exc:
        _log.warning("error ignored in rollback: %s", exc)


async def _check_schema(pool: AsyncConnectionPool[AsyncConnection[Any]], wait: float) -> None:
    """SchemaError when the database lacks migrations this code needs (see `open`), after
    polling for them for `wait` seconds."""
    deadline = time.monotonic() + wait
    said = None
    while True:
        problem = await _schema_problem(pool)
        if problem is None:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise SchemaError(problem + (f" (waited {wait:g} s for it)" if wait else ""))
        if problem != said:
            _log.info("waiting up to %.0f s for the schema: %s", left, problem)
            said = problem
        await async_sleep(min(_SCHEMA_POLL, left))


async def _schema_problem(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> str | None:
    async with pool.connection() as conn:
        try:
            cur = await tuples(conn).execute(query("version_table_exists"))
            row = await cur.fetchone()
            revisions: list[str] | None = None
            if row is not None and row[0]:
                cur = await tuples(conn).execute(query("current_revisions"))
                revisions = [str(r[0]) for r in await cur.fetchall()]
        except psycopg.Error as exc:
            raise translate(exc) from None
    return schema_behind(revisions)


async def _refresh_if_hung_up(
    pool: AsyncConnectionPool[AsyncConnection[Any]], conn: AsyncConnection[Any]
) -> None:
    """The pool's checkout check (see liveness.py). A connection the server hung up on is
    closed, and so is every other idle one (a restart ends them all): the caller then waits for
    a new connection instead of drawing the dead ones in turn, which the pool would space out
    by a backoff of 1 s, then 2 s, ... The raise makes the pool discard it and try again."""
    if not server_hung_up(conn):
        return
    _log.warning(
        "the database server closed an idle pooled connection (restarted or ended the "
        "session); reconnecting the pool"
    )
    await conn.close()
    await pool.drain()
    raise ConnectionLost("the server closed this idle connection")


async def _connect_once(url: str, connect_timeout: float) -> psycopg.Error | None:
    """One direct connection, closed at once: the driver's error, or None if it worked."""
    try:
        conn = await AsyncConnection.connect(url, connect_timeout=max(2, int(connect_timeout)))
    except psycopg.Error as exc:
        return exc
    await conn.close()
    return None
