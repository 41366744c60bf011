"""A campaign named on the command line by its id, the start of its id or its exact name."""

from __future__ import annotations

import json
import uuid

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


def test_commands_that_read_the_campaign_named_report_it(seeded: str) -> None:
    # These read the campaign itself (to say what changed, or to refuse a missing one before
    # reading a file), taking the row the name lookup read.
    updated = cli(seeded, "campaign", "update", "Eco Pledge", "--goal", "a new goal")
    assert updated.exit_code == 0, updated.output
    assert f"campaign {ECO}: updated (version 1 -> 2)" in updated.output, updated.output
    again = cli(seeded, "campaign", "update", ECO[:8], "--goal", "a new goal")
    assert "already had these values (version 2)" in again.output, again.output
    paused = cli(seeded, "campaign", "set-status", "Eco Pledge", "paused")
    assert "campaign 'Eco Pledge': active -> paused" in paused.output, paused.output
    by_id = cli(seeded, "tasks", "export", "--campaign", ECO)
    by_name = cli(seeded, "tasks", "export", "--campaign", "Eco Pledge")
    assert by_id.exit_code == by_name.exit_code == 0, by_name.output
    assert by_name.stdout == by_id.stdout and by_id.stdout.count("\n") > 1
    one = json.loads(by_id.stdout.splitlines()[0])
    copy = json.dumps({**one, "task_id": str(uuid.uuid4())})  # the same task under a new id
    imported = cli(seeded, "tasks", "import", "-", "--campaign", "Summer Drop 2026", input=copy)
    assert imported.exit_code == 0, imported.output
    with psycopg.connect(seeded) as conn:
        row = conn.execute(
            "SELECT campaign_id::text FROM tasks WHERE id = %s", (json.loads(copy)["task_id"],)
        ).fetchone()
    assert row == (SUMMER,)
    before = {table: rows(seeded, table) for table in ("campaigns", "tasks")}
    for args in (
        ("tasks", "export", "--campaign", "No Such Campaign"),
        ("tasks", "import", "-", "--campaign", "No Such Campaign"),
        ("tasks", "import", "-", "--campaign", str(uuid.uuid4())),
        ("campaign", "update", "No Such Campaign", "--name", "x"),
    ):
        result = cli(seeded, *args, input=copy)
        assert result.exit_code == 8, (args, result.output)
        assert result.stdout == "", (args, result.stdout)  # the error goes to stderr
        assert result.output.startswith("error: campaign ") and "not found" in result.output
    assert {table: rows(seeded, table) for table in before} == before
