"""Every command through Typer's runner on real PostgreSQL: output, --json, paging, exit codes."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import chimera_store
from chimera_store.demo import _id
from chimera_store.migrator import MIGRATION_LOCK_KEY
from chimera_store.revisions import head_revision
from chimera_store.store import Store
from tests.cli.conftest import cli, rows
from tests.helpers import (
    CLI,
    REFUSED_PASSWORD,
    REFUSED_ROLE,
    REPO,
    asset_record,
    refused_login_url,
    run_cli,
)


def test_demo_is_idempotent_and_reports(db_url: str) -> None:
    first = cli(db_url, "demo")
    assert first.exit_code == 0, first.output
    assert "seeded the sample" in first.output and "Summer Drop 2026" in first.output
    assert "assets by platform" in first.output
    counts = {t: rows(db_url, t) for t in ("campaigns", "agents", "tasks", "video_assets")}
    assert counts == {"campaigns": 3, "agents": 12, "tasks": 200, "video_assets": 1000}
    second = cli(db_url, "demo")
    assert second.exit_code == 0 and "nothing added" in second.output
    assert {t: rows(db_url, t) for t in counts} == counts


def test_demo_sample_agrees_with_the_life_cycles(seeded: str) -> None:
    """The sample is played through the API: an asset's status fits its task's, every record
    that left its first status has the moves in its history, and the draft campaign is idle."""
    fits = {
        "pending": {"rejected"},  # rejected by the Judge, sent back to the Planner
        "in_progress": {"draft"},
        "review": {"judge_pending"},
        "complete": {"approved", "published", "rejected"},
    }
    with psycopg.connect(seeded) as conn:
        pairs = conn.execute(
            "SELECT t.status, a.status, count(*) FROM video_assets a "
            "JOIN tasks t ON t.id = a.task_id GROUP BY 1, 2"
        ).fetchall()
        # The last move recorded for each record, against its status (NULL: no history).
        unexplained = conn.execute(
            "SELECT 'task', t.status, h.to_status FROM tasks t LEFT JOIN LATERAL ("
            " SELECT to_status FROM task_status_history WHERE task_id = t.id"
            " ORDER BY id DESC LIMIT 1) h ON true"
            " WHERE h.to_status IS DISTINCT FROM t.status"
            "   AND NOT (t.status = 'pending' AND h.to_status IS NULL)"
            " UNION ALL "
            "SELECT 'asset', a.status, h.to_status FROM video_assets a LEFT JOIN LATERAL ("
            " SELECT to_status FROM asset_status_history WHERE asset_id = a.id"
            " ORDER BY id DESC LIMIT 1) h ON true"
            " WHERE h.to_status IS DISTINCT FROM a.status"
            "   AND NOT (a.status = 'draft' AND h.to_status IS NULL)"
        ).fetchall()
        idle = conn.execute(
            "SELECT array_agg(DISTINCT t.status), count(a.id), count(t.assigned_worker_id) "
            "FROM tasks t LEFT JOIN video_assets a ON a.task_id = t.id "
            "WHERE t.campaign_id = %s",
            (_id("campaign", 2),),
        ).fetchone()
        workers = conn.execute(
            "SELECT count(*) FROM tasks WHERE status <> 'pending' AND assigned_worker_id IS NULL"
        ).fetchone()
    assert {(t, a) for t, a, _n in pairs if a not in fits[t]} == set()
    assert {t for t, _a, _n in pairs} == set(fits)  # every stage is in the sample
    assert unexplained == []
    assert idle == (["pending"], 0, 0) and workers == (0,)


def test_campaigns_list_json(seeded: str) -> None:
    result = cli(seeded, "campaigns", "list", "--json")
    assert result.exit_code == 0
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(items) == 3
    assert set(items[0]) == {
        "id",
        "name",
        "goal_description",
        "status",
        "created_at",
        "updated_at",
        "version",
    }
    # Times in strict ISO 8601 (a `T`, not the space `str()` gives), the instant the API has.
    with Store.open(seeded) as store:
        stored = {str(c.id): c.created_at for c in store.list_campaigns().items}
    for item in items:
        when = datetime.strptime(item["created_at"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert when == stored[item["id"]]


def test_campaign_show_json(seeded: str) -> None:
    result = cli(seeded, "campaign", "show", str(_id("campaign", 0)), "--json")
    data = json.loads(result.stdout)
    assert data["campaign"]["name"] == "Summer Drop 2026"
    assert sum(data["assets_by_status"].values()) > 0
    table = cli(seeded, "campaign", "show", str(_id("campaign", 0)))
    assert table.exit_code == 0, table.output
    for heading in ("tasks by status", "assets by platform", "newest assets"):
        assert heading in table.stdout


def test_assets_list_filters_and_paging(seeded: str) -> None:
    cid = str(_id("campaign", 0))
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(50):
        result = cli(
            seeded,
            "assets",
            "list",
            "--campaign",
            cid,
            "--platform",
            "tiktok",
            "--metadata",
            "resolution=1080x1920",
            "--limit",
            "20",
            "--json",
            *cursor,
        )
        assert result.exit_code == 0, result.output
        page = [json.loads(line) for line in result.stdout.splitlines()]
        assert all(
            a["platform"] == "tiktok" and a["metadata"]["resolution"] == "1080x1920" for a in page
        )
        seen.extend(a["id"] for a in page)
        more = [line for line in result.stderr.splitlines() if line.startswith("next cursor: ")]
        if not more:
            break
        cursor = ["--cursor", more[0].removeprefix("next cursor: ")]
    with psycopg.connect(seeded) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM video_assets WHERE campaign_id = %s AND platform = 'tiktok' "
            'AND metadata @> \'{"resolution": "1080x1920"}\'',
            (cid,),
        ).fetchone()
    assert expected is not None and len(seen) == len(set(seen)) == expected[0] > 20
    # --all streams the same records in one command, newest first, without a cursor line.
    filters = ["--platform", "tiktok", "--metadata", "resolution=1080x1920"]
    every = cli(
        seeded, "assets", "list", "--campaign", cid, *filters, "--limit", "7", "--all", "--json"
    )
    assert every.exit_code == 0, every.output
    assert [json.loads(line)["id"] for line in every.stdout.splitlines()] == seen
    assert "next cursor" not in every.stderr
    for extra in ([], ["--json", "--cursor", cursor[-1] if cursor else "x"]):
        refused = cli(seeded, "assets", "list", "--campaign", cid, "--all", *extra)
        assert refused.exit_code == 2 and "--all" in refused.output


def test_tasks_and_agents_lists(seeded: str) -> None:
    cid = str(_id("campaign", 0))
    result = cli(seeded, "tasks", "list", "--campaign", cid, "--status", "review", "--json")
    tasks = [json.loads(line) for line in result.stdout.splitlines()]
    assert tasks and all(t["status"] == "review" for t in tasks)
    worker = tasks[0]["assigned_worker_id"]
    result = cli(seeded, "tasks", "list", "--campaign", cid, "--worker", worker, "--json")
    theirs = [json.loads(line) for line in result.stdout.splitlines()]
    assert theirs and all(t["assigned_worker_id"] == worker for t in theirs)
    with psycopg.connect(seeded) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM tasks WHERE campaign_id = %s AND assigned_worker_id = %s",
            (cid, worker),
        ).fetchone()
    assert expected == (len(theirs),)
    result = cli(seeded, "agents", "list", "--campaign", cid)
    assert result.exit_code == 0 and "SOUL.md" in result.stdout


def test_show_with_history_and_export_import_round_trip(seeded: str, db_url: str) -> None:
    tid = str(_id("task", 0))
    shown = cli(seeded, "task", "show", tid, "--json")
    assert shown.exit_code == 0, shown.output
    task = json.loads(shown.stdout)
    moves = [(h["from_status"], h["to_status"]) for h in task["history"]]
    assert moves and moves[0][0] == "pending" and moves[-1][1] == task["status"]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(moves))
    with psycopg.connect(db_url) as conn:
        counted = dict(
            conn.execute(
                "SELECT status, count(*) FROM video_assets WHERE task_id = %s GROUP BY status",
                (tid,),
            ).fetchall()
        )
    assert counted and task["assets_by_status"] == counted
    table = cli(seeded, "task", "show", tid)
    assert "status history" in table.stdout and "worker-" in table.stdout
    assert (
        "assets by status: "
        + ", ".join(
            f"{counted[s]} {s}"
            for s in ("draft", "judge_pending", "approved", "published", "rejected")
            if s in counted
        )
        in table.stdout
    )
    idle = cli(seeded, "task", "show", str(_id("task", 3)))  # in the draft campaign
    assert idle.exit_code == 0 and "status history: none" in idle.stdout
    assert "assets by status: none" in idle.stdout
    exported = cli(seeded, "task", "export", tid)
    payload = json.loads(exported.stdout)
    assert payload["task_id"] == tid
    new_campaign = str(_id("campaign", 1))
    payload["task_id"] = str(uuid.uuid4())
    imported = cli(
        seeded, "tasks", "import", "-", "--campaign", new_campaign, input=json.dumps(payload) + "\n"
    )
    assert imported.exit_code == 0, imported.output
    again = json.loads(cli(seeded, "task", "export", payload["task_id"]).stdout)
    assert again == payload
    # The schema the CLI prints (for Planners in other languages) accepts the export and refuses
    # a payload without its goal.
    import jsonschema

    schema = json.loads(cli(seeded, "task", "schema").stdout)
    jsonschema.validate(again, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**again, "context": {"persona_constraints": []}}, schema)
    asset = cli(seeded, "asset", "show", str(_id("asset", 0)), "--json")
    assert asset.exit_code == 0 and "metadata" in json.loads(asset.stdout)


def test_a_campaigns_tasks_export_and_replay_exactly(seeded: str) -> None:
    source = str(_id("campaign", 1))

    def tasks_of(campaign: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(seeded) as conn:
            return conn.execute(
                "SELECT id, task_type, priority, status, context, created_at, assigned_worker_id "
                "FROM tasks WHERE campaign_id = %s ORDER BY id",
                (campaign,),
            ).fetchall()

    stored = tasks_of(source)
    exported = cli(seeded, "tasks", "export", "--campaign", source)
    assert exported.exit_code == 0, exported.output
    payloads = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(p["task_id"] for p in payloads) == sorted(str(t[0]) for t in stored)
    review = cli(seeded, "tasks", "export", "--campaign", source, "--status", "review")
    in_review = [json.loads(line) for line in review.stdout.splitlines()]
    assert in_review and {p["status"] for p in in_review} == {"review"}
    # The campaign goes (with its assets and history); its tasks come back in a new one.
    assert cli(seeded, "campaign", "purge", source, "--yes").exit_code == 0
    target = json.loads(cli(seeded, "campaign", "create", "Again", "--goal", "g", "--json").stdout)
    replayed = cli(
        seeded, "tasks", "import", "-", "--campaign", target["id"], input=exported.stdout
    )
    assert replayed.exit_code == 0, replayed.output
    assert tasks_of(target["id"]) == stored
    missing = cli(seeded, "tasks", "export", "--campaign", source)
    assert missing.exit_code == 8 and missing.stdout == ""


def test_import_is_all_or_nothing(seeded: str) -> None:
    before = rows(seeded, "tasks")
    good = json.loads(cli(seeded, "task", "export", str(_id("task", 1))).stdout)
    lines = []
    for _ in range(3):
        lines.append(json.dumps({**good, "task_id": str(uuid.uuid4())}))
    lines.append(json.dumps({**good, "task_id": str(uuid.uuid4()), "priority": "urgent"}))

    def import_tasks(text: str) -> Any:
        return cli(
            seeded, "tasks", "import", "-", "--campaign", str(_id("campaign", 0)), input=text
        )

    result = import_tasks("\n".join(lines))
    assert result.exit_code == 10
    assert "line 4" in result.output and "priority" in result.output
    assert rows(seeded, "tasks") == before
    # Blank lines count as lines: the error names where the record is in the file.
    result = import_tasks("\n\n".join(lines))
    assert result.exit_code == 10 and "line 7:" in result.output
    assert rows(seeded, "tasks") == before
    # A task stored already (the same file imported twice): the server refuses it, by its line.
    result = import_tasks("\n".join([*lines[:2], json.dumps(good)]))
    assert result.exit_code == 10, result.output
    assert "line 3:" in result.output and "already exists" in result.output
    assert rows(seeded, "tasks") == before


def _asset_record() -> dict[str, Any]:
    """One valid line of an assets import, for the demo's first agent and task."""
    return asset_record(str(_id("agent", 0)), str(_id("task", 0)))


def test_assets_import_names_bad_line(seeded: str, tmp_path: Path) -> None:
    before = rows(seeded, "video_assets")
    base = _asset_record()
    path = tmp_path / "assets.jsonl"
    path.write_text("\n".join([json.dumps(base)] * 4 + [json.dumps({**base, "metadata": []})]))
    result = cli(seeded, "assets", "import", str(path))
    assert result.exit_code == 10 and "line 5:" in result.output
    assert rows(seeded, "video_assets") == before
    # Blank lines before it: still its line. A record the server refuses (unknown task) is
    # named by its line too.
    path.write_text(
        "\n" + "\n\n".join([json.dumps(base)] * 4 + [json.dumps({**base, "metadata": []})])
    )
    result = cli(seeded, "assets", "import", str(path))
    assert result.exit_code == 10 and "line 10:" in result.output
    unknown_task = {**base, "task_id": str(uuid.uuid4())}
    path.write_text("\n".join([json.dumps(base)] * 2 + ["", json.dumps(unknown_task)]))
    result = cli(seeded, "assets", "import", str(path))
    assert result.exit_code == 9 and "line 4:" in result.output and "task" in result.output
    assert rows(seeded, "video_assets") == before
    path.write_text("\n".join([json.dumps(base)] * 4))
    assert cli(seeded, "assets", "import", str(path)).exit_code == 0
    assert rows(seeded, "video_assets") == before + 4


def test_a_listing_fed_to_assets_import_is_refused_with_what_to_do(seeded: str) -> None:
    # `assets list --json` prints stored records; their database-set fields were "unknown
    # asset field", which read as if the listing were broken.
    before = rows(seeded, "video_assets")
    listing = cli(seeded, "assets", "list", "--agent", str(_id("agent", 0)), "--json")
    assert listing.exit_code == 0 and listing.stdout.count("\n") >= 2
    result = cli(seeded, "assets", "import", "-", input=listing.stdout)
    assert result.exit_code == 10, result.output
    assert "line 1: campaign_id: set by the database, not by a new asset" in result.output
    assert "campaign export" in result.output
    assert rows(seeded, "video_assets") == before


def test_import_of_a_file_that_is_not_utf8_text(seeded: str, tmp_path: Path) -> None:
    # It was an internal error (exit 70) from the decoder, with no line.
    before = rows(seeded, "video_assets")
    line = json.dumps(_asset_record()).encode()
    path = tmp_path / "assets.jsonl"
    path.write_bytes(line + b"\n\n" + b'{"platform": "tik\xfftok"}\n')
    result = cli(seeded, "assets", "import", str(path))
    assert result.exit_code == 10, result.output
    assert "line 3: not UTF-8 text" in result.output and "Traceback" not in result.output
    assert rows(seeded, "video_assets") == before
    # A file saved with a byte-order mark (Windows tools) is read, not refused.
    path.write_bytes(b"\xef\xbb\xbf" + line + b"\n" + line + b"\n")
    result = cli(seeded, "assets", "import", str(path))
    assert result.exit_code == 0, result.output
    assert rows(seeded, "video_assets") == before + 2


def test_migration_targets_that_do_not_exist(db_url: str) -> None:
    assert cli(db_url, "migrate").exit_code == 0
    for args, named in (
        (["migrate", "--to", "bogus"], "--to:"),  # was "revision:", an option it does not have
        (["downgrade", "bogus"], "revision:"),
        (["downgrade", "+1"], "revision:"),
    ):
        result = cli(db_url, *args)  # was an internal error (exit 70)
        assert result.exit_code == 10, result.output
        assert result.output.startswith(f"error: {named} ")
        assert "known: 0001_schema" in result.output
    status = json.loads(cli(db_url, "status", "--json").stdout)
    assert status["current"] == [status["head"]]
    same = cli(db_url, "downgrade", status["head"])  # said "downgraded X -> X"
    assert same.exit_code == 0 and "nothing to do" in same.output


def test_purge_guard(seeded: str) -> None:
    cid = str(_id("campaign", 2))
    before = rows(seeded, "campaigns")
    dry = cli(seeded, "campaign", "purge", cid)
    assert dry.exit_code == 14 and "would delete" in dry.output
    assert rows(seeded, "campaigns") == before
    done = cli(seeded, "campaign", "purge", cid, "--yes")
    assert done.exit_code == 0 and rows(seeded, "campaigns") == before - 1
    assert done.stdout.startswith("deleted campaign 'Creator Fund Teaser': ")
    assert "agents, 50 tasks, 0 assets, 0 history entries" in done.stdout
    other = str(_id("campaign", 1))
    assets = rows(seeded, "video_assets")
    as_json = cli(seeded, "campaign", "purge", other, "--yes", "--json")
    assert as_json.exit_code == 0, as_json.output
    counts = json.loads(as_json.stdout)
    assert counts["campaigns"] == 1 and counts["video_assets"] == assets - rows(
        seeded, "video_assets"
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["task", "show", str(uuid.UUID(int=1))], 8),
        (["task", "show", "not-a-uuid"], 10),
        (["tasks", "list", "--campaign", str(uuid.UUID(int=1)), "--status", "done"], 10),
        (["campaign", "purge", str(uuid.UUID(int=1)), "--yes"], 8),
    ],
)
def test_exit_codes(db_url: str, args: list[str], code: int) -> None:
    result = cli(db_url, *args)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and "error:" in result.output


def test_version_names_the_package_and_its_schema_head() -> None:
    # No database is touched: an unreachable URL does not matter.
    result = run_cli("--version", url="postgresql://nobody@127.0.0.1:1/x")
    assert result.returncode == 0, result.stderr
    installed = importlib.metadata.version("chimera-store")
    assert installed == chimera_store.__version__
    assert result.stdout == f"chimera-store {installed} (schema head {head_revision()})\n"


def test_data_commands_on_a_database_never_migrated(empty_db_url: str) -> None:
    for args in (["campaigns", "list"], ["task", "show", str(uuid.UUID(int=1))]):
        result = cli(empty_db_url, *args)
        assert result.exit_code == 5, result.output
        assert "no chimera-store schema; run `chimera-store migrate`" in result.output


def test_unreachable_and_bad_url_exit_codes() -> None:
    bad = run_cli("status", url="postgresql://nobody:hunter2@127.0.0.1:1/x")
    assert bad.returncode == 4 and "hunter2" not in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr
    parse = run_cli("status", url="postgresql://u:hunter2@[::1/x?sslmode=bogus")
    assert parse.returncode in (3, 4) and "hunter2" not in parse.stderr + parse.stdout


def test_login_refused_by_the_server(db_url: str) -> None:
    """A real refusal from the server (no such role): exit 4, said plainly, password never shown."""
    refused = refused_login_url(db_url)
    for command in (["status"], ["campaigns", "list"]):  # direct connection, and the pool
        result = run_cli(*command, url=refused)
        assert result.returncode == 4, result.stderr
        # One line: no pool retry warnings before it.
        assert result.stderr.startswith("error: login refused:"), result.stderr
        assert result.stderr.count("\n") == 1 and REFUSED_ROLE in result.stderr
        assert REFUSED_PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("as_json", [True, False])
def test_output_into_a_closed_pipe_ends_quietly(seeded: str, as_json: bool) -> None:
    # `chimera-store assets list ... | head -1`: the JSON path was an internal error (exit 70),
    # Rich's own handling exited 1 (which means "differences" here).
    cid = str(_id("campaign", 0))
    args = ["assets", "list", "--campaign", cid, "--limit", "1000"] + (
        ["--json"] if as_json else []
    )
    proc = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # 80 columns: the expanded layout, 220 KB, far more than a pipe holds (as a 100-column
        # table it was 76 KB, which a pipe and the reader's buffer could all but take).
        env={**os.environ, "CHIMERA_DATABASE_URL": seeded, "COLUMNS": "80"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # the reader takes one line and goes away
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, stderr
    assert stderr == ""


def test_ctrl_c_during_an_import_ends_with_130_and_writes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    # An operator's Ctrl-C while an import's COPY runs: one line, exit 130, no traceback, and
    # the import's transaction rolled back (all or nothing holds when cut short, too).
    with Store.open(db_url, max_size=1) as store:
        c = store.create_campaign("Interrupted", "g", "active")
        a = store.create_agent(c.id, "a/SOUL.md", "r")
        t = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
    line = json.dumps(
        {"agent_id": str(a.id), "task_id": str(t.id), "platform": "tiktok", "tier": "tier1"}
        | {"character_reference_id": "r", "metadata": {"resolution": "1080x1920"}}
    )
    source = tmp_path / "assets.jsonl"
    source.write_text((line + "\n") * 400_000)
    proc = subprocess.Popen(
        [*CLI, "assets", "import", str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHIMERA_DATABASE_URL": db_url},
    )
    with psycopg.connect(db_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            copying = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' "
                "AND state = 'active' AND datname = current_database()"
            ).fetchone()
            if copying and copying[0]:
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the import's COPY was never seen running")
        time.sleep(0.2)  # well into the COPY
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130, stderr
        assert stderr == "error: interrupted\n"
        count = watcher.execute("SELECT count(*) FROM video_assets WHERE task_id = %s", (t.id,))
        assert count.fetchone() == (0,)


def test_lists_take_a_time_window(db_url: str) -> None:
    hours = [datetime(2026, 11, 1, h, tzinfo=UTC) for h in range(4)]
    with Store.open(db_url) as store:
        c = store.create_campaign("Window", "g", "active")
        a = store.create_agent(c.id, "souls/a/SOUL.md", "r")
        tasks = [
            store.create_task(c.id, "reply_comment", "low", {"goal_description": "x"}, created_at=h)
            for h in hours
        ]
        asset = store.create_asset(a.id, tasks[0].id, "tiktok", "tier1", "r")

    def listed(*args: str) -> list[str]:
        result = cli(db_url, *args, "--json")
        assert result.exit_code == 0, result.output
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    # Without an offset the times are UTC, as the lists print them; --before is exclusive.
    window = listed("tasks", "list", "--campaign", str(c.id), "--since", "2026-11-01T01:00")
    assert window == [str(t.id) for t in reversed(tasks[1:])]
    window = listed(
        "tasks", "list", "--campaign", str(c.id), "--since", "2026-11-01T03:00+02:00",
        "--before", "2026-11-01T02:00:00Z",
    )  # fmt: skip
    assert window == [str(tasks[1].id)]
    assert listed("assets", "list", "--agent", str(a.id), "--since", "2026-11-02") == [
        str(asset.id)  # created now
    ]
    assert listed("assets", "list", "--agent", str(a.id), "--before", "2026-11-02") == []
    for option in ("--since", "--before"):
        bad = cli(db_url, "assets", "list", "--campaign", str(c.id), option, "last week")
        assert bad.exit_code == 10
        assert bad.output.startswith(
            f"error: {option}: 'last week' is neither an ISO 8601 date or time nor a duration ago"
        )


def test_lists_find_what_has_not_moved_for_a_while(db_url: str) -> None:
    """`--unchanged-since 1h --status in_progress`: the tasks a worker that died still holds;
    times also as a duration ago (30m, 2h, 7d)."""
    old = datetime.now(UTC) - timedelta(hours=3)
    with Store.open(db_url) as store:
        c = store.create_campaign("Stuck", "g", "active")
        a = store.create_agent(c.id, "souls/a/SOUL.md", "r")
        goal = {"goal_description": "x"}
        held = store.create_task(c.id, "reply_comment", "low", goal, status="in_progress",
                                 created_at=old)  # fmt: skip
        moving = store.create_task(c.id, "reply_comment", "low", goal, created_at=old)
        store.transition_task(moving.id, "in_progress", actor="w")  # moved just now
        store.create_task(c.id, "reply_comment", "low", goal, status="in_progress")  # new
        waiting = store.create_asset(a.id, held.id, "tiktok", "tier1", "r", status="judge_pending")

    def listed(*args: str) -> list[str]:
        result = cli(db_url, *args, "--json")
        assert result.exit_code == 0, result.output
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    stuck = listed("tasks", "list", "--campaign", str(c.id), "--status", "in_progress",
                   "--unchanged-since", "1h")  # fmt: skip
    assert stuck == [str(held.id)]
    # The table of tasks in progress says who holds each and its last heartbeat.
    with Store.open(db_url) as store:
        store.heartbeat_task(moving.id, task_version=store.get_task(moving.id).version)
    table = cli(db_url, "tasks", "list", "--campaign", str(c.id), "--status", "in_progress")
    assert table.exit_code == 0 and "heartbeat_at" in table.stdout and "worker" in table.stdout
    assert listed("tasks", "list", "--campaign", str(c.id), "--since", "2h") != []
    assert len(listed("tasks", "list", "--campaign", str(c.id), "--before", "2h")) == 2
    # The asset was created now: nothing of it is an hour old yet.
    assert listed("assets", "list", "--task", str(held.id), "--unchanged-since", "1h") == []
    assert listed("assets", "list", "--task", str(held.id), "--unchanged-since",
                  (datetime.now(UTC) + timedelta(minutes=1)).isoformat()) == [str(waiting.id)]  # fmt: skip
    for bad in ("1y", "-2h", "h"):
        refused = cli(db_url, "tasks", "list", "--campaign", str(c.id), "--unchanged-since", bad)
        assert refused.exit_code == 10
        assert refused.output.startswith(f"error: --unchanged-since: '{bad}' is neither")


def test_status_prints_each_field_on_one_line(db_url: str) -> None:
    assert cli(db_url, "migrate").exit_code == 0
    # Longer than the 80 columns the runner's console has: a table folded it mid-URL.
    name = "s" * 60
    result = cli(make_conninfo(db_url, application_name=name), "status")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["chimera-store", chimera_store.__version__]
    assert lines[1].startswith("database ") and f"application_name={name}" in lines[1]
    assert lines[2].startswith("server ") and "PostgreSQL" in lines[2]
    assert lines[4].split() == ["head", head_revision()]
    data = json.loads(cli(db_url, "status", "--json").stdout)
    assert data["chimera_store_version"] == chimera_store.__version__
    assert lines[-1].split() == ["rows", "in", "video_assets", "0"]


def test_url_masks_password() -> None:
    url = "postgresql://svc:s3cr3t-pw@db.internal:5432/chimera"
    masked = run_cli("url", url=url)
    assert masked.stdout.strip() == "postgresql://svc:***@db.internal:5432/chimera"
    shown = run_cli("url", "--show-password", url=url)
    assert shown.stdout.strip() == url


def test_status_during_a_migration_says_so_and_does_not_hang(db_url: str, admin_url: str) -> None:
    """An operator runs `status` while a migration holds the migration lock and a table
    exclusively: it names the migration and reports that table as locked instead of waiting."""
    assert cli(db_url, "migrate").exit_code == 0
    # Advisory locks are per database: another database's migration is not this one's.
    with psycopg.connect(admin_url) as elsewhere:
        elsewhere.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        assert json.loads(cli(db_url, "status", "--json").stdout)["migration_running"] is None
        elsewhere.rollback()
    with psycopg.connect(db_url, application_name="a slow migration") as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        holder.execute("LOCK TABLE video_assets IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        started = time.monotonic()
        shown = cli(db_url, "status")
        data = json.loads(cli(db_url, "status", "--json").stdout)
        took = time.monotonic() - started
        holder.rollback()
    assert shown.exit_code == 0, shown.output
    assert f"running: pid {pid}" in shown.output and "'a slow migration'" in shown.output
    assert "rows in video_assets" in shown.output and "locked" in shown.output
    assert data["migration_running"]["pid"] == pid
    assert data["row_counts"]["video_assets"] is None and data["row_counts"]["tasks"] == 0
    assert took < 30  # two runs of about 2 s each, not a wait for the lock
    after = json.loads(cli(db_url, "status", "--json").stdout)
    assert after["migration_running"] is None and after["row_counts"]["video_assets"] == 0


def test_every_command_has_help_naming_environment() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    import gen_cli_docs

    for path, text in gen_cli_docs.walk([]):
        assert "Usage:" in text
        if path and not gen_cli_docs.subcommands(text):
            assert "CHIMERA_DATABASE_URL" in text, path
            description = text.split("\n\n")[1].strip()
            assert description and not description.startswith("Options"), path


def test_command_lists_read_in_an_operators_order() -> None:
    sys.path.insert(0, str(REPO / "tools"))
    import gen_cli_docs

    # Registered by two modules, `create` came after `show` and `update` after `purge`.
    listed = gen_cli_docs.subcommands(gen_cli_docs.help_text(["campaign"]))
    # Import beside create (both make a campaign), export beside show (both read one).
    assert listed == ["import", "create", "show", "export", "update", "set-status", "purge"]
    for path, text in gen_cli_docs.walk([]):
        # A summary is the help's first sentence: "Change its status, e.g. pause it" was cut
        # to "Change its status, e.g." in the list of commands.
        for line in text.split("Commands:")[-1].splitlines() if "Commands:" in text else []:
            assert not line.rstrip().endswith(("e.g.", "i.e.", "etc.")), (path, line)


def test_cli_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _age_everything(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE tasks SET created_at = created_at - interval '400 days'")


def test_clean_dry_run_archive_and_in_flight_untouched(seeded: str, tmp_path: Path) -> None:
    _age_everything(seeded)
    with psycopg.connect(seeded) as conn:
        expected = conn.execute(
            "SELECT count(*) FROM tasks t WHERE status = 'complete' AND NOT EXISTS ("
            "SELECT 1 FROM video_assets a WHERE a.task_id = t.id "
            "AND a.status NOT IN ('published', 'rejected'))"
        ).fetchone()
        in_flight = conn.execute("SELECT count(*) FROM tasks WHERE status <> 'complete'").fetchone()
    assert expected is not None and expected[0] > 0 and in_flight is not None
    before = rows(seeded, "tasks")
    dry = cli(seeded, "clean", "--before", "2100-01-01", "--dry-run")
    assert dry.exit_code == 0 and f"would remove {expected[0]:,} tasks" in dry.output
    assert rows(seeded, "tasks") == before
    archive = tmp_path / "archive.jsonl"
    done = cli(
        seeded, "clean", "--before", "2100-01-01", "--archive", str(archive), "--batch-size", "7"
    )
    assert done.exit_code == 0, done.output
    assert rows(seeded, "tasks") == before - expected[0]
    records = [json.loads(line) for line in archive.read_text().splitlines()]
    assert len(records) == expected[0]
    assert all(r["task"]["status"] == "complete" for r in records)
    assert all("T" in r["task"]["created_at"] for r in records)  # ISO 8601, as the lists
    with psycopg.connect(seeded) as conn:
        left = conn.execute("SELECT count(*) FROM tasks WHERE status <> 'complete'").fetchone()
    assert left == in_flight  # work in flight is never touched


def test_clean_archive_that_cannot_be_written(seeded: str, tmp_path: Path) -> None:
    _age_everything(seeded)
    before = rows(seeded, "tasks")
    # A directory (cannot open) and /dev/full (every write fails: a full disk). Both were
    # internal errors; a failed write must also keep the batch it was archiving.
    for target in (str(tmp_path), "/dev/full"):
        result = cli(seeded, "clean", "--before", "2100-01-01", "--archive", target)
        assert result.exit_code == 10, result.output
        assert "--archive: cannot write" in result.output and "Traceback" not in result.output
        assert rows(seeded, "tasks") == before


def test_clean_respects_cutoff(seeded: str) -> None:
    before = rows(seeded, "tasks")
    result = cli(seeded, "clean", "--before", "2000-01-01")
    assert result.exit_code == 0 and rows(seeded, "tasks") == before
    bad = cli(seeded, "clean", "--before", "yesterday")
    assert bad.exit_code == 10 and "--before" in bad.output


def test_psql_opens_on_the_database(db_url: str) -> None:
    result = run_cli("psql", "--", "-At", "-c", "SELECT count(*) FROM campaigns", url=db_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def _run_in_terminal(args: list[str], url: str) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its stdout and stderr; return (exit code, output)."""
    import os
    import pty

    controller, terminal = pty.openpty()
    env = {**os.environ, "CHIMERA_DATABASE_URL": url, "TERM": "xterm-256color", "COLUMNS": "120"}
    for name in ("NO_COLOR", "CI", "FORCE_COLOR", "TTY_COMPATIBLE"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chimera_store", *args],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal_only(seeded: str, tmp_path: Path) -> None:
    base = _asset_record()
    path = tmp_path / "assets.jsonl"
    path.write_text("\n".join([json.dumps(base)] * 500))
    before = rows(seeded, "video_assets")
    code, output = _run_in_terminal(["assets", "import", str(path)], seeded)
    assert code == 0, output
    # Rich drew the bar (its label and cursor/erase sequences), then the result line.
    assert "importing" in output and "\x1b[" in output
    assert "imported 500 assets" in output
    assert rows(seeded, "video_assets") == before + 500
    piped = run_cli("assets", "import", str(path), url=seeded)
    assert piped.returncode == 0
    assert "importing" not in piped.stderr + piped.stdout and "\x1b[" not in piped.stderr


def test_lists_too_wide_for_the_terminal_are_shown_expanded(seeded: str) -> None:
    campaign = str(_id("campaign", 0))
    args = ("assets", "list", "--campaign", campaign, "--limit", "3")
    narrow = run_cli(*args, url=seeded, COLUMNS="80")
    assert narrow.returncode == 0, narrow.stderr
    lines = narrow.stdout.splitlines()
    # psql's `\x auto`: one block per record, every line within the width, ids whole.
    assert [line.split()[1] for line in lines if line.startswith("record ")] == ["1", "2", "3"]
    assert all(len(line) <= 80 for line in lines if not line.startswith("more: --cursor"))
    ids = [line.split()[1] for line in lines if line.startswith("id ")]
    assert len(ids) == 3 and all(uuid.UUID(i) for i in ids)
    wide = run_cli(*args, url=seeded, COLUMNS="250")
    assert wide.returncode == 0 and "record 1" not in wide.stdout
    assert all(i in wide.stdout for i in ids)  # the same page, as a table


def test_campaign_set_status(seeded: str) -> None:
    cid = str(_id("campaign", 0))

    def state() -> tuple[str, int]:
        with psycopg.connect(seeded) as conn:
            row = conn.execute("SELECT status, version FROM campaigns WHERE id = %s", (cid,))
            found = row.fetchone()
        assert found is not None
        return found[0], found[1]

    status, version = state()
    assert status == "active"
    paused = run_cli("campaign", "set-status", cid, "paused", url=seeded)
    assert paused.returncode == 0, paused.stderr
    assert f"active -> paused (version {version} -> {version + 1})" in paused.stdout
    assert state() == ("paused", version + 1)
    again = run_cli("campaign", "set-status", cid, "paused", url=seeded)
    assert again.returncode == 0 and "already paused" in again.stdout
    assert state() == ("paused", version + 1)  # no update: commits based on it stay valid
    bad = run_cli("campaign", "set-status", cid, "sleeping", url=seeded)
    assert bad.returncode == 10 and "status" in bad.stderr and "Traceback" not in bad.stderr
    stale = run_cli(
        "campaign", "set-status", cid, "active", "--expected-version", str(version), url=seeded
    )
    assert stale.returncode == 12 and "version" in stale.stderr
    missing = run_cli("campaign", "set-status", str(uuid.uuid4()), "active", url=seeded)
    assert missing.returncode == 8
    assert state() == ("paused", version + 1)  # none of the refusals wrote anything
    resumed = run_cli(
        "campaign",
        "set-status",
        cid,
        "active",
        "--expected-version",
        str(version + 1),
        "--json",
        url=seeded,
    )
    assert resumed.returncode == 0 and json.loads(resumed.stdout)["status"] == "active"
    assert state() == ("active", version + 2)


def _record_state(url: str, table: str, key: str) -> tuple[str, int, int]:
    history = "task_status_history" if table == "tasks" else "asset_status_history"
    subject = "task_id" if table == "tasks" else "asset_id"
    with psycopg.connect(url) as conn:
        row = conn.execute(
            f"SELECT status, version, (SELECT count(*) FROM {history} WHERE {subject} = %s) "
            f"FROM {table} WHERE id = %s",
            (key, key),
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_task_and_asset_set_status(seeded: str) -> None:
    with psycopg.connect(seeded) as conn:
        found = conn.execute("SELECT id FROM tasks WHERE status = 'in_progress' LIMIT 1").fetchone()
        drafted = conn.execute(
            "SELECT id FROM video_assets WHERE status = 'draft' LIMIT 1"
        ).fetchone()
    assert found is not None and drafted is not None
    tid, aid = str(found[0]), str(drafted[0])
    status, version, entries = _record_state(seeded, "tasks", tid)
    # The worker died: an operator puts the task back, recorded like a service's move.
    back = cli(seeded, "task", "set-status", tid, "pending", "--reason", "worker died")
    assert back.exit_code == 0, back.output
    assert f"in_progress -> pending (version {version} -> {version + 1})" in back.output
    assert _record_state(seeded, "tasks", tid) == ("pending", version + 1, entries + 1)
    shown = json.loads(cli(seeded, "task", "show", tid, "--json").stdout)
    last = shown["history"][-1]
    assert (last["to_status"], last["reason"]) == ("pending", "worker died")
    assert last["actor"].startswith("operator")
    # Refusals change nothing: a forbidden move (11), a stale version (12), an unknown id (8).
    for args, code in (
        ([tid, "complete"], 11),
        ([tid, "in_progress", "--expected-version", str(version)], 12),
        ([str(uuid.uuid4()), "pending"], 8),
        ([tid, "finished"], 10),
        ([tid, "in_progress", "--actor", " "], 10),  # was taken as "use the default"
    ):
        refused = cli(seeded, "task", "set-status", *args)
        assert refused.exit_code == code, refused.output
        if code == 11:  # the refusal says where the task can go instead
            assert "from 'pending' it can move to 'in_progress'" in refused.output
    assert _record_state(seeded, "tasks", tid) == ("pending", version + 1, entries + 1)
    refused = cli(seeded, "task", "set-status", tid, "in_progress", "--worker", "")
    assert refused.exit_code == 10 and "error: --worker: must not be empty" in refused.output
    assert _record_state(seeded, "tasks", tid) == ("pending", version + 1, entries + 1)
    # The same command with the same idempotency key twice: one move.
    for _ in range(2):
        moved = cli(seeded, "task", "set-status", tid, "in_progress", "--idempotency-key", "k")
        assert moved.exit_code == 0, moved.output
    assert "nothing changed" in moved.output
    assert _record_state(seeded, "tasks", tid) == ("in_progress", version + 2, entries + 2)
    # Back, and claimed again by a named worker: status and worker in one move.
    assert cli(seeded, "task", "set-status", tid, "pending").exit_code == 0
    claimed = cli(seeded, "task", "set-status", tid, "in_progress", "--worker", "w-9", "--json")
    assert claimed.exit_code == 0, claimed.output
    record = json.loads(claimed.stdout)
    assert (record["assigned_worker_id"], record["version"]) == ("w-9", version + 4)
    # Assets the same way, with --json and an explicit actor.
    a_status, a_version, a_entries = _record_state(seeded, "video_assets", aid)
    assert a_status == "draft"
    sent = cli(seeded, "asset", "set-status", aid, "judge_pending", "--actor", "ops:ann", "--json")
    assert sent.exit_code == 0 and json.loads(sent.stdout)["status"] == "judge_pending"
    assert cli(seeded, "asset", "set-status", aid, "published").exit_code == 11
    assert _record_state(seeded, "video_assets", aid) == (
        "judge_pending",
        a_version + 1,
        a_entries + 1,
    )


def test_shell_completion_completes_commands_and_options() -> None:
    # Typer detects the shell from the parent process (under make: sh, which it does not
    # support); its test switch makes the option take the shell's name instead.
    script = run_cli("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0 and "_chimera_store_completion" in script.stdout
    for words, cword, expected in (
        ("chimera-store tasks re", "2", "requeue"),
        ("chimera-store tasks requeue --un", "3", "--unchanged-since"),
        ("chimera-store down", "1", "downgrade"),
    ):
        done = run_cli(_CHIMERA_STORE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
        assert done.returncode == 0 and done.stdout.split() == [expected], (words, done)
