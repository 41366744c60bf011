"""Least privilege: the service role has DML and no DDL; the read-only role cannot write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors as pg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo


@pytest.fixture
def login_as(db_url: str) -> Iterator[object]:
    made: list[str] = []

    def connect(group: str) -> psycopg.Connection[tuple[object, ...]]:
        name = f"chimera_login_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                    sql.Identifier(name), sql.Identifier(group)
                )
            )
        made.append(name)
        url = make_conninfo("", **{**conninfo_to_dict(db_url), "user": name})
        return psycopg.connect(url, autocommit=True)

    yield connect
    with psycopg.connect(db_url, autocommit=True) as admin:
        for name in made:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_service_role_can_write_but_not_change_schema(login_as: object, db_url: str) -> None:
    conn = login_as("chimera_service")  # type: ignore[operator]
    with conn:
        cid = conn.execute(
            "INSERT INTO campaigns (name, goal_description) VALUES ('n', 'g') RETURNING id"
        ).fetchone()[0]
        conn.execute("UPDATE campaigns SET status = 'active' WHERE id = %s", (cid,))
        tid = conn.execute(
            "INSERT INTO tasks (campaign_id, task_type, priority, context) VALUES "
            "(%s, 'reply_comment', 'low', '{\"goal_description\": \"g\"}') RETURNING id",
            (cid,),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO task_status_history (task_id, to_status, actor) VALUES (%s, 'pending', 'x')",
            (tid,),
        )
        for statement in (
            "DROP TABLE video_assets",
            "ALTER TABLE campaigns ADD COLUMN x int",
            "TRUNCATE campaigns CASCADE",
            "CREATE TABLE sneaky (id int)",
            "DROP TRIGGER campaigns_touch ON campaigns",
        ):
            with pytest.raises(pg.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(db_url) as admin:
        assert admin.execute("SELECT count(*) FROM campaigns").fetchone() == (1,)


def test_readonly_role_cannot_write(login_as: object, db_url: str) -> None:
    with psycopg.connect(db_url) as admin:
        admin.execute("INSERT INTO campaigns (name, goal_description) VALUES ('n', 'g')")
    conn = login_as("chimera_readonly")  # type: ignore[operator]
    with conn:
        assert conn.execute("SELECT count(*) FROM campaigns").fetchone() == (1,)
        for statement in (
            "INSERT INTO campaigns (name, goal_description) VALUES ('x', 'y')",
            "UPDATE campaigns SET name = 'x'",
            "DELETE FROM campaigns",
            "TRUNCATE campaigns CASCADE",
        ):
            with pytest.raises(pg.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(db_url) as admin:
        assert admin.execute("SELECT name FROM campaigns").fetchall() == [("n",)]


def test_store_works_as_service_role(login_as: object, db_url: str) -> None:
    from chimera_store.store import Store

    conn = login_as("chimera_service")  # type: ignore[operator]
    store = Store(conn)
    c = store.create_campaign("C", "g", "active")
    a = store.create_agent(c.id, "p", "r")
    t = store.create_task(c.id, "generate_content", "high", {"goal_description": "g"})
    v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
    store.transition_asset(v.id, "judge_pending", actor="w")
    store.bulk_insert_assets(
        [
            {
                "agent_id": a.id,
                "task_id": t.id,
                "platform": "x",
                "tier": "tier2",
                "character_reference_id": "r",
            }
        ]
    )
    assert store.purge_campaign(c.id).video_assets == 2
    conn.close()
