"""Operator commands over one record at a time (show, the campaign report, set-status, purge),
and demo and clean; the command groups other modules add to."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from chimera_store.cli.common import (
    ENV_EPILOG,
    Json,
    RecordCommands,
    handle_errors,
    json_text,
    open_store,
    out,
    parse_time,
    print_json,
    progress_bar,
    state,
)
from chimera_store.cli.lists import (
    agents_app,
    assets_app,
    campaigns_app,
    cell,
    print_page,
    tasks_app,
)
from chimera_store.cli.refs import CAMPAIGN_HELP, campaign_id_of, campaign_of
from chimera_store.errors import InvalidInput, OperationCancelled
from chimera_store.records import CampaignSummary, Page, to_dict
from chimera_store.store import Store
from chimera_store.vocab import AssetStatus

campaign_app = typer.Typer(
    help="Create, show or change one campaign; export, import or purge it whole.",
    no_args_is_help=True,
    cls=RecordCommands,
)
agent_app = typer.Typer(
    help="Create, show or change one agent.", no_args_is_help=True, cls=RecordCommands
)
task_app = typer.Typer(
    help="Show, export, change, move or review one task; print the payload schema.",
    no_args_is_help=True,
    cls=RecordCommands,
)
asset_app = typer.Typer(
    help="Show or move one video asset, or correct its metadata.",
    no_args_is_help=True,
    cls=RecordCommands,
)


def register(app: typer.Typer) -> None:
    app.command(epilog=ENV_EPILOG)(demo)
    app.command(epilog=ENV_EPILOG)(clean)
    app.add_typer(campaigns_app, name="campaigns")
    app.add_typer(campaign_app, name="campaign")
    app.add_typer(agents_app, name="agents")
    app.add_typer(agent_app, name="agent")
    app.add_typer(tasks_app, name="tasks")
    app.add_typer(task_app, name="task")
    app.add_typer(assets_app, name="assets")
    app.add_typer(asset_app, name="asset")


@handle_errors
def demo(ctx: typer.Context) -> None:
    """Migrate, seed a realistic sample (once; a second run adds nothing), print a report."""
    from chimera_store import demo as sample
    from chimera_store import migrator

    st = state(ctx)
    outcome = migrator.migrate(st.url)
    out.print(f"schema at {', '.join(outcome.after)} on {st.target().masked_url}")
    with open_store(ctx) as store:
        with progress_bar("seeding", sample.SAMPLE_ROWS) as advance:
            wrote = sample.seed(store, progress=advance)
        out.print("seeded the sample" if wrote else "sample already present; nothing added")
        biggest = sample.biggest_campaign(store)
        if biggest is not None:
            _report(store, store.campaign_summary(biggest))


def _report(store: Store, summary: CampaignSummary) -> None:
    c = summary.campaign
    out.print(
        Panel(
            f"{c.goal_description}\nstatus: {c.status}   agents: {summary.agents}   "
            f"version: {c.version}\nid: {c.id}",
            title=c.name,
        )
    )
    # A new campaign gets a line each, not four empty tables.
    if not summary.tasks_by_status:
        out.print("tasks: none yet", style="italic")
    if not summary.assets_by_status:
        out.print("assets: none yet", style="italic")
        return
    for title, counts in (
        ("tasks by status", summary.tasks_by_status),
        ("assets by status", summary.assets_by_status),
        ("assets by platform", summary.assets_by_platform),
        ("assets by tier", summary.assets_by_tier),
    ):
        if not counts:
            continue
        table = Table(title, "count")
        for key, n in sorted(counts.items()):
            table.add_row(key, f"{n:,}")
        out.print(table)
    newest = store.list_assets(campaign_id=c.id, limit=5)
    print_page(
        Page(newest.items, None),
        False,
        ["id", "platform", "tier", "status", "created_at"],
        title="newest assets",
    )


@campaign_app.command("show", epilog=ENV_EPILOG)
@handle_errors
def campaign_show(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help=CAMPAIGN_HELP)],
    as_json: Json = False,
) -> None:
    """The campaign report: goal, status, agents, tasks and assets by status, newest assets."""
    with open_store(ctx) as store:
        summary = store.campaign_summary(campaign_id_of(store, campaign_id))
        if as_json:
            print_json(to_dict(summary))
            return
        _report(store, summary)


@campaign_app.command("set-status", epilog=ENV_EPILOG)
@handle_errors
def campaign_set_status(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help=CAMPAIGN_HELP)],
    status: Annotated[
        str, typer.Argument(help="New status: draft, active, paused, completed or archived.")
    ],
    expected_version: Annotated[
        int | None,
        typer.Option(
            "--expected-version",
            help="Change it only if the campaign is still at this version (else exit 12).",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Change a campaign's status (paused: Judges refuse to commit its work).

    The version goes up by one, so every commit based on the old version becomes stale.
    """
    with open_store(ctx) as store:
        before = campaign_of(store, campaign_id)
        after = store.update_campaign(before.id, status=status, expected_version=expected_version)
    if as_json:
        print_json(to_dict(after))
    elif after.version == before.version:
        # The database keeps the version when nothing changed (revision 0004), so commits
        # based on it stay valid.
        out.print(
            f"campaign {after.name!r} is already {status} (version {after.version}); "
            "nothing changed",
            markup=False,
        )
    else:
        out.print(
            f"campaign {after.name!r}: {before.status} -> {after.status} "
            f"(version {before.version} -> {after.version})",
            markup=False,
        )


@campaign_app.command("purge", epilog=ENV_EPILOG)
@handle_errors
def campaign_purge(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help=CAMPAIGN_HELP)],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The rows deleted per table, as JSON.")
    ] = False,
) -> None:
    """Delete a campaign with everything under it. Prints the counts; does nothing without --yes.

    `campaign export ID -o FILE` first keeps what `campaign import FILE` can restore.
    """
    with open_store(ctx) as store:
        summary = store.campaign_summary(campaign_id_of(store, campaign_id))
        tasks = sum(summary.tasks_by_status.values())
        assets = sum(summary.assets_by_status.values())
        line = f"{summary.agents:,} agents, {tasks:,} tasks, {assets:,} assets and their history"
        if not yes:
            out.print(f"would delete campaign {summary.campaign.name!r}: {line}", markup=False)
            raise OperationCancelled("nothing deleted (pass --yes to delete)")
        counts = store.purge_campaign(summary.campaign.id)
    if as_json:
        print_json(to_dict(counts))
        return
    out.print(
        f"deleted campaign {summary.campaign.name!r}: {counts.agents:,} agents, "
        f"{counts.tasks:,} tasks, {counts.video_assets:,} assets, "
        f"{counts.task_history + counts.asset_history:,} history entries",
        markup=False,
    )


def print_record(record: Any) -> None:
    """One record as a two-column table, field by field."""
    table = Table(show_header=False)
    table.add_column(no_wrap=True)
    # Folded, never cut short: a metadata URL longer than the column ended in "…".
    table.add_column(overflow="fold")
    for key, value in to_dict(record).items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    out.print(table)


def _show(
    record: Any,
    history: list[Any],
    as_json: bool,
    counts: dict[str, dict[str, int]] | None = None,
) -> None:
    """A record, counts of what it holds (e.g. `assets_by_status`), and its history."""
    if as_json:
        print_json({**to_dict(record), **(counts or {}), "history": [to_dict(h) for h in history]})
        return
    print_record(record)
    for key, value in (counts or {}).items():
        out.print(f"{key.replace('_', ' ')}: {_counts(value)}", markup=False)
    if not history:
        out.print("status history: none (no move since it was created)", style="italic")
        return
    hist = Table(title="status history")
    hist.add_column("at", no_wrap=True)  # a time split over two lines reads badly
    for column in ("from", "to", "actor", "reason"):
        # Folded, never cut short: "operator:ro…" lost who it was in an 80-column terminal.
        hist.add_column(column, overflow="fold")
    for h in history:
        hist.add_row(cell(h.at), h.from_status or "-", h.to_status, h.actor, h.reason or "")
    out.print(hist)


@task_app.command("show", epilog=ENV_EPILOG)
@handle_errors
def task_show(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    as_json: Json = False,
) -> None:
    """A task with its assets counted by status, and its status history."""
    with open_store(ctx) as store:
        task = store.get_task(task_id)
        # A task makes a handful of videos: counted from its own index range, page by page.
        by_status = Counter(a.status for a in store.iterate(store.list_assets, task_id=task.id))
        assets = {s.value: by_status[s.value] for s in AssetStatus if s.value in by_status}
        _show(task, store.task_history(task.id), as_json, {"assets_by_status": assets})


def _counts(counts: dict[str, int]) -> str:
    """`3 draft, 1 judge_pending`, or `none`."""
    return ", ".join(f"{n:,} {key}" for key, n in counts.items()) or "none"


@task_app.command("export", epilog=ENV_EPILOG)
@handle_errors
def task_export(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(help="Task id.")]
) -> None:
    """Print the task's queue payload (JSON), for replay."""
    from chimera_store.payload import task_to_payload  # pydantic: only payload commands load it

    with open_store(ctx) as store:
        print_json(task_to_payload(store.get_task(task_id)))


@task_app.command("schema", epilog=ENV_EPILOG)
@handle_errors
def task_schema() -> None:
    """Print the JSON Schema that queue payloads (`task export`, `tasks import`) follow.

    For Planners and Workers in other languages: validate a payload before enqueueing it.
    No database is needed.
    """
    from chimera_store.payload import payload_json_schema  # pydantic: as in `task export`

    print_json(payload_json_schema())


@asset_app.command("show", epilog=ENV_EPILOG)
@handle_errors
def asset_show(
    ctx: typer.Context,
    asset_id: Annotated[str, typer.Argument(help="Asset id.")],
    as_json: Json = False,
) -> None:
    """A video asset with its status history."""
    with open_store(ctx) as store:
        _show(store.get_asset(asset_id), store.asset_history(asset_id), as_json)


@handle_errors
def clean(
    ctx: typer.Context,
    before: Annotated[
        str,
        typer.Option(
            help="ISO 8601 date or time (UTC when no offset is given), or a duration ago (90d)."
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would go.")] = False,
    archive: Annotated[
        Path | None,
        typer.Option(help="Append what is removed to this JSON-lines file first."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Tasks per transaction.", min=1, max=10000)] = 500,
) -> None:
    """Remove finished work created before --before: complete tasks whose assets are all
    published or rejected, with those assets and their history. Work in flight is never touched.

    Runs in short batches (one transaction each; rows locked by a worker are skipped).
    """
    cutoff = parse_time(before, "--before")
    assert cutoff is not None  # a required option
    with open_store(ctx) as store:
        if dry_run:
            counts = store.clean(cutoff, dry_run=True)
            out.print(
                f"would remove {counts.tasks:,} tasks and {counts.video_assets:,} assets "
                f"created before {cutoff.isoformat()} (dry run: nothing removed)"
            )
            return
        total = store.clean(cutoff, dry_run=True).tasks
        try:
            sink = archive.open("a", encoding="utf-8") if archive else None
        except OSError as exc:
            raise InvalidInput("--archive", f"cannot write {archive}: {exc.strerror}") from None
        try:

            def write(record: dict[str, Any]) -> None:
                assert sink is not None
                try:
                    sink.write(json_text(record) + "\n")
                    sink.flush()
                except OSError as exc:  # e.g. disk full: this batch is rolled back, not deleted
                    raise InvalidInput(
                        "--archive",
                        f"cannot write {archive}: {exc.strerror}; the batch being archived and "
                        "the rest were not removed",
                    ) from None

            with progress_bar("cleaning", total) as advance:
                counts = store.clean(
                    cutoff, batch_size=batch_size, archive=write if sink else None, progress=advance
                )
        finally:
            if sink is not None:
                # Every record is flushed as written, so close can only fail on the remains of
                # a write that failed and was reported already; that report must not be lost.
                with suppress(OSError):
                    sink.close()
    out.print(
        f"removed {counts.tasks:,} tasks, {counts.video_assets:,} assets and "
        f"{counts.history:,} history entries" + (f"; archived to {archive}" if archive else "")
    )
