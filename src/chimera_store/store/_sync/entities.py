# WARNING: this file is generated from the _async package by tools/async_to_sync.py.
# DO NOT CHANGE: edit the _async package and run `make sync-api`.
"""Campaigns, agents, tasks and video assets: create, get, list and update."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg

from chimera_store import validation as v
from chimera_store.dberrors import translate
from chimera_store.errors import InvalidInput, NotFound, StaleState
from chimera_store.records import Agent, Campaign, CampaignSummary, Page, Task, VideoAsset
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store._sync.core import StoreCore, tuples
from chimera_store.vocab import AssetStatus, CampaignStatus, Priority, TaskStatus, TaskType, Tier


class EntityCalls(StoreCore):
    """Create, read, update and list campaigns, agents, tasks and video assets; the campaign
    report; tasks from queue payloads."""

    # --- campaigns ---------------------------------------------------------------------------

    def create_campaign(
        self,
        name: str,
        goal_description: str,
        status: CampaignStatus | str = CampaignStatus.DRAFT,
        *,
        id: UUID | str | None = None,
    ) -> Campaign:
        params = inputs.campaign_params(name, goal_description, status, id)
        row = self._one(Campaign, "insert_campaign", params)
        assert row is not None
        return row

    def get_campaign(self, id: UUID | str) -> Campaign:
        return self._get(Campaign, "get_campaign", "campaign", id)

    def list_campaigns(
        self,
        *,
        status: CampaignStatus | str | None = None,
        name: str | None = None,
        id_prefix: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Campaign]:
        """Campaigns, newest first; `name` matches exactly, `id_prefix` the start of the id
        (hex digits and dashes, as `str(uuid)` prints it: how an operator names one)."""
        filters = {
            "status": inputs.filter_value(status, CampaignStatus, "status"),
            "name": inputs.optional_text(name, "name"),
            "id_prefix": inputs.id_prefix(id_prefix),
        }
        return self._page(Campaign, "list_campaigns", filters, limit, cursor)

    def update_campaign(
        self,
        id: UUID | str,
        *,
        name: str | None = None,
        goal_description: str | None = None,
        status: CampaignStatus | str | None = None,
        expected_version: int | None = None,
    ) -> Campaign:
        """Change fields; with `expected_version`, raise StaleState if the row has moved on."""
        key = v.check_uuid(id, "id")
        params = {
            "id": key,
            "name": inputs.optional_text(name, "name"),
            "goal_description": inputs.optional_text(
                goal_description, "goal_description", max_len=v.MAX_TEXT
            ),
            "status": None if status is None else inputs.vocab(status, CampaignStatus, "status"),
            "expected_version": inputs.optional_version(expected_version),
        }
        row = self._one(Campaign, "update_campaign", params)
        if row is None:
            current = self.get_campaign(key)  # raises NotFound
            raise StaleState(
                f"campaign {key} is at version {current.version}, not {expected_version}",
                current_version=current.version,
            )
        return row

    # --- agents ------------------------------------------------------------------------------

    def create_agent(
        self,
        campaign_id: UUID | str,
        soul_md_path: str,
        character_reference_id: str,
        *,
        id: UUID | str | None = None,
    ) -> Agent:
        params = inputs.agent_params(campaign_id, soul_md_path, character_reference_id, id)
        row = self._one(Agent, "insert_agent", params)
        assert row is not None
        return row

    def get_agent(self, id: UUID | str) -> Agent:
        return self._get(Agent, "get_agent", "agent", id)

    def list_agents(
        self, campaign_id: UUID | str, *, limit: int = 100, cursor: str | None = None
    ) -> Page[Agent]:
        filters = {"campaign_id": v.check_uuid(campaign_id, "campaign_id")}
        return self._page(Agent, "list_agents", filters, limit, cursor)

    def update_agent(
        self,
        id: UUID | str,
        *,
        soul_md_path: str | None = None,
        character_reference_id: str | None = None,
    ) -> Agent:
        key = v.check_uuid(id, "id")
        params = {
            "id": key,
            "soul_md_path": inputs.optional_text(soul_md_path, "soul_md_path", max_len=1024),
            "character_reference_id": inputs.optional_text(
                character_reference_id, "character_reference_id"
            ),
        }
        row = self._one(Agent, "update_agent", params)
        if row is None:
            raise NotFound("agent", key)
        return row

    # --- tasks -------------------------------------------------------------------------------

    def create_task(
        self,
        campaign_id: UUID | str,
        task_type: TaskType | str,
        priority: Priority | str,
        context: Mapping[str, Any],
        *,
        status: TaskStatus | str = TaskStatus.PENDING,
        id: UUID | str | None = None,
        assigned_worker_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Task:
        params = inputs.task_params(
            campaign_id, task_type, priority, context, status, id, assigned_worker_id, created_at
        )
        row = self._one(Task, "insert_task", params)
        assert row is not None
        return row

    def get_task(self, id: UUID | str) -> Task:
        return self._get(Task, "get_task", "task", id)

    def list_tasks(
        self,
        campaign_id: UUID | str,
        *,
        status: TaskStatus | str | None = None,
        task_type: TaskType | str | None = None,
        priority: Priority | str | None = None,
        assigned_worker_id: str | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        unchanged_since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Task]:
        """Tasks of a campaign, newest first; `assigned_worker_id` gives one worker's (e.g. a
        restarted Worker finding what it had claimed); `created_from` (inclusive) and
        `created_before` (exclusive), timezone-aware, give a time window; `unchanged_since`
        only those whose status has not changed since that time (with `status="in_progress"`:
        the tasks a Worker that died still holds)."""
        filters = {
            # Required: None here listed every campaign's tasks, a sort of the whole table.
            "campaign_id": v.check_uuid(campaign_id, "campaign_id"),
            "status": inputs.filter_value(status, TaskStatus, "status"),
            "task_type": inputs.filter_value(task_type, TaskType, "task_type"),
            "priority": inputs.filter_value(priority, Priority, "priority"),
            "assigned_worker_id": inputs.optional_text(assigned_worker_id, "assigned_worker_id"),
            "created_from": inputs.aware_datetime(created_from, "created_from"),
            "created_before": inputs.aware_datetime(created_before, "created_before"),
            "task_unchanged_since": inputs.aware_datetime(unchanged_since, "unchanged_since"),
        }
        return self._page(Task, "list_tasks", filters, limit, cursor)

    def update_task(
        self,
        id: UUID | str,
        *,
        priority: Priority | str | None = None,
        context: Mapping[str, Any] | None = None,
        assigned_worker_id: str | None = None,
    ) -> Task:
        """Change priority, context or worker; status changes go through `transition_task`."""
        key = v.check_uuid(id, "id")
        params = {
            "id": key,
            "priority": None if priority is None else inputs.vocab(priority, Priority, "priority"),
            "context": None if context is None else inputs.context_param(context),
            "assigned_worker_id": inputs.optional_text(assigned_worker_id, "assigned_worker_id"),
        }
        row = self._one(Task, "update_task", params)
        if row is None:
            raise NotFound("task", key)
        return row

    # --- video assets ------------------------------------------------------------------------

    def create_asset(
        self,
        agent_id: UUID | str,
        task_id: UUID | str,
        platform: str,
        tier: Tier | str,
        character_reference_id: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        status: AssetStatus | str = AssetStatus.DRAFT,
        id: UUID | str | None = None,
    ) -> VideoAsset:
        params = inputs.asset_params(
            agent_id, task_id, platform, tier, character_reference_id, metadata, status, id
        )
        row = self._one(VideoAsset, "insert_asset", params)
        assert row is not None
        return row

    def get_asset(self, id: UUID | str) -> VideoAsset:
        return self._get(VideoAsset, "get_asset", "video asset", id)

    def list_assets(
        self,
        *,
        campaign_id: UUID | str | None = None,
        agent_id: UUID | str | None = None,
        task_id: UUID | str | None = None,
        status: AssetStatus | str | None = None,
        platform: str | None = None,
        tier: Tier | str | None = None,
        metadata: Mapping[str, Any] | None = None,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        unchanged_since: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[VideoAsset]:
        """Assets of a campaign, an agent or a task (at least one), newest first.

        `metadata` filters by containment (`{"resolution": "1080x1920"}`), served by a GIN index.
        `created_from` (inclusive) and `created_before` (exclusive), timezone-aware, give a time
        window, served by the same index as the order. `unchanged_since`: only those whose
        status has not changed since that time (with `status="judge_pending"`: a Judge's backlog).
        """
        if campaign_id is None and agent_id is None and task_id is None:
            raise InvalidInput("campaign_id", "give campaign_id, agent_id or task_id")
        filters = {
            "campaign_id": inputs.filter_value(campaign_id, None, "campaign_id"),
            "agent_id": inputs.filter_value(agent_id, None, "agent_id"),
            "task_id": inputs.filter_value(task_id, None, "task_id"),
            "status": inputs.filter_value(status, AssetStatus, "status"),
            "platform": inputs.filter_value(platform, None, "platform"),
            "tier": inputs.filter_value(tier, Tier, "tier"),
            "metadata": metadata,
            "created_from": inputs.aware_datetime(created_from, "created_from"),
            "created_before": inputs.aware_datetime(created_before, "created_before"),
            "asset_unchanged_since": inputs.aware_datetime(unchanged_since, "unchanged_since"),
        }
        return self._page(VideoAsset, "list_assets", filters, limit, cursor)

    def update_asset_metadata(
        self,
        id: UUID | str,
        metadata: Mapping[str, Any],
        *,
        merge: bool = False,
        remove_keys: Iterable[str] = (),
    ) -> VideoAsset:
        """Replace the asset's metadata, or with `merge=True` set only the given top-level keys
        and drop `remove_keys` (atomically: concurrent merges of different keys all land; the
        merged document must stay within the size limit)."""
        key = v.check_uuid(id, "id")
        params: dict[str, Any] = {"id": key, "metadata": inputs.json_param(metadata, "metadata")}
        removed = inputs.key_list(remove_keys, "remove_keys")
        if removed and not merge:
            raise InvalidInput("remove_keys", "only with merge=True (a replacement keeps no key)")
        if not merge:
            row = self._one(VideoAsset, "update_asset_metadata", params)
            if row is None:
                raise NotFound("video asset", key)
            return row
        params["max_bytes"] = v.MAX_JSON_BYTES
        params["remove_keys"] = removed
        row = self._one(VideoAsset, "merge_asset_metadata", params)
        if row is None:
            self.get_asset(key)  # raises NotFound
            raise InvalidInput(
                "metadata", f"the merged document would be larger than {v.MAX_JSON_BYTES} bytes"
            )
        return row

    # --- reports -----------------------------------------------------------------------------

    def campaign_summary(self, id: UUID | str) -> CampaignSummary:
        """The campaign with its counts, in one round trip."""
        key = v.check_uuid(id, "id")
        with self._connection() as conn:
            try:
                cur = tuples(conn).execute(query("campaign_summary"), {"id": key})
                row = cur.fetchone()
            except psycopg.Error as exc:
                raise translate(exc) from None
        if row is None:
            raise NotFound("campaign", key)
        width = len(Campaign._fields)
        return CampaignSummary(Campaign(*row[:width]), *row[width:])

    # --- queue payloads ----------------------------------------------------------------------

    def create_task_from_payload(
        self, payload: Mapping[str, Any], campaign_id: UUID | str
    ) -> Task:
        """Persist a Planner -> Worker queue payload (validated against its JSON Schema)."""
        row = self._one(Task, "insert_task", inputs.payload_task_params(payload, campaign_id))
        assert row is not None
        return row
