"""Migration properties: idempotent, concurrent, atomic, adopting, guarded, linted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from chimera_store import migrator, schema_contract, schema_state
from chimera_store.errors import (
    DataLossRefused,
    IncompatibleSchema,
    MigrationLockTimeout,
    SchemaNewerThanCode,
    TransactionConflict,
)
from chimera_store.revisions import head_revision
from tests.helpers import CLI, REPO, revisions, run_cli, scalar, tables

C = "00000000-0000-0000-0000-0000000000c1"
HEAD = head_revision()

# What an older "create-if-not-exists" init script would have made: the ERD, nothing more.
LEGACY_DDL = """
CREATE TABLE IF NOT EXISTS campaigns (id uuid PRIMARY KEY, name text, goal_description text,
    status text, created_at timestamptz, updated_at timestamptz);
CREATE TABLE IF NOT EXISTS agents (id uuid PRIMARY KEY, soul_md_path text,
    character_reference_id text, campaign_id uuid REFERENCES campaigns(id));
CREATE TABLE IF NOT EXISTS tasks (id uuid PRIMARY KEY, campaign_id uuid REFERENCES campaigns(id),
    task_type text, priority text, status text, context jsonb, created_at timestamptz);
CREATE TABLE IF NOT EXISTS video_assets (id uuid PRIMARY KEY, agent_id uuid REFERENCES agents(id),
    task_id uuid REFERENCES tasks(id), platform text, tier text, character_reference_id text,
    status text, metadata jsonb, created_at timestamptz);
"""
LEGACY_ROWS = """
INSERT INTO campaigns VALUES ('00000000-0000-0000-0000-00000000000c', 'Old', 'Old goal', 'active',
    '2025-01-01', '2025-01-02');
INSERT INTO agents VALUES ('00000000-0000-0000-0000-00000000000a', 'a/SOUL.md', 'ref',
    '00000000-0000-0000-0000-00000000000c');
INSERT INTO tasks VALUES ('00000000-0000-0000-0000-00000000000d',
    '00000000-0000-0000-0000-00000000000c', 'generate_content', 'high', 'complete',
    '{"goal_description": "g", "extra": [1, 2]}', '2025-01-01');
INSERT INTO video_assets VALUES ('00000000-0000-0000-0000-0000000000f0',
    '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-00000000000d', 'tiktok',
    'tier1', 'ref', 'published', '{"duration": 9}', '2025-01-01');
"""


def _dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in ("campaigns", "agents", "tasks", "video_assets")
        }


def test_fresh_migration_matches_contract(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url)
    assert revisions(empty_db_url) == [HEAD]
    with psycopg.connect(empty_db_url) as conn:
        live = schema_contract.snapshot(conn)
    assert schema_contract.differences(live, schema_contract.expected_snapshot()) == []
    assert schema_state.check(empty_db_url) == []


def test_migrate_twice_is_idempotent(empty_db_url: str) -> None:
    first = migrator.migrate(empty_db_url)
    with psycopg.connect(empty_db_url) as conn:
        snap = schema_contract.snapshot(conn)
    second = migrator.migrate(empty_db_url)
    assert first.changed and not second.changed
    assert second.before == second.after == [HEAD]
    with psycopg.connect(empty_db_url) as conn:
        assert schema_contract.snapshot(conn) == snap


def test_concurrent_migrators_apply_once(empty_db_url: str) -> None:
    procs = [
        subprocess.Popen(
            [*CLI, "migrate"],
            env={**os.environ, "CHIMERA_DATABASE_URL": empty_db_url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    results = [(p.wait(timeout=180), p.stdout.read() if p.stdout else "") for p in procs]
    assert [code for code, _ in results] == [0] * 8, [p.stderr.read() for p in procs if p.stderr]
    applied = [out for _, out in results if out.startswith("migrated")]
    assert len(applied) == 1, results
    assert revisions(empty_db_url) == [HEAD]
    assert schema_state.check(empty_db_url) == []
    leftover = scalar(empty_db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    assert leftover == 0


def test_failed_migration_leaves_previous_revision_and_names_blocker(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url, to="0001_schema")
    with psycopg.connect(empty_db_url, application_name="blocking-report") as blocker:
        blocker.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(MigrationLockTimeout) as info:
            migrator.migrate(empty_db_url, settings=migrator.MigrationSettings(lock_timeout=1.0))
        elapsed = time.monotonic() - started
        pid = blocker.info.backend_pid
        assert f"pid {pid}" in str(info.value) and "blocking-report" in str(info.value)
        assert elapsed < 1.0 + 1.5
    assert revisions(empty_db_url) == ["0001_schema"]
    assert "task_status_history" not in tables(empty_db_url)
    migrator.migrate(empty_db_url)
    assert revisions(empty_db_url) == [HEAD]


def test_a_migration_that_loses_a_deadlock_says_so_and_changes_nothing(
    empty_db_url: str,
) -> None:
    """A session holding a table the migration needs, then waiting for the migration's own lock:
    PostgreSQL aborts the migration (it waited first). It was reported as "lost the database
    during the migration" (exit 4)."""
    migrator.migrate(empty_db_url, to="0001_schema")
    with psycopg.connect(empty_db_url, application_name="deadlocking-app") as other:
        other.execute("LOCK TABLE tasks IN ACCESS SHARE MODE")  # 0002 alters tasks

        def wait_for_the_migration_lock() -> None:
            deadline = time.monotonic() + 30
            while not scalar(
                empty_db_url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'chimera-store migrate'",
            ):
                assert time.monotonic() < deadline, "the migration never waited on tasks"
                time.sleep(0.05)
            time.sleep(0.3)  # the migration has waited longest: it is the one aborted
            other.execute("SELECT pg_advisory_xact_lock(%s)", (migrator.MIGRATION_LOCK_KEY,))

        with ThreadPoolExecutor(1) as pool:
            waiter = pool.submit(wait_for_the_migration_lock)
            with pytest.raises(TransactionConflict) as info:
                migrator.migrate(empty_db_url)
            waiter.result(timeout=60)
    assert info.value.exit_code == 16
    assert str(info.value).startswith("migration rolled back by a deadlock"), info.value
    assert revisions(empty_db_url) == ["0001_schema"]
    assert "task_status_history" not in tables(empty_db_url)
    migrator.migrate(empty_db_url)
    assert revisions(empty_db_url) == [HEAD]


def test_killed_migration_leaves_previous_revision(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url, to="0001_schema")
    with psycopg.connect(empty_db_url) as blocker:
        blocker.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [*CLI, "migrate", "--lock-timeout", "60"],
            env={**os.environ, "CHIMERA_DATABASE_URL": empty_db_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Wait until the migrator is inside its transaction, blocked half-way through 0002.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = scalar(
                empty_db_url,
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND application_name = 'chimera-store migrate'",
            )
            if waiting:
                break
            time.sleep(0.1)
        assert waiting, "migrator never reached the blocked statement"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        blocker.rollback()
    # The server notices the dead client and rolls its transaction back.
    deadline = time.monotonic() + 30
    while (
        scalar(
            empty_db_url,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chimera-store migrate'",
        )
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert revisions(empty_db_url) == ["0001_schema"]
    assert "task_status_history" not in tables(empty_db_url)
    assert schema_state.check(empty_db_url)[0].startswith("revision is 0001_schema")
    migrator.migrate(empty_db_url)
    assert schema_state.check(empty_db_url) == []


def test_adopts_compatible_existing_tables_keeping_rows(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(LEGACY_DDL)
        conn.execute(LEGACY_ROWS)
    before = _dump(empty_db_url)
    outcome = migrator.migrate(empty_db_url)
    assert outcome.adopted and outcome.after == [HEAD]
    assert schema_state.check(empty_db_url) == []
    after = _dump(empty_db_url)
    for table, rows in before.items():
        width = len(rows[0])
        assert [r[:width] for r in after[table]] == rows
    assert scalar(empty_db_url, "SELECT campaign_id::text FROM video_assets") == (
        "00000000-0000-0000-0000-00000000000c"
    )


def test_refuses_incompatible_tables_and_changes_nothing(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("CREATE TABLE campaigns (id integer PRIMARY KEY, name text, colour text)")
        conn.execute("INSERT INTO campaigns VALUES (1, 'x', 'red')")
    with pytest.raises(IncompatibleSchema) as info:
        migrator.migrate(empty_db_url)
    joined = "\n".join(info.value.differences)
    assert "campaigns.id: type is integer, expected uuid" in joined
    assert "campaigns.goal_description: missing" in joined
    assert "campaigns.colour: column not part of the chimera schema" in joined
    assert tables(empty_db_url) == {"campaigns"}
    assert scalar(empty_db_url, "SELECT count(*) FROM campaigns") == 1


def test_refuses_adoption_when_rows_violate_rules(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute(LEGACY_DDL)
        conn.execute(LEGACY_ROWS)
        conn.execute("UPDATE campaigns SET status = 'running'")
    with pytest.raises(Exception) as info:
        migrator.migrate(empty_db_url)
    assert "campaigns_status_check" in str(info.value)
    assert "alembic_version" not in tables(empty_db_url)
    assert scalar(empty_db_url, "SELECT status FROM campaigns") == "running"


def test_cli_prints_incompatible_differences(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url) as conn:
        conn.execute("CREATE TABLE tasks (id text)")
    result = run_cli("migrate", url=empty_db_url)
    assert result.returncode == 5
    assert "tasks.id: type is text, expected uuid" in result.stderr
    assert "Traceback" not in result.stderr


def test_downgrade_refuses_to_drop_data(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("INSERT INTO campaigns (name, goal_description) VALUES ('n', 'g')")
    with pytest.raises(DataLossRefused) as info:
        migrator.downgrade("base", db_url)
    assert "table campaigns" in str(info.value)
    assert revisions(db_url) == [HEAD]
    assert scalar(db_url, "SELECT count(*) FROM campaigns") == 1
    result = run_cli("downgrade", "base", url=db_url)
    assert result.returncode == 7 and "--allow-data-loss" in result.stderr
    migrator.downgrade("base", db_url, allow_data_loss=True)
    assert revisions(db_url) == []
    assert "campaigns" not in tables(db_url)


def test_heartbeats_downgrade_keeps_tasks_and_versions(db_url: str) -> None:
    """0006 down: refused while a task holds a heartbeat; allowed, the column goes, the tasks
    and their versions stay, and tasks get the shared version trigger back (checked by `check`
    after migrating up again)."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO campaigns (id, name, goal_description) VALUES (%s, 'n', 'g')", (C,)
        )
        conn.execute(
            "INSERT INTO tasks (campaign_id, task_type, priority, status, context, heartbeat_at) "
            "VALUES (%s, 'generate_content', 'low', 'in_progress', '{\"goal_description\": \"g\"}', now())",
            (C,),
        )
    with pytest.raises(DataLossRefused) as info:
        migrator.downgrade("0005_version_grants", db_url)
    assert "column tasks.heartbeat_at" in str(info.value)
    assert revisions(db_url) == [HEAD]
    migrator.downgrade("0005_version_grants", db_url, allow_data_loss=True)
    assert revisions(db_url) == ["0005_version_grants"]
    assert scalar(db_url, "SELECT count(*) FROM tasks WHERE version = 1") == 1
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE tasks SET priority = 'high'")
    assert scalar(db_url, "SELECT version FROM tasks") == 2
    migrator.migrate(db_url)
    assert schema_state.check(db_url) == []


def test_the_analyse_function_is_narrow_and_goes_with_a_downgrade(db_url: str) -> None:
    """0007: runs as its owner, with a pinned search_path; only chimera_service (and the owner)
    may call it; it analyses the data tables that hold rows and have no statistics, nothing
    else, and says which. A downgrade drops it and nothing more."""
    fn = "public.chimera_analyse_new_tables()"
    with psycopg.connect(db_url, autocommit=True) as conn:
        definer, config = conn.execute(
            "SELECT prosecdef, proconfig FROM pg_proc WHERE oid = %s::regprocedure", (fn,)
        ).fetchone()  # type: ignore[misc]
        assert definer and config == ["search_path=pg_catalog, pg_temp"]
        may = {
            role: conn.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, fn)
            ).fetchone()[0]  # type: ignore[index]
            for role in ("chimera_service", "chimera_readonly", "public")
        }
        assert may == {"chimera_service": True, "chimera_readonly": False, "public": False}
        assert conn.execute(f"SELECT {fn}").fetchone() == ([],)  # empty tables: nothing to do
        conn.execute(
            "INSERT INTO campaigns (id, name, goal_description) VALUES (%s, 'n', 'g')", (C,)
        )
        conn.execute("CREATE TABLE not_ours (n int)")
        conn.execute("INSERT INTO not_ours VALUES (1)")
        assert conn.execute(f"SELECT {fn}").fetchone() == (["campaigns"],)
        assert conn.execute(f"SELECT {fn}").fetchone() == ([],)  # it has statistics now
        assert conn.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'not_ours'"
        ).fetchone() == (0,)
        conn.execute("DROP TABLE not_ours")
    migrator.downgrade("0006_task_heartbeats", db_url)
    assert revisions(db_url) == ["0006_task_heartbeats"]
    assert scalar(db_url, "SELECT to_regprocedure(%s)", (fn,)) is None
    assert scalar(db_url, "SELECT count(*) FROM campaigns") == 1
    migrator.migrate(db_url)
    assert schema_state.check(db_url) == []


def test_downgrade_of_empty_tables_needs_no_flag(db_url: str) -> None:
    migrator.downgrade("0001_schema", db_url)
    assert revisions(db_url) == ["0001_schema"]
    assert "task_status_history" not in tables(db_url)
    migrator.migrate(db_url)
    assert schema_state.check(db_url) == []


def test_database_newer_than_code(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(SchemaNewerThanCode):
        migrator.migrate(db_url)
    result = run_cli("status", url=db_url)
    assert result.returncode == 5 and "does not know" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_reports_drift(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("DROP INDEX video_assets_agent_id_idx")
        conn.execute("ALTER TABLE campaigns ADD COLUMN colour text")
    diffs = schema_state.check(db_url)
    assert "video_assets: index video_assets_agent_id_idx missing" in diffs[0] + "\n".join(diffs)
    assert any("unexpected column colour" in d for d in diffs)
    result = run_cli("check", url=db_url)
    assert result.returncode == 1 and "video_assets_agent_id_idx" in result.stderr


@pytest.mark.parametrize(
    ("ddl", "said"),
    [
        # A DBA's hand edits that the migrations did not make; each kind named in its words.
        (
            "ALTER TABLE tasks ALTER COLUMN priority DROP NOT NULL",
            "tasks: column priority is text, expected text NOT NULL",
        ),
        (
            "ALTER TABLE video_assets DROP CONSTRAINT video_assets_tier_check",
            "video_assets: constraint video_assets_tier_check missing",
        ),
        ("DROP TABLE asset_status_history", "table asset_status_history: missing"),
        (
            "CREATE OR REPLACE FUNCTION chimera_bump_version() RETURNS trigger "
            "LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$",
            "function chimera_bump_version(): body, SECURITY DEFINER or search_path differs "
            "from this version's",
        ),
        (
            "ALTER FUNCTION chimera_analyse_new_tables() SECURITY INVOKER",
            "function chimera_analyse_new_tables(): body, SECURITY DEFINER or search_path "
            "differs from this version's",
        ),
        (
            "ALTER FUNCTION chimera_analyse_new_tables() SET search_path = public",
            "function chimera_analyse_new_tables(): body, SECURITY DEFINER or search_path "
            "differs from this version's",
        ),
        (
            "DROP FUNCTION chimera_asset_campaign() CASCADE",
            "function chimera_asset_campaign(): missing",
        ),
    ],
)
def test_check_names_each_kind_of_drift(db_url: str, ddl: str, said: str) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute(ddl)
    diffs = schema_state.check(db_url)
    assert any(said in d for d in diffs), diffs
    result = run_cli("check", url=db_url)
    assert result.returncode == 1 and said in result.stderr, result.stderr


def test_status_json(db_url: str) -> None:
    result = run_cli("status", "--json", url=db_url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["current"] == [HEAD] and data["pending"] == [] and data["up_to_date"]
    assert data["row_counts"]["video_assets"] == 0
    assert data["embedded"] is False and data["server_version_num"] >= 140000


def test_status_lists_pending(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url, to="0001_schema")
    data = json.loads(run_cli("status", "--json", url=empty_db_url).stdout)
    assert data["current"] == ["0001_schema"]
    assert data["pending"] == [
        "0002_history",
        "0003_roles",
        "0004_noop_updates",
        "0005_version_grants",
        "0006_task_heartbeats",
        "0007_analyse_function",
    ]


def test_migration_sql_passes_squawk(tmp_path: object) -> None:
    ini = REPO / "alembic.ini"
    script = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head", "--sql"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    assert "CREATE TABLE video_assets" in script and "SET LOCAL lock_timeout" in script
    # prefer-text-field: only Alembic's own alembic_version.version_num VARCHAR(32); explained
    # in docs/migrations.md.
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "squawk"), "--exclude", "prefer-text-field"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_parallel_threads_on_same_database(empty_db_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: migrator.migrate(empty_db_url), range(4)))
    assert sum(o.changed for o in outcomes) == 1
