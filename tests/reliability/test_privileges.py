"""Least privilege: the service role has DML and no DDL; the read-only role cannot write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import errors as pg

from chimera_store import PermissionDenied, migrator, schema_state
from chimera_store.store import Store
from tests.helpers import asset_record, run_cli, snapshot


@pytest.fixture
def login_as(login_url: Callable[[str], str]) -> object:
    """A connection as a new login role in the given group."""

    def connect(group: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(login_url(group), autocommit=True)

    return connect


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


def test_services_open_the_store_as_the_service_role(
    login_url: Callable[[str], str], db_url: str
) -> None:
    """Through Store.open, as a service does: its schema check reads alembic_version, which the
    roles could not before revision 0005 ("permission denied", the store would not open)."""
    with Store.open(login_url("chimera_service")) as store:
        c = store.create_campaign("C", "g", "active")
        a = store.create_agent(c.id, "p", "r")
        t = store.create_task(c.id, "generate_content", "high", {"goal_description": "g"})
        t = store.transition_task(t.id, "in_progress", actor="w", assigned_worker_id="w")
        store.bulk_insert_assets([asset_record(a.id, t.id)])
        assert store.heartbeat_task(t.id, task_version=t.version) is not None
        submitted = store.submit_task(t.id, task_version=t.version, actor="w")
        committed = store.judge_commit(
            t.id, campaign_version=c.version, task_version=submitted.task.version, actor="j"
        )
        assert committed.task.status == "complete" and len(committed.approved_asset_ids) == 1
        assert store.campaign_summary(c.id).assets_by_status == {"approved": 1}
        assert len(store.task_history(t.id)) == 3
        assert store.clean(before=datetime.now(UTC)).tasks == 0  # approved is not finished
        stuck = store.create_task(c.id, "reply_comment", "low", {"goal_description": "g"},
                                  status="in_progress", created_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
        now = datetime.now(UTC)
        assert store.list_tasks(c.id, status="in_progress", unchanged_since=now).items == [stuck]
        assert store.requeue_tasks(unchanged_since=now, actor="janitor").requeued == [stuck.id]
        exported = list(store.export_campaign(c.id))
        assert store.purge_campaign(c.id).video_assets == 1
        # The import stages history in a temporary table: TEMPORARY on the database, PUBLIC's
        # by default.
        assert store.import_campaign(exported).asset_history == 2
        assert store.purge_campaign(c.id).video_assets == 1
    assert run_cli("status", url=login_url("chimera_service")).returncode == 0


def test_readonly_role_reads_and_is_refused_writes_with_exit_18(
    login_url: Callable[[str], str], db_url: str
) -> None:
    with Store.open(db_url) as owner:
        c = owner.create_campaign("C", "g", "active")
        stuck = owner.create_task(c.id, "reply_comment", "low", {"goal_description": "g"},
                                  status="in_progress", created_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    readonly = login_url("chimera_readonly")
    before = snapshot(db_url)
    with Store.open(readonly) as store:
        assert store.get_campaign(c.id) == c
        assert store.campaign_summary(c.id).agents == 0
        exported = list(store.export_campaign(c.id))  # a read-only role may take a copy
        assert exported[1]["id"] == c.id
        with pytest.raises(PermissionDenied):
            store.import_campaign(exported)
        assert store.list_tasks(c.id, unchanged_since=datetime.now(UTC)).items == [stuck]
        with pytest.raises(PermissionDenied):  # found, then refused its move
            store.requeue_tasks(unchanged_since=datetime.now(UTC), actor="janitor")
        with pytest.raises(PermissionDenied) as info:
            store.create_campaign("X", "g")
        assert str(info.value).startswith("permission denied for table campaigns")
        assert "chimera_readonly only read" in str(info.value)
    result = run_cli("campaign", "create", "X", "--goal", "g", url=readonly)
    assert result.returncode == 18, result.stderr
    assert result.stderr.startswith("error: permission denied for table campaigns")
    assert "Traceback" not in result.stderr
    assert snapshot(db_url) == before
    assert run_cli("status", url=readonly).returncode == 0
    assert run_cli("campaigns", "list", url=readonly).returncode == 0


def test_a_database_before_0005_tells_the_service_to_migrate(
    login_url: Callable[[str], str], db_url: str
) -> None:
    migrator.downgrade("0004_noop_updates", db_url)
    service = login_url("chimera_service")
    with pytest.raises(PermissionDenied) as info:
        Store.open(service)
    assert "run `chimera-store migrate`" in str(info.value)
    with pytest.raises(PermissionDenied):  # the Python admin API too, not a psycopg error
        schema_state.status(service)
    result = run_cli("status", url=service)  # was an internal error (exit 70)
    assert result.returncode == 18, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    migrator.migrate(db_url)
    with Store.open(service) as store:
        assert store.list_campaigns().items == []
