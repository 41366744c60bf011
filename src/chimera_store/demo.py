"""A realistic, deterministic sample dataset for `chimera-store demo` (idempotent)."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from chimera_store.errors import NotFound
from chimera_store.store import Store

NAMESPACE = uuid.UUID("6f1d3c52-3a0e-4f43-9a59-1d2c4b7e9a10")
CAMPAIGNS = [
    ("Summer Drop 2026", "Launch the summer sneaker line to Gen-Z audiences", "active"),
    ("Eco Pledge", "Grow awareness of the recycled-materials pledge", "active"),
    ("Creator Fund Teaser", "Tease the creator fund before the official announcement", "draft"),
]
PERSONAS = [
    "aria",
    "kenji",
    "lumi",
    "dex",
    "sol",
    "nova",
    "ravi",
    "mika",
    "zoe",
    "ty",
    "ines",
    "bo",
]
PLATFORMS = ["instagram", "tiktok", "twitter", "threads", "youtube"]
RESOLUTIONS = ["1080x1920", "1920x1080", "1080x1080"]


def _id(kind: str, n: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}-{n}")


# What happened to a task before the sample's "now", played through the data API so that
# statuses agree (a published asset's task is complete) and every move is in the history.
NEVER_STARTED, WORKING, IN_REVIEW, COMMITTED, SHIPPED, REJECTED = (
    "never started",
    "working",
    "in review",
    "committed",
    "shipped",
    "rejected",
)
STORIES = [NEVER_STARTED] * 3 + [WORKING] * 3 + [IN_REVIEW] * 3 + [COMMITTED] * 4
STORIES += [SHIPPED] * 5 + [REJECTED] * 2
WORKERS = [f"worker-{n}" for n in range(1, 9)]
JUDGES = ["judge-1", "judge-2"]

SAMPLE_ROWS = 200 + 1000 + 200  # progress units: tasks, assets, then each task's life cycle


def seed(
    store: Store,
    *,
    tasks: int = 200,
    assets: int = 1000,
    progress: Callable[[int], None] = lambda _n: None,
) -> bool:
    """Create the sample unless it is there already. Returns True when it wrote anything.

    One transaction: an interrupted seed leaves nothing, so the next run seeds again.
    """
    with contextlib.suppress(NotFound):
        store.get_campaign(_id("campaign", 0))
        return False
    rng = random.Random(42)  # noqa: S311 - sample data, not security
    with store.transaction() as tx:
        campaigns = []
        for n, (name, goal, status) in enumerate(CAMPAIGNS):
            campaigns.append(tx.create_campaign(name, goal, status, id=_id("campaign", n)))
        campaign_ids = [c.id for c in campaigns]
        active = {c.id for c in campaigns if c.status == "active"}
        agents: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        for n, persona in enumerate(PERSONAS):
            cid = campaign_ids[n % len(campaign_ids)] if n < 9 else campaign_ids[0]
            ref = f"lora:{persona}-v{1 + n % 3}"
            tx.create_agent(cid, f"agents/{persona}/SOUL.md", ref, id=_id("agent", n))
            agents.append((_id("agent", n), cid, ref))
        planned = [_task(rng, n, campaign_ids, active) for n in range(tasks)]
        tx.bulk_insert_tasks(plan.row for plan in planned)
        progress(len(planned))
        # Assets only for work that was started (a draft campaign's tasks wait for the Planner).
        started: dict[uuid.UUID, list[uuid.UUID]] = {}
        for plan in planned:
            if plan.story != NEVER_STARTED:
                started.setdefault(plan.row["campaign_id"], []).append(plan.row["id"])
        makers = [a for a in agents if a[1] in started]
        asset_rows = list(_assets(rng, makers, started, assets))
        tx.bulk_insert_assets(_counted(iter(asset_rows), progress))
        assets_of: dict[uuid.UUID, list[uuid.UUID]] = {}
        for asset in asset_rows:
            assets_of.setdefault(asset["task_id"], []).append(asset["id"])
        versions = {c.id: c.version for c in campaigns}
        for plan in planned:
            task_assets = assets_of.get(plan.row["id"], [])
            _live(tx, rng, plan, task_assets, versions[plan.row["campaign_id"]])
            progress(1)
    return True


class Plan(NamedTuple):
    """A task's record (created pending and unassigned, as a Planner does), what is to happen
    to it, and the Worker whose claim (in _live) will assign it."""

    story: str
    worker: str
    row: dict[str, Any]


def _task(
    rng: random.Random, n: int, campaign_ids: list[uuid.UUID], active: set[uuid.UUID]
) -> Plan:
    cid = campaign_ids[0] if n % 2 == 0 else campaign_ids[1 + (n // 2) % 2]
    story = rng.choice(STORIES) if cid in active else NEVER_STARTED
    task_type = rng.choice(
        ["generate_content"] * 4 + ["reply_comment"] * 2 + ["execute_transaction"]
    )
    priority = rng.choice(["high", "medium", "medium", "low"])
    worker = "" if story == NEVER_STARTED else rng.choice(WORKERS)
    return Plan(
        story,
        worker,
        {
            "id": _id("task", n),
            "campaign_id": cid,
            "task_type": task_type,
            "priority": priority,
            "status": "pending",
            "context": {
                "goal_description": f"Post #{n} for {CAMPAIGNS[campaign_ids.index(cid)][0]}",
                "persona_constraints": rng.sample(
                    ["upbeat", "no politics", "use slang sparingly", "mention eco"], 2
                ),
                "required_resources": [
                    f"mcp://twitter/mentions/{1000 + n}",
                    "mcp://memory/recent",
                ],
            },
        },
    )


def _live(
    tx: Store,
    rng: random.Random,
    plan: Plan,
    assets: list[uuid.UUID],
    campaign_version: int,
) -> None:
    """Move one task (and its assets) the way the Worker, the Judge and the publisher would."""
    story, worker, tid = plan.story, plan.worker, plan.row["id"]
    if story == NEVER_STARTED:
        return
    claimed = tx.transition_task(
        tid, "in_progress", actor=worker, reason="claimed from the queue", assigned_worker_id=worker
    )
    if story == WORKING:  # its assets are drafts still; half of its Workers beat (a long render)
        if tid.int % 2:  # by id, not by rng: the rest of the sample stays as it was
            tx.heartbeat_task(tid, task_version=claimed.version)
        return
    reviewed = tx.submit_task(
        tid, task_version=claimed.version, actor=worker, reason="assets submitted"
    ).task
    if story == IN_REVIEW:
        return
    judge = rng.choice(JUDGES)
    if story == REJECTED:
        tx.judge_reject(tid, task_version=reviewed.version, actor=judge, reason="off persona")
        return
    if len(assets) > 2 and rng.random() < 0.3:  # one weak take turned down, the rest approved
        tx.transition_asset(assets[0], "rejected", actor=judge, reason="audio out of sync")
    commit = tx.judge_commit(
        tid,
        campaign_version=campaign_version,
        task_version=reviewed.version,
        actor=judge,
        reason="meets the brief",
    )
    if story == SHIPPED:
        for asset in commit.approved_asset_ids:
            tx.transition_asset(asset, "published", actor="publisher", reason="posted")


def _counted(
    rows: Iterator[dict[str, Any]], progress: Callable[[int], None]
) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield row
        progress(1)


def _assets(
    rng: random.Random,
    agents: list[tuple[uuid.UUID, uuid.UUID, str]],
    tasks_by_campaign: dict[uuid.UUID, list[uuid.UUID]],
    count: int,
) -> Iterator[dict[str, Any]]:
    for n in range(count):
        agent_id, cid, ref = rng.choice(agents)
        platform = rng.choice(PLATFORMS)
        yield {
            "id": _id("asset", n),
            "agent_id": agent_id,
            "task_id": rng.choice(tasks_by_campaign[cid]),
            "platform": platform,
            "tier": rng.choice(["tier1"] * 4 + ["tier2"]),
            "character_reference_id": ref,
            "metadata": {
                "duration": round(rng.uniform(6, 60), 1),
                "resolution": rng.choice(RESOLUTIONS),
                "external_url": f"https://cdn.chimera.example/{platform}/{_id('asset', n)}.mp4",
            },
        }


def biggest_campaign(store: Store) -> uuid.UUID | None:
    best: tuple[int, uuid.UUID] | None = None
    for campaign in store.list_campaigns(limit=1000).items:
        total = sum(store.campaign_summary(campaign.id).assets_by_status.values())
        if best is None or total > best[0]:
            best = (total, campaign.id)
    return None if best is None else best[1]
