"""`AsyncStore`: the asyncio data API, one class made of the store's groups of calls."""

from __future__ import annotations

from chimera_store.store._async.bulk import BulkCalls
from chimera_store.store._async.campaign_transfer import TransferCalls
from chimera_store.store._async.entities import EntityCalls
from chimera_store.store._async.lifecycle import LifecycleCalls
from chimera_store.store._async.recovery import RecoveryCalls
from chimera_store.store._async.retention import RetentionCalls


class AsyncStore(
    RecoveryCalls, EntityCalls, LifecycleCalls, BulkCalls, TransferCalls, RetentionCalls
):
    """Typed access to campaigns, agents, tasks and video assets.

    Open with `await AsyncStore.open(url)` (a pool; URL as for the CLI, default the embedded
    server), or wrap your own `AsyncConnectionPool` / `AsyncConnection`. Single operations are
    atomic; `async with store.transaction() as tx:` runs several in one transaction.
    """
