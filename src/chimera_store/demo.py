"""A realistic, deterministic sample dataset for `chimera-store demo` (idempotent)."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

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
TASK_STATUSES = ["pending", "in_progress", "review", "complete"]
ASSET_STATUSES = ["draft", "judge_pending", "approved", "published", "rejected"]


def _id(kind: str, n: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}-{n}")


SAMPLE_ROWS = 200 + 1000


def seed(
    store: Store,
    *,
    tasks: int = 200,
    assets: int = 1000,
    progress: Callable[[int], None] = lambda _n: None,
) -> bool:
    """Create the sample unless it is there already. Returns True when it wrote anything."""
    with contextlib.suppress(NotFound):
        store.get_campaign(_id("campaign", 0))
        return False
    rng = random.Random(42)  # noqa: S311 - sample data, not security
    with store.transaction() as tx:
        campaign_ids = []
        for n, (name, goal, status) in enumerate(CAMPAIGNS):
            campaign_ids.append(tx.create_campaign(name, goal, status, id=_id("campaign", n)).id)
        agents: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        for n, persona in enumerate(PERSONAS):
            cid = campaign_ids[n % len(campaign_ids)] if n < 9 else campaign_ids[0]
            ref = f"lora:{persona}-v{1 + n % 3}"
            tx.create_agent(cid, f"agents/{persona}/SOUL.md", ref, id=_id("agent", n))
            agents.append((_id("agent", n), cid, ref))
        task_rows: list[dict[str, Any]] = []
        for n in range(tasks):
            cid = campaign_ids[0] if n % 2 == 0 else campaign_ids[1 + (n // 2) % 2]
            task_rows.append(
                {
                    "id": _id("task", n),
                    "campaign_id": cid,
                    "task_type": rng.choice(
                        ["generate_content"] * 4 + ["reply_comment"] * 2 + ["execute_transaction"]
                    ),
                    "priority": rng.choice(["high", "medium", "medium", "low"]),
                    "status": rng.choice(TASK_STATUSES),
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
                }
            )
        tx.bulk_insert_tasks(task_rows)
        progress(len(task_rows))
        by_campaign: dict[uuid.UUID, list[uuid.UUID]] = {}
        for row in task_rows:
            by_campaign.setdefault(row["campaign_id"], []).append(row["id"])
        tx.bulk_insert_assets(_counted(_assets(rng, agents, by_campaign, assets), progress))
    return True


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
            "status": rng.choice(ASSET_STATUSES),
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
