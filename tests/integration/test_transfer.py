"""A whole campaign out (`export_campaign`) and back in (`import_campaign`), both flavours."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chimera_store import InvalidInput, NotFound, ParentNotFound
from chimera_store.cli.common import json_text
from chimera_store.store import Store
from tests.dbfixtures import create_database, drop_database, with_dbname
from tests.helpers import asset_record, snapshot

CONTEXT = {"goal_description": "Tease the drop", "persona_constraints": ["warm"]}


def build(store: Any, name: str = "Launch") -> Any:
    """A campaign with some of everything: agents, tasks through their life cycle (history
    with reasons and idempotency keys), assets in several statuses with metadata."""
    c = store.create_campaign(name, "Grow the audience", "active")
    agents = [store.create_agent(c.id, f"souls/{i}/SOUL.md", f"lora:{i}") for i in range(2)]
    for i in range(4):
        t = store.create_task(c.id, "generate_content", ["high", "low"][i % 2], CONTEXT)
        store.transition_task(
            t.id, "in_progress", actor="w1", assigned_worker_id="w1", idempotency_key=f"claim-{i}"
        )
        for j in range(3):
            store.create_asset(
                agents[j % 2].id, t.id, "tiktok", "tier1", "r", {"n": j, "ratio": 1 / 3}
            )
        t = store.submit_task(t.id, task_version=store.get_task(t.id).version, actor="w1").task
        if i == 0:
            store.judge_commit(t.id, campaign_version=c.version, task_version=t.version, actor="j")
        if i == 1:
            store.judge_reject(t.id, task_version=t.version, actor="j", reason="off-brand")
    store.create_task(c.id, "reply_comment", "medium", {**CONTEXT, "thread": ["a", None, 2.5]})
    draft = store.list_assets(campaign_id=c.id, limit=1).items[0]
    store.update_asset_metadata(draft.id, {"note": "é \u2028 ok"}, merge=True)
    return c


def rows_of(url: str, campaign_id: Any) -> list[Any]:
    """Every stored column of the campaign's rows (history without its per-database ids)."""
    queries = [
        "SELECT x::text FROM campaigns x WHERE id = %(c)s",
        "SELECT x::text FROM agents x WHERE campaign_id = %(c)s ORDER BY id",
        "SELECT x::text FROM tasks x WHERE campaign_id = %(c)s ORDER BY id",
        "SELECT x::text FROM video_assets x WHERE campaign_id = %(c)s ORDER BY id",
        """SELECT (h.task_id, h.from_status, h.to_status, h.actor, h.reason, h.idempotency_key,
                   h.at)::text
           FROM task_status_history h JOIN tasks t ON t.id = h.task_id
           WHERE t.campaign_id = %(c)s ORDER BY h.task_id, h.id""",
        """SELECT (h.asset_id, h.from_status, h.to_status, h.actor, h.reason, h.idempotency_key,
                   h.at)::text
           FROM asset_status_history h JOIN video_assets a ON a.id = h.asset_id
           WHERE a.campaign_id = %(c)s ORDER BY h.asset_id, h.id""",
    ]
    with psycopg.connect(url) as conn:
        return [conn.execute(q, {"c": campaign_id}).fetchall() for q in queries]


def as_file(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items as `campaign export` writes them and `campaign import` reads them back."""
    return [json.loads(json_text(item)) for item in items]


def test_export_purge_import_gives_back_every_row(store: Any, db_url: str) -> None:
    c = build(store)
    other = build(store, "Other")
    before, other_before = rows_of(db_url, c.id), rows_of(db_url, other.id)
    items = list(store.export_campaign(c.id))
    kinds = [item["kind"] for item in items]
    assert kinds[:2] == ["header", "campaign"] and kinds[-1] == "end"
    assert kinds == sorted(
        kinds,
        key=[
            "header",
            "campaign",
            "agent",
            "task",
            "task_history",
            "asset",
            "asset_history",
            "end",
        ].index,
    )
    assert items[-1] == {"kind": "end", "agents": 2, "tasks": 5, "task_history": 10,
                         "video_assets": 12, "asset_history": 18}  # fmt: skip
    assert items[0]["schema_revision"] and items[0]["campaign_id"] == c.id
    store.purge_campaign(c.id)
    assert rows_of(db_url, c.id)[0] == []
    counts = store.import_campaign(as_file(items))
    assert counts.campaign_id == c.id
    assert (counts.agents, counts.tasks, counts.video_assets) == (2, 5, 12)
    assert (counts.task_history, counts.asset_history) == (10, 18)
    assert rows_of(db_url, c.id) == before
    assert rows_of(db_url, other.id) == other_before
    again = list(store.export_campaign(c.id))
    assert as_file(again[1:]) == as_file(items[1:])  # the header's time differs, nothing else
    # The restored campaign works on: versions kept, so the Judge's check still applies.
    pending = store.list_tasks(c.id, status="review").items
    assert pending and store.get_campaign(c.id).version == c.version


def test_import_into_another_database(
    store: Any, db_url: str, admin_url: str, template_db: str
) -> None:
    c = build(store)
    items = as_file(list(store.export_campaign(c.id)))
    name = create_database(admin_url, template=template_db)  # empty, at head
    try:
        target_url = with_dbname(admin_url, name)
        with Store.open(target_url) as target:
            target.import_campaign(items)
        assert rows_of(target_url, c.id) == rows_of(db_url, c.id)
    finally:
        drop_database(admin_url, name)


def test_export_of_an_unknown_campaign(store: Any) -> None:
    with pytest.raises(NotFound):
        list(store.export_campaign(uuid.uuid4()))
    with pytest.raises(InvalidInput) as info:
        list(store.export_campaign("nope"))
    assert info.value.field == "id"


def _exported(store: Any) -> tuple[Any, list[dict[str, Any]]]:
    c = build(store)
    items = as_file(list(store.export_campaign(c.id)))
    store.purge_campaign(c.id)
    return c, items


def _index(items: list[dict[str, Any]], kind: str) -> int:
    return next(i for i, item in enumerate(items) if item["kind"] == kind)


def _edits() -> Iterator[tuple[str, Any, type[Exception], str, str | None]]:
    """(name, edit, error, field, where): `edit` changes the file; `where` is the kind of the
    item the error must be placed at (None: the end of the file, or no position)."""

    def set_field(section: str, **fields: Any) -> Any:
        def edit(items: list[dict[str, Any]]) -> None:
            items[_index(items, section)].update(fields)

        return edit

    def drop(kind: str) -> Any:
        return lambda items: items.pop(_index(items, kind))

    yield "cut short", lambda items: items.pop(), InvalidInput, "records", None
    yield "a row missing", drop("task_history"), InvalidInput, "task_history", "end"
    yield "no header", drop("header"), InvalidInput, "kind", "campaign"
    yield "wrong format", set_field("header", format="x"), InvalidInput, "format", "header"
    yield "newer format", set_field("header", format_version=2), InvalidInput, "format_version", "header"  # fmt: skip
    yield "unknown kind", set_field("agent", kind="robot"), InvalidInput, "kind", "robot"
    yield "unknown field", set_field("task", colour="red"), InvalidInput, "colour", "task"
    yield "bad vocabulary", set_field("asset", tier="tier9"), InvalidInput, "tier", "asset"
    yield "naive time", set_field("agent", created_at="2026-01-01T00:00:00"), InvalidInput, "created_at", "agent"  # fmt: skip
    yield "bad version", set_field("task", version=0), InvalidInput, "version", "task"
    yield "another campaign's row", set_field("task", campaign_id=str(uuid.uuid4())), InvalidInput, "campaign_id", "task"  # fmt: skip
    yield "a header for another campaign", set_field("header", campaign_id=str(uuid.uuid4())), InvalidInput, "id", "campaign"  # fmt: skip
    yield "an asset of an unknown agent", set_field("asset", agent_id=str(uuid.uuid4())), ParentNotFound, "agent_id", "asset"  # fmt: skip
    yield "an asset of an unknown task", set_field("asset", task_id=str(uuid.uuid4())), ParentNotFound, "task_id", None  # fmt: skip
    yield "history of an unknown asset", set_field("asset_history", asset_id=str(uuid.uuid4())), ParentNotFound, "asset_id", "asset_history"  # fmt: skip

    def missing_field(items: list[dict[str, Any]]) -> None:
        del items[_index(items, "task_history")]["actor"]

    yield "a missing field", missing_field, InvalidInput, "actor", "task_history"

    def backwards(items: list[dict[str, Any]]) -> None:
        items.insert(_index(items, "asset") + 1, items[_index(items, "task")])

    yield "sections out of order", backwards, InvalidInput, "kind", "task"


EDITS = list(_edits())


@pytest.mark.parametrize(
    ("name", "edit", "error", "field", "where"), EDITS, ids=[e[0] for e in EDITS]
)
def test_a_bad_import_is_refused_whole_and_named(
    store: Any,
    db_url: str,
    name: str,
    edit: Any,
    error: type[Exception],
    field: str,
    where: str | None,
) -> None:
    _c, items = _exported(store)
    edit(items)
    before = snapshot(db_url)
    with pytest.raises(error) as info:
        store.import_campaign(items)
    assert getattr(info.value, "field", None) == field, str(info.value)
    if where is not None:
        position = getattr(info.value, "position", None)
        assert position is not None and items[position - 1]["kind"] == where, str(info.value)
    assert snapshot(db_url) == before


def test_history_cannot_attach_to_another_campaigns_rows(store: Any, db_url: str) -> None:
    """History entries carry no campaign: the import must check their task's or asset's."""
    _c, items = _exported(store)
    other = build(store, "Other")
    foreign_task = store.list_tasks(other.id, limit=1).items[0]
    foreign_asset = store.list_assets(campaign_id=other.id, limit=1).items[0]
    for kind, field, foreign in (
        ("task_history", "task_id", foreign_task.id),
        ("asset_history", "asset_id", foreign_asset.id),
    ):
        edited = [dict(item) for item in items]
        at = _index(edited, kind) + 1
        edited[at][field] = str(foreign)
        before = snapshot(db_url)
        with pytest.raises(ParentNotFound) as info:
            store.import_campaign(edited)
        assert (info.value.field, info.value.position) == (field, at + 1)
        assert "not one of this campaign's" in str(info.value)
        assert snapshot(db_url) == before


def test_assets_cannot_attach_to_another_campaigns_rows(store: Any, db_url: str) -> None:
    _c, items = _exported(store)
    other = build(store, "Other")
    foreign_task = store.list_tasks(other.id, limit=1).items[0]
    foreign_agent = store.list_agents(other.id, limit=1).items[0]
    nowhere = uuid.uuid4()  # no such row in any campaign
    for field, foreign in (
        ("task_id", foreign_task.id),
        ("agent_id", foreign_agent.id),
        ("task_id", nowhere),
        ("agent_id", nowhere),
    ):
        edited = [dict(item) for item in items]
        at = _index(edited, "asset") + 1  # the second asset: named by its own position
        edited[at][field] = str(foreign)
        before = snapshot(db_url)
        with pytest.raises(ParentNotFound) as info:
            store.import_campaign(edited)
        assert (info.value.field, info.value.position) == (field, at + 1)
        assert str(foreign) in str(info.value)
        assert "not one of this campaign's" in str(info.value)
        assert snapshot(db_url) == before


def test_an_empty_import_says_so(store: Any, db_url: str) -> None:
    before = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:
        store.import_campaign([])
    assert info.value.field == "records" and "empty" in str(info.value)
    assert snapshot(db_url) == before


def test_an_existing_campaign_or_row_is_refused(store: Any, db_url: str) -> None:
    c = build(store)
    items = as_file(list(store.export_campaign(c.id)))
    before = snapshot(db_url)
    with pytest.raises(InvalidInput) as info:
        store.import_campaign(items)
    assert (info.value.field, info.value.position) == ("id", 2)
    assert "exists already" in str(info.value)
    # Under a new campaign id, its tasks' ids still exist here: named by position.
    fresh = str(uuid.uuid4())
    for item in items:
        if item["kind"] == "header":
            item["campaign_id"] = fresh
        elif item["kind"] == "campaign":
            item["id"] = fresh
        elif "campaign_id" in item:
            item["campaign_id"] = fresh
    with pytest.raises(InvalidInput) as info:
        store.import_campaign(items)
    assert info.value.field == "id" and items[info.value.position - 1]["kind"] == "agent"
    assert snapshot(db_url) == before


def test_not_an_iterable_of_items(store: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        store.import_campaign({"kind": "header"})
    assert info.value.field == "records"
    with pytest.raises(InvalidInput) as info:
        store.import_campaign([])
    assert info.value.field == "records"


def test_export_is_one_snapshot(db_url: str) -> None:
    """Rows committed while an export is being read are not in it, and its counts agree."""
    with Store.open(db_url) as store:
        c = build(store)
        items = store.export_campaign(c.id)
        first = [next(items), next(items), next(items)]  # header, campaign, an agent
        agent, task = store.list_agents(c.id).items[0], store.list_tasks(c.id).items[0]
        done = threading.Event()

        def write() -> None:
            with Store.open(db_url) as other:
                other.create_asset(agent.id, task.id, "tiktok", "tier1", "late")
                other.create_agent(c.id, "souls/late/SOUL.md", "lora:late")
            done.set()

        threading.Thread(target=write).start()
        assert done.wait(30)
        rest = list(items)
        exported = first + rest
        assert not any(item.get("character_reference_id") == "late" for item in exported)
        assert exported[-1]["video_assets"] == 12 and exported[-1]["agents"] == 2


def test_export_inside_a_callers_transaction(db_url: str) -> None:
    with Store.open(db_url) as store:
        c = build(store)
        with store.transaction() as tx:
            store_side = tx.create_agent(c.id, "souls/new/SOUL.md", "lora:new")
            items = list(tx.export_campaign(c.id))
        assert any(item.get("id") == store_side.id for item in items)  # its own write is seen
        assert items[-1]["agents"] == 3


def test_export_releases_its_connection_when_abandoned(db_url: str) -> None:
    with Store.open(db_url, max_size=1, connect_timeout=5) as store:
        c = build(store)
        items = store.export_campaign(c.id)
        next(items)
        items.close()  # stopped early: the transaction ends, the connection goes back
        assert store.get_campaign(c.id) == c


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8).filter(lambda k: "\x00" not in k), children, max_size=4),
    max_leaves=12,
)  # fmt: skip
json_objects = st.dictionaries(
    st.text(max_size=8).filter(lambda k: "\x00" not in k), json_values, max_size=5
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(context_extra=json_objects, metadata=json_objects)
def test_json_round_trips_through_the_file(
    db_url: str, context_extra: dict[str, Any], metadata: dict[str, Any]
) -> None:
    with Store.open(db_url) as store:
        c = store.create_campaign("J", "g")
        a = store.create_agent(c.id, "p", "r")
        context = {**context_extra, "goal_description": "g"}
        t = store.create_task(c.id, "generate_content", "high", context)
        v = store.bulk_insert_assets([asset_record(a.id, t.id, metadata=metadata)])
        assert v == 1
        stored = rows_of(db_url, c.id)  # as PostgreSQL keeps it (jsonb numbers are decimals)
        items = as_file(list(store.export_campaign(c.id)))
        store.purge_campaign(c.id)
        store.import_campaign(items)
        assert rows_of(db_url, c.id) == stored
        store.purge_campaign(c.id)


def test_heartbeats_travel_and_older_files_have_none(store: Any, db_url: str) -> None:
    """A task's heartbeat_at is exported and imported exactly; a file from before revision
    0006 (task items without the field) imports with none."""
    c = build(store)
    beating = store.create_task(c.id, "generate_content", "low", CONTEXT)
    beating = store.transition_task(beating.id, "in_progress", actor="w2")
    beat = store.heartbeat_task(beating.id, task_version=beating.version)
    before = rows_of(db_url, c.id)
    items = as_file(list(store.export_campaign(c.id)))
    (item,) = [i for i in items if i["kind"] == "task" and i["id"] == str(beating.id)]
    assert item["heartbeat_at"] is not None
    store.purge_campaign(c.id)
    store.import_campaign(items)
    assert rows_of(db_url, c.id) == before
    assert store.get_task(beating.id).heartbeat_at == beat
    store.purge_campaign(c.id)
    for i in items:
        if i["kind"] == "task":
            del i["heartbeat_at"]
    store.import_campaign(items)
    assert store.get_task(beating.id).heartbeat_at is None
    assert store.get_task(beating.id).version == beating.version
