"""Pure input handling for the data API: validation, statement parameters, list filters.

Shared by the async and sync stores so that neither holds logic of its own.
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import datetime
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any, TypeVar
from uuid import UUID

from psycopg import AsyncClientCursor, AsyncRawCursor, ClientCursor, RawCursor, sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from chimera_store import validation as v
from chimera_store.errors import InvalidInput
from chimera_store.ids import new_id
from chimera_store.records import Page, decode_cursor
from chimera_store.sql import query
from chimera_store.vocab import (
    AssetStatus,
    CampaignStatus,
    Priority,
    TaskStatus,
    TaskType,
    Tier,
)

T = TypeVar("T")
# A store's list method, for `iterate` (the sync twin's name is `Lister`: tools/async_to_sync.py).
AsyncLister = Callable[..., Awaitable[Page[T]]]
Lister = Callable[..., Page[T]]


def aware_datetime(value: Any, field: str) -> datetime | None:
    """None, or a timezone-aware datetime: a naive one would be read in the server's time zone,
    so the same call would mean different instants on different servers."""
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidInput(field, "must be a timezone-aware datetime")
    return value


def paging_filters(list_method: Any, filters: dict[str, Any], page_size: Any) -> dict[str, Any]:
    """The filters for `iterate`; paging is its own business."""
    if not getattr(list_method, "__name__", "").startswith("list_"):
        raise InvalidInput(
            "list_method", f"must be one of the store's list_* methods, not {list_method!r:.60}"
        )
    for key in ("limit", "cursor"):
        if key in filters:
            raise InvalidInput(key, "iterate pages by itself; give page_size instead")
    return {**filters, "limit": v.check_int(page_size, "page_size", 1, 1000)}


def _sent_as(text: str) -> Callable[[Any], str]:
    return lambda _obj: text


def json_param(value: Any, field: str) -> Jsonb:
    """A validated JSON object as a jsonb parameter, serialised once."""
    return Jsonb(value, dumps=_sent_as(v.json_object_text(value, field)))


def context_param(value: Any) -> Jsonb:
    return Jsonb(value, dumps=_sent_as(v.context_text(value)))


def vocab(value: Any, enum: type[StrEnum], field: str) -> str:
    try:
        return _words(enum)[value]
    except (KeyError, TypeError):  # TypeError: an unhashable value (a list, say)
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInput(field, f"{str(value)[:40]!r} is not one of: {allowed}") from None


@cache
def _words(enum: type[StrEnum]) -> dict[str, str]:
    """A vocabulary's words, looked up in a dict rather than by calling the enum (a tenth of the
    time, twice per insert). A StrEnum member equals its word and hashes as it, so the member
    finds the same entry."""
    return {m.value: m.value for m in enum}


def optional_version(value: Any, field: str = "expected_version") -> int | None:
    return None if value is None else v.check_version(value, field)


def optional_text(value: Any, field: str, *, max_len: int = v.MAX_NAME) -> str | None:
    """A text argument that may be left out (None: keep, or no filter)."""
    return None if value is None else v.check_text(value, field, max_len=max_len)


# Cursors that bind parameters on the client; they cannot take results in binary.
CLIENT_SIDE_CURSORS = (ClientCursor, AsyncClientCursor)


def check_callers_settings(source: Any) -> None:
    """Refuse a caller's connection or pool that no call could use: cursors that take `$1`
    placeholders (psycopg's RawCursor), where the store's queries name their parameters, so
    every call would fail on them with a bare TypeError; or a client encoding other than UTF8,
    in which text with other characters (an emoji in a goal) cannot be sent. (A pool's
    connection settings given as a callable go unchecked.)"""
    if isinstance(source, (ConnectionPool, AsyncConnectionPool)):
        # Its settings for the connections it makes (none given: None; a callable: unknown).
        settings = source.kwargs if isinstance(source.kwargs, dict) else {}
        factory = settings.get("cursor_factory")
        encoding = settings.get("client_encoding")
    else:
        factory = source.cursor_factory
        # A closed connection fails at the store's first call; nothing to read from it here.
        encoding = None if source.closed else source.info.parameter_status("client_encoding")
    if isinstance(factory, type) and issubclass(factory, (RawCursor, AsyncRawCursor)):
        raise InvalidInput(
            "cursor_factory",
            f"{factory.__name__} takes $1 placeholders and the store's queries are named: give "
            "it a connection or pool with psycopg's default cursor (or ClientCursor)",
        )
    if encoding is not None and str(encoding).upper().replace("-", "") not in {"UTF8", "UNICODE"}:
        raise encoding_error(encoding)


def encoding_error(encoding: object) -> InvalidInput:
    """What a connection that cannot send every character is told (found at the store's
    making, or, for a caller's pool whose database sets the encoding, at the first such text)."""
    return InvalidInput(
        "client_encoding",
        f"is {encoding}; the store sends any Unicode text, so it needs UTF8: connect with "
        "client_encoding=UTF8",
    )


_ID_PREFIX = re.compile(r"[0-9a-f-]{1,36}")


def id_prefix(value: Any) -> str | None:
    """The start of an id as `str(uuid)` prints it (lower-case hex and dashes), or None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("id_prefix", f"must be a string, got {type(value).__name__}")
    prefix = value.lower()
    if not _ID_PREFIX.fullmatch(prefix):
        raise InvalidInput(
            "id_prefix", f"not the start of a UUID (hex digits and dashes): {value[:60]!r}"
        )
    return prefix


def uuid_list(values: Any, field: str) -> list[UUID]:
    """A collection of ids; one id passed alone (a string) is refused, not split into letters."""
    if isinstance(values, (str, bytes, UUID)) or not isinstance(values, Iterable):
        raise InvalidInput(field, f"must be a list of UUIDs, got {type(values).__name__}")
    return [v.check_uuid(value, field) for value in values]


def key_list(values: Any, field: str) -> list[str]:
    """Top-level JSON keys; one key passed alone (a string) is refused, not split into letters."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise InvalidInput(field, f"must be a list of keys, got {type(values).__name__}")
    keys = list(values)
    for key in keys:
        if not isinstance(key, str):
            raise InvalidInput(field, f"keys are strings, got {type(key).__name__}")
        v.check_string_content(key, field)
    return keys


# What a bulk call takes: the sync store any iterable of records, the async store also an async
# iterable (records arriving from a queue or an async generator, streamed as they come).
Records = Iterable[Mapping[str, Any]]
AsyncRecords = Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]]


def record_iterator(records: Any) -> Iterator[Any]:
    """The records of a bulk call; one record passed alone (a mapping) is refused, not iterated."""
    if isinstance(records, (str, bytes, Mapping)) or not isinstance(records, Iterable):
        hint = " (an async iterable needs AsyncStore)" if isinstance(records, AsyncIterable) else ""
        raise InvalidInput(
            "records",
            f"must be an iterable of records (mappings), got {type(records).__name__}{hint}",
        )
    return iter(records)


def async_record_iterator(records: Any) -> AsyncIterator[Any]:
    """`record_iterator` for the async store, which also takes an async iterable. Checked now,
    before any connection is taken, not at the first record."""
    if isinstance(records, AsyncIterable):
        return aiter(records)
    return _as_async(record_iterator(records))


async def _as_async(rows: Iterator[Any]) -> AsyncIterator[Any]:
    for row in rows:  # about 0.07 us per record, against 25 - 40 us for the COPY itself
        yield row


def id_or_new(value: Any) -> UUID:
    """The caller's id, checked, or a new time-ordered one (chimera_store.ids explains why)."""
    return new_id() if value is None else v.check_uuid(value, "id")


def campaign_params(
    name: Any, goal_description: Any, status: Any = "draft", id: Any = None
) -> dict[str, Any]:
    return {
        "id": id_or_new(id),
        "name": v.check_text(name, "name"),
        "goal_description": v.check_text(goal_description, "goal_description", max_len=v.MAX_TEXT),
        "status": vocab(status, CampaignStatus, "status"),
    }


def agent_params(
    campaign_id: Any, soul_md_path: Any, character_reference_id: Any, id: Any = None
) -> dict[str, Any]:
    return {
        "id": id_or_new(id),
        "campaign_id": v.check_uuid(campaign_id, "campaign_id"),
        "soul_md_path": v.check_text(soul_md_path, "soul_md_path", max_len=1024),
        "character_reference_id": v.check_text(character_reference_id, "character_reference_id"),
    }


def task_params(
    campaign_id: Any,
    task_type: Any,
    priority: Any,
    context: Any,
    status: Any = "pending",
    id: Any = None,
    assigned_worker_id: Any = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    aware_datetime(created_at, "created_at")
    return {
        "id": id_or_new(id),
        "campaign_id": v.check_uuid(campaign_id, "campaign_id"),
        "task_type": vocab(task_type, TaskType, "task_type"),
        "priority": vocab(priority, Priority, "priority"),
        "status": vocab(status, TaskStatus, "status"),
        "context": context_param(context),
        "assigned_worker_id": optional_text(assigned_worker_id, "assigned_worker_id"),
        "created_at": created_at,
    }


def asset_params(
    agent_id: Any,
    task_id: Any,
    platform: Any,
    tier: Any,
    character_reference_id: Any,
    metadata: Any = None,
    status: Any = "draft",
    id: Any = None,
) -> dict[str, Any]:
    plat = v.check_text(platform, "platform", max_len=32)
    if not plat.replace("_", "").isalnum() or plat != plat.lower() or not plat.isascii():
        raise InvalidInput("platform", "lowercase letters, digits and _ only (e.g. tiktok)")
    return {
        "id": id_or_new(id),
        "agent_id": v.check_uuid(agent_id, "agent_id"),
        "task_id": v.check_uuid(task_id, "task_id"),
        "platform": plat,
        "tier": vocab(tier, Tier, "tier"),
        "character_reference_id": v.check_text(character_reference_id, "character_reference_id"),
        "status": vocab(status, AssetStatus, "status"),
        "metadata": json_param({} if metadata is None else metadata, "metadata"),
    }


_ASSET_REQUIRED = ("agent_id", "task_id", "platform", "tier", "character_reference_id")
_ASSET_FIELDS = frozenset({*_ASSET_REQUIRED, "id", "status", "metadata"})
_TASK_REQUIRED = ("campaign_id", "task_type", "priority", "context")
_TASK_FIELDS = frozenset({*_TASK_REQUIRED, "id", "status", "assigned_worker_id"})


# Fields a stored record has (`assets list --json`, `to_dict`) that a new row does not take: the
# database sets them. Named as such, since a listing fed back to an import meets them first.
_SET_BY_DATABASE = frozenset({"campaign_id", "created_at", "version", "heartbeat_at"})


def _check_fields(
    record: Any, kind: str, allowed: frozenset[str], required: tuple[str, ...]
) -> None:
    """A bulk record's keys: each known, each required one present (named, not a TypeError)."""
    if not isinstance(record, Mapping):
        raise InvalidInput("record", f"must be a mapping of {kind} fields")
    for key in record:
        if key in allowed:
            continue
        if key in _SET_BY_DATABASE:
            raise InvalidInput(
                key,
                f"set by the database, not by a new {kind}: leave it out (a listing's records "
                "are not import input; `campaign export` / `campaign import` copy every column)",
            )
        raise InvalidInput(str(key)[:60], f"unknown {kind} field")
    for key in required:
        if key not in record:
            raise InvalidInput(key, "required")


# The column types of the COPY statements (copy_assets, copy_tasks), in their order. They are
# binary COPYs: the server takes uuids as 16 bytes instead of parsing text (backend CPU per row
# -2 to -9%, client -20%; docs/performance.md). Binary needs each column's exact type, which the
# schema contract guarantees (`check`; adoption requires these types).
ASSET_COPY_TYPES = ("uuid", "uuid", "uuid", "text", "text", "text", "text", "jsonb")
TASK_COPY_TYPES = ("uuid", "uuid", "text", "text", "text", "jsonb", "text")


def asset_copy_row(record: Mapping[str, Any]) -> tuple[Any, ...]:
    """One bulk-ingest record as a COPY row (id generated client-side: COPY has no RETURNING)."""
    _check_fields(record, "asset", _ASSET_FIELDS, _ASSET_REQUIRED)
    p = asset_params(**record)
    return (
        p["id"],
        p["agent_id"],
        p["task_id"],
        p["platform"],
        p["tier"],
        p["character_reference_id"],
        p["status"],
        p["metadata"],
    )


TASK_PAYLOAD_COPY_TYPES = (*TASK_COPY_TYPES, "timestamptz")


def payload_task_params(payload: Any, campaign_id: Any) -> dict[str, Any]:
    """A queue payload (checked against its schema) as the parameters of a task row, with the
    payload's own `task_id` and `created_at`."""
    # Imported here: pydantic takes ~80 ms to load, and only payload calls need it.
    from chimera_store.payload import parse_payload

    model = parse_payload(payload)
    return task_params(
        campaign_id,
        model.task_type,
        model.priority,
        model.context_dict(),
        model.status,
        model.task_id,
        model.assigned_worker_id,
        model.created_at,
    )


def _task_row(p: Mapping[str, Any]) -> tuple[Any, ...]:
    """The columns of copy_tasks, in order."""
    return (
        p["id"],
        p["campaign_id"],
        p["task_type"],
        p["priority"],
        p["status"],
        p["context"],
        p["assigned_worker_id"],
    )


def task_copy_row(record: Mapping[str, Any]) -> tuple[Any, ...]:
    _check_fields(record, "task", _TASK_FIELDS, _TASK_REQUIRED)
    return _task_row(task_params(**record))


def task_payload_copy_row(payload: Any, campaign_id: UUID) -> tuple[Any, ...]:
    """A queue payload as a COPY row (copy_task_payloads: copy_tasks' columns + created_at)."""
    p = payload_task_params(payload, campaign_id)
    return (*_task_row(p), p["created_at"])


# --- list filters ----------------------------------------------------------------------------

_FILTER_SQL: dict[str, sql.Composable] = {
    name: sql.SQL(f"{name} = %({name})s")  # constant column names only
    for name in (
        "campaign_id",
        "agent_id",
        "task_id",
        "status",
        "platform",
        "tier",
        "task_type",
        "priority",
        "assigned_worker_id",
        "name",  # a campaign's
    )
}
# A campaign as an operator names it: its `name` above, or the start of its id here. The
# campaigns table is small (thousands of rows), so reading it for either is cheap: no index.
_FILTER_SQL["id_prefix"] = sql.SQL("starts_with(id::text, %(id_prefix)s)")
# A time window on the column every list is ordered by, so the same index range serves it:
# from (inclusive) and before (exclusive), as `clean(before=)`.
_FILTER_SQL["created_from"] = sql.SQL("created_at >= %(created_from)s")
_FILTER_SQL["created_before"] = sql.SQL("created_at < %(created_before)s")
# Status not changed since a time: existed before it, and no history row from it on (an index
# of the history led by the subject serves the probe, a few rows per task or asset). E.g. the
# tasks a Worker that died still holds in_progress, or assets waiting on a Judge. A task whose
# Worker sent a heartbeat since is not unchanged: its Worker is alive, only slow.
_FILTER_SQL["task_unchanged_since"] = sql.SQL(
    "created_at < %(task_unchanged_since)s "
    "AND (heartbeat_at IS NULL OR heartbeat_at < %(task_unchanged_since)s) "
    "AND NOT EXISTS (SELECT 1 FROM task_status_history h "
    "WHERE h.task_id = tasks.id AND h.at >= %(task_unchanged_since)s)"
)
_FILTER_SQL["asset_unchanged_since"] = sql.SQL(
    "created_at < %(asset_unchanged_since)s AND NOT EXISTS (SELECT 1 FROM asset_status_history h "
    "WHERE h.asset_id = video_assets.id AND h.at >= %(asset_unchanged_since)s)"
)
_METADATA = sql.SQL("metadata @> %(metadata)s")
_CURSOR = sql.SQL("(created_at, id) < (%(cursor_at)s, %(cursor_id)s)")
_TRUE = sql.SQL("TRUE")


def list_statement(
    name: str, filters: Mapping[str, Any], *, limit: int, cursor: str | None
) -> tuple[sql.Composed, dict[str, Any]]:
    """The named list query with only the given filters (their values bound)."""
    params: dict[str, Any] = {}
    used: list[str] = []
    for key, value in filters.items():
        if value is None:
            continue
        used.append(key)
        if key == "metadata":
            params["metadata"] = json_param(value, "metadata")
        else:
            params[key] = value
    if cursor is not None:
        params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
    # One row more than asked for tells whether there is a next page.
    fetch = v.check_limit(limit) + 1
    return _composed(name, tuple(used), cursor is not None, fetch), params


@lru_cache(maxsize=512)
def _composed(name: str, used: tuple[str, ...], with_cursor: bool, fetch: int) -> sql.Composed:
    # Cached: the same filters and page size always give the same statement, so it is composed
    # once and the server-side prepared statement is reused.
    parts = [_METADATA if key == "metadata" else _FILTER_SQL[key] for key in used]
    if with_cursor:
        parts.append(_CURSOR)
    where = sql.SQL(" AND ").join(parts) if parts else _TRUE
    # The page size is part of the statement (a validated int, composed by psycopg as a
    # literal), not a parameter: with `LIMIT $n` PostgreSQL's generic plan assumes 10% of the
    # matching rows, costs more than any custom plan, and so is never chosen: every page was
    # planned anew (0.1 ms of server time on a 0.7 ms page). With the literal, the prepared
    # statement settles on its generic plan after five runs, like a hand-written query.
    return sql.SQL(query(name)).format(filters=where, limit=sql.Literal(fetch))


def filter_value(value: Any, enum: type[Any] | None, field: str) -> Any:
    if value is None:
        return None
    if enum is None:
        return v.check_uuid(value, field) if field.endswith("_id") else v.check_text(value, field)
    return vocab(value, enum, field)


_ONLY_ASSETS = sql.SQL("AND a.id = ANY(%(asset_ids)s::uuid[])")


def _all_named(status: sql.Composable) -> sql.Composable:
    """The task moves only if every id of asset_ids is one of its assets in `status`."""
    return sql.SQL(
        "AND NOT EXISTS (SELECT 1 FROM unnest(%(asset_ids)s::uuid[]) AS n(id) WHERE NOT EXISTS ("
        "SELECT 1 FROM video_assets a WHERE a.id = n.id AND a.task_id = t.id "
        "AND a.status = {status}))"
    ).format(status=status)


def _with_assets(name: str, some_assets: bool, status: sql.Composable) -> str:
    """Fill a statement's {only_assets} and {all_named} slots: empty (all of the task's assets)
    or restricted to asset_ids.

    Rendered to text once: psycopg renders a Composed on every execute (10 us of a 0.5 ms
    commit, measured), while the text of a str query is converted once and cached."""
    return (
        sql.SQL(query(name))
        .format(
            only_assets=_ONLY_ASSETS if some_assets else sql.SQL(""),
            all_named=_all_named(status) if some_assets else sql.SQL(""),
        )
        .as_string()
    )


@lru_cache(maxsize=2)
def judge_statement(some_assets: bool) -> str:
    """The Judge's commit, for all of the task's judge_pending assets or only `asset_ids`."""
    return _with_assets("judge_commit", some_assets, sql.SQL("'judge_pending'"))


@lru_cache(maxsize=2)
def move_statement(some_assets: bool) -> str:
    """A task's move with its assets (submission, rejection), for all of the task's assets in
    the move's starting status or only `asset_ids`."""
    return _with_assets("move_task_with_assets", some_assets, sql.Placeholder("asset_from"))


_MAX_SECONDS = 30 * 24 * 3600.0  # a month; far larger and psycopg_pool's scheduler overflows


def check_pool_settings(
    min_size: Any,
    max_size: Any,
    connect_timeout: Any,
    max_idle: Any,
    prepare_threshold: Any,
    schema_wait: Any,
) -> None:
    """`open()`'s settings, each named when wrong: psycopg_pool would raise a bare ValueError or
    TypeError for some, and take a timeout of 0 or less as "the database timed out"."""
    v.check_int(min_size, "min_size", 0, 10_000)
    v.check_int(max_size, "max_size", max(1, min_size), 10_000)
    v.check_seconds(connect_timeout, "connect_timeout", most=_MAX_SECONDS)
    v.check_seconds(max_idle, "max_idle", most=_MAX_SECONDS)
    v.check_seconds(schema_wait, "schema_wait", zero_ok=True)
    if prepare_threshold is not None:
        v.check_int(prepare_threshold, "prepare_threshold", 0, 1_000_000)
