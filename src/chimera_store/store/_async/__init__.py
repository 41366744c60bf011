"""The asyncio data API. The sync API (the `_sync` package beside it) is generated from these
modules by `tools/async_to_sync.py` (make sync-api); a test fails when the two drift apart.

Each module is one group of calls (a class over `StoreCore`); `AsyncStore` (store.py) is all
of them.
"""

from chimera_store.store._async.store import AsyncStore

__all__ = ["AsyncStore"]
