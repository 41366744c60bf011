"""Frozen typed records returned by the data API (built straight from rows, no re-validation).

NamedTuples rather than frozen dataclasses: immutable and typed alike, but built about four times
faster (a page of 100 assets is 100 constructions on the hot path of every list call).
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar
from uuid import UUID

from chimera_store.errors import InvalidInput


class Campaign(NamedTuple):
    id: UUID
    name: str
    goal_description: str
    status: str
    created_at: datetime
    updated_at: datetime
    version: int


class Agent(NamedTuple):
    id: UUID
    soul_md_path: str
    character_reference_id: str
    campaign_id: UUID
    created_at: datetime


class Task(NamedTuple):
    id: UUID
    campaign_id: UUID
    task_type: str
    priority: str
    status: str
    context: dict[str, Any]
    created_at: datetime
    assigned_worker_id: str | None
    version: int
    # The Worker's last heartbeat (heartbeat_task) while it held the task; kept by the
    # database, not part of the version.
    heartbeat_at: datetime | None


class VideoAsset(NamedTuple):
    id: UUID
    agent_id: UUID
    task_id: UUID
    campaign_id: UUID
    platform: str
    tier: str
    character_reference_id: str
    status: str
    metadata: dict[str, Any]
    created_at: datetime
    version: int


class StatusChange(NamedTuple):
    """One entry of a task's or an asset's status history."""

    id: int
    subject_id: UUID
    from_status: str | None
    to_status: str
    actor: str
    reason: str | None
    idempotency_key: str | None
    at: datetime


class CampaignSummary(NamedTuple):
    campaign: Campaign
    agents: int
    tasks_by_status: dict[str, int]
    assets_by_status: dict[str, int]
    assets_by_platform: dict[str, int]
    assets_by_tier: dict[str, int]


class PurgeCounts(NamedTuple):
    campaigns: int
    agents: int
    tasks: int
    video_assets: int
    task_history: int
    asset_history: int


class ImportCounts(NamedTuple):
    """What `import_campaign` created: the campaign and the rows under it."""

    campaign_id: UUID
    agents: int
    tasks: int
    video_assets: int
    task_history: int
    asset_history: int


class CleanCounts(NamedTuple):
    """What `clean` removed (or, with dry_run, would remove; history is not counted then)."""

    tasks: int
    video_assets: int
    history: int


class Requeue(NamedTuple):
    """What `requeue_tasks` found stuck, moved back to pending, and skipped (they moved
    between the listing and their move). With dry_run, only `found`."""

    found: list[UUID]
    requeued: list[UUID]
    skipped: list[UUID]


class JudgeCommit(NamedTuple):
    task: Task
    approved_asset_ids: list[UUID]


class JudgeRejection(NamedTuple):
    task: Task
    rejected_asset_ids: list[UUID]


class Submission(NamedTuple):
    task: Task
    submitted_asset_ids: list[UUID]


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of results, newest first; pass `next_cursor` back to get the next page."""

    items: list[T]
    next_cursor: str | None


def to_dict(record: Any) -> dict[str, Any]:
    """A record as plain data (for JSON output), nested records included."""
    items = record._asdict() if hasattr(record, "_asdict") else dataclasses.asdict(record)
    return {key: _plain(value) for key, value in items.items()}


def _plain(value: Any) -> Any:
    if hasattr(value, "_asdict"):
        return to_dict(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    if not isinstance(cursor, str):
        raise InvalidInput("cursor", f"must be a string, got {type(cursor).__name__}")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        stamp, row_id = text.split("|", 1)
        return datetime.fromisoformat(stamp), UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor", "not a cursor returned by this API") from None
