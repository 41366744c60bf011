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
from chimera_store.cli.lists import CampaignId, tasks_app
from chimera_store.errors import InvalidTransition, StaleState


@handle_errors
def tasks_requeue(
    ctx: typer.Context,
    campaign: CampaignId,
    unchanged_since: Annotated[
        str,
        typer.Option(
            "--unchanged-since",
            help="Requeue the tasks in_progress whose status has not changed since this time "
            "(ISO 8601, or a duration ago: 1h).",
        ),
    ],
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
        store.get_campaign(campaign)  # an unknown campaign is NotFound, not "requeued 0"
        # Listed first, then moved: the walk is not disturbed by what it moves.
        stuck = list(
            store.iterate(
                store.list_tasks,
                campaign,
                status="in_progress",
                assigned_worker_id=worker,
                unchanged_since=since,
            )
        )
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
