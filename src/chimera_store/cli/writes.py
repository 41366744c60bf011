"""Operator commands that write: create and change campaigns and agents, re-prioritise or
re-assign a task, correct a video asset's metadata. Each is one data-API call, validated before
any write; status changes stay with the `set-status` commands (checked and recorded).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from chimera_store.cli.common import (
    ENV_EPILOG,
    Json,
    handle_errors,
    open_store,
    out,
    parse_pairs,
    print_json,
)
from chimera_store.cli.data import agent_app, asset_app, campaign_app, print_record, task_app
from chimera_store.cli.refs import CAMPAIGN_FORMS, CAMPAIGN_HELP, campaign_id_of, campaign_of
from chimera_store.records import to_dict

CampaignId = Annotated[str, typer.Argument(help=CAMPAIGN_HELP)]
Goal = Annotated[str, typer.Option("--goal", help="The campaign's goal description.")]
NewId = Annotated[
    str | None,
    typer.Option(
        "--id",
        help="Use this UUID (e.g. from a provisioning script): running the command again then "
        "fails with exit 10 instead of creating a second one. Default: a new one.",
    ),
]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(
        "--expected-version",
        help="Change it only if the record is still at this version (else exit 12).",
    ),
]


def register() -> None:
    for group, name, command in (
        (campaign_app, "create", campaign_create),
        (campaign_app, "update", campaign_update),
        (agent_app, "create", agent_create),
        (agent_app, "show", agent_show),
        (agent_app, "update", agent_update),
        (task_app, "update", task_update),
        (asset_app, "set-metadata", asset_set_metadata),
    ):
        group.command(name, epilog=ENV_EPILOG)(command)


def _report(record: Any, as_json: bool, line: str) -> None:
    if as_json:
        print_json(to_dict(record))
        return
    out.print(line, markup=False)
    print_record(record)


def _at_least_one(values: dict[str, object]) -> None:
    """A change command with nothing to change is a usage error (exit 2), not a silent no-op."""
    if all(value is None for value in values.values()):
        options = " or ".join(f"'{name}'" for name in values)
        raise typer.BadParameter("give at least one change", param_hint=options)


def _changed(kind: str, before: Any, after: Any) -> str:
    if after.version == before.version:
        return (
            f"{kind} {after.id} already had these values (version {after.version}); nothing changed"
        )
    return f"{kind} {after.id}: updated (version {before.version} -> {after.version})"


@handle_errors
def campaign_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    goal_description: Goal,
    status: Annotated[
        str, typer.Option(help="draft, active, paused, completed or archived.")
    ] = "draft",
    new_id: NewId = None,
    as_json: Json = False,
) -> None:
    """Create a campaign; prints its id (the one every other command takes)."""
    with open_store(ctx) as store:
        campaign = store.create_campaign(name, goal_description, status, id=new_id)
    _report(
        campaign, as_json, f"created campaign {campaign.name!r} ({campaign.status}): {campaign.id}"
    )


@handle_errors
def campaign_update(
    ctx: typer.Context,
    campaign_id: CampaignId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    goal_description: Annotated[
        str | None, typer.Option("--goal", help="New goal description.")
    ] = None,
    expected_version: ExpectedVersion = None,
    as_json: Json = False,
) -> None:
    """Change a campaign's name or goal (its status: `campaign set-status`).

    The version goes up by one, so a Judge refuses commits of work started on the old goal.
    """
    _at_least_one({"--name": name, "--goal": goal_description})
    with open_store(ctx) as store:
        before = campaign_of(store, campaign_id)
        after = store.update_campaign(
            before.id,
            name=name,
            goal_description=goal_description,
            expected_version=expected_version,
        )
    _report(after, as_json, _changed("campaign", before, after))


@handle_errors
def agent_create(
    ctx: typer.Context,
    campaign: Annotated[
        str,
        typer.Option(
            "--campaign",
            help=f"Campaign the agent works for: {CAMPAIGN_FORMS}",
        ),
    ],
    soul_md_path: Annotated[
        str, typer.Option("--soul-md-path", help="Path of the agent's SOUL.md (its persona).")
    ],
    character_reference: Annotated[
        str,
        typer.Option("--character-reference", help="Id of its character reference (e.g. a LoRA)."),
    ],
    new_id: NewId = None,
    as_json: Json = False,
) -> None:
    """Create an agent in a campaign; prints its id."""
    with open_store(ctx) as store:
        agent = store.create_agent(
            campaign_id_of(store, campaign), soul_md_path, character_reference, id=new_id
        )
    _report(agent, as_json, f"created agent {agent.id} in campaign {agent.campaign_id}")


@handle_errors
def agent_show(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id.")],
    as_json: Json = False,
) -> None:
    """An agent's configuration."""
    with open_store(ctx) as store:
        agent = store.get_agent(agent_id)
    if as_json:
        print_json(to_dict(agent))
    else:
        print_record(agent)


@handle_errors
def agent_update(
    ctx: typer.Context,
    agent_id: Annotated[str, typer.Argument(help="Agent id.")],
    soul_md_path: Annotated[
        str | None, typer.Option("--soul-md-path", help="New path of its SOUL.md.")
    ] = None,
    character_reference: Annotated[
        str | None, typer.Option("--character-reference", help="New character reference id.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Change an agent's configuration (its persona file or character reference)."""
    _at_least_one({"--soul-md-path": soul_md_path, "--character-reference": character_reference})
    with open_store(ctx) as store:
        agent = store.update_agent(
            agent_id, soul_md_path=soul_md_path, character_reference_id=character_reference
        )
    _report(agent, as_json, f"agent {agent.id}: updated")


@handle_errors
def task_update(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id.")],
    priority: Annotated[
        str | None, typer.Option("--priority", help="New priority: high, medium or low.")
    ] = None,
    assigned_worker_id: Annotated[
        str | None, typer.Option("--worker", help="Worker the task is assigned to.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Re-prioritise a task or assign it to another worker (its status: `task set-status`).

    The version goes up by one, so a Judge refuses a commit based on the task as it was.
    """
    _at_least_one({"--priority": priority, "--worker": assigned_worker_id})
    with open_store(ctx) as store:
        before = store.get_task(task_id)
        after = store.update_task(task_id, priority=priority, assigned_worker_id=assigned_worker_id)
    _report(after, as_json, _changed("task", before, after))


@handle_errors
def asset_set_metadata(
    ctx: typer.Context,
    asset_id: Annotated[str, typer.Argument(help="Asset id.")],
    metadata: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="KEY=VALUE",
            help="Pairs to set; VALUE is JSON if it parses (30, true), else text.",
        ),
    ] = None,
    remove_keys: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="KEY", help="Remove this key (repeatable)."),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="The pairs become the whole document (other keys go)."),
    ] = False,
    as_json: Json = False,
) -> None:
    """Set or remove keys of a video asset's metadata; the other keys stay unless --replace.

    One atomic statement: concurrent changes of other keys by services are kept.
    """
    if not metadata and not remove_keys:
        raise typer.BadParameter(
            "give KEY=VALUE pairs, --unset KEY, or both", param_hint="metadata"
        )
    if replace and remove_keys:
        raise typer.BadParameter(
            "with --replace the pairs are the whole document; drop --unset", param_hint="'--unset'"
        )
    document = parse_pairs(metadata or [], "metadata")
    with open_store(ctx) as store:
        asset = store.update_asset_metadata(
            asset_id, document, merge=not replace, remove_keys=remove_keys or ()
        )
    _report(
        asset, as_json, f"video asset {asset.id}: metadata {'replaced' if replace else 'updated'}"
    )
