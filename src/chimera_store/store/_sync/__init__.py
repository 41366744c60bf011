# WARNING: this file is generated from the _async package by tools/async_to_sync.py.
# DO NOT CHANGE: edit the _async package and run `make sync-api`.
"""The synchronous data API, generated from the asyncio one (the `_async` package
beside it) by `tools/async_to_sync.py` (make sync-api); a test fails when the two drift apart.

Each module is one group of calls (a class over `StoreCore`); `Store` (store.py) is all
of them.
"""

from chimera_store.store._sync.store import Store

__all__ = ["Store"]
