"""`tasks requeue`: hand the tasks that Workers which died still hold back to the Planner,
through the data API's `requeue_tasks` (each move a compare-and-set at the version it was listed
at, so a task whose Worker is alive after all, and moves it or sends a heartbeat meanwhile, is
skipped)."""

from __future__ import annotations

from typing import Annotated

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
from chimera_store.cli.refs import CAMPAIGN_FORMS, campaign_id_of


@handle_errors
def tasks_requeue(
    ctx: typer.Context,
    unchanged_since: Annotated[
        str,
        typer.Option(
            "--unchanged-since",
            help="Requeue the tasks in_progress whose status has not changed, and whose Worker "
            "has sent no heartbeat, since this time (ISO 8601, or a duration ago: 1h).",
        ),
    ],
    campaign: Annotated[
        str | None,
        typer.Option(
            "--campaign",
            help=f"Only this campaign's tasks (default: every campaign's): {CAMPAIGN_FORMS}",
        ),
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

    For the tasks a Worker that died still holds: in_progress, unchanged since --unchanged-since
    (no move and no heartbeat since). Each is one checked move, recorded in its history; a task
    that moves or gets a heartbeat meanwhile is skipped.
    """
    since = parse_time(unchanged_since, "--unchanged-since")
    assert since is not None  # a required option
    who = operator_actor(actor)
    with open_store(ctx) as store, progress_bar("requeueing", None) as advance:
        outcome = store.requeue_tasks(
            unchanged_since=since,
            actor=who,
            reason=reason,
            campaign_id=None if campaign is None else campaign_id_of(store, campaign),
            assigned_worker_id=worker,
            dry_run=dry_run,
            progress=advance,  # told of each task moved; a dry run moves none
        )
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "found": [str(i) for i in outcome.found],
                "requeued": [str(i) for i in outcome.requeued],
                "skipped": [str(i) for i in outcome.skipped],
            }
        )
        return
    if dry_run:
        for task_id in outcome.found:
            out.print(str(task_id), markup=False)
        out.print(f"would requeue {len(outcome.found):,} tasks (dry run: nothing changed)")
        return
    line = f"requeued {len(outcome.requeued):,} tasks (in_progress -> pending)"
    if outcome.skipped:
        line += f"; skipped {len(outcome.skipped):,} that moved or beat meanwhile"
    out.print(line)


def register() -> None:
    tasks_app.command("requeue", epilog=ENV_EPILOG)(tasks_requeue)
