"""`task set-status` and `asset set-status`: an operator moves a record along its life cycle.

Through the data API's compare-and-set, so the move is checked against the rules and recorded in
the history like a service's (psql would do neither).
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any

import typer

from chimera_store.cli.common import ENV_EPILOG, Json, handle_errors, open_store, out, print_json
from chimera_store.cli.data import asset_app, task_app
from chimera_store.records import to_dict
from chimera_store.validation import check_text
from chimera_store.vocab import ASSET_TRANSITIONS, TASK_TRANSITIONS

Reason = Annotated[str | None, typer.Option("--reason", help="Why; kept in the history.")]
Actor = Annotated[
    str | None,
    typer.Option("--actor", help="Who, for the history (default: operator:<login name>)."),
]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        help="Move it only if the record is still at this version (else exit 12).",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Running the same command again with this key changes nothing and succeeds.",
    ),
]


def _moves(transitions: dict[Any, frozenset[Any]]) -> str:
    return "; ".join(
        f"{src.value} -> {' | '.join(sorted(t.value for t in targets))}"
        for src, targets in transitions.items()
        if targets
    )


def operator_actor(given: str | None) -> str:
    """The --actor given (checked before any database work), else operator:<login name>."""
    if given is not None:
        return check_text(given, "actor")
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "operator"


def _move(
    ctx: typer.Context,
    kind: str,
    record_id: str,
    status: str,
    reason: str | None,
    actor: str | None,
    expected_version: int | None,
    idempotency_key: str | None,
    as_json: bool,
    worker: str | None = None,
) -> None:
    """The shared body of both commands: one compare-and-set through the data API."""
    who = operator_actor(actor)
    with open_store(ctx) as store:
        get, transition = (
            (store.get_task, store.transition_task)
            if kind == "task"
            else (store.get_asset, store.transition_asset)
        )
        extra = {} if worker is None else {"assigned_worker_id": worker}
        before = get(record_id)
        after = transition(
            record_id,
            status,
            actor=who,
            reason=reason,
            idempotency_key=idempotency_key,
            expected_version=expected_version,
            **extra,
        )
    if as_json:
        print_json(to_dict(after))
    elif after.version == before.version:
        out.print(
            f"{kind} {after.id} is {after.status} (version {after.version}): already done "
            "with this idempotency key; nothing changed",
            markup=False,
        )
    else:
        out.print(
            f"{kind} {after.id}: {before.status} -> {after.status} "
            f"(version {before.version} -> {after.version}); recorded in its history",
            markup=False,
        )


@handle_errors
def task_set_status(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    status: Annotated[str, typer.Argument(help="New status.")],
    reason: Reason = None,
    actor: Actor = None,
    expected_version: ExpectedVersion = None,
    idempotency_key: IdempotencyKey = None,
    assigned_worker_id: Annotated[
        str | None,
        typer.Option("--worker", help="Assign the task to this worker in the same move."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Move a task along its life cycle, recorded in its history.

    For instance back to pending when its worker died. A move the rules forbid exits 11 and
    changes nothing.
    """
    _move(
        ctx,
        "task",
        task_id,
        status,
        reason,
        actor,
        expected_version,
        idempotency_key,
        as_json,
        assigned_worker_id,
    )


@handle_errors
def asset_set_status(
    ctx: typer.Context,
    asset_id: Annotated[str, typer.Argument(help="Asset id.")],
    status: Annotated[str, typer.Argument(help="New status.")],
    reason: Reason = None,
    actor: Actor = None,
    expected_version: ExpectedVersion = None,
    idempotency_key: IdempotencyKey = None,
    as_json: Json = False,
) -> None:
    """Move a video asset along its life cycle, recorded in its history.

    For instance reject it, or mark it published. A move the rules forbid exits 11 and changes
    nothing.
    """
    _move(
        ctx,
        "video asset",
        asset_id,
        status,
        reason,
        actor,
        expected_version,
        idempotency_key,
        as_json,
    )


def register() -> None:
    for group, command, transitions in (
        (task_app, task_set_status, TASK_TRANSITIONS),
        (asset_app, asset_set_status, ASSET_TRANSITIONS),
    ):
        group.command(
            "set-status", epilog=f"Allowed moves: {_moves(transitions)}.\n\n{ENV_EPILOG}"
        )(command)
