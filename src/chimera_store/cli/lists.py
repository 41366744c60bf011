"""The list commands: campaigns, agents, tasks and assets, a page or every page, and the
plural command groups they open (`tasks import` and the like join them from other modules)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.measure import Measurement
from rich.table import Table

from chimera_store.cli.common import (
    ENV_EPILOG,
    Json,
    RecordCommands,
    handle_errors,
    open_store,
    out,
    parse_pairs,
    parse_time,
    print_json,
)
from chimera_store.cli.refs import CAMPAIGN_HELP, campaign_id_of
from chimera_store.records import Page, to_dict
from chimera_store.store import Store

campaigns_app = typer.Typer(help="List campaigns.", no_args_is_help=True, cls=RecordCommands)
agents_app = typer.Typer(help="List agents.", no_args_is_help=True, cls=RecordCommands)
tasks_app = typer.Typer(
    help="List, export, import or requeue tasks.", no_args_is_help=True, cls=RecordCommands
)
assets_app = typer.Typer(
    help="List or import video assets.", no_args_is_help=True, cls=RecordCommands
)
Limit = Annotated[int, typer.Option(help="Page size (1-1000).", min=1, max=1000)]
Cursor = Annotated[str | None, typer.Option(help="Cursor printed by the previous page.")]
CampaignId = Annotated[str, typer.Option("--campaign", help=CAMPAIGN_HELP)]
StatusFilter = Annotated[str | None, typer.Option("--status", help="Only this status.")]
TaskTypeFilter = Annotated[str | None, typer.Option("--type", help="Only this task type.")]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only those created at or after this time: ISO 8601 (UTC when no offset) or a "
        "duration ago (30m, 2h, 7d).",
    ),
]
Before = Annotated[
    str | None,
    typer.Option(
        "--before",
        help="Only those created before this time: ISO 8601 (UTC when no offset) or a duration "
        "ago (30m, 2h, 7d).",
    ),
]
UnchangedSince = Annotated[
    str | None,
    typer.Option(
        "--unchanged-since",
        help="Only those whose status has not changed since this time (ISO 8601 or a duration "
        "ago: 2h; a task's heartbeat counts as a change). With --status in_progress: tasks a "
        "worker that died still holds.",
    ),
]
Every = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Every page, as JSON lines (needs --json; fetched --limit records at a time).",
    ),
]


def list_records(
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
        print_page(list_method(**filters, limit=limit, cursor=cursor), as_json, columns)
        return
    if not as_json:
        raise typer.BadParameter(
            "needs --json (a table of every row is not readable)", None, None, "--all"
        )
    if cursor is not None:
        raise typer.BadParameter("starts at the newest record; drop --cursor", None, None, "--all")
    for item in store.iterate(list_method, page_size=limit, **filters):
        print_json(to_dict(item))


def print_page(
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
    rows = [[cell(data[c]) for c in columns] for data in map(to_dict, page.items)]
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


def cell(value: Any) -> str:
    if value is None:  # a nullable column (a task's worker, its heartbeat): none yet
        return "-"
    if isinstance(value, dict):
        return json.dumps(value)[:60]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


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
        list_records(
            store,
            store.list_campaigns,
            ["id", "name", "status", "created_at"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            status=status,
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
        list_records(
            store,
            store.list_agents,
            ["id", "soul_md_path", "character_reference_id"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign_id_of(store, campaign),
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
        str | None,
        typer.Option(
            "--worker",
            help="Only tasks assigned to this worker (one handed back to pending keeps its "
            "last worker until the next claim: add --status in_progress for what it holds).",
        ),
    ] = None,
    since: Since = None,
    before: Before = None,
    unchanged_since: UnchangedSince = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    as_json: Json = False,
    every: Every = False,
) -> None:
    """Tasks of a campaign, newest first (with --status in_progress: who holds each, and its
    last heartbeat)."""
    columns = ["id", "task_type", "priority", "status", "created_at"]
    if status == "in_progress":  # which are held by Workers that are still alive?
        columns += ["assigned_worker_id", "heartbeat_at"]
    with open_store(ctx) as store:
        list_records(
            store,
            store.list_tasks,
            columns,
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=campaign_id_of(store, campaign),
            status=status,
            task_type=task_type,
            priority=priority,
            assigned_worker_id=assigned_worker_id,
            created_from=parse_time(since, "--since"),
            created_before=parse_time(before, "--before"),
            unchanged_since=parse_time(unchanged_since, "--unchanged-since"),
        )


@assets_app.command("list", epilog=ENV_EPILOG)
@handle_errors
def assets_list(
    ctx: typer.Context,
    campaign: Annotated[str | None, typer.Option("--campaign", help=CAMPAIGN_HELP)] = None,
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
    unchanged_since: UnchangedSince = None,
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
        list_records(
            store,
            store.list_assets,
            ["id", "platform", "tier", "status", "created_at"],
            every=every,
            as_json=as_json,
            limit=limit,
            cursor=cursor,
            campaign_id=None if campaign is None else campaign_id_of(store, campaign),
            agent_id=agent,
            task_id=task,
            status=status,
            platform=platform,
            tier=tier,
            metadata=contains,
            created_from=parse_time(since, "--since"),
            created_before=parse_time(before, "--before"),
            unchanged_since=parse_time(unchanged_since, "--unchanged-since"),
        )
