"""The benchmark's asyncio figure: `AsyncStore.create_asset` against a raw psycopg
`AsyncConnection` insert of the same row, alternating, as the sync single insert is measured.

The Planner, Worker and Judge are asyncio services, so what the asyncio flavour adds to a call
(its pool's checkout, the event loop's turns) is reported beside the sync figure; no target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import psycopg

from chimera_store.ids import new_id
from chimera_store.sql import query
from chimera_store.store import AsyncStore


def single_insert_ms(
    url: str, row: dict[str, Any], raw_params: dict[str, Any], *, warm: int, pairs: int
) -> tuple[list[float], list[float]]:
    """Milliseconds per insert: the API's of `row` and raw psycopg's of `raw_params` (the sync
    figure's, a fresh id each), `pairs` each after `warm` untimed."""
    return asyncio.run(_single_inserts(url, row, raw_params, warm, pairs))


async def _single_inserts(
    url: str, row: dict[str, Any], raw_params: dict[str, Any], warm: int, pairs: int
) -> tuple[list[float], list[float]]:
    statement = query("bench_raw_insert_asset")
    async with (
        await AsyncStore.open(url, min_size=1, max_size=2) as store,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as raw,
    ):

        async def raw_insert(params: dict[str, Any]) -> None:
            cur = await raw.execute(statement, params)
            await cur.fetchall()

        for _ in range(warm):
            await store.create_asset(**row)
            await raw_insert({**raw_params, "id": new_id()})
        api: list[float] = []
        base: list[float] = []
        for n in range(pairs):  # alternating order, as for the sync figure
            # Coroutines run only when awaited, inside the clock. Raw's row is made before,
            # as in the sync figure; the API makes its id inside the call, counted as its own.
            api_call = store.create_asset(**row)
            raw_call = raw_insert({**raw_params, "id": new_id()})
            if n % 2:
                api.append(await _ms(api_call))
                base.append(await _ms(raw_call))
            else:
                base.append(await _ms(raw_call))
                api.append(await _ms(api_call))
        return api, base


async def _ms(pending: Awaitable[Any]) -> float:
    start = time.perf_counter()
    await pending
    return (time.perf_counter() - start) * 1000
