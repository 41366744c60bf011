"""`migrate --sql` and `downgrade --sql`: the migration as a script for review or a DBA,
changing nothing itself."""

from __future__ import annotations

import psycopg
import pytest

from chimera_store import migration_scripts, migrator, schema_state
from chimera_store.revisions import head_revision
from chimera_store.store import Store
from tests.helpers import revisions, run_cli, scalar, snapshot, tables

# A URL nothing listens on: `--from` must not connect at all.
NOWHERE = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1"


def apply(url: str, script: str) -> None:
    """As `psql -f` would: the script as it is, its own BEGIN and COMMIT included."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(script.encode())


def test_a_script_from_base_builds_exactly_this_schema(empty_db_url: str) -> None:
    rendered = run_cli("migrate", "--sql", "--from", "base", url=NOWHERE)
    assert rendered.returncode == 0, rendered.stderr
    script = rendered.stdout
    assert script.startswith("BEGIN;") and script.rstrip().endswith("COMMIT;")
    # The lock and timeouts of online runs, so the script and `migrate` take turns.
    assert f"SELECT pg_advisory_xact_lock({migrator.MIGRATION_LOCK_KEY});" in script
    assert "SET LOCAL lock_timeout" in script
    assert tables(empty_db_url) == set()  # rendering changed nothing
    apply(empty_db_url, script)
    assert revisions(empty_db_url) == [head_revision()]
    # Byte for byte the schema `migrate` builds: trigger function bodies included (the
    # offline render had doubled every % in them).
    assert schema_state.check(empty_db_url) == []
    again = run_cli("migrate", "--sql", url=empty_db_url)
    assert again.returncode == 0 and again.stdout == ""
    assert "already" in again.stderr


def test_a_script_from_the_current_revision(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url, to="0003_roles")
    rendered = run_cli("migrate", "--sql", url=empty_db_url)
    assert rendered.returncode == 0, rendered.stderr
    assert "CREATE TABLE" not in rendered.stdout  # only what 0003 -> head adds
    assert "Running upgrade 0003_roles -> 0004_noop_updates" in rendered.stdout
    assert revisions(empty_db_url) == ["0003_roles"]
    apply(empty_db_url, rendered.stdout)
    assert schema_state.check(empty_db_url) == []


def test_what_cannot_be_rendered_is_refused(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE campaigns (id uuid PRIMARY KEY, name text)")
    adopted = run_cli("migrate", "--sql", url=empty_db_url)
    assert adopted.returncode == 5 and adopted.stdout == ""
    assert "made outside chimera-store (campaigns)" in adopted.stderr
    assert "run `chimera-store migrate`" in adopted.stderr
    assert revisions(empty_db_url) == [] and tables(empty_db_url) == {"campaigns"}
    # A downgrade has nothing to step down from there: no script, and no talk of adoption.
    down = run_cli("downgrade", "base", "--sql", url=empty_db_url)
    assert down.returncode == 0 and down.stdout == "" and "already" in down.stderr
    unknown = run_cli("migrate", "--sql", "--from", "0042_nope", url=NOWHERE)
    assert unknown.returncode == 10, unknown.stderr
    assert "--from: '0042_nope' is not a revision (known: base, 0001_schema" in unknown.stderr
    alone = run_cli("migrate", "--from", "base", url=empty_db_url)
    assert alone.returncode == 10 and "--from: only with --sql" in alone.stderr
    assert tables(empty_db_url) == {"campaigns"}


# --- downgrade --sql --------------------------------------------------------------------------


def test_a_downgrade_script_refuses_when_applied_to_data(empty_db_url: str) -> None:
    """The data-loss check of `downgrade` travels in the script: it runs where the script is
    applied, and a refusal there leaves everything as it was."""
    migrator.migrate(empty_db_url)
    head = head_revision()
    rendered = run_cli("downgrade", "base", "--sql", "--from", head, url=NOWHERE)
    assert rendered.returncode == 0, rendered.stderr
    script = rendered.stdout
    assert script.startswith("BEGIN;") and script.rstrip().endswith("COMMIT;")
    assert f"SELECT pg_advisory_xact_lock({migrator.MIGRATION_LOCK_KEY});" in script
    with Store.open(empty_db_url) as store:
        campaign = store.create_campaign("kept", "g", "active")
        before = snapshot(empty_db_url)
        with pytest.raises(psycopg.errors.RaiseException) as refused:
            apply(empty_db_url, script)
        assert "downgrade would drop data in table campaigns; nothing was changed" in str(
            refused.value
        )
        assert revisions(empty_db_url) == [head]
        assert snapshot(empty_db_url) == before
        assert schema_state.check(empty_db_url) == []
        store.purge_campaign(campaign.id)
    apply(empty_db_url, script)  # nothing left to lose: the same script goes through
    assert revisions(empty_db_url) == []
    assert tables(empty_db_url) <= {"alembic_version"}


def test_a_downgrade_script_names_every_holder_and_can_be_told_to_drop(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url)
    with Store.open(empty_db_url) as store:
        campaign = store.create_campaign("c", "g", "active")
        task = store.create_task(campaign.id, "generate_content", "low", {"goal_description": "g"})
        store.transition_task(task.id, "in_progress", actor="w")
    guarded = migration_scripts.render_downgrade_sql("0001_schema", empty_db_url)
    with pytest.raises(psycopg.errors.RaiseException) as refused:
        apply(empty_db_url, guarded)
    assert "in table task_status_history" in str(refused.value)
    assert revisions(empty_db_url) == [head_revision()]
    unguarded = migration_scripts.render_downgrade_sql(
        "0001_schema", empty_db_url, allow_data_loss=True
    )
    assert "chimera_guard" in guarded and "chimera_guard" not in unguarded
    apply(empty_db_url, unguarded)
    assert revisions(empty_db_url) == ["0001_schema"]
    assert scalar(empty_db_url, "SELECT count(*) FROM tasks") == 1  # 0001's tables kept


def test_a_downgrade_script_from_the_current_revision(empty_db_url: str) -> None:
    migrator.migrate(empty_db_url)
    rendered = run_cli("downgrade", "-1", "--sql", url=empty_db_url)
    assert rendered.returncode == 0, rendered.stderr
    assert "Running downgrade 0007_analyse_function -> 0006_task_heartbeats" in rendered.stdout
    assert "0005_version_grants" not in rendered.stdout
    assert revisions(empty_db_url) == [head_revision()]  # rendering changed nothing
    apply(empty_db_url, rendered.stdout)
    assert revisions(empty_db_url) == ["0006_task_heartbeats"]
    migrator.migrate(empty_db_url)
    assert schema_state.check(empty_db_url) == []


def test_downgrade_takes_minus_n_as_its_help_says(empty_db_url: str) -> None:
    """click took "-1" for an unknown option (exit 2, "No such option: -1")."""
    migrator.migrate(empty_db_url)
    stepped = run_cli("downgrade", "-2", url=empty_db_url)
    assert stepped.returncode == 0, stepped.stderr
    assert "downgraded 0007_analyse_function -> 0005_version_grants" in stepped.stdout
    assert revisions(empty_db_url) == ["0005_version_grants"]
    mistyped = run_cli("downgrade", "--allow-dataloss", "base", url=empty_db_url)
    assert mistyped.returncode == 2 and "No such option: --allow-dataloss" in mistyped.stderr
    assert revisions(empty_db_url) == ["0005_version_grants"]


def test_what_a_downgrade_script_cannot_be(empty_db_url: str) -> None:
    empty = run_cli("downgrade", "base", "--sql", url=empty_db_url)
    assert empty.returncode == 0 and empty.stdout == "" and "already" in empty.stderr
    too_far = run_cli("downgrade", "-3", "--sql", "--from", "0002_history", url=NOWHERE)
    assert too_far.returncode == 10
    assert "'-3': 0002_history is 2 steps above base" in too_far.stderr
    upward = run_cli(
        "downgrade", "0004_noop_updates", "--sql", "--from", "0002_history", url=NOWHERE
    )
    assert upward.returncode == 10 and "not a valid downgrade target" in upward.stderr
    unknown = run_cli("downgrade", "base", "--sql", "--from", "0042_nope", url=NOWHERE)
    assert unknown.returncode == 10 and "'0042_nope' is not a revision" in unknown.stderr
    alone = run_cli("downgrade", "base", "--from", "0002_history", url=empty_db_url)
    assert alone.returncode == 10 and "--from: only with --sql" in alone.stderr
    assert tables(empty_db_url) == set()
