"""`chimera-store stop`: the embedded server stops on request, keeps its data, and comes back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers import private_dir, run_cli


def embedded(home: Path, *args: str) -> tuple[int, str, str]:
    # A private CHIMERA_HOME: the suite's own embedded server must not be the one stopped.
    result = run_cli(*args, CHIMERA_HOME=str(home), CHIMERA_DATABASE_URL="")
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def home() -> Iterator[Path]:
    with private_dir("home") as parent:
        yield parent / "home"
        embedded(parent / "home", "stop")  # also when the test failed half-way


def test_stop_keeps_data_and_the_next_command_starts_it_again(home: Path) -> None:
    code, out, err = embedded(home, "stop")  # never started: nothing to stop, no server created
    assert (code, err) == (0, "") and "not running" in out
    assert not (home / "pgdata" / "PG_VERSION").exists()

    assert embedded(home, "migrate")[0] == 0
    code, out, err = embedded(home, "demo")
    assert code == 0, err
    code, out, _ = embedded(home, "url", "--show-password")
    held = psycopg.connect(out.strip(), autocommit=True)  # a session open across the stop
    code, listed, _ = embedded(home, "campaigns", "list", "--json")
    before = [json.loads(line) for line in listed.splitlines()]
    assert code == 0 and before

    code, out, err = embedded(home, "stop")
    assert (code, err) == (0, "")  # nothing on stderr: no warnings from the libraries either
    assert "stopped the embedded server" in out and str(home) in out
    assert not (home / "pgdata" / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):  # disconnected by the fast shutdown
        held.execute("SELECT 1")
    held.close()
    code, out, _ = embedded(home, "stop")  # idempotent
    assert code == 0 and "not running" in out

    code, listed, err = embedded(home, "campaigns", "list", "--json")  # starts it again
    assert code == 0, err
    assert [json.loads(line) for line in listed.splitlines()] == before
    assert embedded(home, "stop")[0] == 0


def test_stop_refuses_an_external_server(db_url: str, tmp_path: Path) -> None:
    result = run_cli("stop", url=db_url, CHIMERA_HOME=str(tmp_path))
    assert result.returncode == 3
    assert result.stderr.startswith("error: stop applies to the embedded server only")
    assert len(result.stderr.strip().splitlines()) == 1
    with psycopg.connect(db_url) as conn:  # the external server was left alone
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_stop_with_a_blank_url_means_the_embedded_server(tmp_path: Path) -> None:
    # A blank CHIMERA_DATABASE_URL selects the embedded server everywhere else; stop refused it
    # as "external" (exit 3).
    result = run_cli("stop", CHIMERA_HOME=str(tmp_path), CHIMERA_DATABASE_URL="  ")
    assert result.returncode == 0, result.stderr
    assert "not running" in result.stdout and result.stderr == ""


def test_a_data_directory_keeps_its_own_postgresql_version(home: Path) -> None:
    """PGSERVER_POSTGRES_VERSION chooses the version of a new data directory only; later
    commands run the directory's own (pgserver alone refused it: "Version mismatch")."""
    made = run_cli("migrate", CHIMERA_HOME=str(home), CHIMERA_DATABASE_URL="",
                   PGSERVER_POSTGRES_VERSION="16")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (home / "pgdata" / "PG_VERSION").read_text().strip() == "16"
    later = run_cli("status", "--json", CHIMERA_HOME=str(home), CHIMERA_DATABASE_URL="",
                    PGSERVER_POSTGRES_VERSION="18")  # fmt: skip
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["server_version"].startswith("16.")
    code, out, err = embedded(home, "stop")
    assert code == 0 and "stopped the embedded server" in out, err


def test_a_data_directory_of_a_version_not_shipped_is_refused(home: Path) -> None:
    (home / "pgdata").mkdir(parents=True)
    (home / "pgdata" / "PG_VERSION").write_text("17\n")
    code, out, err = embedded(home, "status")
    assert code == 3 and out == ""
    assert "holds a PostgreSQL 17 data directory; the embedded server ships PostgreSQL" in err
    assert not (home / "pgdata" / "postmaster.pid").exists()  # nothing was started


def test_a_bad_postgres_version_variable_is_a_configuration_error(home: Path) -> None:
    # pgserver raises while being imported; that reached operators as "internal error" (70).
    for value in ("15", "abc"):
        for command in (("status",), ("url",), ("stop",)):
            result = run_cli(*command, CHIMERA_HOME=str(home), CHIMERA_DATABASE_URL="",
                             PGSERVER_POSTGRES_VERSION=value)  # fmt: skip
            assert result.returncode == 3, (command, result.stderr)
            assert result.stderr.startswith("error: PGSERVER_POSTGRES_VERSION: "), result.stderr
    assert not home.exists()  # nothing was created
