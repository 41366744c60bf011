"""Bulk ingest with COPY (all or nothing, bad rows by position) and a campaign's purge."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import psycopg

from chimera_store import validation as v
from chimera_store.dberrors import translate
from chimera_store.errors import ChimeraError, InvalidInput, NotFound
from chimera_store.records import PurgeCounts
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store._async.core import StoreCore

_COPY_LINE = re.compile(r"COPY \w+, line (\d+)")


class BulkCalls(StoreCore):
    """COPY ingest of assets, tasks and payloads; purging a campaign."""

    # --- bulk ingest and purge ---------------------------------------------------------------

    async def bulk_insert_assets(
        self, records: inputs.AsyncRecords, *, dry_run: bool = False
    ) -> int:
        """Stream assets in with COPY: constant memory, all or nothing, bad rows by position.

        With `dry_run`, everything is done and checked (the database's checks included) and
        then rolled back: the count of what would be stored, or the error it would give."""
        return await self._copy(
            "copy_assets", inputs.ASSET_COPY_TYPES, inputs.asset_copy_row, records, dry_run
        )

    async def bulk_insert_tasks(
        self, records: inputs.AsyncRecords, *, dry_run: bool = False
    ) -> int:
        return await self._copy(
            "copy_tasks", inputs.TASK_COPY_TYPES, inputs.task_copy_row, records, dry_run
        )

    async def bulk_insert_task_payloads(
        self, payloads: inputs.AsyncRecords, campaign_id: UUID | str, *, dry_run: bool = False
    ) -> int:
        """`create_task_from_payload` for many payloads at COPY speed: the same checks and the
        same stored rows (each payload's own `task_id` and `created_at`), streamed, all or
        nothing, a bad payload named by its position."""
        campaign = v.check_uuid(campaign_id, "campaign_id")
        return await self._copy(
            "copy_task_payloads",
            inputs.TASK_PAYLOAD_COPY_TYPES,
            functools.partial(inputs.task_payload_copy_row, campaign_id=campaign),
            payloads,
            dry_run,
        )

    async def _copy(
        self,
        name: str,
        types: Sequence[str],
        to_row: Any,
        records: inputs.AsyncRecords,
        dry_run: bool,
    ) -> int:
        rows = inputs.async_record_iterator(records)
        count = 0
        async with self._connection() as conn:
            try:
                async with conn.transaction() as tx:
                    cur = conn.cursor()
                    async with cur.copy(query(name)) as copy:
                        copy.set_types(types)
                        async for record in rows:
                            count += 1
                            try:
                                row = to_row(record)
                            except InvalidInput as exc:
                                raise exc.at_record(count) from None
                            await copy.write_row(row)
                    if dry_run:
                        raise psycopg.Rollback(tx)  # leaves this block quietly, rolled back
            except psycopg.Error as exc:
                raise copy_error(exc) from None
        return count

    async def purge_campaign(self, id: UUID | str) -> PurgeCounts:
        """Delete a campaign with its agents, tasks, assets and history, in one transaction."""
        key = v.check_uuid(id, "id")
        counts: dict[str, int] = {}
        async with self._connection() as conn:
            try:
                await self._analyse_new_tables(conn)
                async with conn.transaction():
                    for name in (
                        "purge_lock_campaign",
                        "purge_lock_agents",
                        "purge_lock_tasks",
                        "purge_lock_assets",
                    ):
                        await conn.execute(query(name), {"id": key})
                    for field, name in (
                        ("asset_history", "purge_asset_history"),
                        ("task_history", "purge_task_history"),
                        ("video_assets", "purge_assets"),
                        ("tasks", "purge_tasks"),
                        ("agents", "purge_agents"),
                        ("campaigns", "purge_campaign_row"),
                    ):
                        cur = await conn.execute(query(name), {"id": key})
                        counts[field] = cur.rowcount
                    if counts["campaigns"] == 0:
                        raise NotFound("campaign", key)
            except psycopg.Error as exc:
                raise translate(exc) from None
        return PurgeCounts(**counts)


def copy_error(exc: psycopg.Error, before: int = 0) -> ChimeraError:
    """A COPY failure names the record (1-based) the server stopped at; `before` records came
    ahead of this COPY's first one."""
    error = translate(exc)
    match = _COPY_LINE.search(exc.diag.context or "")
    return error.at_record(before + int(match.group(1))) if match else error
