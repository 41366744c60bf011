"""Closed vocabularies (mirrored by CHECK constraints in the schema) and life-cycle rules.

Pure: no I/O, so unit tests cover every transition pair without a database.
"""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class TaskType(StrEnum):
    GENERATE_CONTENT = "generate_content"
    REPLY_COMMENT = "reply_comment"
    EXECUTE_TRANSACTION = "execute_transaction"


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    REVIEW = "review"
    COMPLETE = "complete"


class Tier(StrEnum):
    TIER1 = "tier1"
    TIER2 = "tier2"


class AssetStatus(StrEnum):
    DRAFT = "draft"
    JUDGE_PENDING = "judge_pending"
    APPROVED = "approved"
    PUBLISHED = "published"
    REJECTED = "rejected"


# Allowed moves. review -> pending: the Judge rejected the work and the Planner re-plans;
# in_progress -> pending: a worker gave up.
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.IN_PROGRESS}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.REVIEW, TaskStatus.PENDING}),
    TaskStatus.REVIEW: frozenset({TaskStatus.COMPLETE, TaskStatus.PENDING}),
    TaskStatus.COMPLETE: frozenset(),
}
ASSET_TRANSITIONS: dict[AssetStatus, frozenset[AssetStatus]] = {
    AssetStatus.DRAFT: frozenset({AssetStatus.JUDGE_PENDING}),
    AssetStatus.JUDGE_PENDING: frozenset({AssetStatus.APPROVED, AssetStatus.REJECTED}),
    AssetStatus.APPROVED: frozenset({AssetStatus.PUBLISHED}),
    AssetStatus.PUBLISHED: frozenset(),
    AssetStatus.REJECTED: frozenset(),
}


def task_sources(target: TaskStatus) -> list[str]:
    """The statuses a task may move to `target` from."""
    return [s.value for s, targets in TASK_TRANSITIONS.items() if target in targets]


def asset_sources(target: AssetStatus) -> list[str]:
    return [s.value for s, targets in ASSET_TRANSITIONS.items() if target in targets]


def next_statuses(kind: str, current: str) -> list[str]:
    """Where a task (`kind` "task") or an asset in status `current` may move, sorted."""
    if kind == "task":
        return sorted(s.value for s in TASK_TRANSITIONS[TaskStatus(current)])
    return sorted(s.value for s in ASSET_TRANSITIONS[AssetStatus(current)])
