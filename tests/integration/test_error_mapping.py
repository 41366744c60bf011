"""`dberrors.translate`, the one boundary, on errors the server really raises.

The data API validates before it writes, so most of these classes of SQLSTATE never reach it
through its own calls (the rest of the suite shows the ones that do). They can still arrive:
an operator's DDL, a DBA's trigger, a schema from elsewhere, a race. Each is produced here by a
real statement on the migrated schema and must come out as its documented error, with the
field or entity it is about, never as a psycopg exception or the catch-all.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from chimera_store import (
    DatabaseError,
    HasChildren,
    InvalidInput,
    ParentNotFound,
    SchemaError,
    TransactionAborted,
)
from chimera_store.dberrors import translate
from chimera_store.errors import ChimeraError
from chimera_store.store import Store
from tests.helpers import wait_for_lock_waits

CAMPAIGN = "INSERT INTO campaigns (name, goal_description, status) VALUES ('c', 'g', 'active')"


def _raised(url: str, statement: str, params: dict[str, Any] | None = None) -> ChimeraError:
    """The chimera-store error for what the server raises on `statement` (rolled back)."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute(statement, params)
        except psycopg.Error as exc:
            return translate(exc)
    raise AssertionError(f"the server accepted: {statement}")


@pytest.fixture
def world(db_url: str) -> dict[str, Any]:
    with Store.open(db_url, max_size=1) as store:
        c = store.create_campaign("Mapped", "g", "active")
        a = store.create_agent(c.id, "a/SOUL.md", "r")
        t = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
        asset = store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
    return {"campaign": c.id, "agent": a.id, "task": t.id, "asset": asset.id}


def test_a_delete_of_a_row_with_children_is_has_children(db_url: str, world: Any) -> None:
    error = _raised(db_url, "DELETE FROM campaigns WHERE id = %(id)s", {"id": world["campaign"]})
    assert isinstance(error, HasChildren), error
    assert "still referenced" in error.message and "purge the campaign" in error.message
    assert error.exit_code == 13


def test_a_missing_parent_names_the_entity_and_id(db_url: str, world: Any) -> None:
    missing = "00000000-0000-4000-8000-000000000001"
    error = _raised(
        db_url,
        "INSERT INTO agents (campaign_id, soul_md_path, character_reference_id) "
        "VALUES (%(c)s, 'p', 'r')",
        {"c": missing},
    )
    assert isinstance(error, ParentNotFound), error
    assert (error.entity, error.field, str(error.entity_id)) == ("campaign", "campaign_id", missing)


@pytest.mark.parametrize(
    ("statement", "field"),
    [
        # A check constraint: the field is read off the constraint's name.
        ("UPDATE video_assets SET tier = 'tier9' WHERE id = %(asset)s", "tier"),
        ("UPDATE tasks SET priority = 'urgent' WHERE id = %(task)s", "priority"),
        ("UPDATE campaigns SET name = ' ' WHERE id = %(campaign)s", "name"),
        # NOT NULL: the column.
        ("UPDATE agents SET soul_md_path = NULL WHERE id = %(agent)s", "soul_md_path"),
        # A duplicate key: the column of the key.
        (f"{CAMPAIGN[:-1]}) RETURNING 1", None),
        # A value of the wrong type.
        ("SELECT 'not a uuid'::uuid", "value"),
        # Any of SQLSTATE class 22, not only 22000 (these two were DatabaseError, exit 19).
        ("SELECT 1 / 0", "value"),
        ("SELECT 2147483648::int", "value"),
    ],
)
def test_a_bad_value_is_invalid_input_naming_its_field(
    db_url: str, world: Any, statement: str, field: str | None
) -> None:
    if field is None:  # the same id twice
        statement = (
            "INSERT INTO campaigns (id, name, goal_description, status) "
            "VALUES (%(campaign)s, 'c', 'g', 'active')"
        )
        field = "id"
    error = _raised(db_url, statement, world)
    assert isinstance(error, InvalidInput), error
    assert error.field == field, error.message
    assert error.exit_code == 10


def test_a_missing_table_or_column_is_a_schema_error(db_url: str) -> None:
    for statement in ("SELECT * FROM no_such_table", "SELECT no_such_column FROM tasks"):
        error = _raised(db_url, statement)
        assert isinstance(error, SchemaError), error
        assert "chimera-store migrate" in error.message


def test_a_call_after_an_error_in_its_transaction_is_transaction_aborted(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        with pytest.raises(psycopg.Error):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(psycopg.Error) as raised:
            conn.execute("SELECT 1")
    error = translate(raised.value)
    assert isinstance(error, TransactionAborted) and "savepoint" in error.message


def test_anything_else_is_a_database_error_with_its_sqlstate(db_url: str) -> None:
    # A DBA's trigger or function raising: no class of its own, but one defined error, not the
    # driver's exception, carrying the SQLSTATE and the server's words.
    error = _raised(db_url, "DO $$BEGIN RAISE EXCEPTION 'held for legal review'; END$$")
    assert type(error) is DatabaseError, error
    assert error.message == "database error P0001: held for legal review"
    assert error.exit_code == 19


def test_an_agent_of_another_campaign_is_invalid_input_on_agent_id(db_url: str) -> None:
    with Store.open(db_url, max_size=1) as store:
        c = store.create_campaign("Here", "g", "active")
        t = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
        elsewhere = store.create_campaign("Elsewhere", "g", "active")
        stranger = store.create_agent(elsewhere.id, "a/SOUL.md", "r")
        with pytest.raises(InvalidInput) as info:
            store.create_asset(stranger.id, t.id, "tiktok", "tier1", "r")
    assert info.value.field == "agent_id" and "another campaign's" in info.value.reason


def test_a_task_deleted_while_its_asset_is_written_is_parent_not_found(db_url: str) -> None:
    # The asset's trigger reads the task (still there for it), its key then waits for the
    # deleting transaction and finds the task gone. That was "task_id: belongs to a different
    # campaign" (InvalidInput), seen when `clean` removed a task under a Worker's new asset.
    with Store.open(db_url, max_size=2) as store:
        c = store.create_campaign("Deleted under", "g", "active")
        a = store.create_agent(c.id, "a/SOUL.md", "r")
        t = store.create_task(c.id, "generate_content", "low", {"goal_description": "g"})
        outcome: list[BaseException] = []

        def write() -> None:
            try:
                store.create_asset(a.id, t.id, "tiktok", "tier1", "r")
            except BaseException as exc:  # the assertion below names it
                outcome.append(exc)

        writer = threading.Thread(target=write)
        with psycopg.connect(db_url) as deleter, psycopg.connect(db_url, autocommit=True) as w:
            deleter.execute("DELETE FROM tasks WHERE id = %s", (t.id,))
            writer.start()
            wait_for_lock_waits(w, 1)  # the asset's key, behind the delete
            deleter.commit()
        writer.join(timeout=30)
    (error,) = outcome
    assert isinstance(error, ParentNotFound), error
    assert (error.entity, error.field, str(error.entity_id)) == ("task", "task_id", str(t.id))
    assert str(error) == f"task_id: task {t.id} was deleted meanwhile"
