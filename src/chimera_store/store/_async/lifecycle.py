"""The task and asset life cycles: compare-and-set moves, their history, the Judge."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar, cast
from uuid import UUID

import psycopg
from psycopg.rows import class_row, dict_row

from chimera_store import validation as v
from chimera_store.dberrors import translate
from chimera_store.errors import InvalidInput, InvalidTransition, NotFound, StaleState
from chimera_store.records import (
    JudgeCommit,
    JudgeRejection,
    StatusChange,
    Submission,
    Task,
    VideoAsset,
)
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store._async.core import StoreCore, reader, tuples
from chimera_store.vocab import AssetStatus, TaskStatus, asset_sources, next_statuses, task_sources

S = TypeVar("S", Task, VideoAsset)  # records with a status life cycle


class LifecycleCalls(StoreCore):
    """Status changes with their history: one task or asset at a time, the Worker's submission
    and the Judge's verdicts."""

    async def transition_task(
        self,
        id: UUID | str,
        to_status: TaskStatus | str,
        *,
        actor: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        assigned_worker_id: str | None = None,
    ) -> Task:
        """Move a task along its life cycle (one compare-and-set, recorded in its history).

        Raises InvalidTransition (nothing changed) for a move the rules forbid, StaleState when
        `expected_version` no longer matches. A repeated `idempotency_key` returns the task as it
        is, without error and without a second history entry. `assigned_worker_id` is set in
        the same statement (a Worker's claim, `pending -> in_progress`, is then atomic: of two
        Workers claiming one task, one wins and the other gets InvalidTransition).
        """
        target = inputs.vocab(to_status, TaskStatus, "to_status")
        params = _transition_params(
            v.check_uuid(id, "id"),
            target,
            task_sources(TaskStatus(target)),
            actor,
            reason,
            idempotency_key,
            expected_version,
        )
        params["assigned_worker_id"] = inputs.optional_text(
            assigned_worker_id, "assigned_worker_id"
        )
        return await self._transition(Task, "task", params)

    async def task_history(self, id: UUID | str) -> list[StatusChange]:
        return await self._history("task_history", "task", v.check_uuid(id, "id"))

    async def transition_asset(
        self,
        id: UUID | str,
        to_status: AssetStatus | str,
        *,
        actor: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> VideoAsset:
        """Move an asset along `draft -> judge_pending -> approved | rejected -> published`."""
        target = inputs.vocab(to_status, AssetStatus, "to_status")
        params = _transition_params(
            v.check_uuid(id, "id"),
            target,
            asset_sources(AssetStatus(target)),
            actor,
            reason,
            idempotency_key,
            expected_version,
        )
        return await self._transition(VideoAsset, "asset", params)

    async def asset_history(self, id: UUID | str) -> list[StatusChange]:
        return await self._history("asset_history", "video asset", v.check_uuid(id, "id"))

    async def _transition(self, row_type: type[S], kind: str, params: dict[str, Any]) -> S:
        """The compare-and-set; when it changed nothing, find out why (one shared path for tasks
        and assets: idempotent repeat, stale version, or a move the rules forbid)."""
        row = await self._one(row_type, f"transition_{kind}", params)
        if row is not None:
            return row
        entity = "task" if kind == "task" else "video asset"
        key: UUID = params["id"]
        current = await self._get(row_type, f"get_{kind}", entity, key)
        if params["idempotency_key"] is not None and await self._seen(
            f"{kind}_idempotent_hit", key, params["idempotency_key"]
        ):
            return current
        expected = params["expected_version"]
        if expected is not None and current.version != expected:
            raise StaleState(
                f"{entity} {key} is at version {current.version}, not {expected}",
                current_version=current.version,
            )
        raise InvalidTransition(
            entity, key, current.status, params["to_status"], next_statuses(kind, current.status)
        )

    async def _seen(self, name: str, key: UUID, idempotency_key: str) -> bool:
        async with self._connection() as conn:
            try:
                cur = await tuples(conn).execute(query(name), {"id": key, "key": idempotency_key})
                return await cur.fetchone() is not None
            except psycopg.Error as exc:
                raise translate(exc) from None

    async def _history(self, name: str, entity: str, key: UUID) -> list[StatusChange]:
        """Oldest first; NotFound for an unknown id (an empty list means no change yet)."""
        async with self._connection() as conn:
            try:
                cur = reader(conn, class_row(StatusChange))
                await cur.execute(query(name), {"id": key})
                rows = await cur.fetchall()
            except psycopg.Error as exc:
                raise translate(exc) from None
        if not rows:
            raise NotFound(entity, key)
        return [row for row in rows if row.id is not None]

    # --- the Judge ---------------------------------------------------------------------------

    async def judge_commit(
        self,
        task_id: UUID | str,
        *,
        campaign_version: int,
        task_version: int,
        actor: str,
        reason: str | None = None,
        asset_ids: Iterable[UUID | str] | None = None,
    ) -> JudgeCommit:
        """Commit a reviewed task and approve its judge_pending assets, atomically.

        Only if the campaign is still `active` at `campaign_version` and the task is still in
        `review` at `task_version` (the versions the worker started from); otherwise StaleState
        and nothing changes. `asset_ids` approves only those (the rest stay judge_pending); one
        that is not a judge_pending asset of the task is InvalidInput, and nothing changes.
        """
        key = v.check_uuid(task_id, "task_id")
        ids = None if asset_ids is None else inputs.uuid_list(asset_ids, "asset_ids")
        params = {
            "task_id": key,
            "campaign_version": v.check_version(campaign_version, "campaign_version"),
            "task_version": v.check_version(task_version, "task_version"),
            "actor": v.check_text(actor, "actor"),
            "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
            "asset_ids": ids,
        }
        row, state = await self._compare_and_set(
            inputs.judge_statement(ids is not None),
            params,
            strays_in=None if ids is None else "judge_pending",
        )
        if row is not None:
            approved = list(row.pop("approved"))
            return JudgeCommit(task=Task(**row), approved_asset_ids=approved)
        strays = state.pop("strays", None)
        current = (state["campaign_status"], state["campaign_version"], state["task_status"])
        if (
            strays
            and current == ("active", campaign_version, "review")
            and (state["task_version"] == task_version)
        ):
            raise _strays_error(strays, "a submitted asset (judge_pending)", key)
        raise StaleState(
            f"refused a stale commit of task {key}: campaign is {state['campaign_status']} at "
            f"version {state['campaign_version']} (expected active at {campaign_version}), task is "
            f"{state['task_status']} at version {state['task_version']} (expected review at "
            f"{task_version})",
            **state,
        )

    async def judge_reject(
        self,
        task_id: UUID | str,
        *,
        task_version: int,
        actor: str,
        reason: str | None = None,
    ) -> JudgeRejection:
        """Send a reviewed task back to the Planner (review -> pending) and reject its
        judge_pending assets, atomically, with history.

        Only if the task is still in `review` at `task_version`; otherwise StaleState and nothing
        changes. No campaign check: a rejection publishes nothing.
        """
        task, rejected = await self._move_with_assets(
            "rejection",
            task_id,
            ("review", "pending"),
            ("judge_pending", "rejected"),
            task_version=task_version,
            actor=actor,
            reason=reason,
        )
        return JudgeRejection(task=task, rejected_asset_ids=rejected)

    async def submit_task(
        self,
        task_id: UUID | str,
        *,
        task_version: int,
        actor: str,
        reason: str | None = None,
        asset_ids: Iterable[UUID | str] | None = None,
    ) -> Submission:
        """The Worker's submission: the task in progress goes to review and its draft assets to
        judge_pending, atomically, with history, so a Judge never sees a task in review whose
        assets are not yet submitted.

        Only if the task is still `in_progress` at `task_version` (e.g. not taken back by an
        operator meanwhile); otherwise StaleState and nothing changes. `asset_ids` submits only
        those drafts (the Worker's own, not those a Worker that died on the task left; the rest
        stay draft); one that is not a draft of the task is InvalidInput, and nothing changes.
        """
        task, submitted = await self._move_with_assets(
            "submission",
            task_id,
            ("in_progress", "review"),
            ("draft", "judge_pending"),
            task_version=task_version,
            actor=actor,
            reason=reason,
            asset_ids=asset_ids,
        )
        return Submission(task=task, submitted_asset_ids=submitted)

    async def heartbeat_task(self, task_id: UUID | str, *, task_version: int) -> datetime:
        """The Worker's sign of life on the task it holds, e.g. every minute of a long render:
        `requeue_tasks` and `list_tasks(unchanged_since=)` leave a task with a heartbeat since
        their cut-off alone. Returns the time recorded.

        Only while the task is `in_progress` at `task_version` (the version the Worker claimed:
        a heartbeat does not change it); otherwise StaleState, and the Worker should stop, as its
        task was taken back (or claimed again).
        """
        key = v.check_uuid(task_id, "task_id")
        params = {"task_id": key, "task_version": v.check_version(task_version, "task_version")}
        row, state = await self._compare_and_set(query("heartbeat_task"), params)
        if row is not None:
            return cast(datetime, row["heartbeat_at"])
        raise StaleState(
            f"refused a stale heartbeat of task {key}: task is {state['task_status']} at version "
            f"{state['task_version']} (expected in_progress at {task_version})",
            **state,
        )

    async def _move_with_assets(
        self,
        what: str,
        task_id: UUID | str,
        task_move: tuple[str, str],
        asset_move: tuple[str, str],
        *,
        task_version: int,
        actor: str,
        reason: str | None,
        asset_ids: Iterable[UUID | str] | None = None,
    ) -> tuple[Task, list[UUID]]:
        """One of the two fixed moves of a task with its assets (move_task_with_assets)."""
        key = v.check_uuid(task_id, "task_id")
        ids = None if asset_ids is None else inputs.uuid_list(asset_ids, "asset_ids")
        params = {
            "task_id": key,
            "task_version": v.check_version(task_version, "task_version"),
            "actor": v.check_text(actor, "actor"),
            "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
            "task_from": task_move[0],
            "task_to": task_move[1],
            "asset_from": asset_move[0],
            "asset_to": asset_move[1],
            "asset_ids": ids,
        }
        row, state = await self._compare_and_set(
            inputs.move_statement(ids is not None),
            params,
            strays_in=None if ids is None else asset_move[0],
        )
        if row is not None:
            moved = list(row.pop("moved"))
            return Task(**row), moved
        strays = state.pop("strays", None)
        if strays and (state["task_status"], state["task_version"]) == (
            task_move[0],
            task_version,
        ):
            raise _strays_error(strays, f"a {asset_move[0]} asset", key)
        raise StaleState(
            f"refused a stale {what} of task {key}: task is {state['task_status']} at version "
            f"{state['task_version']} (expected {task_move[0]} at {task_version})",
            **state,
        )

    async def _compare_and_set(
        self, statement: str, params: dict[str, Any], *, strays_in: str | None = None
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Run a task's compare-and-set statement (the Judge's, the Worker's submission or
        heartbeat): its row,
        or none and the task's and campaign's state then (read on the same connection, to say
        why it was refused; with `strays_in` a status, under "strays" those of
        `params["asset_ids"]` that are not the task's assets in it); NotFound for no such task."""
        state: dict[str, Any] | None = None
        async with self._connection() as conn:
            try:
                cur = reader(conn, dict_row)
                await cur.execute(statement, params)
                row = await cur.fetchone()
                if row is None:
                    await cur.execute(query("judge_commit_state"), {"task_id": params["task_id"]})
                    state = await cur.fetchone()
                    if state is not None and strays_in is not None:
                        await cur.execute(
                            query("task_asset_strays"),
                            {
                                "asset_ids": params["asset_ids"],
                                "task_id": params["task_id"],
                                "asset_status": strays_in,
                            },
                        )
                        state["strays"] = [r["id"] for r in await cur.fetchall()]
            except psycopg.Error as exc:
                raise translate(exc) from None
        if row is None and state is None:
            raise NotFound("task", params["task_id"])
        return row, state or {}


def _strays_error(strays: list[UUID], what: str, task: UUID) -> InvalidInput:
    """asset_ids named assets the move cannot take: the first ten, and how many more."""
    return InvalidInput(
        "asset_ids",
        f"not {what} of task {task}: "
        + ", ".join(str(s) for s in strays[:10])
        + (f" and {len(strays) - 10} more" if len(strays) > 10 else "")
        + "; nothing was changed",
    )


def _transition_params(
    key: UUID,
    to_status: str,
    sources: list[str],
    actor: str,
    reason: str | None,
    idempotency_key: str | None,
    expected_version: int | None,
) -> dict[str, Any]:
    return {
        "id": key,
        "to_status": to_status,
        "from_statuses": sources,
        "actor": v.check_text(actor, "actor"),
        "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
        "idempotency_key": inputs.optional_text(idempotency_key, "idempotency_key"),
        "expected_version": inputs.optional_version(expected_version),
    }
