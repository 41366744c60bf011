"""A whole campaign as a stream of items, out (`export_campaign`) and back in (`import_campaign`).

Pure: the item format, its checks and the COPY rows; shared by the async and sync stores.

An export is a header, the campaign, then its agents, tasks, task history, assets and asset
history, in that order (a section may be empty), and an end item with the count of each: a
file cut short (a full disk, a lost connection) is refused instead of imported in part. Every
stored column is kept, versions and times included, so an import recreates the rows exactly;
history entries get new ids in the order given (their `at` is kept), since ids are a
per-database sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from chimera_store import validation as v
from chimera_store.errors import InvalidInput, ParentNotFound
from chimera_store.records import ImportCounts
from chimera_store.store import inputs
from chimera_store.vocab import AssetStatus, TaskStatus

FORMAT = "chimera-store campaign export"
FORMAT_VERSION = 1

# The sections in file order; each after the campaign is one COPY (COPY_QUERIES).
SECTIONS = ("header", "campaign", "agent", "task", "task_history", "asset", "asset_history", "end")
COPIED = SECTIONS[2:-1]
_ONCE = frozenset({"header", "campaign", "end"})
# What `import_campaign` counts per section (fields of ImportCounts, PurgeCounts, the end item).
COUNT_FIELDS = {
    "agent": "agents",
    "task": "tasks",
    "task_history": "task_history",
    "asset": "video_assets",
    "asset_history": "asset_history",
}
EXPORT_QUERIES = {
    "agent": "export_agents",
    "task": "export_tasks",
    "task_history": "export_task_history",
    "asset": "export_assets",
    "asset_history": "export_asset_history",
}
COPY_QUERIES = {
    "agent": "copy_agent",
    "task": "copy_task",
    "task_history": "copy_history",  # both histories into the staging table
    "asset": "copy_asset",
    "asset_history": "copy_history",
}
# A history entry's subject: the field naming it and what it is.
SUBJECTS = {"task_history": ("task_id", "task"), "asset_history": ("asset_id", "asset")}
# A history entry's fields after its subject's id, and the staging table's COPY types (its
# position, the subject, those fields).
_HISTORY_FIELDS = ("from_status", "to_status", "actor", "reason", "idempotency_key", "at")
_HISTORY_TYPES = ("int8", "uuid", "text", "text", "text", "text", "text", "timestamptz")
# The binary COPY column types of each section, in the order of its COPY statement.
COPY_TYPES: dict[str, tuple[str, ...]] = {
    "agent": ("uuid", "uuid", "text", "text", "timestamptz"),
    "task": (
        *("uuid", "uuid", "text", "text", "text", "jsonb", "text", "timestamptz", "int8"),
        "timestamptz",
    ),
    "task_history": _HISTORY_TYPES,
    "asset": (
        *("uuid", "uuid", "uuid", "uuid", "text", "text", "text", "text", "jsonb"),
        *("timestamptz", "int8"),
    ),
    "asset_history": _HISTORY_TYPES,
}
_FIELDS = {
    "header": ("format", "format_version", "campaign_id", "schema_revision", "exported_at"),
    "campaign": ("id", "name", "goal_description", "status", "created_at", "updated_at", "version"),
    "agent": ("id", "campaign_id", "soul_md_path", "character_reference_id", "created_at"),
    "task": (
        *("id", "campaign_id", "task_type", "priority", "status", "context"),
        *("assigned_worker_id", "created_at", "version", "heartbeat_at"),
    ),
    "task_history": ("task_id", *_HISTORY_FIELDS),
    "asset": (
        *("id", "agent_id", "task_id", "campaign_id", "platform", "tier"),
        *("character_reference_id", "status", "metadata", "created_at", "version"),
    ),
    "asset_history": ("asset_id", *_HISTORY_FIELDS),
    "end": tuple(COUNT_FIELDS[kind] for kind in COPIED),
}


def header(campaign_id: UUID, schema_revision: str, exported_at: datetime) -> dict[str, Any]:
    return {
        "kind": "header",
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "campaign_id": campaign_id,
        "schema_revision": schema_revision,
        "exported_at": exported_at,
    }


def check_counts(expected: Mapping[str, int], written: Mapping[str, int]) -> None:
    """The end item's counts against what the import wrote: a difference means rows are
    missing from the file (or were added to it)."""
    for field, count in expected.items():
        if count != written[field]:
            raise InvalidInput(
                field,
                f"the export's end item counts {count}, the import has {written[field]}:"
                " the file is incomplete or was edited; nothing was imported",
            )


def import_counts(campaign_id: UUID, counts: Mapping[str, int]) -> ImportCounts:
    return ImportCounts(
        campaign_id,
        counts["agents"],
        counts["tasks"],
        counts["video_assets"],
        counts["task_history"],
        counts["asset_history"],
    )


def item(kind: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """An exported row as an item: its kind first, then its columns."""
    return {"kind": kind, **row}


def timestamp(value: Any, field: str) -> datetime:
    """A timezone-aware datetime, or its ISO 8601 text with an offset (as an export writes)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(field, f"not an ISO 8601 time: {value[:40]!r}") from None
    if value is None:
        raise InvalidInput(field, "required: a time with a UTC offset (ISO 8601)")
    checked = inputs.aware_datetime(value, field)
    assert checked is not None
    return checked


class ImportReader:
    """Checks the items of an import one by one, in order, and turns each into its row.

    Knows where it is in the file: the campaign's id (every row must belong to it), the last
    section seen (sections may not go backwards), and the ids of the agents and tasks read so
    far, so that an asset naming an agent or task that is not the campaign's is refused at its
    own position (the database's composite key would refuse it too, but only at the end of the
    section, without a position). Memory grows with the agents and tasks (about 150 bytes an
    id), not with the assets or the history; a history entry whose subject is not the
    campaign's is found by the database (through its staging table).
    """

    def __init__(self) -> None:
        self.position = 0
        self.campaign_id: UUID | None = None
        self._section = -1
        self._parents: dict[str, set[UUID]] = {"agent": set(), "task": set()}

    def read(self, record: Any) -> tuple[str, Any]:
        """The item's kind and its row (the campaign: statement parameters; else a COPY row)."""
        self.position += 1
        if not isinstance(record, Mapping):
            raise InvalidInput("record", f"must be a mapping, got {type(record).__name__}")
        kind = record.get("kind")
        if kind not in SECTIONS:
            allowed = ", ".join(SECTIONS)
            raise InvalidInput("kind", f"{str(kind)[:40]!r} is not one of: {allowed}")
        self._advance(SECTIONS.index(kind))
        _check_fields(record, kind)
        if kind == "header":
            return kind, self._header(record)
        if kind == "campaign":
            return kind, self._campaign(record)
        if kind == "end":
            return kind, {f: v.check_int(record[f], f, 0, 2**63 - 1) for f in _FIELDS["end"]}
        if kind.endswith("_history"):
            # Staged with the entry's position (see stage_history in store.sql).
            return kind, (self.position, *_history_row(record, kind))
        row = _ROWS[kind](record, self._own(record))
        if kind == "asset":
            self._check_parents(row)
        else:
            self._parents[kind].add(row[0])
        return kind, row

    def _check_parents(self, asset: tuple[Any, ...]) -> None:
        for entity, value in (("agent", asset[1]), ("task", asset[2])):
            if value not in self._parents[entity]:
                raise ParentNotFound(
                    entity, value, f"{entity}_id", how="is not one of this campaign's"
                )

    def _advance(self, section: int) -> None:
        expected = "the header" if self._section < 0 else "the campaign"
        if self._section < 1 and section != self._section + 1:
            raise InvalidInput("kind", f"{SECTIONS[section]} where {expected} must come")
        if section < self._section or (section == self._section and SECTIONS[section] in _ONCE):
            raise InvalidInput(
                "kind",
                f"{SECTIONS[section]} after {SECTIONS[self._section]}: an export lists "
                + ", ".join(SECTIONS)
                + ", in that order",
            )
        self._section = section

    def finish(self) -> None:
        """The end of the items: an import cut short (no end item) is refused."""
        if self.position == 0:
            raise InvalidInput("records", "the export is empty: no header; nothing was imported")
        if self._section != SECTIONS.index("end"):
            raise InvalidInput(
                "records",
                "the export ends before its end item: it is incomplete (cut short?); nothing "
                "was imported",
            )

    def _header(self, record: Mapping[str, Any]) -> UUID:
        if record["format"] != FORMAT:
            raise InvalidInput("format", f"not a campaign export (expected {FORMAT!r})")
        if record["format_version"] != FORMAT_VERSION:
            raise InvalidInput(
                "format_version",
                f"{str(record['format_version'])[:20]} is not a version this release reads "
                f"({FORMAT_VERSION})",
            )
        self.campaign_id = v.check_uuid(record["campaign_id"], "campaign_id")
        return self.campaign_id

    def _campaign(self, record: Mapping[str, Any]) -> dict[str, Any]:
        params = inputs.campaign_params(
            record["name"], record["goal_description"], record["status"], record["id"]
        )
        if params["id"] != self.campaign_id:
            raise InvalidInput("id", "not the campaign the header names")
        params["created_at"] = timestamp(record["created_at"], "created_at")
        params["updated_at"] = timestamp(record["updated_at"], "updated_at")
        params["version"] = v.check_version(record["version"], "version")
        return params

    def _own(self, record: Mapping[str, Any]) -> UUID:
        """The campaign id a row carries, which must be the header's."""
        if "campaign_id" in record and v.check_uuid(record["campaign_id"], "campaign_id") != (
            self.campaign_id
        ):
            raise InvalidInput("campaign_id", "not the campaign this export is of")
        assert self.campaign_id is not None
        return self.campaign_id


# Fields a file may lack, read as null: columns newer than the format (a file exported before
# revision 0006_task_heartbeats has no heartbeat_at).
_OPTIONAL = {"task": frozenset({"heartbeat_at"})}


def _check_fields(record: Mapping[str, Any], kind: str) -> None:
    """Exactly the item's fields: a missing one would change the row, an unknown one be lost."""
    fields = _FIELDS[kind]
    for key in record:
        if key != "kind" and key not in fields:
            raise InvalidInput(str(key)[:60], f"unknown {kind} field")
    optional = _OPTIONAL.get(kind, frozenset())
    for key in fields:
        if key not in record and key not in optional:
            raise InvalidInput(key, f"required in a {kind} item")


def _agent_row(r: Mapping[str, Any], campaign: UUID) -> tuple[Any, ...]:
    p = inputs.agent_params(campaign, r["soul_md_path"], r["character_reference_id"], r["id"])
    return (
        p["id"],
        campaign,
        p["soul_md_path"],
        p["character_reference_id"],
        timestamp(r["created_at"], "created_at"),
    )


def _task_row(r: Mapping[str, Any], campaign: UUID) -> tuple[Any, ...]:
    created = timestamp(r["created_at"], "created_at")
    p = inputs.task_params(
        campaign,
        r["task_type"],
        r["priority"],
        r["context"],
        r["status"],
        r["id"],
        r["assigned_worker_id"],
        created,
    )
    version = v.check_version(r["version"], "version")
    beat = r.get("heartbeat_at")
    return (
        p["id"],
        campaign,
        p["task_type"],
        p["priority"],
        p["status"],
        p["context"],
        p["assigned_worker_id"],
        created,
        version,
        None if beat is None else timestamp(beat, "heartbeat_at"),
    )


def _asset_row(r: Mapping[str, Any], campaign: UUID) -> tuple[Any, ...]:
    p = inputs.asset_params(
        r["agent_id"],
        r["task_id"],
        r["platform"],
        r["tier"],
        r["character_reference_id"],
        r["metadata"],
        r["status"],
        r["id"],
    )
    return (
        p["id"],
        p["agent_id"],
        p["task_id"],
        campaign,
        p["platform"],
        p["tier"],
        p["character_reference_id"],
        p["status"],
        p["metadata"],
        timestamp(r["created_at"], "created_at"),
        v.check_version(r["version"], "version"),
    )


def _history_row(r: Mapping[str, Any], kind: str) -> tuple[Any, ...]:
    subject = SUBJECTS[kind][0]
    statuses = TaskStatus if kind == "task_history" else AssetStatus
    source = r["from_status"]
    return (
        v.check_uuid(r[subject], subject),
        None if source is None else inputs.vocab(source, statuses, "from_status"),
        inputs.vocab(r["to_status"], statuses, "to_status"),
        v.check_text(r["actor"], "actor"),
        inputs.optional_text(r["reason"], "reason", max_len=v.MAX_TEXT),
        inputs.optional_text(r["idempotency_key"], "idempotency_key"),
        timestamp(r["at"], "at"),
    )


_ROWS = {"agent": _agent_row, "task": _task_row, "asset": _asset_row}
