"""Retention: removing finished work in short batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from chimera_store import validation as v
from chimera_store.dberrors import translate
from chimera_store.errors import InvalidInput
from chimera_store.records import CleanCounts
from chimera_store.sql import query
from chimera_store.store import inputs
from chimera_store.store._async.core import StoreCore, tuples


class RetentionCalls(StoreCore):
    """Removing finished work."""

    # --- retention ---------------------------------------------------------------------------

    async def clean(
        self,
        before: datetime,
        *,
        batch_size: int = 500,
        dry_run: bool = False,
        archive: Callable[[dict[str, Any]], None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> CleanCounts:
        """Remove finished work created before `before`: complete tasks whose assets are all
        published or rejected, with those assets and all their history.

        Batches of `batch_size` tasks, one short transaction each (rows locked by others are
        skipped, never waited on). `archive` receives each task (with assets and history) before
        its batch is deleted. `dry_run` only counts.
        """
        if inputs.aware_datetime(before, "before") is None:  # required here
            raise InvalidInput("before", "must be a timezone-aware datetime")
        v.check_int(batch_size, "batch_size", 1, 10_000)
        if dry_run:
            async with self._connection() as conn:
                try:
                    cur = await tuples(conn).execute(query("clean_count"), {"before": before})
                    row = await cur.fetchone()
                except psycopg.Error as exc:
                    raise translate(exc) from None
            assert row is not None
            return CleanCounts(tasks=int(row[0]), video_assets=int(row[1]), history=0)
        async with self._connection() as conn:
            try:
                await self._analyse_new_tables(conn)
            except psycopg.Error as exc:
                raise translate(exc) from None
        totals = {"tasks": 0, "video_assets": 0, "history": 0}
        while True:
            async with self._connection() as conn:
                try:
                    async with conn.transaction():
                        cur = await tuples(conn).execute(
                            query("clean_candidates"), {"before": before, "batch": batch_size}
                        )
                        found = [r[0] for r in await cur.fetchall()]
                        if not found:
                            break
                        cur = await tuples(conn).execute(
                            query("clean_still_finished"), {"ids": found}
                        )
                        ids = [r[0] for r in await cur.fetchall()]
                        if not ids:  # every candidate took an asset meanwhile: look again
                            continue
                        if archive is not None:
                            cur = await tuples(conn).execute(query("clean_archive"), {"ids": ids})
                            for (record,) in await cur.fetchall():
                                archive(record)
                        for key, name in (
                            ("history", "clean_asset_history"),
                            ("video_assets", "clean_assets"),
                            ("history", "clean_task_history"),
                            ("tasks", "clean_tasks"),
                        ):
                            cur = await conn.execute(query(name), {"ids": ids})
                            totals[key] += cur.rowcount
                except psycopg.Error as exc:
                    raise translate(exc) from None
            if progress is not None:
                progress(len(ids))
        return CleanCounts(**totals)
