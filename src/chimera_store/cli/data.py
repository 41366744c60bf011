"""Operator commands over the data API: demo, lists, reports, show, purge, clean."""

from __future__ import annotations

import json
import sys
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table

from chimera_store import migrator
from chimera_store.cli.common import (
    ENV_EPILOG,
    RecordCommands,
    handle_errors,
    json_text,
    out,
    parse_pairs,
    parse_time,
    print_json,
    progress_bar,
    state,
)
from chimera_store.errors import InvalidInput, OperationCancelled
from chimera_store.payload import payload_json_schema, task_to_payload
from chimera_store.records import CampaignSummary, Page, to_dict
from chimera_store.store import Store

campaigns_app = typer.Typer(help="List campaigns.", no_args_is_help=True, cls=RecordCommands)
campaign_app = typer.Typer(
    help="Create, show or change one campaign; export, import or purge it whole.",
    no_args_is_help=True,
    cls=RecordCommands,
)
agents_app = typer.Typer(help="List agents.", no_args_is_help=True, cls=RecordCommands)
agent_app = typer.Typer(
    help="Create, show or change one agent.", no_args_is_help=True, cls=RecordCommands
)
tasks_app = typer.Typer(
    help="List, export or import tasks.", no_args_is_help=True, cls=RecordCommands
)
task_app = typer.Typer(
    help="Show, export, change, move or review one task; print the payload schema.",
    no_args_is_help=True,
    cls=RecordCommands,
)
assets_app = typer.Typer(
    help="List or import video assets.", no_args_is_help=True, cls=RecordCommands
)
asset_app = typer.Typer(
    help="Show or move one video asset, or correct its metadata.",
    no_args_is_help=True,
    cls=RecordCommands,
)

Json = Annotated[bool, typer.Option("--json", help="JSON (JSON lines for lists) for scripts.")]
Limit = Annotated[int, typer.Option(help="Page size (1-1000).", min=1, max=1000)]
Cursor = Annotated[str | None, typer.Option(help="Cursor printed by the previous page.")]
CampaignId = Annotated[str, typer.Option("--campaign", help="Campaign id.")]
StatusFilter = Annotated[str | None, typer.Option("--status", help="Only this status.")]
TaskTypeFilter = Annotated[str | None, typer.Option("--type", help="Only this task type.")]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only those created at or after this ISO 8601 date or time (UTC when no offset).",
    ),
]
Before = Annotated[
    str | None,
    typer.Option(
        "--before",
        help="Only those created before this ISO 8601 date or time (UTC when no offset).",
    ),
]
Every = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Every page, as JSON lines (needs --json; fetched --limit records at a time).",
    ),
]


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


CLI_CONNECT_TIMEOUT = 5.0


def open_store(ctx: typer.Context) -> Store:
    # An operator at a terminal wants an unreachable server reported in seconds, not after the
    # API's default 30 s of retries (a refused login is reported at once either way).
    return Store.open(state(ctx).url, min_size=1, max_size=2, connect_timeout=CLI_CONNECT_TIMEOUT)


def _list(
    store: Store,
    list_method: Any,
    columns: list[str],
    *,
    every: bool,
    as_json: bool,
    limit: int,
    cursor: str | None,
    **filters: Any,
) -> None:
    """One page (table or JSON lines), or with --all every page streamed as JSON lines."""
    if not every:
        _print_page(list_method(**filters, limit=limit, cursor=cursor), as_json, columns)
        return
    if not as_json:
        raise typer.BadParameter(
            "needs --json (a table of every row is not readable)", None, None, "--all"
        )
    if cursor is not None:
        raise typer.BadParameter("starts at the newest record; drop --cursor", None, None, "--all")
    for item in store.iterate(list_method, page_size=limit, **filters):
        print_json(to_dict(item))


def _print_page(
    page: Page[Any], as_json: bool, columns: list[str], title: str | None = None
) -> None:
    if as_json:
        for item in page.items:
            print_json(to_dict(item))
        if page.next_cursor:
            sys.stderr.write(f"next cursor: {page.next_cursor}\n")
        return
    if not page.items:
        out.print("nothing found", style="italic")  # not an empty table (JSON: no lines)
        return
    table = Table(title=title)
    for column in columns:
        # Ids stay whole (they are what the next command takes); other columns may fold.
        whole = column in {"id", "campaign_id", "agent_id", "task_id"}
        table.add_column(column, no_wrap=whole, min_width=36 if whole else None, overflow="fold")
    rows = [[_cell(data[c]) for c in columns] for data in map(to_dict, page.items)]
    for row in rows:
        table.add_row(*row)
    # The width the table needs without folding anything (measured unconstrained: a measurement
    # is otherwise capped at the console's width).
    natural = Measurement.get(out, out.options.update_width(10_000), table).maximum
    if natural <= out.width:
        out.print(table)
    else:
        if title:
            out.print(title, style="italic")
        _print_expanded(columns, rows)
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}")


def _print_expanded(columns: list[str], rows: list[list[str]]) -> None:
    """One block per record, like psql's expanded display (`\\x auto`): for a terminal too
    narrow for the table, where its columns would otherwise fold mid-word."""
    for number, row in enumerate(rows, start=1):
        out.rule(f"record {number}", align="left", characters="-")
        grid = Table(show_header=False, box=None, pad_edge=False)
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column(overflow="fold")
        for column, value in zip(columns, row, strict=True):
            grid.add_row(column, value)
        out.print(grid)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value)[:60]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@handle_errors
def demo(ctx: typer.Context) -> None:
    """Migrate, seed a realistic sample (once; a second run adds nothing), print a report."""
    from chimera_store import demo as sample

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
    _print_page(
        Page(newest.items, None),
        False,
        ["id", "platform", "tier", "status", "created_at"],
        title="newest assets",
    )


@campaigns_app.command("list", epilog=ENV_EPILOG)
@handle_errors
def campaigns_list(
    ctx: typer.Context,
    status: StatusFilter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    as_json: Json = False,
    every: Every = False,
) -> None:
    """List campaigns, newest first."""
    with open_store(ctx) as store:
        _list(
            store,
            store.list_campaigns,
            ["id", "name", "status", "created_at"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            status=status,
        )


@campaign_app.command("show", epilog=ENV_EPILOG)
@handle_errors
def campaign_show(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
    as_json: Json = False,
) -> None:
    """The campaign report: goal, status, agents, tasks and assets by status, newest assets."""
    with open_store(ctx) as store:
        summary = store.campaign_summary(campaign_id)
        if as_json:
            print_json(to_dict(summary))
            return
        _report(store, summary)


@campaign_app.command("set-status", epilog=ENV_EPILOG)
@handle_errors
def campaign_set_status(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
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
        before = store.get_campaign(campaign_id)
        after = store.update_campaign(campaign_id, status=status, expected_version=expected_version)
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
    campaign_id: Annotated[str, typer.Argument(help="Campaign id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Really delete.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The rows deleted per table, as JSON.")
    ] = False,
) -> None:
    """Delete a campaign with everything under it. Prints the counts; does nothing without --yes.

    `campaign export ID -o FILE` first keeps what `campaign import FILE` can restore.
    """
    with open_store(ctx) as store:
        summary = store.campaign_summary(campaign_id)
        tasks = sum(summary.tasks_by_status.values())
        assets = sum(summary.assets_by_status.values())
        line = f"{summary.agents:,} agents, {tasks:,} tasks, {assets:,} assets and their history"
        if not yes:
            out.print(f"would delete campaign {summary.campaign.name!r}: {line}", markup=False)
            raise OperationCancelled("nothing deleted (pass --yes to delete)")
        counts = store.purge_campaign(campaign_id)
    if as_json:
        print_json(to_dict(counts))
        return
    out.print(
        f"deleted campaign {summary.campaign.name!r}: {counts.agents:,} agents, "
        f"{counts.tasks:,} tasks, {counts.video_assets:,} assets, "
        f"{counts.task_history + counts.asset_history:,} history entries",
        markup=False,
    )


@agents_app.command("list", epilog=ENV_EPILOG)
@handle_errors
def agents_list(
    ctx: typer.Context,
    campaign: CampaignId,
    limit: Limit = 100,
    cursor: Cursor = None,
    as_json: Json = False,
    every: Every = False,
) -> None:
    """Agents of a campaign, newest first."""
    with open_store(ctx) as store:
        _list(
            store,
            store.list_agents,
            ["id", "soul_md_path", "character_reference_id"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign,
        )


@tasks_app.command("list", epilog=ENV_EPILOG)
@handle_errors
def tasks_list(
    ctx: typer.Context,
    campaign: CampaignId,
    status: StatusFilter = None,
    task_type: TaskTypeFilter = None,
    priority: Annotated[str | None, typer.Option(help="Only this priority.")] = None,
    assigned_worker_id: Annotated[
        str | None, typer.Option("--worker", help="Only tasks assigned to this worker.")
    ] = None,
    since: Since = None,
    before: Before = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    as_json: Json = False,
    every: Every = False,
) -> None:
    """Tasks of a campaign, newest first."""
    with open_store(ctx) as store:
        _list(
            store,
            store.list_tasks,
            ["id", "task_type", "priority", "status", "created_at"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign,
            status=status,
            task_type=task_type,
            priority=priority,
            assigned_worker_id=assigned_worker_id,
            created_from=parse_time(since, "--since"),
            created_before=parse_time(before, "--before"),
        )


@assets_app.command("list", epilog=ENV_EPILOG)
@handle_errors
def assets_list(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option("--campaign", help="Campaign id.")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Agent id.")] = None,
    task: Annotated[str | None, typer.Option("--task", help="Task id.")] = None,
    status: StatusFilter = None,
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    tier: Annotated[str | None, typer.Option(help="Only this tier.")] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="The metadata must contain it (repeatable)."),
    ] = None,
    since: Since = None,
    before: Before = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    as_json: Json = False,
    every: Every = False,
) -> None:
    """Video assets of a campaign, agent or task, newest first."""
    if campaign is None and agent is None and task is None:
        # A usage error (exit 2) like `tasks list` without --campaign, worded for the options.
        raise typer.BadParameter(
            "give at least one (assets of which campaign, agent or task?)",
            param_hint="'--campaign', '--agent' or '--task'",
        )
    contains = parse_pairs(metadata, "--metadata") if metadata else None
    with open_store(ctx) as store:
        _list(
            store,
            store.list_assets,
            ["id", "platform", "tier", "status", "created_at"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign,
            agent_id=agent,
            task_id=task,
            status=status,
            platform=platform,
            tier=tier,
            metadata=contains,
            created_from=parse_time(since, "--since"),
            created_before=parse_time(before, "--before"),
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


def _show(record: Any, history: list[Any], as_json: bool) -> None:
    if as_json:
        print_json({**to_dict(record), "history": [to_dict(h) for h in history]})
        return
    print_record(record)
    if not history:
        out.print("status history: none (no move since it was created)", style="italic")
        return
    hist = Table(title="status history")
    hist.add_column("at", no_wrap=True)  # a time split over two lines reads badly
    for column in ("from", "to", "actor", "reason"):
        # Folded, never cut short: "operator:ro…" lost who it was in an 80-column terminal.
        hist.add_column(column, overflow="fold")
    for h in history:
        hist.add_row(_cell(h.at), h.from_status or "-", h.to_status, h.actor, h.reason or "")
    out.print(hist)


@task_app.command("show", epilog=ENV_EPILOG)
@handle_errors
def task_show(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    as_json: Json = False,
) -> None:
    """A task with its status history."""
    with open_store(ctx) as store:
        _show(store.get_task(task_id), store.task_history(task_id), as_json)


@task_app.command("export", epilog=ENV_EPILOG)
@handle_errors
def task_export(
    ctx: typer.Context, task_id: Annotated[str, typer.Argument(help="Task id.")]
) -> None:
    """Print the task's queue payload (JSON), for replay."""
    with open_store(ctx) as store:
        print_json(task_to_payload(store.get_task(task_id)))


@task_app.command("schema", epilog=ENV_EPILOG)
@handle_errors
def task_schema() -> None:
    """Print the JSON Schema that queue payloads (`task export`, `tasks import`) follow.

    For Planners and Workers in other languages: validate a payload before enqueueing it.
    No database is needed.
    """
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
        str, typer.Option(help="ISO 8601 date or time (UTC when no offset is given).")
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
