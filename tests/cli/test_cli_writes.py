"""The commands that write (create/update campaigns and agents, task update, asset
set-metadata): what they store, what they print, and that a refusal writes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from chimera_store.demo import _id
from tests.cli.conftest import cli

CAMPAIGN = str(_id("campaign", 0))


def _row(url: str, sql: str, *params: Any) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return tuple(row)


def test_campaign_create_and_update(db_url: str) -> None:
    made = cli(db_url, "campaign", "create", "Winter", "--goal", "Tease the line", "--json")
    assert made.exit_code == 0, made.output
    campaign = json.loads(made.stdout)
    cid = campaign["id"]
    assert (campaign["name"], campaign["status"], campaign["version"]) == ("Winter", "draft", 1)
    assert _row(db_url, "SELECT goal_description FROM campaigns WHERE id = %s", cid) == (
        "Tease the line",
    )
    human = cli(db_url, "campaign", "create", "Spring", "--goal", "g", "--status", "active")
    assert human.exit_code == 0 and "created campaign 'Spring' (active): " in human.stdout

    changed = cli(db_url, "campaign", "update", cid, "--goal", "Tease it to Gen-Z")
    assert changed.exit_code == 0, changed.output
    assert f"campaign {cid}: updated (version 1 -> 2)" in changed.stdout
    # The same values again: the database keeps the version, and says so.
    same = cli(db_url, "campaign", "update", cid, "--goal", "Tease it to Gen-Z")
    assert same.exit_code == 0 and "nothing changed" in same.stdout
    state = "SELECT name, goal_description, version FROM campaigns WHERE id = %s"
    assert _row(db_url, state, cid) == ("Winter", "Tease it to Gen-Z", 2)

    for args, code, said in (
        ([], 2, "give at least one change"),
        (["--name", " "], 10, "error: --name: must not be empty"),
        (["--goal", "x" * 70_000], 10, "error: --goal: "),
        (["--name", "W", "--expected-version", "1"], 12, "is at version 2, not 1"),
    ):
        refused = cli(db_url, "campaign", "update", cid, *args)
        assert refused.exit_code == code, refused.output
        assert said in refused.output
    assert _row(db_url, state, cid) == ("Winter", "Tease it to Gen-Z", 2)
    bad_status = cli(db_url, "campaign", "create", "X", "--goal", "g", "--status", "done")
    assert bad_status.exit_code == 10 and "error: --status: 'done'" in bad_status.output
    assert _row(db_url, "SELECT count(*) FROM campaigns") == (2,)


def test_agent_create_show_and_update(seeded: str) -> None:
    made = cli(
        seeded,
        "agent",
        "create",
        "--campaign",
        CAMPAIGN,
        "--soul-md-path",
        "agents/juno/SOUL.md",
        "--character-reference",
        "lora:juno-v1",
        "--json",
    )
    assert made.exit_code == 0, made.output
    agent = json.loads(made.stdout)
    assert (agent["campaign_id"], agent["soul_md_path"]) == (CAMPAIGN, "agents/juno/SOUL.md")
    shown = cli(seeded, "agent", "show", agent["id"], "--json")
    assert json.loads(shown.stdout) == agent
    changed = cli(seeded, "agent", "update", agent["id"], "--character-reference", "lora:juno-v2")
    assert changed.exit_code == 0 and "updated" in changed.stdout, changed.output
    state = "SELECT soul_md_path, character_reference_id FROM agents WHERE id = %s"
    assert _row(seeded, state, agent["id"]) == ("agents/juno/SOUL.md", "lora:juno-v2")

    count = "SELECT count(*) FROM agents"
    before = _row(seeded, count)
    unknown = str(uuid.uuid4())
    for args, code, said in (
        (["--campaign", unknown], 9, f"error: --campaign: campaign {unknown} does not exist"),
        (["--campaign", "nope"], 8, "error: campaign 'nope' not found"),  # no such name
        (["--campaign", CAMPAIGN, "--soul-md-path", ""], 10, "error: --soul-md-path: "),
    ):
        full = {"--soul-md-path": "a", "--character-reference": "b"}
        full.update(dict(zip(args[::2], args[1::2], strict=True)))
        refused = cli(seeded, "agent", "create", *[x for kv in full.items() for x in kv])
        assert refused.exit_code == code, refused.output
        assert said in refused.output
    assert _row(seeded, count) == before
    assert cli(seeded, "agent", "update", agent["id"]).exit_code == 2
    assert cli(seeded, "agent", "show", unknown).exit_code == 8
    assert _row(seeded, state, agent["id"]) == ("agents/juno/SOUL.md", "lora:juno-v2")


def test_task_update(seeded: str) -> None:
    tid = str(_id("task", 0))
    state = "SELECT priority, assigned_worker_id, version, status FROM tasks WHERE id = %s"
    priority, worker, version, status = _row(seeded, state, tid)
    target = "low" if priority != "low" else "high"
    moved = cli(seeded, "task", "update", tid, "--priority", target, "--worker", "worker-42")
    assert moved.exit_code == 0, moved.output
    assert f"(version {version} -> {version + 1})" in moved.stdout
    assert _row(seeded, state, tid) == (target, "worker-42", version + 1, status)
    refused = cli(seeded, "task", "update", tid, "--priority", "asap")
    assert refused.exit_code == 10 and "error: --priority: 'asap'" in refused.output
    assert cli(seeded, "task", "update", tid).exit_code == 2
    assert _row(seeded, state, tid) == (target, "worker-42", version + 1, status)
    assert worker != "worker-42"


def test_asset_set_metadata_merges_or_replaces(seeded: str) -> None:
    aid = str(_id("asset", 0))
    (original,) = _row(seeded, "SELECT metadata FROM video_assets WHERE id = %s", aid)
    merged = cli(seeded, "asset", "set-metadata", aid, "duration=31.5", "reviewed=true", "--json")
    assert merged.exit_code == 0, merged.output
    expected = {**original, "duration": 31.5, "reviewed": True}
    assert json.loads(merged.stdout)["metadata"] == expected
    assert _row(seeded, "SELECT metadata FROM video_assets WHERE id = %s", aid) == (expected,)
    for args, said in (
        (["resolution"], "error: metadata: 'resolution' is not KEY=VALUE"),
        (["=1"], "is not KEY=VALUE"),
        (["duration=NaN"], "NaN and Infinity are not valid JSON numbers"),
        (["note=\x00"], "metadata.note: "),
    ):
        refused = cli(seeded, "asset", "set-metadata", aid, *args)
        assert refused.exit_code == 10, refused.output
        assert said in refused.output
    assert _row(seeded, "SELECT metadata FROM video_assets WHERE id = %s", aid) == (expected,)
    unset = cli(seeded, "asset", "set-metadata", aid, "--unset", "reviewed", "--json")
    assert unset.exit_code == 0, unset.output
    expected = {k: val for k, val in expected.items() if k != "reviewed"}
    assert json.loads(unset.stdout)["metadata"] == expected
    for args in ([], ["--unset", "duration", "--replace", "a=1"]):
        assert cli(seeded, "asset", "set-metadata", aid, *args).exit_code == 2
    assert _row(seeded, "SELECT metadata FROM video_assets WHERE id = %s", aid) == (expected,)
    replaced = cli(seeded, "asset", "set-metadata", aid, "resolution=1080x1920", "--replace")
    assert replaced.exit_code == 0 and "metadata replaced" in replaced.stdout
    assert _row(seeded, "SELECT metadata FROM video_assets WHERE id = %s", aid) == (
        {"resolution": "1080x1920"},
    )


def test_a_new_campaign_reports_without_empty_tables(db_url: str) -> None:
    made = cli(db_url, "campaign", "create", "Fresh", "--goal", "g", "--json")
    cid = json.loads(made.stdout)["id"]
    report = cli(db_url, "campaign", "show", cid)
    assert report.exit_code == 0, report.output
    assert "tasks: none yet" in report.stdout and "assets: none yet" in report.stdout
    assert "by status" not in report.stdout and "newest assets" not in report.stdout
    listed = cli(db_url, "assets", "list", "--campaign", cid)
    assert listed.exit_code == 0 and listed.stdout.strip() == "nothing found"
    as_json = cli(db_url, "assets", "list", "--campaign", cid, "--json")
    assert as_json.exit_code == 0 and as_json.stdout == ""


def test_create_with_a_given_id_is_not_repeated(db_url: str) -> None:
    # A provisioning script that runs twice gets an error the second time, not a twin.
    given = str(uuid.uuid4())
    args = ["campaign", "create", "Once", "--goal", "g", "--id", given]
    first = cli(db_url, *args)
    assert first.exit_code == 0 and given in first.stdout, first.output
    again = cli(db_url, *args)
    assert again.exit_code == 10 and again.output.startswith("error: --id: already exists")
    agent = ["agent", "create", "--campaign", given, "--soul-md-path", "a"]
    agent += ["--character-reference", "b", "--id", given]
    assert cli(db_url, *agent).exit_code == 0
    assert cli(db_url, *agent).exit_code == 10
    bad = cli(db_url, "campaign", "create", "Once", "--goal", "g", "--id", "nope")
    assert bad.exit_code == 10 and "error: --id: not a UUID" in bad.output
    assert _row(db_url, "SELECT count(*) FROM campaigns") == (1,)
    assert _row(db_url, "SELECT count(*) FROM agents") == (1,)
