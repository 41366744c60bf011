"""The benchmark's asyncio figure: `AsyncStore.create_asset` against a raw psycopg
`AsyncConnection` insert of the same row, alternating, as the sync single insert is measured.

The Planner, Worker and Judge are asyncio services, so what the asyncio flavour adds to a call
(its pool's checkout, the event loop's turns) is reported beside the sync figure; no target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from chimera_store.ids import new_id
from chimera_store.sql import query
from chimera_store.store import AsyncStore


def single_insert_ms(
    url: str, row: dict[str, Any], *, warm: int, pairs: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per insert: the API's and raw psycopg's, `pairs` each after `warm` untimed."""
    return asyncio.run(_single_inserts(url, row, warm, pairs))


async def _single_inserts(
    url: str, row: dict[str, Any], warm: int, pairs: int
) -> tuple[list[float], list[float]]:
    store = await AsyncStore.open(url, min_size=1, max_size=2)
    raw = await psycopg.AsyncConnection.connect(url, autocommit=True)
    statement = query("bench_raw_insert_asset")
    raw_params = {**row, "status": "draft", "metadata": Jsonb(row["metadata"])}

    async def api_insert() -> None:
        await store.create_asset(**row)

    async def raw_insert(params: dict[str, Any]) -> None:
        cur = await raw.execute(statement, params)
        await cur.fetchall()

    try:
        for _ in range(warm):
            await api_insert()
            await raw_insert({**raw_params, "id": new_id()})
        api: list[float] = []
        base: list[float] = []
        for n in range(pairs):  # alternating order, as for the sync figure
            # Raw's row is made before its clock starts, as in the sync figure; the API makes
            # its id inside the call, so that is counted as the API's.
            raw_call: Callable[[], Awaitable[None]] = partial(
                raw_insert, {**raw_params, "id": new_id()}
            )
            sides: list[tuple[Callable[[], Awaitable[None]], list[float]]] = [
                (api_insert, api),
                (raw_call, base),
            ]
            for insert, times in sides if n % 2 else sides[::-1]:
                times.append(await _ms(insert))
        return api, base
    finally:
        await raw.close()
        await store.close()


async def _ms(call: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await call()
    return (time.perf_counter() - start) * 1000
