"""The data API: `AsyncStore` for asyncio services, `Store` for scripts and the CLI."""

from chimera_store.store._async import AsyncStore
from chimera_store.store._sync import Store

__all__ = ["AsyncStore", "Store"]
