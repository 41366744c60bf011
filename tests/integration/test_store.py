"""The data API on real PostgreSQL, for both flavours (sync and async share these tests)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from chimera_store import (
    ConnectionLost,
    DatabaseUnavailable,
    HasChildren,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ParentNotFound,
    SchemaError,
    StaleState,
    TransactionAborted,
    jsonb_loads,
    migrator,
    revisions,
)
from chimera_store.payload import payload_json_schema, task_to_payload
from chimera_store.store import AsyncStore, Store
from chimera_store.vocab import ASSET_TRANSITIONS, TASK_TRANSITIONS, AssetStatus, TaskStatus
from tests.helpers import REFUSED_PASSWORD, asset_record, refused_login_url, snapshot
from tests.integration.conftest import Sync

CONTEXT = {
    "goal_description": "Tease the drop",
    "persona_constraints": ["warm"],
    "required_resources": ["mcp://memory/recent"],
}


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def world(store: Any) -> tuple[Any, Any, Any]:
    c = store.create_campaign("Launch", "Grow the audience", "active")
    a = store.create_agent(c.id, "souls/aria/SOUL.md", "lora:aria")
    t = store.create_task(c.id, "generate_content", "high", CONTEXT)
    return c, a, t


def test_create_get_and_list(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    assert store.get_campaign(c.id) == c
    assert store.get_agent(a.id) == a and store.get_task(t.id) == t
    assert t.status == "pending" and t.context == CONTEXT and t.version == 1
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "lora:aria", {"duration": 9.5})
    assert v.campaign_id == c.id and v.status == "draft"
    assert store.list_agents(c.id).items == [a]
    assert store.list_tasks(c.id).items == [t]
    assert store.list_assets(campaign_id=c.id).items == [v]
    assert store.list_assets(agent_id=a.id).items == [v]
    assert store.list_assets(task_id=t.id).items == [v]


def test_tasks_of_one_worker(store: Any) -> None:
    c, _a, t = world(store)
    mine = [
        store.transition_task(
            store.create_task(c.id, "reply_comment", "low", CONTEXT).id,
            "in_progress",
            actor="w1",
            assigned_worker_id="w1",
        )
        for _ in range(3)
    ]
    store.transition_task(t.id, "in_progress", actor="w2", assigned_worker_id="w2")
    page = store.list_tasks(c.id, assigned_worker_id="w1", limit=2)
    rest = store.list_tasks(c.id, assigned_worker_id="w1", cursor=page.next_cursor)
    assert [x.id for x in page.items + rest.items] == [x.id for x in reversed(mine)]
    assert store.list_tasks(c.id, assigned_worker_id="w3").items == []
    both = store.list_tasks(c.id, assigned_worker_id="w2", status="in_progress")
    assert [x.id for x in both.items] == [t.id]
    with pytest.raises(InvalidInput) as info:
        store.list_tasks(c.id, assigned_worker_id="")
    assert info.value.field == "assigned_worker_id"


def test_lists_of_what_has_not_moved_since(store: Any, db_url: str) -> None:
    """`unchanged_since`: existed before that time and no status change from it on."""
    c, a, _ = world(store)
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    cutoff = datetime.now(UTC) - timedelta(minutes=5)
    held = store.create_task(
        c.id, "reply_comment", "low", CONTEXT, status="in_progress", created_at=long_ago
    )
    moved = store.create_task(c.id, "reply_comment", "low", CONTEXT, created_at=long_ago)
    store.transition_task(moved.id, "in_progress", actor="w")
    fresh = store.create_task(c.id, "reply_comment", "low", CONTEXT, status="in_progress")
    stuck = store.list_tasks(c.id, status="in_progress", unchanged_since=cutoff)
    assert [t.id for t in stuck.items] == [held.id]
    later = datetime.now(UTC) + timedelta(minutes=5)
    everything = store.list_tasks(c.id, status="in_progress", unchanged_since=later)
    assert {t.id for t in everything.items} == {held.id, moved.id, fresh.id}
    asset = store.create_asset(a.id, held.id, "tiktok", "tier1", "r", status="judge_pending")
    assert store.list_assets(campaign_id=c.id, unchanged_since=later).items == [asset]
    store.transition_asset(asset.id, "approved", actor="j")
    assert store.list_assets(campaign_id=c.id, unchanged_since=cutoff).items == []
    for bad in (datetime(2026, 11, 1), "2026-11-01T00:00:00+00:00"):
        with pytest.raises(InvalidInput) as info:
            store.list_tasks(c.id, unchanged_since=bad)
        assert info.value.field == "unchanged_since"
        with pytest.raises(InvalidInput) as info:
            store.list_assets(task_id=held.id, unchanged_since=bad)
        assert info.value.field == "unchanged_since"


def test_lists_in_a_time_window(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    hours = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in range(6)]
    tasks = [store.create_task(c.id, "reply_comment", "low", CONTEXT, created_at=h) for h in hours]
    assets = [store.create_asset(a.id, x.id, "tiktok", "tier1", "r") for x in tasks]
    with psycopg.connect(db_url, autocommit=True) as conn:  # assets take the server's now()
        for asset, hour in zip(assets, hours, strict=True):
            conn.execute("UPDATE video_assets SET created_at = %s WHERE id = %s", (hour, asset.id))

    def ids(items: list[Any]) -> list[Any]:
        return [x.id for x in items]

    # From inclusive, before exclusive, newest first.
    window = store.list_tasks(c.id, created_from=hours[1], created_before=hours[4])
    assert ids(window.items) == ids([tasks[3], tasks[2], tasks[1]])
    plus_two = timezone(timedelta(hours=2))  # the same instants written in another zone
    same = store.list_tasks(
        c.id,
        created_from=hours[1].astimezone(plus_two),
        created_before=hours[4].astimezone(plus_two),
    )
    assert same.items == window.items
    assert store.list_tasks(c.id, created_from=hours[4], created_before=hours[4]).items == []
    # Pages inside a window, and with another filter.
    day = {"created_from": hours[2], "created_before": hours[0] + timedelta(days=1)}
    first = store.list_tasks(c.id, limit=2, **day)
    rest = store.list_tasks(c.id, limit=2, cursor=first.next_cursor, **day)
    assert ids(first.items + rest.items) == ids(tasks[:1:-1]) and rest.next_cursor is None
    newer = store.list_tasks(c.id, created_from=hours[0] + timedelta(days=1)).items
    assert ids(newer) == [t.id]  # world()'s task, created now
    assert store.list_tasks(c.id, created_from=hours[1], status="in_progress").items == []
    before_two = store.list_assets(campaign_id=c.id, created_before=hours[2])
    assert ids(before_two.items) == ids([assets[1], assets[0]])
    late = walk(store, "list_assets", agent_id=a.id, created_from=hours[4], page_size=1)
    assert ids(late) == ids([assets[5], assets[4]])
    one = store.list_assets(task_id=tasks[3].id, created_from=hours[3], created_before=hours[4])
    assert ids(one.items) == [assets[3].id]
    # A naive datetime would be read in the server's zone; text or a number is not a time.
    for bad in (datetime(2026, 11, 1), "2026-11-01T00:00:00+00:00", 1_761_955_200):
        for field in ("created_from", "created_before"):
            with pytest.raises(InvalidInput) as info:
                store.list_tasks(c.id, **{field: bad})
            assert info.value.field == field
            with pytest.raises(InvalidInput) as info:
                store.list_assets(campaign_id=c.id, **{field: bad})
            assert info.value.field == field


def test_campaigns_by_name_and_id_prefix(store: Any) -> None:
    ids = ["0a1b2c3d-0000-4000-8000-00000000000" + str(n) for n in range(3)]
    first = store.create_campaign("Summer Drop", "g", id=ids[0])
    second = store.create_campaign("Summer Drop", "g", id=ids[1])
    other = store.create_campaign("summer drop", "g", "active", id=ids[2])
    store.create_campaign("Eco", "g", id="ffff0000-0000-4000-8000-000000000000")

    def names(**filters: Any) -> list[Any]:
        return [c.id for c in store.list_campaigns(**filters).items]

    # Exact: case and spaces count; newest first, as every list.
    assert names(name="Summer Drop") == [second.id, first.id]
    assert names(name="Summer Drop ") == [] and names(name="Summer") == []
    assert names(name="summer drop", status="active") == [other.id]
    # The start of the id's text, upper case read as lower (as `UUID()` would).
    assert names(id_prefix="0a1b2c3d") == [other.id, second.id, first.id]
    assert names(id_prefix="0A1B2C3D-0000-4000-8000-000000000001") == [second.id]
    assert names(id_prefix="0a1b2c3d-0000-4000-8000-000000000009") == []
    page = store.list_campaigns(id_prefix="0a1b", limit=2)
    rest = store.list_campaigns(id_prefix="0a1b", limit=2, cursor=page.next_cursor)
    assert [c.id for c in page.items + rest.items] == [other.id, second.id, first.id]
    # Only hex digits and dashes: a LIKE pattern or SQL is refused, not matched.
    longer = "0a1b2c3d-0000-4000-8000-0000000000019"  # longer than any id
    for bad in ("0a1b%", "_", "0a1b' OR 'x'='x", "g", longer, 17):
        with pytest.raises(InvalidInput) as info:
            store.list_campaigns(id_prefix=bad)
        assert info.value.field == "id_prefix"
    for bad_name in ("", "x\x00y", 5):
        with pytest.raises(InvalidInput) as info:
            store.list_campaigns(name=bad_name)
        assert info.value.field == "name"


def test_errors_are_typed(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    with pytest.raises(NotFound):
        store.get_task(uuid.uuid4())
    # An unknown id is not "no history yet" (it returned [] for both).
    assert store.task_history(t.id) == []
    for history, entity in ((store.task_history, "task"), (store.asset_history, "video asset")):
        with pytest.raises(NotFound) as missing_info:
            history(uuid.uuid4())
        assert missing_info.value.entity == entity
    missing = uuid.uuid4()
    with pytest.raises(ParentNotFound) as info:
        store.create_agent(missing, "p", "r")
    assert info.value.entity == "campaign" and str(missing) in str(info.value)
    with pytest.raises(ParentNotFound) as info2:
        store.create_asset(a.id, uuid.uuid4(), "tiktok", "tier1", "r")
    assert info2.value.field == "task_id"
    other = store.create_campaign("Other", "g", "active")
    other_task = store.create_task(other.id, "reply_comment", "low", CONTEXT)
    with pytest.raises(InvalidInput) as info3:
        store.create_asset(a.id, other_task.id, "tiktok", "tier1", "r")
    assert info3.value.field == "agent_id"
    with pytest.raises(InvalidInput) as info4:
        store.create_task(c.id, "dance", "high", CONTEXT)
    assert info4.value.field == "task_type"
    assert count(db_url, "video_assets") == 0 and count(db_url, "tasks") == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"context": {"persona_constraints": []}}, "context.goal_description"),
        ({"context": {**CONTEXT, "persona_constraints": [1]}}, "context.persona_constraints"),
        (
            {"context": {**CONTEXT, "required_resources": ["http://x"]}},
            "context.required_resources",
        ),
        ({"context": {**CONTEXT, "x": float("nan")}}, "context.x"),
        ({"context": {**CONTEXT, "x": "a\x00b"}}, "context.x"),
        ({"context": {**CONTEXT, "x": "\ud800"}}, "context.x"),
        ({"priority": "urgent"}, "priority"),
        ({"campaign_id": "not-a-uuid"}, "campaign_id"),
    ],
)
def test_invalid_task_input_writes_nothing(
    store: Any, db_url: str, kwargs: dict[str, Any], field: str
) -> None:
    c = store.create_campaign("C", "g", "active")
    args = {
        "campaign_id": c.id,
        "task_type": "reply_comment",
        "priority": "low",
        "context": CONTEXT,
        **kwargs,
    }
    with pytest.raises(InvalidInput) as info:
        store.create_task(**args)
    assert info.value.field == field
    assert count(db_url, "tasks") == 0


def test_metadata_containment_and_filters(store: Any) -> None:
    c, a, t = world(store)
    hd = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"resolution": "1080x1920"})
    store.create_asset(a.id, t.id, "youtube", "tier2", "r", {"resolution": "1920x1080"})
    page = store.list_assets(campaign_id=c.id, metadata={"resolution": "1080x1920"})
    assert [x.id for x in page.items] == [hd.id]
    assert [x.id for x in store.list_assets(campaign_id=c.id, platform="tiktok").items] == [hd.id]
    assert len(store.list_assets(campaign_id=c.id, tier="tier2").items) == 1


def test_generated_ids_are_time_ordered_and_given_ids_kept(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    assert {c.id.version, a.id.version, t.id.version} == {7}
    made = [store.create_asset(a.id, t.id, "tiktok", "tier1", "r").id for _ in range(5)]
    assert [m.version for m in made] == [7] * 5 and made == sorted(made)
    row = {"agent_id": a.id, "task_id": t.id, "platform": "x", "tier": "tier1"}
    own = uuid.uuid4()
    assert store.bulk_insert_assets([{**row, "character_reference_id": "b"}] * 3) == 3
    assert store.bulk_insert_assets([{**row, "character_reference_id": "o", "id": own}]) == 1
    with psycopg.connect(db_url) as conn:
        bulk = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM video_assets WHERE character_reference_id = 'b' ORDER BY id"
            )
        ]
    assert [b.version for b in bulk] == [7] * 3 and bulk[0] > made[-1]
    assert store.get_asset(own).id == own  # a caller's id, of any version, is kept as given


def test_metadata_merge(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"duration": 9.5, "tags": ["a"]})
    merged = store.update_asset_metadata(
        v.id, {"external_url": "https://x/1", "tags": []}, merge=True
    )
    assert merged.metadata == {"duration": 9.5, "tags": [], "external_url": "https://x/1"}
    assert merged.version == v.version + 1
    assert store.update_asset_metadata(v.id, {}, merge=True).version == merged.version
    assert store.update_asset_metadata(v.id, {"only": 1}).metadata == {"only": 1}  # replace
    with pytest.raises(NotFound):
        store.update_asset_metadata(uuid.uuid4(), {"x": 1}, merge=True)
    # Each document alone is within the limit; merged they are not: refused, nothing written.
    half = {"big": "x" * 150_000}
    store.update_asset_metadata(v.id, half)
    before = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:
        store.update_asset_metadata(v.id, {"more": "y" * 150_000}, merge=True)
    assert info.value.field == "metadata" and "merged" in info.value.reason
    assert snapshot(db_url) == before


def test_metadata_merge_removes_keys(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"job": 7, "tmp": 1, "keep": 2})
    done = store.update_asset_metadata(v.id, {"url": "u"}, merge=True, remove_keys=["job", "tmp"])
    assert done.metadata == {"keep": 2, "url": "u"} and done.version == v.version + 1
    # A key both removed and set is set (removal first); a key not there is no error.
    again = store.update_asset_metadata(v.id, {}, merge=True, remove_keys=("nope",))
    assert again.metadata == done.metadata and again.version == done.version
    swapped = store.update_asset_metadata(v.id, {"keep": 3}, merge=True, remove_keys=["keep"])
    assert swapped.metadata == {"keep": 3, "url": "u"}
    before = snapshot(db_url)
    for bad, reason in (
        ({"remove_keys": "keep"}, "must be a list of keys"),  # one key: not its letters
        ({"remove_keys": [1]}, "keys are strings"),
        ({"remove_keys": ["a\x00"]}, "NUL"),
    ):
        with pytest.raises(InvalidInput) as info:
            store.update_asset_metadata(v.id, {}, merge=True, **bad)
        assert info.value.field == "remove_keys" and reason in info.value.reason
    with pytest.raises(InvalidInput) as replace:
        store.update_asset_metadata(v.id, {"x": 1}, remove_keys=["keep"])
    assert "merge=True" in replace.value.reason
    assert snapshot(db_url) == before


def test_concurrent_metadata_merges_all_land(db_url: str) -> None:
    # A read-modify-write of metadata loses one of two concurrent writers; a merge does not.
    store = Store.open(db_url, max_size=8)
    try:
        c, a, t = world(Sync(store, None))
        v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"base": True})
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: store.update_asset_metadata(v.id, {f"k{i}": i}, merge=True),
                    range(40),
                )
            )
        final = store.get_asset(v.id)
        assert final.metadata == {"base": True, **{f"k{i}": i for i in range(40)}}
        assert final.version == v.version + 40
    finally:
        store.close()


def test_keyset_pagination(store: Any) -> None:
    c, a, t = world(store)
    made = [store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"n": i}).id for i in range(7)]
    seen: list[Any] = []
    cursor = None
    while True:
        page = store.list_assets(campaign_id=c.id, limit=3, cursor=cursor)
        seen.extend(x.id for x in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen)) == 7
    with pytest.raises(InvalidInput):
        store.list_assets(campaign_id=c.id, cursor="garbage!")


def walk(store: Sync, list_method: str, *args: Any, **kwargs: Any) -> list[Any]:
    """All that `iterate` yields, from either flavour."""
    inner = store._store
    walker = inner.iterate(getattr(inner, list_method), *args, **kwargs)
    if store._runner is None:
        return list(walker)

    async def drain() -> list[Any]:
        return [item async for item in walker]

    return store._runner.run(drain())


def test_iterate_walks_every_page(store: Any) -> None:
    c, a, t = world(store)
    made = [
        store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"n": i}, status=s)
        for i, s in enumerate(["draft", "judge_pending"] * 4)
    ]
    newest_first = store.list_assets(campaign_id=c.id, limit=1000).items
    assert walk(store, "list_assets", campaign_id=c.id, page_size=3) == newest_first
    assert sorted(x.id for x in newest_first) == sorted(x.id for x in made)
    drafts = walk(store, "list_assets", campaign_id=c.id, status="draft", page_size=2)
    assert [x.id for x in drafts] == [x.id for x in newest_first if x.status == "draft"]
    assert walk(store, "list_tasks", c.id, page_size=1) == [t]
    assert walk(store, "list_agents", c.id) == [a]
    for bad, field in (
        ({"limit": 5}, "limit"),
        ({"cursor": None}, "cursor"),
        ({"page_size": 0}, "page_size"),  # was named "limit", which the caller never typed
        ({"page_size": 1001}, "page_size"),
    ):
        with pytest.raises(InvalidInput) as info:
            walk(store, "list_assets", campaign_id=c.id, **bad)
        assert info.value.field == field
    with pytest.raises(InvalidInput) as not_a_list:  # was a TypeError from the call
        walk(store, "get_campaign", c.id)
    assert not_a_list.value.field == "list_method"


@pytest.mark.parametrize("src", list(TaskStatus))
@pytest.mark.parametrize("dst", list(TaskStatus))
def test_every_task_transition_pair(
    store: Any, db_url: str, src: TaskStatus, dst: TaskStatus
) -> None:
    c = store.create_campaign("C", "g", "active")
    t = store.create_task(c.id, "reply_comment", "low", CONTEXT, status=src.value)
    if dst in TASK_TRANSITIONS[src]:
        moved = store.transition_task(t.id, dst, actor="worker-1", reason="test")
        assert moved.status == dst and moved.version == t.version + 1
        history = store.task_history(t.id)
        assert [(h.from_status, h.to_status, h.actor) for h in history] == [
            (src.value, dst.value, "worker-1")
        ]
    else:
        with pytest.raises(InvalidTransition) as info:
            store.transition_task(t.id, dst, actor="worker-1")
        assert (info.value.current, info.value.requested) == (src.value, dst.value)
        assert info.value.allowed == tuple(sorted(TASK_TRANSITIONS[src]))
        if src != dst:  # the message names every way out
            assert all(repr(move) in str(info.value) for move in info.value.allowed)
        assert store.get_task(t.id) == t
        assert count(db_url, "task_status_history") == 0


@pytest.mark.parametrize("src", list(AssetStatus))
@pytest.mark.parametrize("dst", list(AssetStatus))
def test_every_asset_transition_pair(
    store: Any, db_url: str, src: AssetStatus, dst: AssetStatus
) -> None:
    c, a, t = world(store)
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status=src.value)
    if dst in ASSET_TRANSITIONS[src]:
        moved = store.transition_asset(v.id, dst, actor="judge")
        assert moved.status == dst
        assert [h.to_status for h in store.asset_history(v.id)] == [dst.value]
    else:
        with pytest.raises(InvalidTransition) as info:
            store.transition_asset(v.id, dst, actor="judge")
        assert info.value.allowed == tuple(sorted(ASSET_TRANSITIONS[src]))
        if src == dst:
            assert "already there" in str(info.value)
        elif not ASSET_TRANSITIONS[src]:
            assert f"{src.value!r} is final" in str(info.value)
        assert store.get_asset(v.id) == v
        assert count(db_url, "asset_status_history") == 0


def test_a_claim_sets_the_worker_in_the_same_move(store: Any, db_url: str) -> None:
    c, _a, t = world(store)
    claimed = store.transition_task(t.id, "in_progress", actor="w1", assigned_worker_id="w1")
    assert (claimed.status, claimed.assigned_worker_id) == ("in_progress", "w1")
    assert claimed.version == t.version + 1  # one move, one version
    # A later move without a worker keeps the one assigned.
    assert store.transition_task(t.id, "review", actor="w1").assigned_worker_id == "w1"
    before = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:
        store.transition_task(t.id, "pending", actor="j", assigned_worker_id=" ")
    assert info.value.field == "assigned_worker_id"
    with pytest.raises(InvalidTransition):  # a refused move assigns nobody
        store.transition_task(t.id, "in_progress", actor="w2", assigned_worker_id="w2")
    assert snapshot(db_url) == before


def test_concurrent_claims_have_one_winner_whose_worker_is_recorded(db_url: str) -> None:
    # Setting the worker and then moving the task took two statements: two Workers racing
    # could leave the task in_progress under one and assigned to the other.
    store = Store.open(db_url, max_size=8)
    try:
        c, _a, _t = world(Sync(store, None))
        tasks = [store.create_task(c.id, "generate_content", "low", CONTEXT) for _ in range(20)]

        def claim(args: tuple[Any, str]) -> str | None:
            task, worker = args
            try:
                store.transition_task(
                    task.id, "in_progress", actor=worker, assigned_worker_id=worker
                )
            except InvalidTransition:
                return None
            return worker

        races = [(task, f"w{n}") for task in tasks for n in range(4)]
        with ThreadPoolExecutor(8) as pool:
            winners = [w for w in pool.map(claim, races) if w is not None]
        assert len(winners) == len(tasks)
        with psycopg.connect(db_url) as conn:
            rows = conn.execute(
                "SELECT t.assigned_worker_id, h.actor FROM tasks t "
                "JOIN task_status_history h ON h.task_id = t.id WHERE t.campaign_id = %s",
                (c.id,),
            ).fetchall()
        assert len(rows) == len(tasks) and all(worker == actor for worker, actor in rows)
    finally:
        store.close()


def test_idempotency_key_makes_retry_a_noop(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    first = store.transition_task(t.id, "in_progress", actor="w", idempotency_key="k1")
    again = store.transition_task(t.id, "in_progress", actor="w", idempotency_key="k1")
    assert again == first and count(db_url, "task_status_history") == 1


def test_judge_commit_and_stale_commit(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    t = store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    # The campaign changes (paused then resumed) after the worker read it: stale.
    store.update_campaign(c.id, status="paused")
    store.update_campaign(c.id, status="active")
    with psycopg.connect(db_url) as conn:
        before = conn.execute(
            "SELECT t::text FROM tasks t UNION ALL SELECT v::text FROM video_assets v"
        ).fetchall()
    with pytest.raises(StaleState):
        store.judge_commit(t.id, campaign_version=c.version, task_version=t.version, actor="judge")
    with psycopg.connect(db_url) as conn:
        after = conn.execute(
            "SELECT t::text FROM tasks t UNION ALL SELECT v::text FROM video_assets v"
        ).fetchall()
    assert before == after
    fresh = store.get_campaign(c.id)
    done = store.judge_commit(
        t.id, campaign_version=fresh.version, task_version=t.version, actor="judge"
    )
    assert done.task.status == "complete" and done.approved_asset_ids == [v.id]
    assert store.get_asset(v.id).status == "approved"
    assert [h.to_status for h in store.task_history(t.id)] == ["in_progress", "review", "complete"]


@pytest.mark.parametrize("operator", ["commits", "rolls back"])
def test_judge_commit_waits_for_a_campaign_change_in_flight(db_url: str, operator: str) -> None:
    """An operator's pause, not yet committed, when a Judge commits: the commit waits for it and
    then sees its outcome (refused if the pause committed, done if it rolled back). Without the
    campaign's row lock a Judge could complete a task of a campaign paused a moment before."""
    with Store.open(db_url) as store:
        c, a, t = world(store)
        store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
        store.transition_task(t.id, "in_progress", actor="w")
        t = store.transition_task(t.id, "review", actor="w")
        with psycopg.connect(db_url) as operator_conn, ThreadPoolExecutor(1) as pool:
            operator_conn.execute("UPDATE campaigns SET status = 'paused' WHERE id = %s", (c.id,))
            judged = pool.submit(
                store.judge_commit,
                t.id,
                campaign_version=c.version,
                task_version=t.version,
                actor="judge",
            )
            time.sleep(0.5)
            assert not judged.done()  # waiting on the campaign's row lock
            if operator == "commits":
                operator_conn.commit()
                with pytest.raises(StaleState):
                    judged.result(timeout=10)
                assert store.get_task(t.id).status == "review"
                assert store.get_campaign(c.id).status == "paused"
            else:
                operator_conn.rollback()
                assert judged.result(timeout=10).task.status == "complete"


@pytest.mark.parametrize("bad", ["3", True, 1.0, None, 0, -1, 2**63])
def test_versions_are_checked_before_the_database(store: Any, db_url: str, bad: Any) -> None:
    # The server took a float or None as a version that never matches (StaleState), refused a
    # bool as an outdated schema and named a string "value": each is the caller's mistake.
    c, a, t = world(store)
    store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    before = snapshot(db_url)
    calls = {
        "campaign_version": lambda: store.judge_commit(
            t.id, campaign_version=bad, task_version=t.version, actor="j"
        ),
        "task_version": lambda: store.judge_commit(
            t.id, campaign_version=c.version, task_version=bad, actor="j"
        ),
        "task_version ": lambda: store.judge_reject(t.id, task_version=bad, actor="j"),
    }
    if bad is not None:  # None means "no version check" where the version is optional
        calls["expected_version"] = lambda: store.transition_task(
            t.id, "complete", actor="w", expected_version=bad
        )
        calls["expected_version "] = lambda: store.update_campaign(  # same field, other call
            c.id, status="paused", expected_version=bad
        )
    for field, call in calls.items():
        with pytest.raises(InvalidInput) as info:
            call()
        assert info.value.field == field.strip()
    assert snapshot(db_url) == before


def test_collections_passed_as_one_item_are_refused(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    asset = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    before = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:  # one id, not a list: was split into letters
        store.judge_commit(
            t.id,
            campaign_version=c.version,
            task_version=t.version,
            actor="j",
            asset_ids=str(asset.id),
        )
    assert info.value.field == "asset_ids" and "list of UUIDs" in info.value.reason
    record = asset_record(a.id, t.id)
    for records in (record, 5, None):  # one record, or no iterable: was a raw TypeError
        with pytest.raises(InvalidInput) as info:
            store.bulk_insert_assets(records)
        assert info.value.field == "records"
    with pytest.raises(InvalidInput) as info:
        store.clean(datetime.now(UTC), batch_size=True)
    assert info.value.field == "batch_size"
    for cutoff in (None, datetime(2026, 1, 1), "2026-01-01T00:00:00+00:00"):
        with pytest.raises(InvalidInput) as info:
            store.clean(cutoff, dry_run=True)
        assert info.value.field == "before" and "timezone-aware" in info.value.reason
    for lister in (store.list_agents, store.list_tasks):  # None listed every campaign's rows
        with pytest.raises(InvalidInput) as info:
            lister(None)
        assert info.value.field == "campaign_id" and "required" in info.value.reason
    assert snapshot(db_url) == before


def test_saving_the_same_values_does_not_make_a_commit_stale(store: Any) -> None:
    c, a, t = world(store)
    store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    # A Planner re-saving what is there: the versions stay (they moved on every UPDATE).
    same = store.update_campaign(c.id, name=c.name, goal_description=c.goal_description)
    assert same.version == c.version and same.updated_at == c.updated_at
    assert store.update_task(t.id, priority=t.priority, context=t.context).version == t.version
    done = store.judge_commit(t.id, campaign_version=c.version, task_version=t.version, actor="j")
    assert done.task.status == "complete" and done.task.version == t.version + 1


def test_worker_submission_is_atomic_and_refuses_stale_state(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    t = store.transition_task(t.id, "in_progress", actor="w1", assigned_worker_id="w1")
    assets = [store.create_asset(a.id, t.id, "tiktok", "tier1", "r") for _ in range(3)]
    old = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="rejected")  # stays
    # An operator took the task back and it was claimed again: the first Worker's submission
    # is stale, and none of its assets moves.
    store.transition_task(t.id, "pending", actor="operator", reason="worker stuck")
    store.transition_task(t.id, "in_progress", actor="w2", assigned_worker_id="w2")
    before = snapshot(db_url)
    with pytest.raises(StaleState) as info:
        store.submit_task(t.id, task_version=t.version, actor="w1")
    assert "stale submission" in str(info.value) and "expected in_progress at" in str(info.value)
    assert snapshot(db_url) == before
    current = store.get_task(t.id)
    done = store.submit_task(t.id, task_version=current.version, actor="w2", reason="3 takes")
    assert done.task == store.get_task(t.id)
    assert (done.task.status, done.task.version) == ("review", current.version + 1)
    assert sorted(done.submitted_asset_ids) == sorted(x.id for x in assets)
    assert {store.get_asset(x.id).status for x in assets} == {"judge_pending"}
    assert store.get_asset(old.id) == old
    last = store.task_history(t.id)[-1]
    assert (last.from_status, last.to_status, last.actor, last.reason) == (
        "in_progress",
        "review",
        "w2",
        "3 takes",
    )
    assert [h.to_status for h in store.asset_history(assets[0].id)] == ["judge_pending"]
    # A task with no video (a reply) is submitted alone; a task in review cannot be again.
    reply = store.create_task(c.id, "reply_comment", "low", CONTEXT)
    reply = store.transition_task(reply.id, "in_progress", actor="w3")
    alone = store.submit_task(reply.id, task_version=reply.version, actor="w3")
    assert alone.submitted_asset_ids == [] and alone.task.status == "review"
    with pytest.raises(StaleState):
        store.submit_task(reply.id, task_version=alone.task.version, actor="w3")
    with pytest.raises(NotFound):
        store.submit_task(uuid.uuid4(), task_version=1, actor="w3")
    with pytest.raises(InvalidInput) as bad:
        store.submit_task(reply.id, task_version=True, actor="w3")
    assert bad.value.field == "task_version"


def test_worker_submits_only_its_own_drafts(store: Any, db_url: str) -> None:
    """A task requeued from a Worker that died holds that Worker's drafts: the next Worker
    names its own, and the dead one's stay draft instead of reaching the Judge."""
    c, a, t = world(store)
    store.transition_task(t.id, "in_progress", actor="w1", assigned_worker_id="w1")
    left = store.create_asset(a.id, t.id, "tiktok", "tier1", "half-rendered")
    store.transition_task(t.id, "pending", actor="janitor", reason="w1 died")
    t = store.transition_task(t.id, "in_progress", actor="w2", assigned_worker_id="w2")
    mine = [store.create_asset(a.id, t.id, "tiktok", "tier1", f"take {n}") for n in range(2)]
    _c2, a2, t2 = world(store)
    elsewhere = store.create_asset(a2.id, t2.id, "tiktok", "tier1", "r")
    submitted = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    nowhere = uuid.uuid4()
    for strays in ([nowhere], [elsewhere.id], [submitted.id], [nowhere, elsewhere.id]):
        before = snapshot(db_url)
        with pytest.raises(InvalidInput) as info:
            store.submit_task(
                t.id, task_version=t.version, actor="w2", asset_ids=[mine[0].id, *strays]
            )
        assert info.value.field == "asset_ids"
        assert "not a draft asset of task" in info.value.reason
        assert all(str(s) in info.value.reason for s in strays), info.value.reason
        assert str(mine[0].id) not in info.value.reason
        assert snapshot(db_url) == before
    # Stale and a stray at once: stale is what the Worker must act on.
    with pytest.raises(StaleState):
        store.submit_task(t.id, task_version=t.version + 1, actor="w2", asset_ids=[nowhere])
    done = store.submit_task(
        t.id, task_version=t.version, actor="w2", asset_ids=(x.id for x in mine)
    )
    assert sorted(done.submitted_asset_ids) == sorted(x.id for x in mine)
    assert (done.task.status, done.task.version) == ("review", t.version + 1)
    assert {store.get_asset(x.id).status for x in mine} == {"judge_pending"}
    assert store.get_asset(left.id) == left and store.asset_history(left.id) == []
    # An empty selection submits the task alone; one id, not a list, is refused.
    reply = store.create_task(c.id, "reply_comment", "low", CONTEXT)
    reply = store.transition_task(reply.id, "in_progress", actor="w3")
    with pytest.raises(InvalidInput) as info:
        store.submit_task(reply.id, task_version=reply.version, actor="w3", asset_ids=str(left.id))
    assert info.value.field == "asset_ids" and "list of UUIDs" in info.value.reason
    alone = store.submit_task(reply.id, task_version=reply.version, actor="w3", asset_ids=[])
    assert alone.submitted_asset_ids == [] and alone.task.status == "review"


def test_judge_reject_is_atomic_and_refuses_stale_state(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    assets = [
        store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
        for _ in range(3)
    ]
    draft = store.create_asset(a.id, t.id, "tiktok", "tier1", "r")  # not submitted: untouched
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    # The task moved on since the Judge read it: stale, and nothing changes.
    store.update_task(t.id, priority="low")
    before = snapshot(db_url)
    with pytest.raises(StaleState) as info:
        store.judge_reject(t.id, task_version=t.version, actor="judge", reason="off-brand")
    assert info.value.details["task_version"] == t.version + 1
    assert "expected review at" in str(info.value)
    assert snapshot(db_url) == before
    # A paused campaign does not stop a rejection (it publishes nothing).
    store.update_campaign(c.id, status="paused")
    current = store.get_task(t.id).version
    done = store.judge_reject(t.id, task_version=current, actor="judge", reason="off-brand")
    assert done.task.status == "pending" and done.task.version == current + 1
    assert sorted(done.rejected_asset_ids) == sorted(x.id for x in assets)
    assert store.get_task(t.id) == done.task
    for asset in assets:
        assert store.get_asset(asset.id).status == "rejected"
        assert [(h.to_status, h.reason, h.actor) for h in store.asset_history(asset.id)] == [
            ("rejected", "off-brand", "judge")
        ]
    assert store.get_asset(draft.id) == draft
    last = store.task_history(t.id)[-1]
    assert (last.from_status, last.to_status, last.reason) == ("review", "pending", "off-brand")
    # Again: the task is no longer in review.
    with pytest.raises(StaleState):
        store.judge_reject(t.id, task_version=done.task.version, actor="judge")
    with pytest.raises(NotFound):
        store.judge_reject(uuid.uuid4(), task_version=1, actor="judge")
    for bad in ({"task_version": 0}, {"task_version": "2"}, {"actor": " "}):
        with pytest.raises(InvalidInput) as bad_input:
            store.judge_reject(t.id, **{"task_version": 1, "actor": "j", **bad})
        assert bad_input.value.field == next(iter(bad))


def test_a_commit_and_a_rejection_racing_have_one_winner(db_url: str) -> None:
    with Store.open(db_url, max_size=4) as store:
        c, a, _t = world(store)
        tasks = []
        for _ in range(20):
            task = store.create_task(c.id, "generate_content", "high", CONTEXT)
            store.create_asset(a.id, task.id, "tiktok", "tier1", "r", status="judge_pending")
            store.transition_task(task.id, "in_progress", actor="w")
            tasks.append(store.transition_task(task.id, "review", actor="w"))

        def commit(task: Any) -> str:
            try:
                store.judge_commit(
                    task.id, campaign_version=c.version, task_version=task.version, actor="j1"
                )
                return "committed"
            except StaleState:
                return "stale"

        def reject(task: Any) -> str:
            try:
                store.judge_reject(task.id, task_version=task.version, actor="j2")
                return "rejected"
            except StaleState:
                return "stale"

        with ThreadPoolExecutor(4) as pool:
            outcomes = [(pool.submit(commit, task), pool.submit(reject, task)) for task in tasks]
        for task, (committed, rejected) in zip(tasks, outcomes, strict=True):
            results = sorted([committed.result(), rejected.result()])
            assert results in (["committed", "stale"], ["rejected", "stale"]), results
            stored = store.get_task(task.id)
            asset = store.list_assets(task_id=task.id).items[0]
            if "committed" in results:
                assert (stored.status, asset.status) == ("complete", "approved")
            else:
                assert (stored.status, asset.status) == ("pending", "rejected")
            assert len(store.task_history(task.id)) == 3  # claim, submit, one verdict


def test_judge_commit_of_some_assets(store: Any) -> None:
    c, a, t = world(store)
    keep, other = (
        store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
        for _ in range(2)
    )
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    done = store.judge_commit(
        t.id, campaign_version=c.version, task_version=t.version, actor="j", asset_ids=[keep.id]
    )
    assert done.approved_asset_ids == [keep.id]
    assert store.get_asset(keep.id).status == "approved"
    assert store.get_asset(other.id).status == "judge_pending"
    assert [h.to_status for h in store.asset_history(keep.id)] == ["approved"]
    assert store.asset_history(other.id) == []
    # An empty selection commits the task and approves nothing.
    c2, a2, t2 = world(store)
    store.create_asset(a2.id, t2.id, "tiktok", "tier1", "r", status="judge_pending")
    store.transition_task(t2.id, "in_progress", actor="w")
    t2 = store.transition_task(t2.id, "review", actor="w")
    none = store.judge_commit(
        t2.id, campaign_version=c2.version, task_version=t2.version, actor="j", asset_ids=[]
    )
    assert none.task.status == "complete" and none.approved_asset_ids == []


def test_judge_commit_refuses_an_asset_it_cannot_approve(store: Any, db_url: str) -> None:
    """A named asset that is not one of the task's judge_pending assets (mistyped, another
    task's, not yet submitted) refuses the whole commit: the task is not completed without it."""
    c, a, t = world(store)
    mine = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
    draft = store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
    _c2, a2, t2 = world(store)
    elsewhere = store.create_asset(a2.id, t2.id, "tiktok", "tier1", "r", status="judge_pending")
    store.transition_task(t.id, "in_progress", actor="w")
    t = store.transition_task(t.id, "review", actor="w")
    nowhere = uuid.uuid4()
    for strays in ([nowhere], [draft.id], [elsewhere.id], [draft.id, nowhere]):
        before = snapshot(db_url)
        with pytest.raises(InvalidInput) as info:
            store.judge_commit(
                t.id,
                campaign_version=c.version,
                task_version=t.version,
                actor="j",
                asset_ids=[mine.id, *strays],
            )
        assert info.value.field == "asset_ids"
        assert all(str(s) in str(info.value) for s in strays), str(info.value)
        assert str(mine.id) not in str(info.value)
        assert snapshot(db_url) == before
    # Stale and a stray at once: stale is what the Judge must act on.
    with pytest.raises(StaleState):
        store.judge_commit(
            t.id,
            campaign_version=c.version,
            task_version=t.version + 1,
            actor="j",
            asset_ids=[nowhere],
        )
    done = store.judge_commit(
        t.id, campaign_version=c.version, task_version=t.version, actor="j", asset_ids=[mine.id]
    )
    assert done.approved_asset_ids == [mine.id]


def test_campaign_summary(store: Any) -> None:
    c, a, t = world(store)
    store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
    store.create_asset(a.id, t.id, "youtube", "tier2", "r", status="judge_pending")
    s = store.campaign_summary(c.id)
    assert s.agents == 1 and s.tasks_by_status == {"pending": 1}
    assert s.assets_by_status == {"draft": 1, "judge_pending": 1}
    assert s.assets_by_platform == {"tiktok": 1, "youtube": 1}
    assert s.assets_by_tier == {"tier1": 1, "tier2": 1}


def test_payload_round_trip(store: Any) -> None:
    import jsonschema

    c = store.create_campaign("C", "g", "active")
    payload = {
        "task_id": str(uuid.uuid4()),
        "task_type": "reply_comment",
        "priority": "medium",
        "context": {**CONTEXT, "extra": {"k": [1, 2]}},
        "assigned_worker_id": "worker-7",
        "created_at": "2026-11-26T10:00:00.123456Z",
        "status": "pending",
    }
    task = store.create_task_from_payload(payload, c.id)
    exported = task_to_payload(task)
    assert exported == payload
    jsonschema.validate(exported, payload_json_schema())
    # Other spellings of the same values come back canonical (docs/api.md, Queue payloads).
    other = {
        **payload,
        "task_id": str(uuid.uuid4()),
        "created_at": "2026-11-26T12:00:00.1234567+02:00",
        "assigned_worker_id": None,
    }
    again = task_to_payload(store.create_task_from_payload(other, c.id))
    expected = {**other, "created_at": "2026-11-26T10:00:00.123456Z"}
    del expected["assigned_worker_id"]
    assert again == expected


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"score": float("nan")}, "context.score"),
        ({"scores": [1.0, float("inf")]}, "context.scores[1]"),
        ({"": {"\ud800": None}}, "context."),
    ],
)
def test_payload_json_that_cannot_be_stored_is_refused(
    store: Any, db_url: str, extra: dict[str, Any], field: str
) -> None:
    # NaN and Infinity in a key of the context beyond the schema's were stored as null, and a
    # lone surrogate was a UnicodeEncodeError; both paths, one by one and bulk.
    c = store.create_campaign("C", "g", "active")
    payload = {
        "task_id": str(uuid.uuid4()),
        "task_type": "reply_comment",
        "priority": "medium",
        "context": {**CONTEXT, **extra},
        "created_at": "2026-11-26T10:00:00Z",
        "status": "pending",
    }
    before = count(db_url, "tasks")
    with pytest.raises(InvalidInput) as one:
        store.create_task_from_payload(payload, c.id)
    with pytest.raises(InvalidInput) as bulk:
        store.bulk_insert_task_payloads([payload], c.id)
    assert one.value.field.startswith(field) and bulk.value.field == one.value.field
    assert bulk.value.position == 1
    assert count(db_url, "tasks") == before


def test_bulk_insert_task_payloads(store: Any, db_url: str) -> None:
    """Many payloads through COPY store what `create_task_from_payload` stores, each with its
    own task_id and created_at; all or nothing; a bad payload is named by its position."""
    c = store.create_campaign("C", "g", "active")

    def payload(i: int) -> dict[str, Any]:
        return {
            "task_id": str(uuid.uuid4()),
            "task_type": "reply_comment",
            "priority": "medium",
            "context": {**CONTEXT, "n": i},
            "created_at": f"2026-11-26T10:00:{i:02d}.123456Z",
            "status": "review" if i % 3 else "pending",
            **({"assigned_worker_id": f"worker-{i}"} if i % 2 else {}),
        }

    batch = [payload(i) for i in range(20)]
    assert store.bulk_insert_task_payloads(iter(batch), c.id) == 20
    assert [task_to_payload(store.get_task(p["task_id"])) for p in batch] == batch
    # The same payload one by one gives the same row (but for the id).
    single = store.create_task_from_payload({**batch[1], "task_id": str(uuid.uuid4())}, c.id)
    bulk = store.get_task(batch[1]["task_id"])
    assert single._replace(id=bulk.id) == bulk

    before = count(db_url, "tasks")
    bad = [payload(i) for i in range(5)]
    bad[3]["priority"] = "asap"
    with pytest.raises(InvalidInput) as info:
        store.bulk_insert_task_payloads(bad, c.id)
    assert (info.value.position, info.value.field) == (4, "priority")
    # A payload stored already (a replay run twice) is refused by the server, at its position:
    # also mid-stream, where the server inserts the rows in buffered batches (tasks have no
    # insert trigger) and reports the failing row's line from the batch.
    with pytest.raises(InvalidInput) as dup:
        store.bulk_insert_task_payloads([payload(0), batch[0]], c.id)
    assert dup.value.position == 2 and "already exists" in dup.value.message
    replay = [payload(i % 60) for i in range(600)]
    replay[9] = batch[5]
    with pytest.raises(InvalidInput) as mid:
        store.bulk_insert_task_payloads(replay, c.id)
    assert mid.value.position == 10 and "already exists" in mid.value.message
    with pytest.raises(ParentNotFound) as orphan:
        store.bulk_insert_task_payloads([payload(0)], uuid.uuid4())
    assert orphan.value.entity == "campaign"
    with pytest.raises(InvalidInput) as not_uuid:
        store.bulk_insert_task_payloads([payload(0)], "nope")
    assert not_uuid.value.field == "campaign_id"
    assert count(db_url, "tasks") == before


def test_bulk_insert_all_or_nothing(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    good = asset_record(a.id, t.id, metadata={"i": 1})
    assert store.bulk_insert_assets(good for _ in range(50)) == 50
    rows = [good] * 5 + [{**good, "tier": "tier9"}] + [good]
    with pytest.raises(InvalidInput) as info:
        store.bulk_insert_assets(rows)
    assert info.value.position == 6 and info.value.field == "tier"
    orphan = [good] * 3 + [{**good, "task_id": uuid.uuid4()}]
    with pytest.raises(ParentNotFound) as info2:
        store.bulk_insert_assets(orphan)
    assert "record 4" in str(info2.value) and info2.value.position == 4
    assert info2.value.entity == "task"
    assert count(db_url, "video_assets") == 50


def test_delete_refused_and_purge(store: Any, db_url: str) -> None:
    c, a, t = world(store)
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
    store.transition_asset(v.id, "judge_pending", actor="w")
    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM campaigns WHERE id = %s", (c.id,))
    keep = store.create_campaign("Keep", "g")
    counts = store.purge_campaign(c.id)
    assert (
        counts.campaigns,
        counts.agents,
        counts.tasks,
        counts.video_assets,
        counts.asset_history,
    ) == (1, 1, 1, 1, 1)
    assert count(db_url, "campaigns") == 1 and store.get_campaign(keep.id) == keep
    with pytest.raises(NotFound):
        store.purge_campaign(c.id)
    assert HasChildren.exit_code != NotFound.exit_code


def test_open_reports_a_refused_login_at_once(db_url: str) -> None:
    """A refused login is final: Store.open says so instead of retrying until connect_timeout."""
    refused = refused_login_url(db_url)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        Store.open(refused, connect_timeout=120)
    with pytest.raises(DatabaseUnavailable) as info_async, asyncio.Runner() as runner:
        runner.run(AsyncStore.open(refused, connect_timeout=120))
    # Far below the 120 s the pool would have spent retrying.
    assert time.monotonic() - started < 60
    for error in (info.value, info_async.value):
        assert str(error).startswith("login refused:") and REFUSED_PASSWORD not in str(error)


def test_open_waits_connect_timeout_for_an_unreachable_server_then_says_so() -> None:
    """Nothing listens on the port: not final (a service may start before its database), so the
    pool keeps trying for connect_timeout; then the error says why, not "pool timeout"."""
    url = "postgresql://postgres@127.0.0.1:1/postgres"
    for flavour in ("sync", "async"):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as info:
            if flavour == "sync":
                Store.open(url, connect_timeout=1.5)
            else:
                with asyncio.Runner() as runner:
                    runner.run(AsyncStore.open(url, connect_timeout=1.5))
        waited = time.monotonic() - started
        assert 1.4 < waited < 30, (flavour, waited)
        assert str(info.value).startswith("cannot reach the database:"), str(info.value)
        assert "refused" in str(info.value), str(info.value)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"min_size": 5, "max_size": 2}, "max_size"),  # was psycopg_pool's bare ValueError
        ({"max_size": 0}, "max_size"),
        ({"min_size": -1}, "min_size"),
        ({"max_size": "3"}, "max_size"),  # was a TypeError
        ({"connect_timeout": 0}, "connect_timeout"),  # was "timed out connecting"
        ({"connect_timeout": float("nan")}, "connect_timeout"),  # was a ValueError
        ({"max_idle": -5}, "max_idle"),  # was accepted
        ({"prepare_threshold": -1}, "prepare_threshold"),
        ({"schema_wait": "soon"}, "schema_wait"),
        ({"max_idle": 2**70}, "max_idle"),  # crashed the pool's scheduler thread
        ({"url": 5432}, "url"),  # was an AttributeError
    ],
)
def test_open_names_a_bad_setting(db_url: str, settings: dict[str, Any], field: str) -> None:
    settings = {"url": db_url, **settings}
    with pytest.raises(InvalidInput) as info:
        Store.open(**settings)
    with pytest.raises(InvalidInput) as info_async, asyncio.Runner() as runner:
        runner.run(AsyncStore.open(**settings))
    assert info.value.field == info_async.value.field == field


def test_pool_exhausted_by_calling_the_store_inside_its_transaction(db_url: str) -> None:
    # A common mistake: `store.x()` instead of `tx.x()` inside `store.transaction()` waits for a
    # second connection. The error says so (it said only "pool timeout").
    store = Store.open(db_url, max_size=1, connect_timeout=2)
    try:
        with pytest.raises(DatabaseUnavailable) as info, store.transaction() as tx:
            tx.create_campaign("inside", "g")
            store.list_campaigns()
        assert "all 1 of the pool's connections in use" in str(info.value)
        assert "call `tx`, not `store`" in str(info.value)
        assert count(db_url, "campaigns") == 0  # the transaction was rolled back
    finally:
        store.close()


def test_a_closed_store_says_so(db_url: str) -> None:
    # It said "connection lost: the pool 'pool-1' is already closed", sending a caller to look
    # at the network.
    store = Store.open(db_url)
    store.close()
    with pytest.raises(DatabaseUnavailable) as info:
        store.create_campaign("after close", "g")
    with pytest.raises(DatabaseUnavailable) as in_tx, store.transaction():
        pass

    async def closed_async() -> DatabaseUnavailable:
        async with await AsyncStore.open(db_url) as astore:
            pass
        with pytest.raises(DatabaseUnavailable) as info_async:
            await astore.list_campaigns()
        return info_async.value

    errors = [info.value, in_tx.value, asyncio.run(closed_async())]
    for error in errors:
        assert not isinstance(error, ConnectionLost)
        assert str(error).startswith("this store is closed"), error
    assert count(db_url, "campaigns") == 0


def test_pool_grows_while_calls_wait_and_drops_idle_connections(db_url: str) -> None:
    store = Store.open(db_url, min_size=1, max_size=3, max_idle=0.3)
    assert store._pool is not None
    try:
        together = threading.Barrier(3)

        def hold_a_connection() -> None:
            with store.transaction() as tx:
                tx.list_campaigns()
                together.wait(timeout=10)  # three transactions open at once

        with ThreadPoolExecutor(3) as pool:
            for done in [pool.submit(hold_a_connection) for _ in range(3)]:
                done.result()
        assert store._pool.get_stats()["pool_size"] == 3
        deadline = time.monotonic() + 10
        while store._pool.get_stats()["pool_size"] > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store._pool.get_stats()["pool_size"] == 1  # idle ones closed, min_size kept
        assert store.list_campaigns().items == []
    finally:
        store.close()


def test_open_refuses_a_database_without_this_versions_migrations(
    empty_db_url: str, db_url: str
) -> None:
    # No schema at all: refused at open, not at the first call that needs a table.
    with pytest.raises(SchemaError) as info:
        Store.open(empty_db_url)
    assert "no chimera-store schema" in str(info.value) and "chimera-store migrate" in str(
        info.value
    )
    # One migration behind: the store would run without what that migration changed.
    head = revisions.head_revision()
    migrator.downgrade("-1", db_url)
    behind = migrator.history()[-2][0]
    for opening in (
        lambda: Store.open(db_url),
        lambda: asyncio.run(AsyncStore.open(db_url)),
    ):
        with pytest.raises(SchemaError) as info:
            opening()
        assert f"at {behind}" in str(info.value) and f"needs {head}" in str(info.value)
    with Store.open(db_url, check_schema=False) as unchecked:  # the caller's choice
        assert unchecked.list_campaigns().items == []
    # A revision this code does not know: a newer chimera-store migrated; this one runs on.
    migrator.migrate(db_url)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with Store.open(db_url) as newer:
        assert newer.list_campaigns().items == []


async def _open_and_list(url: str, **options: Any) -> list[Any]:
    async with await AsyncStore.open(url, **options) as store:
        return (await store.list_campaigns()).items


def test_open_can_wait_for_the_migration_running_beside_it(empty_db_url: str) -> None:
    """A service started beside its migration job: `schema_wait` polls instead of refusing."""
    for flavour, opening in (
        ("sync", lambda **kw: Store.open(empty_db_url, **kw).close()),
        ("async", lambda **kw: asyncio.run(_open_and_list(empty_db_url, **kw))),
    ):
        later = threading.Timer(1.5, migrator.migrate, args=(empty_db_url,))
        later.start()
        started = time.monotonic()
        try:
            opening(schema_wait=60)
        finally:
            later.join()
        assert time.monotonic() - started >= 1.5, flavour  # it waited, then opened
        migrator.downgrade("base", empty_db_url)
        started = time.monotonic()
        with pytest.raises(SchemaError) as info:
            opening(schema_wait=1)
        assert time.monotonic() - started >= 1, flavour
        assert "no chimera-store schema" in str(info.value)
        assert "(waited 1 s for it)" in str(info.value), flavour
        for bad in (-1, float("nan")):
            with pytest.raises(InvalidInput) as refused:
                opening(schema_wait=bad)
            assert refused.value.field == "schema_wait"


def test_store_built_from_the_wrong_thing_says_what_it_takes(db_url: str) -> None:
    # Store(url) instead of Store.open(url) failed an assert at the first call.
    with pytest.raises(TypeError, match=r"Store\.open\(url\)"):
        Store(db_url)  # type: ignore[arg-type]
    with psycopg.connect(db_url) as sync_conn, pytest.raises(TypeError, match="AsyncConnection"):
        AsyncStore(sync_conn)  # type: ignore[arg-type]


def test_calls_after_a_failed_call_in_a_transaction(store: Any, db_url: str) -> None:
    # Catching an error inside a transaction and going on gave "database error 25P02"; now a
    # TransactionAborted that says what to do, and a savepoint lets the caller go on.
    c, a, t = world(store)
    inner = store._store
    runner = store._runner

    def run(body: Any) -> None:
        if runner is None:
            body()
        else:
            runner.run(body())

    if runner is None:

        def aborted() -> None:
            with inner.transaction() as tx:
                tx.create_campaign("inside", "g")
                with pytest.raises(ParentNotFound):
                    tx.create_asset(a.id, uuid.uuid4(), "tiktok", "tier1", "r")
                tx.create_campaign("after", "g")

        def savepoint() -> None:
            with inner.transaction() as tx:
                tx.create_campaign("inside", "g")
                with pytest.raises(ParentNotFound), tx.transaction() as sp:
                    sp.create_asset(a.id, uuid.uuid4(), "tiktok", "tier1", "r")
                tx.create_campaign("after", "g")

    else:

        async def aborted() -> None:
            async with inner.transaction() as tx:
                await tx.create_campaign("inside", "g")
                with pytest.raises(ParentNotFound):
                    await tx.create_asset(a.id, uuid.uuid4(), "tiktok", "tier1", "r")
                await tx.create_campaign("after", "g")

        async def savepoint() -> None:
            async with inner.transaction() as tx:
                await tx.create_campaign("inside", "g")
                with pytest.raises(ParentNotFound):
                    async with tx.transaction() as sp:
                        await sp.create_asset(a.id, uuid.uuid4(), "tiktok", "tier1", "r")
                await tx.create_campaign("after", "g")

    with pytest.raises(TransactionAborted) as info:
        run(aborted)
    assert "savepoint" in str(info.value)
    assert count(db_url, "campaigns") == 1  # the whole transaction rolled back
    run(savepoint)
    assert count(db_url, "campaigns") == 3  # the savepoint kept the rest


def test_sync_transaction(db_url: str) -> None:
    real = Store.open(db_url)
    with pytest.raises(InvalidInput), real.transaction() as tx:
        c = tx.create_campaign("C", "g")
        tx.create_agent(c.id, "p", "r")
        tx.create_task(c.id, "bad", "low", CONTEXT)
    assert count(db_url, "campaigns") == 0
    # One transaction gives its rows one created_at; the ids then keep creation order in lists.
    with real.transaction() as tx:
        c, a, t = world(tx)
        made = [tx.create_asset(a.id, t.id, "tiktok", "tier1", "tx") for _ in range(3)]
    assert len({m.created_at for m in made}) == 1
    newest = real.list_assets(campaign_id=c.id).items
    assert newest == made[::-1]
    real.close()


async def test_async_transaction(db_url: str) -> None:
    async with await AsyncStore.open(db_url) as store:
        with pytest.raises(InvalidInput):
            async with store.transaction() as tx:
                c = await tx.create_campaign("C", "g")
                await tx.create_task(c.id, "reply_comment", "low", {"nope": 1})
    assert count(db_url, "campaigns") == 0


async def test_async_bulk_takes_async_iterables(db_url: str) -> None:
    """Records arriving asynchronously (a queue, an async generator) stream straight into COPY;
    a bad one is named by position and nothing is written; the sync store refuses them clearly."""
    async with await AsyncStore.open(db_url) as store:
        c = await store.create_campaign("C", "g", "active")
        a = await store.create_agent(c.id, "p", "r")
        t = await store.create_task(c.id, "generate_content", "high", CONTEXT)
        good = asset_record(a.id, t.id)

        async def arriving(n: int, bad_at: int | None = None) -> AsyncIterator[dict[str, Any]]:
            for i in range(1, n + 1):
                await asyncio.sleep(0)  # another task may run between records
                yield {**good, "tier": "tier9"} if i == bad_at else {**good, "metadata": {"i": i}}

        assert await store.bulk_insert_assets(arriving(300)) == 300
        page = await store.list_assets(task_id=t.id, limit=1000)
        assert sorted(x.metadata["i"] for x in page.items) == list(range(1, 301))
        with pytest.raises(InvalidInput) as info:
            await store.bulk_insert_assets(arriving(50, bad_at=42))
        assert (info.value.position, info.value.field) == (42, "tier")
        assert count(db_url, "video_assets") == 300

        async def payloads() -> AsyncIterator[dict[str, Any]]:
            for _ in range(3):
                yield {
                    "campaign_id": c.id,
                    "task_type": "reply_comment",
                    "priority": "low",
                    "context": CONTEXT,
                }

        assert await store.bulk_insert_tasks(payloads()) == 3
    with Store.open(db_url) as sync_store, pytest.raises(InvalidInput) as refused:
        sync_store.bulk_insert_assets(arriving(1))  # type: ignore[arg-type]
    assert refused.value.field == "records" and "AsyncStore" in str(refused.value)
    assert count(db_url, "video_assets") == 300 and count(db_url, "tasks") == 4


def _cyclic_garbage(run_calls: Callable[[int], None]) -> int:
    run_calls(10)  # warm-up: prepared statements, caches, the pool's first checkouts
    gc.collect()
    gc.disable()
    try:
        run_calls(100)
        return gc.collect()
    finally:
        gc.enable()


def test_calls_leave_no_cyclic_garbage(db_url: str) -> None:
    """A service's tail latency includes its garbage collector's pauses (docs/reliability.md):
    the API's calls, failing ones included, must free everything by reference counting."""
    with Store.open(db_url) as store:
        c, a, t = world(store)

        def calls(n: int) -> None:
            for _ in range(n):
                store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"duration": 9.5})
                store.get_task(t.id)
                store.list_assets(task_id=t.id, limit=5)
                with pytest.raises(NotFound):
                    store.get_task(uuid.uuid4())
                with pytest.raises(InvalidInput):
                    store.create_task(c.id, "reply_comment", "urgent", CONTEXT)

        assert _cyclic_garbage(calls) == 0


async def test_async_calls_leave_no_cyclic_garbage(db_url: str) -> None:
    # In one event loop: running each call through its own loop (asyncio.Runner.run, as the
    # two-flavour fixture does) leaves cycles of its own (tasks and their exceptions).
    async with await AsyncStore.open(db_url) as store:
        c = await store.create_campaign("C", "g", "active")
        a = await store.create_agent(c.id, "p", "r")
        t = await store.create_task(c.id, "generate_content", "high", CONTEXT)

        async def calls(n: int) -> None:
            for _ in range(n):
                await store.create_asset(a.id, t.id, "tiktok", "tier1", "r", {"duration": 9.5})
                await store.get_task(t.id)
                await store.list_assets(task_id=t.id, limit=5)
                with pytest.raises(NotFound):
                    await store.get_task(uuid.uuid4())
                with pytest.raises(InvalidInput):
                    await store.create_task(c.id, "reply_comment", "urgent", CONTEXT)

        await calls(10)
        gc.collect()
        gc.disable()
        try:
            await calls(100)
            found = gc.collect()
        finally:
            gc.enable()
        assert found == 0


def test_sync_api_is_generated_from_async() -> None:
    import subprocess
    import sys

    from tests.helpers import REPO

    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "async_to_sync.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_store_connections_read_jsonb_with_the_fast_loader(store: Any) -> None:
    # The pool's connections are made with jsonb_loads' adapters; what they read back is what
    # json.loads would give (tests/unit checks the loader itself).
    assert store._pool.kwargs["context"] is jsonb_loads.adapters()
    c, a, t = world(store)
    meta = {"resolution": "1080x1920", "n": 12345678901234567890123, "é": [1.5, None, True]}
    asset = store.create_asset(a.id, t.id, "tiktok", "tier1", "lora:aria", metadata=meta)
    assert store.get_asset(asset.id).metadata == meta
    assert store.list_assets(campaign_id=c.id).items[0].metadata == meta


def test_updates_of_every_entity_and_what_does_not_exist(store: Any, db_url: str) -> None:
    """Each update call, and its NotFound / StaleState, in both flavours (some were reached
    only through the CLI, i.e. the sync flavour)."""
    c, a, t = world(store)
    moved = store.update_agent(a.id, soul_md_path="souls/juno/SOUL.md")
    assert moved.soul_md_path == "souls/juno/SOUL.md"
    assert moved.character_reference_id == a.character_reference_id  # unchanged when not given
    assert store.get_agent(a.id) == moved
    renamed = store.update_agent(a.id, character_reference_id="lora:juno")
    assert (renamed.soul_md_path, renamed.character_reference_id) == (
        "souls/juno/SOUL.md",
        "lora:juno",
    )
    assigned = store.update_task(t.id, assigned_worker_id="worker-7")
    assert assigned.assigned_worker_id == "worker-7" and assigned.version == t.version + 1
    before = snapshot(db_url)
    missing = uuid.uuid4()
    for call, entity in (
        (lambda: store.update_agent(missing, soul_md_path="x"), "agent"),
        (lambda: store.update_task(missing, priority="low"), "task"),
        (lambda: store.update_asset_metadata(missing, {"x": 1}), "video asset"),
        (lambda: store.update_campaign(missing, name="x"), "campaign"),
        (lambda: store.campaign_summary(missing), "campaign"),
    ):
        with pytest.raises(NotFound) as info:
            call()
        assert info.value.entity == entity and str(missing) in str(info.value)
    with pytest.raises(StaleState) as stale:
        store.update_campaign(c.id, name="late", expected_version=c.version + 5)
    assert stale.value.details["current_version"] == c.version
    with pytest.raises(StaleState):
        store.transition_task(t.id, "in_progress", actor="w", expected_version=t.version)
    with pytest.raises(InvalidInput) as info:
        store.list_assets()
    assert info.value.field == "campaign_id"
    assert snapshot(db_url) == before
