"""`tasks requeue`: hand the tasks that Workers which died still hold back to the Planner.

Each task moves `in_progress -> pending` through the data API's compare-and-set at the version it
was listed at, so a task whose Worker is alive after all and moves it meanwhile is skipped, not
taken from it (and if the Worker submits after the requeue, its submission is StaleState).
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

import typer

from chimera_store.cli.common import (
    ENV_EPILOG,
    handle_errors,
    open_store,
    out,
    parse_time,
    print_json,
    progress_bar,
)
from chimera_store.cli.lifecycle import Actor, operator_actor
from chimera_store.cli.lists import tasks_app
from chimera_store.errors import InvalidTransition, StaleState


@handle_errors
def tasks_requeue(
    ctx: typer.Context,
    unchanged_since: Annotated[
        str,
        typer.Option(
            "--unchanged-since",
            help="Requeue the tasks in_progress whose status has not changed since this time "
            "(ISO 8601, or a duration ago: 1h).",
        ),
    ],
    campaign: Annotated[
        str | None,
        typer.Option("--campaign", help="Only this campaign's tasks (default: every campaign's)."),
    ] = None,
    worker: Annotated[
        str | None, typer.Option("--worker", help="Only the tasks assigned to this worker.")
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", help="Why, kept in each task's history (default: says when)."),
    ] = None,
    actor: Actor = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list and count what would be requeued.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The ids requeued and skipped, as JSON.")
    ] = False,
) -> None:
    """Send tasks stuck in_progress back to pending, for the Planner to queue again.

    For the tasks a Worker that died still holds: in_progress, unchanged since --unchanged-since.
    Each is one checked move, recorded in its history; a task that moves meanwhile is skipped.
    """
    since = parse_time(unchanged_since, "--unchanged-since")
    assert since is not None  # a required option
    who = operator_actor(actor)
    stamp = since.astimezone(UTC)  # the history says UTC, whatever offset was typed
    why = reason or f"requeued: in_progress unchanged since {stamp:%Y-%m-%d %H:%M:%S} UTC"
    with open_store(ctx) as store:
        if campaign is not None:
            store.get_campaign(campaign)  # an unknown campaign is NotFound, not "requeued 0"
        # A Worker node that died held tasks of any campaign: each campaign's walk is one
        # range of its own index (lists are per campaign, never a sort of the whole table).
        scopes = (
            [campaign]
            if campaign is not None
            else [c.id for c in store.iterate(store.list_campaigns)]
        )
        # Listed first, then moved: the walk is not disturbed by what it moves.
        stuck = [
            task
            for scope in scopes
            for task in store.iterate(
                store.list_tasks,
                scope,
                status="in_progress",
                assigned_worker_id=worker,
                unchanged_since=since,
            )
        ]
        requeued: list[Any] = []
        skipped: list[Any] = []
        if not dry_run:
            with progress_bar("requeueing", len(stuck)) as advance:
                for task in stuck:
                    try:
                        store.transition_task(
                            task.id, "pending", actor=who, reason=why, expected_version=task.version
                        )
                        requeued.append(task.id)
                    except (StaleState, InvalidTransition):  # it moved after it was listed
                        skipped.append(task.id)
                    advance(1)
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "found": [str(t.id) for t in stuck],
                "requeued": [str(i) for i in requeued],
                "skipped": [str(i) for i in skipped],
            }
        )
        return
    if dry_run:
        for task in stuck:
            out.print(f"{task.id}  worker {task.assigned_worker_id or '-'}", markup=False)
        out.print(f"would requeue {len(stuck):,} tasks (dry run: nothing changed)")
        return
    line = f"requeued {len(requeued):,} tasks (in_progress -> pending)"
    if skipped:
        line += f"; skipped {len(skipped):,} that moved meanwhile"
    out.print(line)


def register() -> None:
    tasks_app.command("requeue", epilog=ENV_EPILOG)(tasks_requeue)
