"""The API's statements are planned once, not on every call.

psycopg prepares a statement after five runs; PostgreSQL then uses a generic plan only if it does
not cost more than the custom plans did. A statement whose generic plan always looks costlier
(`LIMIT $n`, or a filter like `$n IS NULL OR ...`) is re-planned on every call: that cost pages
0.1 ms and the Judge's commit 0.25 ms on the benchmark's data. It only shows on a table large
enough for the estimates to differ, hence the 20,000 assets here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from chimera_store import PermissionDenied
from chimera_store.store import Store
from chimera_store.store.inputs import list_statement
from tests.helpers import asset_record


@pytest.fixture
def big_store(db_url: str) -> Iterator[Store]:
    store = Store.open(db_url, min_size=1, max_size=1)  # one connection: one set of statements
    yield store
    store.close()


def _plans(store: Store, like: str) -> list[tuple[int, int]]:
    assert store._pool is not None
    with store._pool.connection() as conn:
        return [
            (int(g), int(c))
            for g, c in conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE %s",
                (like,),
            )
        ]


def test_pages_and_judge_commits_use_their_generic_plans(big_store: Store, db_url: str) -> None:
    store = big_store
    campaign = store.create_campaign("Big", "g", "active")
    agent = store.create_agent(campaign.id, "souls/a/SOUL.md", "r")
    heavy = [store.create_task(campaign.id, "generate_content", "low", {"goal_description": "x"})]
    heavy.append(
        store.create_task(campaign.id, "generate_content", "low", {"goal_description": "y"})
    )

    def assets() -> Iterator[dict[str, Any]]:
        for i in range(20_000):
            yield {
                "agent_id": agent.id,
                "task_id": heavy[i % 2].id,
                "platform": "tiktok",
                "tier": "tier1",
                "character_reference_id": "r",
                "metadata": {"i": i},
            }

    store.bulk_insert_assets(assets())
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    for _ in range(20):
        assert len(store.list_assets(campaign_id=campaign.id, limit=100).items) == 100
        task = store.create_task(campaign.id, "generate_content", "high", {"goal_description": "j"})
        store.create_asset(agent.id, task.id, "tiktok", "tier1", "r", status="judge_pending")
        store.transition_task(task.id, "in_progress", actor="w")
        task = store.transition_task(task.id, "review", actor="w")
        store.judge_commit(
            task.id, campaign_version=campaign.version, task_version=task.version, actor="j"
        )
    pages = _plans(store, "%FROM video_assets WHERE campaign_id = $1%")
    judge = _plans(store, "%Judge's optimistic commit%")
    assert pages and judge
    # psycopg prepares at the fifth run; PostgreSQL plans five times to compare, then goes generic.
    assert all(custom == 5 and generic >= 5 for generic, custom in pages + judge), (pages, judge)


def test_a_time_window_is_a_range_of_the_parents_index(big_store: Store, db_url: str) -> None:
    store = big_store
    campaign = store.create_campaign("Window", "g", "active")
    agent = store.create_agent(campaign.id, "souls/a/SOUL.md", "r")
    task = store.create_task(campaign.id, "generate_content", "low", {"goal_description": "x"})
    store.bulk_insert_assets(
        {
            "agent_id": agent.id,
            "task_id": task.id,
            "platform": "tiktok",
            "tier": "tier1",
            "character_reference_id": "r",
        }
        for _ in range(20_000)
    )
    store.bulk_insert_tasks(
        {
            "campaign_id": campaign.id,
            "task_type": "reply_comment",
            "priority": "low",
            "context": {"goal_description": "y"},
        }
        for _ in range(20_000)
    )
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Spread over 20,000 minutes, so a window is a small part of the campaign.
        for table in ("video_assets", "tasks"):
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET created_at = created_at - make_interval(mins => "
                    "(('x' || substr(md5(id::text), 1, 7))::bit(28)::int % 20000))"
                ).format(sql.Identifier(table))
            )
        conn.execute("ANALYZE")
        newest = conn.execute("SELECT max(created_at) FROM video_assets").fetchone()
        assert newest is not None
        window = {"created_from": newest[0] - timedelta(hours=2), "created_before": newest[0]}
        for name, scope in (
            ("list_assets", {"campaign_id": campaign.id}),
            ("list_assets", {"agent_id": agent.id}),
            ("list_tasks", {"campaign_id": campaign.id}),
        ):
            statement, params = list_statement(name, {**scope, **window}, limit=100, cursor=None)
            plan = conn.execute(sql.SQL("EXPLAIN ") + statement, params).fetchall()
            text = "\n".join(str(line[0]) for line in plan)
            # One index range: the parent and the window in the index condition, no sort.
            assert "Index Cond" in text and "created_at >=" in text, text
            assert "Seq Scan" not in text and "Sort" not in text, text


_SPREAD_HISTORY = """
INSERT INTO campaigns (name, goal_description, status)
    SELECT 'c' || g, 'g', 'active' FROM generate_series(1, %(campaigns)s) g;
INSERT INTO agents (campaign_id, soul_md_path, character_reference_id)
    SELECT id, 'souls/a/SOUL.md', 'r' FROM campaigns;
INSERT INTO tasks (campaign_id, task_type, priority, status, context, created_at)
    SELECT c.id, 'generate_content', 'low',
           CASE WHEN n %% 10 = 0 THEN 'in_progress' ELSE 'complete' END,
           '{"goal_description": "x"}', now() - random() * interval '30 days'
    FROM campaigns c, generate_series(1, %(per_campaign)s) n;
INSERT INTO video_assets (agent_id, task_id, campaign_id, platform, tier,
                          character_reference_id, status, created_at)
    SELECT a.id, t.id, t.campaign_id, 'tiktok', 'tier1', 'r', 'judge_pending', t.created_at
    FROM tasks t JOIN agents a USING (campaign_id);
INSERT INTO task_status_history (task_id, from_status, to_status, actor, at)
    SELECT t.id, 'x', 'y', 'w', t.created_at + (now() - t.created_at) * random()
    FROM tasks t, generate_series(1, 3);
INSERT INTO asset_status_history (asset_id, from_status, to_status, actor, at)
    SELECT v.id, 'x', 'y', 'w', v.created_at + (now() - v.created_at) * random()
    FROM video_assets v, generate_series(1, 3);
ANALYZE;
"""


def test_unchanged_since_probes_the_history_by_index(db_url: str) -> None:
    """ "Tasks still in_progress since an hour ago" must not read the whole history table.

    A realistic shape, not an empty window: work created over a month across 50 campaigns, three
    transitions each spread since, one campaign asked about. The planner's other choice, a hash
    anti join over the whole history, is costed about 1.6 times this one here (measured with
    nested loops off), so the small changes of estimates that sampling brings do not flip it.
    """
    with psycopg.connect(db_url, autocommit=True) as conn:
        for step in filter(str.strip, _SPREAD_HISTORY.split(";")):
            conn.execute(step, {"campaigns": 50, "per_campaign": 400})
        row = conn.execute("SELECT id, now() - interval '1 hour' FROM campaigns LIMIT 1").fetchone()
        assert row is not None
        campaign_id, since = row
        for name, filters, history in (
            ("list_tasks", {"status": "in_progress", "task_unchanged_since": since}, "task_status"),
            ("list_tasks", {"task_unchanged_since": since}, "task_status"),
            ("list_assets", {"asset_unchanged_since": since}, "asset_status"),
            (
                "list_assets",
                {"status": "judge_pending", "asset_unchanged_since": since},
                "asset_status",
            ),
        ):
            statement, params = list_statement(
                name, {"campaign_id": campaign_id, **filters}, limit=100, cursor=None
            )
            plan = conn.execute(sql.SQL("EXPLAIN ") + statement, params).fetchall()
            text = "\n".join(str(line[0]) for line in plan)
            # Any scan through one of the history table's indexes will do (an index or a bitmap
            # scan, as the estimates fall); a hash anti join would read all of it.
            by_index = re.search(
                rf"(Index Scan using|Index Only Scan using|Bitmap Index Scan on) {history}_history",
                text,
            )
            assert by_index is not None, text
            assert "Seq Scan" not in text, text


# --- statistics before a large delete ----------------------------------------------------------

_DATA_TABLES = ("campaigns", "agents", "tasks", "video_assets")
_HISTORY_TABLES = ("task_status_history", "asset_status_history")


def _without_autovacuum(db_url: str) -> None:
    """Autovacuum could analyse the new rows behind the test's back (after a minute or so)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for table in _DATA_TABLES + _HISTORY_TABLES:
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = false)").format(
                    sql.Identifier(table)
                )
            )


def _analysed(db_url: str) -> dict[str, int]:
    """How many times each table was ANALYZEd by hand, and whether it has statistics."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT u.relname, u.analyze_count::int, EXISTS (SELECT 1 FROM pg_stats s "
            "WHERE s.tablename = u.relname AND s.schemaname = u.schemaname) "
            "FROM pg_stat_user_tables u WHERE u.relname = ANY(%s)",
            (list(_DATA_TABLES + _HISTORY_TABLES),),
        ).fetchall()
    return {name: count for name, count, has_stats in rows if has_stats or count}


def _campaign_with_work(store: Any) -> Any:
    """A campaign whose tasks are complete and assets published: what a purge or clean removes."""
    campaign = store.create_campaign("C", "g", "active")
    agent = store.create_agent(campaign.id, "souls/a/SOUL.md", "r")
    tasks = [
        store.create_task(
            campaign.id, "generate_content", "low", {"goal_description": "x"}, status="complete"
        )
        for _ in range(3)
    ]
    store.bulk_insert_assets(
        asset_record(agent.id, tasks[i % 3].id, status="published") for i in range(30)
    )
    return campaign


def test_a_purge_first_analyses_the_tables_that_have_rows_but_no_statistics(
    store: Any, db_url: str
) -> None:
    """Right after a large load, before autovacuum's first ANALYZE, each deleted task's check for
    remaining assets read the whole campaign's index (150 s for 10,000 tasks and 200,000 assets,
    3.3 s analysing first: docs/operations.md). The owner's purge analyses such tables first."""
    _without_autovacuum(db_url)
    campaign = _campaign_with_work(store)
    assert _analysed(db_url) == {}
    assert store.purge_campaign(campaign.id).video_assets == 30
    # Those with rows, once each; the history tables were empty and are left to autovacuum.
    assert _analysed(db_url) == dict.fromkeys(_DATA_TABLES, 1)
    # Tables that have statistics are not analysed again.
    assert store.purge_campaign(_campaign_with_work(store).id).tasks == 3
    assert _analysed(db_url) == dict.fromkeys(_DATA_TABLES, 1)


def test_clean_first_analyses_the_tables_that_have_no_statistics(store: Any, db_url: str) -> None:
    _without_autovacuum(db_url)
    _campaign_with_work(store)
    assert store.clean(datetime.now(UTC), dry_run=True).tasks == 3
    assert _analysed(db_url) == {}  # a dry run only counts
    assert store.clean(datetime.now(UTC)).video_assets == 30
    assert _analysed(db_url) == dict.fromkeys(_DATA_TABLES, 1)


def test_the_service_roles_purge_has_the_tables_analysed_too(
    login_url: Callable[..., str], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """chimera_service may not ANALYZE (it owns nothing); it may call the owner's
    chimera_analyse_new_tables (revision 0007), which does only that."""
    _without_autovacuum(db_url)
    with Store.open(login_url("chimera_service")) as store:
        campaign = _campaign_with_work(store)
        with caplog.at_level(logging.WARNING, logger="chimera_store.statistics"):
            assert store.purge_campaign(campaign.id).video_assets == 30
    assert _analysed(db_url) == dict.fromkeys(_DATA_TABLES, 1)
    assert caplog.records == []


def test_a_role_that_may_not_have_them_analysed_purges_all_the_same_and_says_why_it_is_slow(
    login_url: Callable[..., str], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A role given the tables directly, not through chimera_service."""
    _without_autovacuum(db_url)
    with Store.open(db_url) as owner:
        campaign = _campaign_with_work(owner)
    tables = ", ".join(_DATA_TABLES + _HISTORY_TABLES)
    url = login_url(
        grants=[
            f"GRANT SELECT, UPDATE, DELETE ON {tables} TO {{role}}",  # UPDATE: the purge locks
            "GRANT SELECT ON alembic_version TO {role}",
        ]
    )
    with (
        Store.open(url) as store,
        caplog.at_level(logging.WARNING, logger="chimera_store.statistics"),
    ):
        assert store.purge_campaign(campaign.id).video_assets == 30
    assert _analysed(db_url) == {}
    assert [r.getMessage() for r in caplog.records] == [
        "no planner statistics yet for agents, campaigns, tasks, video_assets, so this "
        "delete may be slow: run ANALYZE as the tables' owner, or wait for autovacuum"
    ]


def test_a_role_that_may_not_delete_gets_its_permission_error_and_no_warning(
    login_url: Callable[..., str], db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    _without_autovacuum(db_url)
    with Store.open(db_url) as owner:
        campaign = _campaign_with_work(owner)
    with (
        Store.open(login_url("chimera_readonly")) as store,
        caplog.at_level(logging.WARNING, logger="chimera_store.statistics"),
        pytest.raises(PermissionDenied),
    ):
        store.purge_campaign(campaign.id)
    assert caplog.records == []
    assert _analysed(db_url) == {}
    with Store.open(db_url) as owner:
        assert owner.campaign_summary(campaign.id).assets_by_status == {"published": 30}
