"""Real PostgreSQL for every test: a migrated template database, cloned per test.

Server: `CHIMERA_TEST_DATABASE_URL` (an admin URL of an external PostgreSQL) when set, else the
embedded server with its data under `.chimera-test/` in the repository.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
TEST_HOME = ROOT / ".chimera-test" / "home"


def _admin_url() -> str:
    external = os.environ.get("CHIMERA_TEST_DATABASE_URL")
    if external:
        return external
    os.environ["CHIMERA_HOME"] = str(TEST_HOME)
    os.environ.pop("CHIMERA_DATABASE_URL", None)
    from chimera_store.embedded import embedded_url

    return embedded_url()


def with_dbname(url: str, name: str) -> str:
    return make_conninfo(**{**conninfo_to_dict(url), "dbname": name})


def create_database(admin_url: str, template: str | None = None) -> str:
    name = f"chimera_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        conn.execute(stmt)
    return name


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def admin_url() -> str:
    return _admin_url()


@pytest.fixture(scope="session")
def template_db(admin_url: str) -> Iterator[str]:
    from chimera_store import migrator

    name = create_database(admin_url)
    migrator.migrate(with_dbname(admin_url, name))
    yield name
    drop_database(admin_url, name)


@pytest.fixture
def db_url(admin_url: str, template_db: str) -> Iterator[str]:
    """A fresh database at head, cloned from the template."""
    name = create_database(admin_url, template=template_db)
    yield with_dbname(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture
def empty_db_url(admin_url: str) -> Iterator[str]:
    """A fresh database with no schema at all."""
    name = create_database(admin_url)
    yield with_dbname(admin_url, name)
    drop_database(admin_url, name)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def login_url(db_url: str) -> Iterator[Callable[..., str]]:
    """A new login role in `group` (if given), with `grants` (`{role}` in each is its name): its
    connection string. The roles are dropped afterwards."""
    made: list[str] = []

    def make(group: str | None = None, *, grants: Sequence[str] = ()) -> str:
        name = f"chimera_login_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
            if group is not None:
                admin.execute(
                    sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
                )
            for grant in grants:
                admin.execute(sql.SQL(grant).format(role=sql.Identifier(name)))
        made.append(name)
        return make_conninfo("", **{**conninfo_to_dict(db_url), "user": name})

    yield make
    with psycopg.connect(db_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
