"""`migrate --sql`: the migration as a script for review or a DBA, changing nothing itself."""

from __future__ import annotations

import psycopg

from chimera_store import migrator
from tests.helpers import revisions, run_cli, tables

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
    assert revisions(empty_db_url) == [migrator.head_revision()]
    # Byte for byte the schema `migrate` builds: trigger function bodies included (the
    # offline render had doubled every % in them).
    assert migrator.check(empty_db_url) == []
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
    assert migrator.check(empty_db_url) == []


def test_what_cannot_be_rendered_is_refused(empty_db_url: str) -> None:
    with psycopg.connect(empty_db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE campaigns (id uuid PRIMARY KEY, name text)")
    adopted = run_cli("migrate", "--sql", url=empty_db_url)
    assert adopted.returncode == 5 and adopted.stdout == ""
    assert "made outside chimera-store (campaigns)" in adopted.stderr
    assert "run `chimera-store migrate`" in adopted.stderr
    assert revisions(empty_db_url) == [] and tables(empty_db_url) == {"campaigns"}
    unknown = run_cli("migrate", "--sql", "--from", "0042_nope", url=NOWHERE)
    assert unknown.returncode == 10, unknown.stderr
    assert "--from: '0042_nope' is not a revision (known: base, 0001_schema" in unknown.stderr
    alone = run_cli("migrate", "--from", "base", url=empty_db_url)
    assert alone.returncode == 10 and "--from: only with --sql" in alone.stderr
    assert tables(empty_db_url) == {"campaigns"}
