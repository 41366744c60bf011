"""Killed migrators at random moments, many concurrent migrators, sustained load.

Small in `make test`; `make stress` (CHIMERA_STRESS=full) runs the full versions and prints the
figures recorded in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import signal
import subprocess
import time
from collections import defaultdict
from typing import Any

import psycopg
import pytest

from chimera_store import migrator, schema_state
from chimera_store.revisions import head_revision
from chimera_store.store import AsyncStore
from tests.helpers import CLI, revisions, scalar

FULL = os.environ.get("CHIMERA_STRESS") == "full"
HEAD = head_revision()


def _wait_backends_gone(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and scalar(
        url,
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chimera-store migrate' "
        "AND datname = current_database()",
    ):
        time.sleep(0.05)


def test_migrator_killed_at_random_moments(empty_db_url: str) -> None:
    rng = random.Random(2026)
    moments = 20 if FULL else 4
    seen: dict[str, int] = defaultdict(int)
    env = {**os.environ, "CHIMERA_DATABASE_URL": empty_db_url}
    for _ in range(moments):
        before = revisions(empty_db_url)
        proc = subprocess.Popen(
            [*CLI, "migrate"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.3, 1.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _wait_backends_gone(empty_db_url)
        after = revisions(empty_db_url)
        assert after in (before, [HEAD]), after
        diffs = schema_state.check(empty_db_url)
        assert (diffs == []) == (after == [HEAD])
        seen["head" if after == [HEAD] else "old"] += 1
        if after == [HEAD]:
            migrator.downgrade("base", empty_db_url)  # start over: the tables are empty
    print(f"\nkilled migrators: {dict(seen)}")
    migrator.migrate(empty_db_url)
    assert schema_state.check(empty_db_url) == []


def test_many_concurrent_migrators(empty_db_url: str) -> None:
    n = 16 if FULL else 6
    env = {**os.environ, "CHIMERA_DATABASE_URL": empty_db_url}
    procs = [
        subprocess.Popen(
            [*CLI, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(n)
    ]
    results = [(p.wait(timeout=300), p.communicate()[0]) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert sum(out.startswith("migrated") for _, out in results) == 1
    assert scalar(empty_db_url, "SELECT count(*) FROM alembic_version") == 1
    assert revisions(empty_db_url) == [HEAD]
    assert scalar(empty_db_url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0


async def _simulate(
    url: str, agents: int, seconds: float, think: tuple[float, float] = (0.0, 0.0)
) -> dict[str, Any]:
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    made_tasks: list[Any] = []
    made_assets: list[Any] = []
    async with await AsyncStore.open(url, min_size=20, max_size=20) as store:
        campaigns = [await store.create_campaign(f"load {i}", "g", "active") for i in range(10)]
        roster = []
        for i in range(agents):
            c = campaigns[i % len(campaigns)]
            roster.append((c, await store.create_agent(c.id, f"a/{i}/SOUL.md", "lora:x")))
        deadline = time.monotonic() + seconds

        pause = random.Random(7)

        async def timed(name: str, coro: Any) -> Any:
            start = time.perf_counter()
            result = await coro
            latencies[name].append((time.perf_counter() - start) * 1000)
            if think[1]:  # an agent thinks (generates, renders) between its calls
                await asyncio.sleep(pause.uniform(*think))
            return result

        async def agent_loop(campaign: Any, agent: Any) -> None:
            if think[1]:  # agents start spread out, not all in the same millisecond
                await asyncio.sleep(pause.uniform(0, think[1]))
            while time.monotonic() < deadline:
                try:
                    t = await timed(
                        "create_task",
                        store.create_task(
                            campaign.id,
                            "generate_content",
                            "medium",
                            {
                                "goal_description": "post",
                                "required_resources": ["mcp://memory/recent"],
                            },
                        ),
                    )
                    made_tasks.append(t.id)
                    t = await timed(
                        "transition_task", store.transition_task(t.id, "in_progress", actor="w")
                    )
                    v = await timed(
                        "create_asset",
                        store.create_asset(
                            agent.id, t.id, "tiktok", "tier1", "lora:x", {"duration": 12}
                        ),
                    )
                    made_assets.append(v.id)
                    await timed(
                        "transition_asset", store.transition_asset(v.id, "judge_pending", actor="w")
                    )
                    t = await timed(
                        "transition_task", store.transition_task(t.id, "review", actor="w")
                    )
                    await timed(
                        "judge_commit",
                        store.judge_commit(
                            t.id,
                            campaign_version=campaign.version,
                            task_version=t.version,
                            actor="j",
                        ),
                    )
                except Exception as exc:  # every error is unexpected here
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return

        # As a long-running service would after start-up: move what exists now (this pytest
        # process's modules: hypothesis, SQLAlchemy, pydantic, the suite) out of the collector's
        # reach, so full collections walk only what the load creates. Without it the paced p99
        # measured that heap's collections (docs/reliability.md), not the store.
        gc.collect()
        gc.freeze()
        try:
            started = time.monotonic()
            await asyncio.gather(*(agent_loop(c, a) for c, a in roster))
            elapsed = time.monotonic() - started
        finally:
            gc.unfreeze()
    ops = sum(len(v) for v in latencies.values())
    return {
        "errors": errors,
        "tasks": made_tasks,
        "assets": made_assets,
        "ops_per_s": ops / elapsed,
        "p99_ms": {k: sorted(v)[int(0.99 * (len(v) - 1))] for k, v in latencies.items()},
        "p50_ms": {k: sorted(v)[len(v) // 2] for k, v in latencies.items()},
    }


# closed: every agent calls again as soon as its call returns (throughput at saturation);
# paced: agents think 0.3-0.8 s between calls (generating, rendering), which is how agents behave.
LOAD_MODES = {
    "closed": ((1000, 60.0) if FULL else (100, 4.0), (0.0, 0.0)),
    "paced": ((1000, 60.0) if FULL else (100, 4.0), (0.3, 0.8) if FULL else (0.01, 0.05)),
}


@pytest.mark.parametrize("mode", sorted(LOAD_MODES))
def test_sustained_load(db_url: str, mode: str) -> None:
    (agents, seconds), think = LOAD_MODES[mode]
    report = asyncio.run(_simulate(db_url, agents, seconds, think))
    assert report["errors"] == []
    tasks, assets = report["tasks"], report["assets"]
    assert len(set(tasks)) == len(tasks) > 0 and len(set(assets)) == len(assets)
    with psycopg.connect(db_url) as conn:
        rows = dict(conn.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall())
        in_db = conn.execute("SELECT count(*) FROM tasks").fetchone()
        assert in_db == (len(tasks),)
        # Every task finished its life cycle or is the one its agent was on when time ran out.
        assert rows.get("complete", 0) >= len(tasks) - agents
        bad = conn.execute(
            "SELECT count(*) FROM tasks t WHERE t.status = 'complete' AND NOT EXISTS ("
            "SELECT 1 FROM video_assets a WHERE a.task_id = t.id AND a.status = 'approved')"
        ).fetchone()
        assert bad == (0,)
        hist = conn.execute(
            "SELECT count(*) FROM task_status_history WHERE to_status = 'complete'"
        ).fetchone()
        assert hist == (rows.get("complete", 0),)
    print(
        f"\nsustained load ({mode}): {agents} agents, {seconds:g}s, pool 20: "
        f"{report['ops_per_s']:.0f} ops/s; p50 ms {report['p50_ms']}; p99 ms {report['p99_ms']}"
    )
