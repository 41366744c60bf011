"""`dry_run=True` on the imports: everything done and checked, then rolled back."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from chimera_store import InvalidInput, ParentNotFound
from chimera_store.store import AsyncStore, Store
from tests.helpers import asset_record, snapshot
from tests.integration.test_transfer import as_file, build

CONTEXT = {"goal_description": "g"}


def world(store: Any) -> tuple[Any, Any, Any]:
    c = store.create_campaign("C", "g", "active")
    a = store.create_agent(c.id, "p", "r")
    t = store.create_task(c.id, "generate_content", "high", CONTEXT)
    return c, a, t


def test_bulk_ingest_dry_run_counts_and_writes_nothing(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    assets = [asset_record(a.id, t.id, metadata={"n": i}) for i in range(30)]
    tasks = [
        {"campaign_id": c.id, "task_type": "reply_comment", "priority": "low", "context": CONTEXT}
    ]
    payloads = [
        {"task_id": str(uuid.uuid4()), "task_type": "reply_comment", "priority": "medium",
         "context": CONTEXT, "created_at": "2026-11-26T10:00:00Z", "status": "pending"}
    ]  # fmt: skip
    before = snapshot(db_url)
    assert store.bulk_insert_assets(assets, dry_run=True) == 30
    assert store.bulk_insert_tasks(tasks * 3, dry_run=True) == 3
    assert store.bulk_insert_task_payloads(payloads, c.id, dry_run=True) == 1
    assert snapshot(db_url) == before
    # What the database alone checks is checked too: a task that does not exist.
    with pytest.raises(ParentNotFound) as info:
        store.bulk_insert_assets([*assets, asset_record(a.id, uuid.uuid4())], dry_run=True)
    assert info.value.position == 31
    with pytest.raises(InvalidInput) as bad:
        store.bulk_insert_assets([asset_record(a.id, t.id, tier="tier9")], dry_run=True)
    assert (bad.value.field, bad.value.position) == ("tier", 1)
    assert snapshot(db_url) == before
    # Then for real: what the dry run counted.
    assert store.bulk_insert_assets(assets) == 30
    assert len(store.list_assets(task_id=t.id, limit=100).items) == 30


def test_campaign_import_dry_run(store: Any, db_url: str) -> None:
    c = build(store)
    items = as_file(list(store.export_campaign(c.id)))
    refused_here = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:  # it exists: the dry run says so too
        store.import_campaign(items, dry_run=True)
    assert (info.value.field, info.value.position) == ("id", 2)
    assert snapshot(db_url) == refused_here
    store.purge_campaign(c.id)
    before = snapshot(db_url)
    checked = store.import_campaign(items, dry_run=True)
    assert snapshot(db_url) == before
    done = store.import_campaign(items)
    assert done == checked
    assert store.get_campaign(c.id).version == c.version


def test_a_dry_run_inside_a_transaction_undoes_only_itself(db_url: str) -> None:
    """In a caller's transaction the dry run is a savepoint: the caller's own writes stay."""
    with Store.open(db_url, max_size=2) as store:
        with store.transaction() as tx:
            c, a, t = world(tx)
            assert tx.bulk_insert_assets([asset_record(a.id, t.id)], dry_run=True) == 1
        assert store.get_task(t.id).campaign_id == c.id
        assert store.list_assets(task_id=t.id).items == []

    async def in_async() -> None:
        async with await AsyncStore.open(db_url, max_size=2) as store:
            async with store.transaction() as tx:
                c = await tx.create_campaign("C", "g", "active")
                a = await tx.create_agent(c.id, "p", "r")
                t = await tx.create_task(c.id, "generate_content", "high", CONTEXT)
                n = await tx.bulk_insert_assets([asset_record(a.id, t.id)], dry_run=True)
                assert n == 1
            assert (await store.get_task(t.id)).campaign_id == c.id
            assert (await store.list_assets(task_id=t.id)).items == []

    asyncio.run(in_async())
