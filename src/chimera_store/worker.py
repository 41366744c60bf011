"""Helpers for Workers: heartbeats kept up while a task is worked on.

`heartbeat_task` is one call; a Worker on a long render wants it every minute, and to stop
working the moment its task is taken back. `heartbeats()` does both around a block of work in
an asyncio Worker; `heartbeats_sync()` beats from a thread for a sync one (a script, a process
pool's child), which stops at its next `check()`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from uuid import UUID

from chimera_store import validation as v
from chimera_store.errors import ChimeraError, InvalidInput, NotFound, StaleState
from chimera_store.store import AsyncStore, Store

_log = logging.getLogger("chimera_store.worker")

# A refused beat: the task was taken back or claimed again (StaleState), or purged (NotFound).
_REFUSALS = (StaleState, NotFound)


_MAX_EVERY = 24 * 3600.0  # s; a thread's wait overflows on an infinite one


def _check_arguments(
    store: AsyncStore | Store, task_id: object, task_version: object, every: object
) -> None:
    """Checked before the block, not at the first beat: a beat's errors are only logged."""
    v.check_seconds(every, "every", most=_MAX_EVERY)
    v.check_uuid(task_id, "task_id")
    v.check_version(task_version, "task_version")
    if store.in_transaction:
        raise InvalidInput(
            "store",
            "a transaction()'s store: its beats would be seen only when the transaction ends "
            "(and one that failed would abort it); pass the store itself",
        )


def _missed(task_id: object, exc: ChimeraError) -> None:
    # One missed beat is not death: the requeue window spans several. Whatever the cause, the
    # loop must go on: a beater that died would stop beating silently.
    _log.warning("heartbeat of task %s not sent: %s", task_id, exc)


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

    Pass the store itself: a `transaction()`'s is refused (InvalidInput on `store`), since each
    beat must commit on its own to be seen by a janitor.
    """
    _check_arguments(store, task_id, task_version, every)
    worker = asyncio.current_task()
    assert worker is not None  # an `async with` runs in a task
    refused: list[ChimeraError] = []

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await store.heartbeat_task(task_id, task_version=task_version)
            except _REFUSALS as exc:
                refused.append(exc)
                worker.cancel()
                return
            except ChimeraError as exc:
                _missed(task_id, exc)

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


class Beats:
    """What a sync block of work sees of its heartbeats (`heartbeats_sync`)."""

    def __init__(self) -> None:
        self._refusal: ChimeraError | None = None
        self.refused = threading.Event()  # set when a beat was refused: stop working

    def _refuse(self, exc: ChimeraError) -> None:
        self._refusal = exc
        self.refused.set()

    def check(self) -> None:
        """Raise the refusal (StaleState, NotFound) if a beat was refused; call it between the
        steps of long work, which a thread cannot interrupt."""
        if self._refusal is not None:
            raise self._refusal


@contextmanager
def heartbeats_sync(
    store: Store, task_id: UUID | str, *, task_version: int, every: float = 60.0
) -> Iterator[Beats]:
    """`heartbeats()` for a sync Worker: a thread sends `heartbeat_task` every `every` seconds
    while the block runs:

        with heartbeats_sync(store, task.id, task_version=claimed.version) as beats:
            for frame in render(task):
                beats.check()  # StaleState here once the task was taken back

    A thread cannot cancel the block: a refused beat (StaleState; NotFound, the task purged)
    sets `beats.refused` and is raised by the next `beats.check()`, or by the `with` when the
    block ends, so its work is not submitted. Any other failed beat is logged and retried.
    """
    _check_arguments(store, task_id, task_version, every)
    beats = Beats()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            try:
                store.heartbeat_task(task_id, task_version=task_version)
            except _REFUSALS as exc:
                beats._refuse(exc)
                return
            except ChimeraError as exc:
                _missed(task_id, exc)

    beater = threading.Thread(target=beat, name=f"chimera-heartbeats-{task_id}", daemon=True)
    beater.start()
    try:
        yield beats
    finally:
        done.set()
        beater.join()  # at most the beat in flight
    beats.check()  # the block ended: work of a task taken back must not be submitted
