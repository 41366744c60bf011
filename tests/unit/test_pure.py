"""Pure logic, no database: masking, validation, transition rules, payloads, cursors, SQL loader."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chimera_store import jsonb_loads, sql, validation
from chimera_store.config import mask_password
from chimera_store.errors import InvalidInput
from chimera_store.payload import parse_payload, payload_json_schema
from chimera_store.records import decode_cursor, encode_cursor
from chimera_store.store import inputs
from chimera_store.vocab import (
    ASSET_TRANSITIONS,
    TASK_TRANSITIONS,
    AssetStatus,
    TaskStatus,
    Tier,
    asset_sources,
    task_sources,
)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:pw@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:@h/db", "postgresql://u:@h/db"),
        (
            "postgresql://h/db?password=pw&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://u:pw@[::1/x", "postgresql://u:***@[::1/x"),
    ],
)
def test_mask_password(url: str, masked: str) -> None:
    assert mask_password(url) == masked


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1))
def test_mask_password_never_leaks(secret: str) -> None:
    assert mask_password(f"postgresql://user:{secret}@host/db") == "postgresql://user:***@host/db"


def test_transition_tables_match_erd() -> None:
    assert task_sources(TaskStatus.COMPLETE) == ["review"]
    assert set(task_sources(TaskStatus.PENDING)) == {"in_progress", "review"}
    assert asset_sources(AssetStatus.PUBLISHED) == ["approved"]
    assert ASSET_TRANSITIONS[AssetStatus.REJECTED] == frozenset()
    assert TASK_TRANSITIONS[TaskStatus.COMPLETE] == frozenset()


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"a": float("inf")}, "metadata.a"),
        ({"a": ["x", {"b": "\x00"}]}, "metadata.a[1].b"),
        ({"\ud800": 1}, "metadata.\ud800"),
        ([], "metadata"),
        ({"a": {1, 2}}, "metadata.a"),
        ({"a": {1: "int key"}}, "metadata.a"),
        ({"a": [{True: "bool key"}]}, "metadata.a[0]"),
        ({"a": "lone \udc00 low surrogate"}, "metadata.a"),
        # Flat documents, which skip the read-back: keys dumps would have turned into strings.
        ({1: "int key", "b": 2}, "metadata"),
        ({"a": 1, None: "null key"}, "metadata"),
    ],
)
def test_json_object_refusals(value: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validation.json_object_text(value, "metadata")
    assert info.value.field == field


@pytest.mark.parametrize(
    "value",
    [
        {"path": "C:\\u0000"},  # a backslash before "u0000" is text, not NUL
        {"emoji": "\U0001f3ac", "accents": "d\u00e9j\u00e0 vu"},
        {"wide": [{"k": i} for i in range(100)]},  # many containers, shallow
        {"pair": (1, 2)},  # a tuple is stored as a JSON array
    ],
)
def test_json_object_accepted_beyond_the_fast_path(value: dict[str, object]) -> None:
    text = validation.json_object_text(value, "metadata")
    assert json.loads(text) == json.loads(json.dumps(value))


def test_json_depth_and_size_limits() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(validation.MAX_JSON_DEPTH + 2):
        node["k"] = {}
        node = node["k"]  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="nested deeper"):
        validation.json_object_text(deep, "metadata")
    with pytest.raises(InvalidInput, match="larger than"):
        validation.json_object_text({"x": "a" * (validation.MAX_JSON_BYTES + 1)}, "metadata")


def test_cursor_round_trip_and_garbage() -> None:
    stamp, key = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(stamp, key)) == (stamp, key)
    with pytest.raises(InvalidInput):
        decode_cursor("%%%")
    for junk in (123, None, b"abc"):  # was a TypeError from len()
        with pytest.raises(InvalidInput) as info:
            decode_cursor(junk)  # type: ignore[arg-type]
        assert info.value.field == "cursor"


ASSET = {
    "agent_id": uuid.uuid4(),
    "task_id": uuid.uuid4(),
    "platform": "tiktok",
    "tier": "tier1",
    "character_reference_id": "r",
}


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({k: v for k, v in ASSET.items() if k != "tier"}, "tier", "required"),
        ({k: v for k, v in ASSET.items() if k != "agent_id"}, "agent_id", "required"),
        ({**ASSET, "colour": "red"}, "colour", "unknown asset field"),
        ({**ASSET, 7: "x"}, "7", "unknown asset field"),  # was a TypeError sorting the keys
        # A record as `assets list --json` prints it: what the database sets is named so.
        ({**ASSET, "version": 1}, "version", "set by the database, not by a new asset"),
        ({**ASSET, "created_at": "2026-12-07"}, "created_at", "set by the database"),
        ([1, 2], "record", "must be a mapping of asset fields"),
    ],
)
def test_bulk_asset_record_fields_are_named(record: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as info:
        inputs.asset_copy_row(record)  # type: ignore[arg-type]
    assert info.value.field == field and info.value.reason.startswith(reason)


def test_bulk_task_record_missing_field_is_named() -> None:
    # It said "task_params() missing 3 required positional arguments: ...".
    with pytest.raises(InvalidInput) as info:
        inputs.task_copy_row({"campaign_id": uuid.uuid4(), "task_type": "reply_comment"})
    assert (info.value.field, info.value.reason) == ("priority", "required")


def test_payload_schema_and_parse() -> None:
    schema = payload_json_schema()
    assert set(schema["required"]) >= {
        "task_id",
        "task_type",
        "priority",
        "context",
        "created_at",
        "status",
    }
    with pytest.raises(InvalidInput) as info:
        parse_payload({"task_id": "x"})
    assert info.value.field == "task_id"


@pytest.mark.parametrize(
    "created_at", [1700000000, 1700000000.5, "1700000000", True, "2026-11-26", "26/11/2026 10:00"]
)
def test_payload_created_at_is_an_iso_date_time_only(created_at: object) -> None:
    # Pydantic took a number (or a string of digits) as Unix time: a payload the exported
    # schema refuses, stored, and replayed as a different value.
    payload = {
        "task_id": str(uuid.uuid4()),
        "task_type": "generate_content",
        "priority": "low",
        "context": {"goal_description": "g"},
        "created_at": created_at,
        "status": "pending",
    }
    with pytest.raises(InvalidInput) as info:
        parse_payload(payload)
    assert info.value.field == "created_at"
    assert not info.value.reason.startswith("Value error")
    for good in ("2026-11-26T10:00:00Z", "2026-11-26 10:00:00+02:00", "2026-11-26t10:00:00Z"):
        assert parse_payload({**payload, "created_at": good}).created_at.tzinfo is not None


def test_every_named_query_loads() -> None:
    names = sql.names()
    assert {"insert_task", "judge_commit", "catalog_columns"} <= set(names)
    for name in names:
        assert sql.query(name).strip()
    with pytest.raises(KeyError):
        sql.query("nope")


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_jsonb_loads_gives_what_json_loads_gives(value: object) -> None:
    # jsonb's own output style (", " and ": ") and the compact one, as bytes and memoryview.
    for text in (json.dumps(value, ensure_ascii=False), json.dumps(value, separators=(",", ":"))):
        expected = json.loads(text)
        for data in (text, text.encode(), memoryview(text.encode())):
            assert jsonb_loads.loads(data) == expected


def test_jsonb_loads_edges_follow_json_loads() -> None:
    assert jsonb_loads.loads(b' {"a": 1} ') == {"a": 1}  # whitespace: handed to json.loads
    assert jsonb_loads.loads(b"123456789012345678901234567890") == 123456789012345678901234567890
    for bad in (b"{", b'{"a": 1} x', b""):
        with pytest.raises(json.JSONDecodeError):
            jsonb_loads.loads(bad)
    adapters = jsonb_loads.adapters()
    for name in ("json", "jsonb"):
        loader = adapters.get_loader(adapters.types[name].oid, psycopg.pq.Format.TEXT)
        # `_loads` is where psycopg's set_json_loads keeps the function (psycopg is pinned).
        assert getattr(loader, "_loads", None) is jsonb_loads.loads
    assert psycopg.adapters.get_loader(adapters.types["jsonb"].oid, psycopg.pq.Format.TEXT) is not (
        adapters.get_loader(adapters.types["jsonb"].oid, psycopg.pq.Format.TEXT)
    )  # psycopg's global adapters are left as they were


@given(st.lists(st.booleans(), max_size=40))
def test_json_lines_maps_records_to_file_lines(blank: list[bool]) -> None:
    import tempfile
    from pathlib import Path

    from chimera_store.cli.files import JsonLines

    lines = ["" if b else json.dumps({"n": i}) for i, b in enumerate(blank)]
    expected = [number for number, b in enumerate(blank, start=1) if not b]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        path.write_text("\n".join(lines) + "\n")
        advanced: list[int] = []
        records = JsonLines(str(path), advanced.append)
        read = list(records)
    assert len(read) == len(expected) == len(advanced)
    assert [records.line_of(k) for k in range(1, len(read) + 1)] == expected


def test_database_url_scheme_and_blank(monkeypatch: pytest.MonkeyPatch) -> None:
    from chimera_store import config, embedded
    from chimera_store.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as info:
        config.validate_url("mysql://u:hunter2@h/d")  # was libpq's 'missing "=" after ...'
    assert "'mysql'" in str(info.value) and "hunter2" not in str(info.value)
    keyvalue = "host=h dbname=d options='-c application_name=a://b'"
    assert config.validate_url(keyvalue) == keyvalue  # "://" inside a value is no scheme
    # Blank is unset (the embedded server), not an empty conninfo meaning libpq's defaults.
    monkeypatch.setattr(embedded, "embedded_url", lambda: "embedded")
    monkeypatch.setenv(config.ENV_DATABASE_URL, "  ")
    assert config.resolve_target().embedded and config.resolve_target(" ").url == "embedded"
    assert config.resolve_target("postgresql://h/d").url == "postgresql://h/d"


def test_every_error_class_is_documented_with_its_exit_code() -> None:
    """docs/exit-codes.md names each error class in the row of its code, and no two unrelated
    classes share a code (a subclass may keep its parent's)."""
    from pathlib import Path

    from chimera_store import errors

    rows = {}
    doc = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"
    for line in doc.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].isdigit():
            rows[int(cells[1])] = cells[-2]
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type)
        and issubclass(c, errors.ChimeraError)
        and c is not errors.ChimeraError
    ]
    assert len(classes) >= 20
    for cls in classes:
        assert f"`{cls.__name__}`" in rows.get(cls.exit_code, ""), (cls.__name__, cls.exit_code)
        for other in classes:
            if other.exit_code == cls.exit_code:
                assert (
                    issubclass(other, cls)
                    or issubclass(cls, other)
                    or (other.__mro__[1] is cls.__mro__[1] is not errors.ChimeraError)
                ), (cls.__name__, other.__name__)


def test_vocabulary_words_and_members() -> None:
    """A word or its enum member is taken and given back as the word; anything else, hashable
    or not, is refused naming the field and the words."""
    assert inputs.vocab("tier1", Tier, "tier") == "tier1"
    assert inputs.vocab(AssetStatus.JUDGE_PENDING, AssetStatus, "status") == "judge_pending"
    assert type(inputs.vocab(AssetStatus.JUDGE_PENDING, AssetStatus, "status")) is str
    for bad in ("gold", "Tier1", 1, None, ["tier1"], TaskStatus.PENDING):
        with pytest.raises(InvalidInput, match="is not one of: tier1, tier2") as info:
            inputs.vocab(bad, Tier, "tier")
        assert info.value.field == "tier"
