"""Bad input, fuzzed: every public write either stores and reads back equal, or is refused with
InvalidInput and writes nothing. 2,000 examples per test under CHIMERA_STRESS=full."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chimera_store import InvalidInput, ParentNotFound
from chimera_store.store import Store
from tests.helpers import asset_record

EXAMPLES = 2000 if os.environ.get("CHIMERA_STRESS") == "full" else 40
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INJECTION = st.sampled_from(
    [
        "'; DROP TABLE campaigns; --",
        '" OR 1=1 --',
        "%(id)s",
        "{filters}",
        "$$; SELECT 1; $$",
        "\\x00",
        "' UNION SELECT * FROM pg_roles --",
    ]
)
text = st.one_of(st.text(max_size=40), INJECTION, st.just("a\x00b"), st.just("\ud800"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)),
    max_leaves=20,
)


@pytest.fixture
def world(db_url: str) -> Iterator[tuple[Store, Any, Any, Any]]:
    store = Store.open(db_url, max_size=2)
    c = store.create_campaign("fuzz", "g", "active")
    a = store.create_agent(c.id, "p", "r")
    t = store.create_task(c.id, "generate_content", "high", {"goal_description": "g"})
    yield store, c, a, t
    store.close()


def as_json_value(value: Any) -> Any:
    """JSON numbers are decimals: 2.322022876706839e+16 and 23220228767068390 are one number.

    jsonb stores numbers as numeric, so a float without a fractional part comes back as an int;
    compare documents as JSON, numbers as decimals.
    """
    return json.loads(json.dumps(value), parse_float=Decimal, parse_int=Decimal)


def counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM campaigns), (SELECT count(*) FROM agents), "
            "(SELECT count(*) FROM tasks), (SELECT count(*) FROM video_assets)"
        ).fetchone()
    assert row is not None
    return tuple(row)


@FUZZ
@given(
    goal=text,
    extra=st.dictionaries(text, json_values, max_size=4),
    persona=st.one_of(st.none(), json_values),
    resources=st.one_of(st.none(), json_values),
)
def test_task_context(
    world: Any, db_url: str, goal: Any, extra: Any, persona: Any, resources: Any
) -> None:
    store, c, _, _ = world
    context = {**extra, "goal_description": goal}
    if persona is not None:
        context["persona_constraints"] = persona
    if resources is not None:
        context["required_resources"] = resources
    before = counts(db_url)
    try:
        task = store.create_task(c.id, "reply_comment", "low", context)
    except InvalidInput:
        assert counts(db_url) == before
        return
    assert as_json_value(store.get_task(task.id).context) == as_json_value(context)


@FUZZ
@given(
    metadata=st.dictionaries(text, json_values, max_size=6),
    platform=text,
    tier=st.one_of(text, st.sampled_from(["tier1", "tier2"])),
    ref=text,
)
def test_asset_writes(
    world: Any, db_url: str, metadata: Any, platform: Any, tier: Any, ref: Any
) -> None:
    store, _, a, t = world
    before = counts(db_url)
    try:
        asset = store.create_asset(a.id, t.id, platform, tier, ref, metadata)
    except InvalidInput:
        assert counts(db_url) == before
        return
    got = store.get_asset(asset.id)
    # Numbers as JSON decimals: a float such as 1.801439850948199e+16 reads back as the integer
    # 18014398509481990, equal as JSON, unequal as Python (found by the bulk test's fuzzing).
    assert as_json_value(got.metadata) == as_json_value(metadata)
    assert (got.platform, got.tier, got.character_reference_id) == (platform, tier, ref)


@FUZZ
@given(
    metadata=st.dictionaries(text, json_values, max_size=6),
    platform=st.one_of(text, st.just("tiktok")),
    ref=text,
)
def test_bulk_ingest(world: Any, db_url: str, metadata: Any, platform: Any, ref: Any) -> None:
    # Through the binary COPY: the fuzzed record sits between two good ones; either all three
    # are stored and read back equal, or record 2 is named and nothing is written.
    store, _, a, t = world
    good = asset_record(a.id, t.id)
    fuzzed = {**good, "id": uuid.uuid4(), "platform": platform, "character_reference_id": ref}
    fuzzed["metadata"] = metadata
    before = counts(db_url)
    try:
        assert store.bulk_insert_assets([good, fuzzed, good]) == 3
    except InvalidInput as exc:
        assert exc.position == 2, exc
        assert counts(db_url) == before
        return
    got = store.get_asset(fuzzed["id"])
    assert as_json_value(got.metadata) == as_json_value(metadata)  # numbers as JSON decimals
    assert (got.platform, got.character_reference_id) == (platform, ref)


@FUZZ
@given(
    context=st.dictionaries(text, json_values, max_size=4),
    goal=text,
    worker=st.one_of(st.none(), text),
    created_at=st.one_of(text, st.just("2026-11-26T10:00:00.5+02:00")),
)
def test_bulk_payloads(
    world: Any, db_url: str, context: Any, goal: Any, worker: Any, created_at: Any
) -> None:
    # Queue payloads through the binary COPY: the fuzzed payload between two good ones is
    # stored with them and exports as it came in (context compared as JSON), or payload 2 is
    # named and nothing is written.
    store, c, _, _ = world

    def payload(**fields: Any) -> dict[str, Any]:
        return {
            "task_id": str(uuid.uuid4()),
            "task_type": "generate_content",
            "priority": "low",
            "context": {"goal_description": "g"},
            "created_at": "2026-11-26T10:00:00Z",
            "status": "pending",
            **fields,
        }

    fuzzed = payload(context={**context, "goal_description": goal}, created_at=created_at)
    if worker is not None:
        fuzzed["assigned_worker_id"] = worker
    before = counts(db_url)
    try:
        assert store.bulk_insert_task_payloads([payload(), fuzzed, payload()], c.id) == 3
    except InvalidInput as exc:
        assert exc.position == 2, exc
        assert counts(db_url) == before
        return
    got = store.get_task(fuzzed["task_id"])
    assert as_json_value(got.context) == as_json_value(fuzzed["context"])
    assert got.assigned_worker_id == worker


@FUZZ
@given(
    stored=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(), max_size=4),
    patch=st.dictionaries(st.one_of(text, st.sampled_from(["a", "b"])), json_values, max_size=3),
    removed=st.lists(st.one_of(text, st.sampled_from(["a", "c", "x"])), max_size=4),
)
def test_metadata_merge_and_remove(
    world: Any, db_url: str, stored: Any, patch: Any, removed: Any
) -> None:
    # One statement: the stored keys minus the removed ones, then the patch on top; or
    # InvalidInput and the document as it was.
    store, _, a, t = world
    asset = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", stored)
    try:
        got = store.update_asset_metadata(asset.id, patch, merge=True, remove_keys=removed)
    except InvalidInput:
        assert store.get_asset(asset.id) == asset
        return
    expected = {k: v for k, v in stored.items() if k not in removed} | patch
    assert as_json_value(got.metadata) == as_json_value(expected)
    assert as_json_value(store.get_asset(asset.id).metadata) == as_json_value(expected)


@FUZZ
@given(name=text, goal=text, status=st.one_of(text, st.just("active")))
def test_campaign_writes(world: Any, db_url: str, name: Any, goal: Any, status: Any) -> None:
    store = world[0]
    before = counts(db_url)
    try:
        c = store.create_campaign(name, goal, status)
    except InvalidInput:
        assert counts(db_url) == before
        return
    assert (c.name, c.goal_description, c.status) == (name, goal, status)
    assert store.get_campaign(c.id) == c


@FUZZ
@given(
    value=st.one_of(text, st.uuids().map(str)),
    field=st.sampled_from(["status", "platform", "tier", "campaign_id", "agent_id"]),
)
def test_filters_never_inject(world: Any, db_url: str, value: Any, field: str) -> None:
    store, c, _, _ = world
    before = counts(db_url)
    kwargs: dict[str, Any] = {"campaign_id": c.id, field: value}
    try:
        page = store.list_assets(**kwargs)
        assert page.items == []
    except (InvalidInput, ParentNotFound):
        pass
    assert counts(db_url) == before


@FUZZ
@given(actor=text, reason=st.one_of(st.none(), text))
def test_submission_and_rejection_texts(world: Any, actor: Any, reason: Any) -> None:
    """The Worker's and the Judge's one-statement moves bind actor and reason like any value:
    stored exactly in the history, or InvalidInput and nothing moved."""
    store, c, a, _ = world
    task = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
    asset = store.create_asset(a.id, task.id, "tiktok", "tier1", "r")
    task = store.transition_task(task.id, "in_progress", actor="w")
    try:
        done = store.submit_task(task.id, task_version=task.version, actor=actor, reason=reason)
    except InvalidInput:
        assert store.get_task(task.id) == task and store.get_asset(asset.id) == asset
        assert len(store.task_history(task.id)) == 1 and store.asset_history(asset.id) == []
        return
    assert done.submitted_asset_ids == [asset.id]
    rejected = store.judge_reject(
        task.id, task_version=done.task.version, actor=actor, reason=reason
    )
    assert rejected.task.status == "pending" and rejected.rejected_asset_ids == [asset.id]
    moves = [(h.to_status, h.actor, h.reason) for h in store.asset_history(asset.id)]
    assert moves == [("judge_pending", actor, reason), ("rejected", actor, reason)]
    assert [(h.actor, h.reason) for h in store.task_history(task.id)[1:]] == [(actor, reason)] * 2


def _not_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return True
    return False


@FUZZ
@given(bad_id=st.one_of(text, st.integers(), st.just(str(uuid.uuid4())[:-1])).filter(_not_uuid))
def test_malformed_ids(world: Any, bad_id: Any) -> None:
    store = world[0]
    with pytest.raises(InvalidInput):
        store.get_campaign(bad_id)
    with pytest.raises(InvalidInput):
        store.create_agent(bad_id, "p", "r")


def test_deep_and_oversized_json_refused(world: Any, db_url: str) -> None:
    store, c, _, _ = world
    deep: Any = "x"
    for _ in range(100):
        deep = {"k": deep}
    before = counts(db_url)
    for bad in ({"goal_description": "g", "d": deep}, {"goal_description": "g" * 300_000}):
        with pytest.raises(InvalidInput):
            store.create_task(c.id, "reply_comment", "low", bad)
    assert counts(db_url) == before


@pytest.fixture
def exported(db_url: str) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    """A small campaign with some of everything, exported as the file holds it, then purged."""
    from tests.integration.test_transfer import as_file, build

    store = Store.open(db_url, max_size=2)
    c = build(store, "fuzzed")
    items = as_file(list(store.export_campaign(c.id)))
    store.purge_campaign(c.id)
    yield store, items
    store.close()


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return sorted({str(v) for i in items for k, v in i.items() if k == "id" or k.endswith("_id")})


# One edit of an export file: (what, item index, key, value); indexes and keys are reduced to the
# file's own when applied, so most edits land on a real item and field.
edits = st.tuples(
    st.sampled_from(["set", "set", "set", "delete_key", "drop", "duplicate", "swap"]),
    st.integers(0, 10_000),
    st.one_of(st.integers(0, 100), text),
    st.one_of(json_values, st.sampled_from(["other_id", "time", "vocabulary"])),
)


def _apply(items: list[dict[str, Any]], edit: tuple[str, int, Any, Any]) -> None:
    what, index, key, value = edit
    at = index % len(items)
    item = items[at]
    if isinstance(key, int):
        key = sorted(item)[key % len(item)]
    if value == "other_id":
        value = _ids(items)[index % len(_ids(items))]
    elif value == "time":
        value = "2026-02-30T00:00:00+00:00" if index % 2 else "2026-01-01T00:00:00"
    elif value == "vocabulary":
        value = ["draft", "approved", "review", "complete", "tier1", "active", "end"][index % 7]
    if what == "set":
        item[key] = value
    elif what == "delete_key":
        item.pop(key, None)
    elif what == "drop":
        del items[at]
    elif what == "duplicate":
        items.insert(at, dict(item))
    else:
        items[at], items[-1 - at] = items[-1 - at], items[at]


@FUZZ
@given(changes=st.lists(edits, min_size=1, max_size=3))
def test_an_edited_campaign_export(exported: Any, db_url: str, changes: Any) -> None:
    """Any edit of an export file (a value, a key, an item dropped, repeated or moved) either
    imports or is refused with InvalidInput or ParentNotFound and writes nothing."""
    from tests.helpers import snapshot

    store, original = exported
    items = json.loads(json.dumps(original))
    for change in changes:
        if items:
            _apply(items, change)
    before = snapshot(db_url)
    try:
        done = store.import_campaign(items)
    except (InvalidInput, ParentNotFound) as exc:
        event(f"refused: {type(exc).__name__} {ascii(exc.field)[:30]}")
        assert snapshot(db_url) == before
        return
    event("imported")
    store.purge_campaign(done.campaign_id)  # an edit the format allows (a reason, a time)
    assert snapshot(db_url) == before


@FUZZ
@given(picks=st.lists(st.integers(min_value=0, max_value=6), max_size=6), junk=text)
def test_submission_of_named_drafts(world: Any, db_url: str, picks: list[int], junk: Any) -> None:
    """`submit_task(asset_ids=...)` with any mix of the task's drafts (repeated or not), its
    submitted asset, another task's draft, an unknown id or junk: exactly the drafts named move,
    or InvalidInput on asset_ids and nothing moves."""
    store, c, a, _ = world
    task = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
    drafts = [store.create_asset(a.id, task.id, "tiktok", "tier1", "r").id for _ in range(3)]
    sent = store.create_asset(a.id, task.id, "tiktok", "tier1", "r", status="judge_pending").id
    other = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
    elsewhere = store.create_asset(a.id, other.id, "tiktok", "tier1", "r").id
    task = store.transition_task(task.id, "in_progress", actor="w")
    pool: list[Any] = [*drafts, sent, elsewhere, uuid.uuid4(), junk]
    named = [pool[p] for p in picks]
    before = counts(db_url)
    try:
        done = store.submit_task(task.id, task_version=task.version, actor="w", asset_ids=named)
    except InvalidInput as exc:
        event("refused")
        assert exc.field == "asset_ids"
        assert any(p > 2 for p in picks)
        assert counts(db_url) == before and store.get_task(task.id) == task
        assert {store.get_asset(d).status for d in drafts} == {"draft"}
        return
    event("submitted")
    assert all(p <= 2 for p in picks)
    assert sorted(done.submitted_asset_ids) == sorted({drafts[p] for p in picks})
    for d in drafts:
        assert store.get_asset(d).status == ("judge_pending" if d in named else "draft")
    assert store.get_task(task.id).status == "review"
