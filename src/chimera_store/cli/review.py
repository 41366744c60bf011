"""`task submit`, `task approve` and `task reject`: an operator does a Worker's submission or
gives the Judge's verdict.

The human in the loop: the Judge service escalates what it cannot decide, and an operator decides
with the same atomic calls the Judge uses (`judge_commit`, `judge_reject`), so a verdict moves
the task and its submitted assets together, with history, or changes nothing. A Worker that
rendered its drafts but died before submitting: an operator submits them (`submit_task`) rather
than requeue the task and render again.
"""

from __future__ import annotations

from typing import Annotated

import typer

from chimera_store.cli.common import ENV_EPILOG, Json, handle_errors, open_store, out, print_json
from chimera_store.cli.data import task_app
from chimera_store.cli.lifecycle import Actor, operator_actor
from chimera_store.records import to_dict

TaskVersion = Annotated[
    int | None,
    typer.Option(
        "--task-version",
        help="The task's version you checked (`task show`); else its current one. A task "
        "changed since exits 12.",
    ),
]


@handle_errors
def task_submit(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id (in progress).")],
    asset_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--asset",
            metavar="ID",
            help="Submit only this draft (repeatable); default: all of the task's drafts.",
        ),
    ] = None,
    task_version: TaskVersion = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Kept in the history.")] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Submit a task in progress for review, as its Worker would: the task goes to review and its
    drafts to judge_pending.

    For a Worker that rendered its drafts but died before submitting. One transaction, as the
    Worker's submission: refused as a whole (exit 12, nothing changed) if the task is not in
    progress or changed since --task-version; an --asset that is not a draft of the task exits 10.
    """
    who = operator_actor(actor)
    with open_store(ctx) as store:
        if task_version is None:
            task_version = store.get_task(task_id).version
        done = store.submit_task(
            task_id, task_version=task_version, actor=who, reason=reason, asset_ids=asset_ids
        )
    if as_json:
        print_json(to_dict(done))
        return
    out.print(
        f"task {done.task.id}: in_progress -> review (version {done.task.version}); "
        f"{_assets(len(done.submitted_asset_ids))} submitted",
        markup=False,
    )


@handle_errors
def task_approve(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id (in review).")],
    asset_ids: Annotated[
        list[str] | None,
        typer.Option(
            "--asset",
            metavar="ID",
            help="Approve only this submitted asset (repeatable); default: all.",
        ),
    ] = None,
    task_version: TaskVersion = None,
    campaign_version: Annotated[
        int | None,
        typer.Option(
            "--campaign-version",
            help="The campaign's version you reviewed against; else its current one.",
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Kept in the history.")] = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Approve a task in review: it becomes complete and its submitted assets approved.

    One transaction, as the Judge's commit: refused as a whole (exit 12, nothing changed) if the
    campaign is no longer active, or the task is not in review or changed since --task-version.
    """
    who = operator_actor(actor)
    with open_store(ctx) as store:
        task = store.get_task(task_id)
        if campaign_version is None:
            campaign_version = store.get_campaign(task.campaign_id).version
        done = store.judge_commit(
            task.id,
            campaign_version=campaign_version,
            task_version=task.version if task_version is None else task_version,
            actor=who,
            reason=reason,
            asset_ids=asset_ids,
        )
    if as_json:
        print_json(to_dict(done))
        return
    out.print(
        f"task {done.task.id}: review -> complete (version {done.task.version}); "
        f"{_assets(len(done.approved_asset_ids))} approved",
        markup=False,
    )


@handle_errors
def task_reject(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id (in review).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why, for the Planner that re-plans it (history).")
    ],
    task_version: TaskVersion = None,
    actor: Actor = None,
    as_json: Json = False,
) -> None:
    """Reject a task in review: it goes back to pending and its submitted assets are rejected.

    One transaction, as the Judge's rejection: refused as a whole (exit 12, nothing changed) if
    the task is not in review or changed since --task-version.
    """
    who = operator_actor(actor)
    with open_store(ctx) as store:
        if task_version is None:
            task_version = store.get_task(task_id).version
        done = store.judge_reject(task_id, task_version=task_version, actor=who, reason=reason)
    if as_json:
        print_json(to_dict(done))
        return
    out.print(
        f"task {done.task.id}: review -> pending (version {done.task.version}); "
        f"{_assets(len(done.rejected_asset_ids))} rejected",
        markup=False,
    )


def _assets(n: int) -> str:
    return f"{n:,} asset" if n == 1 else f"{n:,} assets"


def register() -> None:
    task_app.command("submit", epilog=ENV_EPILOG)(task_submit)
    task_app.command("approve", epilog=ENV_EPILOG)(task_approve)
    task_app.command("reject", epilog=ENV_EPILOG)(task_reject)
