"""A campaign named on the command line by its id, the start of its id or its exact name."""

from __future__ import annotations

import json

import psycopg

from chimera_store.demo import _id
from tests.cli.conftest import cli, rows

SUMMER = str(_id("campaign", 0))  # "Summer Drop 2026" in the demo's sample
ECO = str(_id("campaign", 1))  # "Eco Pledge"


def _campaign_ids(output: str) -> set[str]:
    # A page that is not the last ends with "next cursor: ..." (stderr, mixed in here).
    return {json.loads(line)["campaign_id"] for line in output.splitlines() if line[:1] == "{"}


def test_a_name_or_the_start_of_an_id_lists_the_same_as_the_id(seeded: str) -> None:
    by_id = cli(seeded, "tasks", "list", "--campaign", SUMMER, "--json", "--all")
    assert by_id.exit_code == 0, by_id.output
    assert _campaign_ids(by_id.output) == {SUMMER}
    for ref in ("Summer Drop 2026", SUMMER[:8], SUMMER[:4].upper(), SUMMER[:13]):
        listed = cli(seeded, "tasks", "list", "--campaign", ref, "--json", "--all")
        assert listed.exit_code == 0, (ref, listed.output)
        assert listed.output == by_id.output, ref
    for command in (("agents", "list"), ("assets", "list")):
        listed = cli(seeded, *command, "--campaign", "Eco Pledge", "--json", "--limit", "5")
        assert listed.exit_code == 0, listed.output
        assert _campaign_ids(listed.output) == {ECO}
    shown = cli(seeded, "campaign", "show", "Eco Pledge", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["campaign"]["id"] == ECO


def test_changes_go_to_the_campaign_named(seeded: str) -> None:
    paused = cli(seeded, "campaign", "set-status", "Eco Pledge", "paused")
    assert paused.exit_code == 0, paused.output
    created = cli(
        seeded, "agent", "create", "--campaign", ECO[:6], "--soul-md-path", "s.md",
        "--character-reference", "r", "--json",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["campaign_id"] == ECO
    with psycopg.connect(seeded) as conn:
        statuses = dict(conn.execute("SELECT id::text, status FROM campaigns").fetchall())
    assert statuses[ECO] == "paused" and statuses[SUMMER] == "active"
    purged = cli(seeded, "campaign", "purge", "Eco Pledge", "--yes", "--json")
    assert purged.exit_code == 0, purged.output
    with psycopg.connect(seeded) as conn:
        left = {r[0] for r in conn.execute("SELECT id::text FROM campaigns")}
    assert ECO not in left and SUMMER in left


def test_an_ambiguous_or_unknown_name_changes_nothing(seeded: str) -> None:
    twin = cli(seeded, "campaign", "create", "Eco Pledge", "--goal", "a second one", "--json")
    assert twin.exit_code == 0, twin.output
    twin_id = json.loads(twin.output)["id"]
    before = {table: rows(seeded, table) for table in ("campaigns", "agents", "tasks")}
    for args in (
        ("campaign", "purge", "Eco Pledge", "--yes"),
        ("campaign", "set-status", "Eco Pledge", "archived"),
        ("tasks", "list", "--campaign", "Eco Pledge"),
    ):
        result = cli(seeded, *args)
        assert result.exit_code == 10, (args, result.output)
        assert "'Eco Pledge' names more than one campaign" in result.output, result.output
        assert ECO in result.output and twin_id in result.output and "give its id" in result.output
    # The option is named as the operator typed it.
    listed = cli(seeded, "tasks", "list", "--campaign", "Eco Pledge")
    assert listed.output.startswith("error: --campaign: "), listed.output
    for ref in ("No Such Campaign", "eco pledge", "Eco", SUMMER[:3], "zzzz"):
        result = cli(seeded, "campaign", "purge", ref, "--yes")
        assert result.exit_code == 8, (ref, result.output)
        assert f"campaign {ref!r} not found" in result.output, result.output
    long = cli(seeded, "campaign", "show", "x" * 5_000)  # named, cut short, as a bad value is
    assert long.exit_code == 8 and f"campaign {'x' * 60!r} not found" in long.output, long.output
    assert {table: rows(seeded, table) for table in before} == before
    with psycopg.connect(seeded) as conn:
        statuses = {r[0] for r in conn.execute("SELECT status FROM campaigns")}
    assert "archived" not in statuses
