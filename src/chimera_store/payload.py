"""The Planner -> Worker queue payload that a task row mirrors, for audit and replay.

Pure: parsing (Pydantic), the exported JSON Schema, and task <-> payload mapping.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chimera_store.errors import InvalidInput
from chimera_store.records import Task

_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class TaskContext(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    goal_description: str = Field(min_length=1)
    persona_constraints: list[str] | None = None
    required_resources: list[str] | None = None


class TaskPayload(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    task_id: UUID
    task_type: Literal["generate_content", "reply_comment", "execute_transaction"]
    priority: Literal["high", "medium", "low"]
    context: TaskContext
    assigned_worker_id: str | None = None
    created_at: datetime
    status: Literal["pending", "in_progress", "review", "complete"]

    @field_validator("created_at", mode="before")
    @classmethod
    def _iso_8601_only(cls, value: Any) -> Any:
        # Pydantic would also take a number, or a string of digits, as Unix time: the schema
        # says an ISO 8601 date-time, and a replay must give back what came in.
        if isinstance(value, bool | int | float) or (
            isinstance(value, str) and not _DATE_AND_TIME.match(value)
        ):
            raise ValueError("must be an ISO 8601 date-time with a timezone")
        return value

    def context_dict(self) -> dict[str, Any]:
        # Python mode: the values as given, for the store's JSON checks to refuse by path. JSON
        # mode turned NaN and Infinity in an extra key into null (stored silently changed) and
        # raised UnicodeEncodeError on a lone surrogate.
        return self.context.model_dump(exclude_unset=True)


def payload_json_schema() -> dict[str, Any]:
    """JSON Schema of the queue payload (what `task export` prints validates against it)."""
    return TaskPayload.model_json_schema()


def parse_payload(data: Any) -> TaskPayload:
    try:
        model = TaskPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "payload"
        raise InvalidInput(field, first["msg"].removeprefix("Value error, ")) from None
    if model.created_at.tzinfo is None:
        raise InvalidInput("created_at", "must include a timezone (ISO 8601)")
    return model


def task_to_payload(task: Task) -> dict[str, Any]:
    """The queue payload for a stored task; round-trips with `create_task_from_payload`."""
    payload: dict[str, Any] = {
        "task_id": str(task.id),
        "task_type": task.task_type,
        "priority": task.priority,
        "context": task.context,
        "created_at": task.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "status": task.status,
    }
    if task.assigned_worker_id is not None:
        payload["assigned_worker_id"] = task.assigned_worker_id
    return payload
