"""Helpers for asyncio Workers: heartbeats kept up while a task is worked on.

`heartbeat_task` is one call; a Worker on a long render wants it every minute, and to stop
working the moment its task is taken back. `heartbeats()` does both around a block of work.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from uuid import UUID

from chimera_store import validation as v
from chimera_store.errors import ChimeraError, InvalidInput, NotFound, StaleState
from chimera_store.store import AsyncStore

_log = logging.getLogger("chimera_store.worker")


@asynccontextmanager
async def heartbeats(
    store: AsyncStore, task_id: UUID | str, *, task_version: int, every: float = 60.0
) -> AsyncIterator[None]:
    """Send `heartbeat_task` every `every` seconds while the block runs:

        async with heartbeats(store, task.id, task_version=claimed.version):
            await render(task)

    If a heartbeat is refused (the task was taken back or claimed again: StaleState; or
    purged: NotFound), the block is cancelled and that error is raised from the `async with`,
    so the Worker stops at once instead of finishing work whose submission would be refused.
    Any other failed beat (the database not answering, a lock held past `lock_timeout`, a
    failover's read-only moment) is logged and tried again at the next; the block goes on.

    Pass the store itself, not a `transaction()`'s: each beat must commit on its own to be seen
    by a janitor, and inside a transaction it would wait for the transaction's end.
    """
    if not every > 0:  # NaN too
        raise InvalidInput("every", f"must be a positive number of seconds, not {every!r}")
    # Checked here, not at the first beat: a beat's errors are only logged.
    v.check_uuid(task_id, "task_id")
    v.check_version(task_version, "task_version")
    if store.in_transaction:
        raise InvalidInput(
            "store",
            "a transaction()'s store: its beats would be seen only when the transaction ends "
            "(and one that failed would abort it); pass the store itself",
        )
    worker = asyncio.current_task()
    assert worker is not None  # an `async with` runs in a task
    refused: list[ChimeraError] = []

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await store.heartbeat_task(task_id, task_version=task_version)
            except (StaleState, NotFound) as exc:
                refused.append(exc)
                worker.cancel()
                return
            except ChimeraError as exc:
                # One missed beat is not death: the requeue window spans several. Whatever the
                # cause, the loop must go on: a beater that died would stop beating silently.
                _log.warning("heartbeat of task %s not sent: %s", task_id, exc)

    beater = asyncio.create_task(beat())
    try:
        yield
    except asyncio.CancelledError:
        if refused and worker.uncancel() == 0:  # our cancel, not the caller's
            raise refused[0] from None
        raise
    finally:
        # Cancelled before it is awaited: from here on it cannot cancel the Worker.
        beater.cancel()
        with suppress(asyncio.CancelledError):
            await beater
