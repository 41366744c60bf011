"""Export and import of a whole campaign (the item format and its checks: store/transfer.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.pq import Format, TransactionStatus
from psycopg.rows import dict_row

from chimera_store import validation as v
from chimera_store.dberrors import outside_campaign, translate
from chimera_store.errors import InvalidInput, NotFound, ParentNotFound
from chimera_store.records import ImportCounts
from chimera_store.sql import query
from chimera_store.store import inputs, transfer
from chimera_store.store._async.bulk import copy_error
from chimera_store.store._async.core import StoreCore, reader, tuples


class TransferCalls(StoreCore):
    """A whole campaign out (`export_campaign`) and back in (`import_campaign`)."""

    # --- a whole campaign out and back in --------------------------------------------------

    async def export_campaign(self, id: UUID | str) -> AsyncIterator[dict[str, Any]]:
        """Everything stored for a campaign, as items `import_campaign` takes back: a header,
        the campaign, its agents, tasks, task history, assets and asset history (each item a
        dict with its `kind` and every stored column; `chimera_store.store.transfer`).

        One consistent snapshot (a read-only REPEATABLE READ transaction) streamed through
        server-side cursors, in constant memory. It holds a connection until the iteration
        ends: iterate to the end, or close the iterator.
        """
        key = v.check_uuid(id, "id")
        async with self._connection() as conn:
            try:
                # Inside a caller's transaction its snapshot rules (and cannot be changed).
                fresh = conn.info.transaction_status == TransactionStatus.IDLE
                async with conn.transaction():
                    if fresh:
                        await conn.execute(query("snapshot_read"))
                    cur = reader(conn, dict_row)
                    await cur.execute(query("export_campaign"), {"id": key})
                    campaign = await cur.fetchone()
                    if campaign is None:
                        raise NotFound("campaign", key)
                    await cur.execute(query("current_revisions"))
                    revision = ",".join(str(row["version_num"]) for row in await cur.fetchall())
                    yield transfer.header(key, revision, datetime.now(UTC))
                    yield transfer.item("campaign", campaign)
                    end: dict[str, Any] = {"kind": "end"}
                    for kind in transfer.COPIED:
                        named = conn.cursor(
                            name=f"chimera_export_{kind}",
                            row_factory=dict_row,
                            binary=cur.format == Format.BINARY,
                        )
                        named.itersize = 1000
                        n = 0
                        async with named:
                            await named.execute(query(transfer.EXPORT_QUERIES[kind]), {"id": key})
                            async for row in named:
                                n += 1
                                yield transfer.item(kind, row)
                        end[transfer.COUNT_FIELDS[kind]] = n
                    yield end
            except psycopg.Error as exc:
                raise translate(exc) from None

    async def import_campaign(
        self, items: inputs.AsyncRecords, *, dry_run: bool = False
    ) -> ImportCounts:
        """Recreate a campaign from `export_campaign`'s items, every column as exported (into
        another database, or this one after a purge). One transaction, all or nothing; the
        items are streamed (COPY), keeping only the agents' and tasks' ids, and a bad one is
        named by its 1-based position. Refused if the campaign, or any of its rows' ids, exists
        already. With `dry_run`, everything is done and checked, then rolled back.
        """
        records = inputs.async_record_iterator(items)
        reader = transfer.ImportReader()
        counts = dict.fromkeys(transfer.COUNT_FIELDS.values(), 0)
        async with self._connection() as conn:
            try:
                async with conn.transaction() as tx:
                    current = await _next_item(records, reader)
                    while current is not None:
                        kind, row = current
                        if kind in ("header", "campaign", "end"):
                            if kind == "campaign":
                                await _insert_campaign(conn, row, reader.position)
                            if kind == "end":
                                try:
                                    transfer.check_counts(row, counts)
                                except InvalidInput as exc:
                                    raise exc.at_record(reader.position) from None
                            current = await _next_item(records, reader)
                            continue
                        if kind in transfer.SUBJECTS:
                            await conn.execute(query("stage_history"))
                        first, n = reader.position, 0
                        try:
                            async with conn.cursor().copy(
                                query(transfer.COPY_QUERIES[kind])
                            ) as copy:
                                copy.set_types(transfer.COPY_TYPES[kind])
                                while current is not None and current[0] == kind:
                                    await copy.write_row(current[1])
                                    n += 1
                                    current = await _next_item(records, reader)
                        except psycopg.Error as exc:
                            # The reader has placed an asset whose parents are not rows of
                            # this import; should the key still fail, it is said the same way.
                            foreign = outside_campaign(exc)
                            raise (foreign or copy_error(exc, first - 1)) from None
                        if kind in transfer.SUBJECTS:
                            assert reader.campaign_id is not None
                            await _move_history(conn, kind, reader.campaign_id, n)
                        counts[transfer.COUNT_FIELDS[kind]] += n
                    reader.finish()
                    if dry_run:
                        raise psycopg.Rollback(tx)  # leaves this block quietly, rolled back
            except psycopg.Error as exc:
                raise translate(exc) from None
        assert reader.campaign_id is not None  # finish() saw the whole export
        return transfer.import_counts(reader.campaign_id, counts)


async def _next_item(
    records: AsyncIterator[Any], reader: transfer.ImportReader
) -> tuple[str, Any] | None:
    """The next import item, checked, as its kind and row; None at the end."""
    try:
        record = await anext(records)
    except StopAsyncIteration:
        return None
    try:
        return reader.read(record)
    except (InvalidInput, ParentNotFound) as exc:
        raise exc.at_record(reader.position) from None


async def _insert_campaign(conn: AsyncConnection[Any], row: Any, position: int) -> None:
    """The imported campaign's row; one that exists already is said so, by its id."""
    try:
        await conn.execute(query("import_campaign"), row)
    except psycopg.errors.UniqueViolation:
        raise InvalidInput(
            "id",
            f"campaign {row['id']} exists already in this database (purge it first, or import "
            "into another); nothing was imported",
        ).at_record(position) from None


async def _move_history(
    conn: AsyncConnection[Any], kind: str, campaign_id: UUID, staged: int
) -> None:
    """Move staged history entries into their table; one whose task or asset is not this
    campaign's is refused by its position (see stage_history in store.sql)."""
    params = {"campaign_id": campaign_id}
    cur = await tuples(conn).execute(query(f"move_{kind}"), params)
    moved = await cur.fetchone()
    if moved is None or moved[0] != staged:
        cur = await tuples(conn).execute(query(f"stray_{kind}"), params)
        stray = await cur.fetchone()
        assert stray is not None
        field, entity = transfer.SUBJECTS[kind]
        error = ParentNotFound(entity, stray[1], field, how="is not one of this campaign's")
        raise error.at_record(int(stray[0]))
    await conn.execute(query("unstage_history"))
