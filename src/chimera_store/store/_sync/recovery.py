# WARNING: this file is generated from the _async package by tools/async_to_sync.py.
# DO NOT CHANGE: edit the _async package and run `make sync-api`.
"""Recovery: handing back the tasks that Workers which died still hold."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import psycopg

from chimera_store import validation as v
from chimera_store.dberrors import translate
from chimera_store.errors import InvalidInput
from chimera_store.records import Requeue, Task
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store._sync.core import tuples
from chimera_store.store._sync.entities import EntityCalls
from chimera_store.store._sync.lifecycle import LifecycleCalls


class RecoveryCalls(EntityCalls, LifecycleCalls):
    """Requeueing stuck work (built on the list and life-cycle calls)."""

    def requeue_tasks(
        self,
        *,
        unchanged_since: datetime,
        actor: str,
        reason: str | None = None,
        campaign_id: UUID | str | None = None,
        assigned_worker_id: str | None = None,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> Requeue:
        """Move back to pending the tasks still in_progress whose status has not changed since
        `unchanged_since` (of one campaign, or of every campaign; of one worker, or any), for
        the Planner to queue again: what a Worker that died leaves behind.

        Each is its own compare-and-set at the version it was listed at, recorded in its history:
        a task that moves meanwhile, or whose Worker sends a heartbeat (`heartbeat_task`) from
        `unchanged_since` on, is skipped, never taken from a live Worker. With `dry_run`, only
        lists them. `progress` is told of each task handled.
        """
        since = inputs.aware_datetime(unchanged_since, "unchanged_since")
        if since is None:
            raise InvalidInput(
                "unchanged_since", "required: requeue what has not moved since when?"
            )
        who = v.check_text(actor, "actor")
        stamp = since.astimezone(UTC)  # the history says UTC, whatever offset was given
        given = inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT)
        worker = inputs.optional_text(assigned_worker_id, "assigned_worker_id")
        if campaign_id is not None:
            key = v.check_uuid(campaign_id, "campaign_id")
            scopes = [(self.get_campaign(key)).id]  # unknown: NotFound
        else:
            # A Worker node that died held tasks of any campaign: each campaign's walk is one
            # range of its own index (lists are per campaign, never a sort of the whole table).
            scopes = [c.id for c in self.iterate(self.list_campaigns)]
        # Listed first, then moved: the walk is not disturbed by what it moves.
        stuck: list[Task] = []
        for scope in scopes:
            for task in self.iterate(
                self.list_tasks,
                scope,
                status="in_progress",
                assigned_worker_id=worker,
                unchanged_since=since,
            ):
                stuck.append(task)
        found = [t.id for t in stuck]
        if dry_run:
            return Requeue(found=found, requeued=[], skipped=[])
        requeued: list[UUID] = []
        skipped: list[UUID] = []
        for task in stuck:
            params = {
                "task_id": task.id,
                "task_version": task.version,
                "since": since,
                "actor": who,
                "reason": given or _default_reason(task, stamp),
            }
            with self._connection() as conn:
                try:
                    cur = tuples(conn).execute(query("requeue_task"), params)
                    moved = cur.fetchone() is not None
                except psycopg.Error as exc:
                    raise translate(exc) from None
            # Not moved: it moved after it was listed, or its Worker sent a heartbeat since.
            (requeued if moved else skipped).append(task.id)
            if progress is not None:
                progress(1)
        return Requeue(found=found, requeued=requeued, skipped=skipped)


def _default_reason(task: Task, since: datetime) -> str:
    """The history's reason when none is given: since when the task was silent, and the Worker
    that held it (the next claim replaces `assigned_worker_id`; the history keeps it)."""
    held = f" from {task.assigned_worker_id}" if task.assigned_worker_id else ""
    return f"requeued{held}: in_progress unchanged since {since:%Y-%m-%d %H:%M:%S} UTC"
