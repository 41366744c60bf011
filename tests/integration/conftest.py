"""The two-flavour `store` fixture: one test body checks the sync and the async store."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from chimera_store.store import AsyncStore, Store


class Sync:
    """Runs the async store's coroutines to completion, so one test body checks both flavours."""

    def __init__(self, store: Any, runner: asyncio.Runner | None) -> None:
        self._store = store
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if self._runner is None or not callable(attr):
            return attr
        runner = self._runner

        def call(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            if isinstance(result, AsyncIterator):  # e.g. export_campaign: all it yields
                return runner.run(_drain(result))
            if not inspect.isawaitable(result):  # a plain method (pool_stats)
                return result
            return runner.run(result)

        return call


async def _drain(items: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def store(request: pytest.FixtureRequest, db_url: str) -> Iterator[Any]:
    """Each flavour over its own pool; `@pytest.mark.store_settings(...)` changes `open()`'s."""
    marker = request.node.get_closest_marker("store_settings")
    settings = {"max_size": 4, **(marker.kwargs if marker else {})}
    if request.param == "sync":
        s = Store.open(db_url, **settings)
        yield Sync(s, None)
        s.close()
    else:
        with asyncio.Runner() as runner:
            a = runner.run(AsyncStore.open(db_url, **settings))
            yield Sync(a, runner)
            runner.run(a.close())
