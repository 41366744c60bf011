# WARNING: this file is generated from the _async package by tools/async_to_sync.py.
# DO NOT CHANGE: edit the _async package and run `make sync-api`.
"""`Store`: the synchronous data API, one class made of the store's groups of calls."""

from __future__ import annotations

from chimera_store.store._sync.bulk import BulkCalls
from chimera_store.store._sync.campaign_transfer import TransferCalls
from chimera_store.store._sync.entities import EntityCalls
from chimera_store.store._sync.lifecycle import LifecycleCalls
from chimera_store.store._sync.recovery import RecoveryCalls
from chimera_store.store._sync.retention import RetentionCalls


class Store(
    RecoveryCalls, EntityCalls, LifecycleCalls, BulkCalls, TransferCalls, RetentionCalls
):
    """Typed access to campaigns, agents, tasks and video assets.

    Open with `Store.open(url)` (a pool; URL as for the CLI, default the embedded
    server), or wrap your own `ConnectionPool` / `Connection`. Single operations are
    atomic; `with store.transaction() as tx:` runs several in one transaction.
    """
