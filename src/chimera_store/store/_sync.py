# WARNING: this file is generated from _async.py by tools/async_to_sync.py.
# DO NOT CHANGE: edit _async.py and run `make sync-api`.
"""The synchronous data API. The sync API (`_sync.py`) is generated from this file by
`tools/async_to_sync.py` (make sync-api); a test fails when the two drift apart.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator, Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg.rows import args_row, class_row, dict_row
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from chimera_store import validation as v
from chimera_store.config import resolve_target
from chimera_store.dberrors import (
    connect_failure_is_final,
    outside_campaign,
    translate,
    translate_connect_error,
)
from chimera_store.errors import (
    ChimeraError,
    ConnectionLost,
    DatabaseUnavailable,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ParentNotFound,
    SchemaError,
    StaleState,
)
from chimera_store.jsonb_loads import adapters as jsonb_adapters
from chimera_store.liveness import server_hung_up
from chimera_store.records import (
    Agent,
    Campaign,
    CampaignSummary,
    CleanCounts,
    ImportCounts,
    JudgeCommit,
    JudgeRejection,
    Page,
    PurgeCounts,
    StatusChange,
    Submission,
    Task,
    VideoAsset,
    encode_cursor,
)
from chimera_store.sql import query
from chimera_store.store import inputs, transfer
from chimera_store.vocab import (
    AssetStatus,
    CampaignStatus,
    Priority,
    TaskStatus,
    TaskType,
    Tier,
    asset_sources,
    next_statuses,
    task_sources,
)

R = TypeVar("R", Campaign, Agent, Task, VideoAsset)
S = TypeVar("S", Task, VideoAsset)  # records with a status life cycle
T = TypeVar("T")
_COPY_LINE = re.compile(r"COPY \w+, line (\d+)")
_log = logging.getLogger("chimera_store.pool")
_RECHECK_TIMEOUT = 5.0  # s: the direct attempt that says why the pool timed out


class Store:
    """Typed access to campaigns, agents, tasks and video assets.

    Open with `await AsyncStore.open(url)` (a pool; URL as for the CLI, default the embedded
    server), or wrap your own `AsyncConnectionPool` / `AsyncConnection`. Single operations are
    atomic; `async with store.transaction() as tx:` runs several in one transaction.
    """

    def __init__(
        self,
        source: ConnectionPool[Connection[Any]] | Connection[Any],
        *,
        owns_pool: bool = False,
    ) -> None:
        if not isinstance(source, (ConnectionPool, Connection)):
            # A URL here is the usual slip; without this the first call failed an assert.
            name, pool, conn = type(self).__name__, ConnectionPool, Connection
            raise TypeError(
                f"{name}() takes a pool ({pool.__name__}) or a connection ({conn.__name__}), not "
                f"{type(source).__name__}; for a URL use {name}.open(url)"
            )
        self._pool = source if isinstance(source, ConnectionPool) else None
        self._conn = source if isinstance(source, Connection) else None
        self._owns_pool = owns_pool

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = 30.0,
        prepare_threshold: int | None = 5,
        max_idle: float = 600.0,
        check_schema: bool = True,
    ) -> Store:
        """A store over a new connection pool. `prepare_threshold=None` for pgbouncer < 1.21.

        The pool grows up to `max_size` while calls wait and closes connections idle for
        `max_idle` seconds, down to `min_size` (docs/api.md: why `min_size` should stay low).
        With `check_schema`, a database without this version's migrations is refused at once
        (SchemaError) rather than at the first call that needs them."""
        target_url = url or resolve_target().url
        # One direct attempt first: a refused login or a missing database is final, so it is
        # reported at once instead of after the pool has retried for `connect_timeout` seconds.
        # An unreachable server is left to the pool, which keeps trying (a service may start
        # before its database).
        failure = _connect_once(target_url, connect_timeout)
        if failure is not None and connect_failure_is_final(failure):
            raise translate_connect_error(failure)

        def check(conn: Connection[Any]) -> None:
            _refresh_if_hung_up(pool, conn)

        pool: ConnectionPool[Connection[Any]] = ConnectionPool(
            target_url,
            min_size=min_size,
            max_size=max_size,
            timeout=connect_timeout,
            max_idle=max_idle,
            check=check,
            open=False,
            kwargs={
                "context": jsonb_adapters(),
                "autocommit": True,
                "prepare_threshold": prepare_threshold,
                "application_name": "chimera-store",
            },
        )
        try:
            pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            pool.close()
            failure = _connect_once(target_url, connect_timeout)  # to say *why*
            if failure is not None:
                raise translate_connect_error(failure) from None
            raise DatabaseUnavailable("timed out connecting to the database") from None
        if check_schema:
            try:
                _check_schema(pool)
            except BaseException:
                pool.close()
                raise
        return cls(pool, owns_pool=True)

    def close(self) -> None:
        if self._pool is not None and self._owns_pool:
            self._pool.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connections and transactions -------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[Connection[Any]]:
        if self._conn is not None:
            yield self._conn
            return
        assert self._pool is not None
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise DatabaseUnavailable(
                "this store is closed (by `close()` or the end of its `with` block); open a new one"
            ) from None
        except PoolTimeout:
            # Either every connection is busy or the pool cannot open one: a direct attempt
            # tells which (only on this slow path), so a server that is down is not reported
            # as a busy pool. (A caller's pool may log in with kwargs this URL lacks: not tried.)
            url = self._pool.conninfo
            if self._owns_pool and isinstance(url, str):
                failure = _connect_once(url, _RECHECK_TIMEOUT)
                if failure is not None:
                    raise translate_connect_error(failure) from None
            raise DatabaseUnavailable(
                f"no database connection free within {self._pool.timeout:g} s (all "
                f"{self._pool.max_size} of the pool's connections in use; inside "
                "`store.transaction() as tx`, call `tx`, not `store`)"
            ) from None
        except psycopg.Error as exc:
            raise translate(exc) from None

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Run several operations atomically: `async with store.transaction() as tx: ...`."""
        with self._connection() as conn:
            try:
                with conn.transaction():
                    yield Store(conn)
            except psycopg.Error as exc:
                raise translate(exc) from None

    def _one(self, row_type: type[R], name: str, params: Mapping[str, Any]) -> R | None:
        with self._connection() as conn:
            try:
                cur = conn.cursor(row_factory=args_row(row_type))
                cur.execute(query(name), params)
                return cur.fetchone()
            except psycopg.Error as exc:
                raise translate(exc) from None

    def _page(
        self,
        row_type: type[R],
        name: str,
        filters: Mapping[str, Any],
        limit: int,
        cursor: str | None,
    ) -> Page[R]:
        statement, params = inputs.list_statement(name, filters, limit=limit, cursor=cursor)
        rows: list[R] = []
        with self._connection() as conn:
            try:
                cur = conn.cursor(row_factory=args_row(row_type))
                cur.execute(statement, params)
                rows = cur.fetchall()
            except psycopg.Error as exc:
                raise translate(exc) from None
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor(last.created_at, last.id)
        return Page(items=rows, next_cursor=next_cursor)

    def iterate(
        self,
        list_method: inputs.Lister[T],
        /,
        *args: Any,
        page_size: int = 500,
        **filters: Any,
    ) -> Iterator[T]:
        """Every record a list method finds, newest first, fetched page by page.

        `store.iterate(store.list_assets, campaign_id=c, status="draft")`, looped over with
        `for` (`async for` on an AsyncStore).
        Each page is its own short query (keyset), so no connection or transaction is held
        between pages; rows created after the walk started are newer and not included.
        """
        arguments = inputs.paging_filters(filters, page_size)
        cursor: str | None = None
        while True:
            page = list_method(*args, **arguments, cursor=cursor)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def _get(self, row_type: type[R], name: str, entity: str, id: UUID | str) -> R:
        key = v.check_uuid(id, "id")
        row = self._one(row_type, name, {"id": key})
        if row is None:
            raise NotFound(entity, key)
        return row

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
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Campaign]:
        filters = {"status": inputs.filter_value(status, CampaignStatus, "status")}
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
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[Task]:
        """Tasks of a campaign, newest first; `assigned_worker_id` gives one worker's (e.g. a
        restarted Worker finding what it had claimed); `created_from` (inclusive) and
        `created_before` (exclusive), timezone-aware, give a time window."""
        filters = {
            # Required: None here listed every campaign's tasks, a sort of the whole table.
            "campaign_id": v.check_uuid(campaign_id, "campaign_id"),
            "status": inputs.filter_value(status, TaskStatus, "status"),
            "task_type": inputs.filter_value(task_type, TaskType, "task_type"),
            "priority": inputs.filter_value(priority, Priority, "priority"),
            "assigned_worker_id": inputs.optional_text(assigned_worker_id, "assigned_worker_id"),
            "created_from": inputs.aware_datetime(created_from, "created_from"),
            "created_before": inputs.aware_datetime(created_before, "created_before"),
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

    def transition_task(
        self,
        id: UUID | str,
        to_status: TaskStatus | str,
        *,
        actor: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
        assigned_worker_id: str | None = None,
    ) -> Task:
        """Move a task along its life cycle (one compare-and-set, recorded in its history).

        Raises InvalidTransition (nothing changed) for a move the rules forbid, StaleState when
        `expected_version` no longer matches. A repeated `idempotency_key` returns the task as it
        is, without error and without a second history entry. `assigned_worker_id` is set in
        the same statement (a Worker's claim, `pending -> in_progress`, is then atomic: of two
        Workers claiming one task, one wins and the other gets InvalidTransition).
        """
        target = inputs.vocab(to_status, TaskStatus, "to_status")
        params = _transition_params(
            v.check_uuid(id, "id"),
            target,
            task_sources(TaskStatus(target)),
            actor,
            reason,
            idempotency_key,
            expected_version,
        )
        params["assigned_worker_id"] = inputs.optional_text(
            assigned_worker_id, "assigned_worker_id"
        )
        return self._transition(Task, "task", params)

    def task_history(self, id: UUID | str) -> list[StatusChange]:
        return self._history("task_history", "task", v.check_uuid(id, "id"))

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
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[VideoAsset]:
        """Assets of a campaign, an agent or a task (at least one), newest first.

        `metadata` filters by containment (`{"resolution": "1080x1920"}`), served by a GIN index.
        `created_from` (inclusive) and `created_before` (exclusive), timezone-aware, give a time
        window, served by the same index as the order.
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

    def transition_asset(
        self,
        id: UUID | str,
        to_status: AssetStatus | str,
        *,
        actor: str,
        reason: str | None = None,
        idempotency_key: str | None = None,
        expected_version: int | None = None,
    ) -> VideoAsset:
        """Move an asset along `draft -> judge_pending -> approved | rejected -> published`."""
        target = inputs.vocab(to_status, AssetStatus, "to_status")
        params = _transition_params(
            v.check_uuid(id, "id"),
            target,
            asset_sources(AssetStatus(target)),
            actor,
            reason,
            idempotency_key,
            expected_version,
        )
        return self._transition(VideoAsset, "asset", params)

    def asset_history(self, id: UUID | str) -> list[StatusChange]:
        return self._history("asset_history", "video asset", v.check_uuid(id, "id"))

    def _transition(self, row_type: type[S], kind: str, params: dict[str, Any]) -> S:
        """The compare-and-set; when it changed nothing, find out why (one shared path for tasks
        and assets: idempotent repeat, stale version, or a move the rules forbid)."""
        row = self._one(row_type, f"transition_{kind}", params)
        if row is not None:
            return row
        entity = "task" if kind == "task" else "video asset"
        key: UUID = params["id"]
        current = self._get(row_type, f"get_{kind}", entity, key)
        if params["idempotency_key"] is not None and self._seen(
            f"{kind}_idempotent_hit", key, params["idempotency_key"]
        ):
            return current
        expected = params["expected_version"]
        if expected is not None and current.version != expected:
            raise StaleState(
                f"{entity} {key} is at version {current.version}, not {expected}",
                current_version=current.version,
            )
        raise InvalidTransition(
            entity, key, current.status, params["to_status"], next_statuses(kind, current.status)
        )

    def _seen(self, name: str, key: UUID, idempotency_key: str) -> bool:
        with self._connection() as conn:
            try:
                cur = conn.execute(query(name), {"id": key, "key": idempotency_key})
                return cur.fetchone() is not None
            except psycopg.Error as exc:
                raise translate(exc) from None

    def _history(self, name: str, entity: str, key: UUID) -> list[StatusChange]:
        """Oldest first; NotFound for an unknown id (an empty list means no change yet)."""
        with self._connection() as conn:
            try:
                cur = conn.cursor(row_factory=class_row(StatusChange))
                cur.execute(query(name), {"id": key})
                rows = cur.fetchall()
            except psycopg.Error as exc:
                raise translate(exc) from None
        if not rows:
            raise NotFound(entity, key)
        return [row for row in rows if row.id is not None]

    # --- the Judge ---------------------------------------------------------------------------

    def judge_commit(
        self,
        task_id: UUID | str,
        *,
        campaign_version: int,
        task_version: int,
        actor: str,
        reason: str | None = None,
        asset_ids: Iterable[UUID | str] | None = None,
    ) -> JudgeCommit:
        """Commit a reviewed task and approve its judge_pending assets, atomically.

        Only if the campaign is still `active` at `campaign_version` and the task is still in
        `review` at `task_version` (the versions the worker started from); otherwise StaleState
        and nothing changes. `asset_ids` approves only those (the rest stay judge_pending); one
        that is not a judge_pending asset of the task is InvalidInput, and nothing changes.
        """
        key = v.check_uuid(task_id, "task_id")
        ids = None if asset_ids is None else inputs.uuid_list(asset_ids, "asset_ids")
        params = {
            "task_id": key,
            "campaign_version": v.check_version(campaign_version, "campaign_version"),
            "task_version": v.check_version(task_version, "task_version"),
            "actor": v.check_text(actor, "actor"),
            "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
            "asset_ids": ids,
        }
        row, state = self._compare_and_set(inputs.judge_statement(ids is not None), params)
        if row is not None:
            approved = list(row.pop("approved"))
            return JudgeCommit(task=Task(**row), approved_asset_ids=approved)
        strays = state.pop("strays", None)
        current = (state["campaign_status"], state["campaign_version"], state["task_status"])
        if (
            strays
            and current == ("active", campaign_version, "review")
            and (state["task_version"] == task_version)
        ):
            raise InvalidInput(
                "asset_ids",
                f"not a submitted asset (judge_pending) of task {key}: "
                + ", ".join(str(s) for s in strays[:10])
                + (f" and {len(strays) - 10} more" if len(strays) > 10 else "")
                + "; nothing was changed",
            )
        raise StaleState(
            f"refused a stale commit of task {key}: campaign is {state['campaign_status']} at "
            f"version {state['campaign_version']} (expected active at {campaign_version}), task is "
            f"{state['task_status']} at version {state['task_version']} (expected review at "
            f"{task_version})",
            **state,
        )

    def judge_reject(
        self,
        task_id: UUID | str,
        *,
        task_version: int,
        actor: str,
        reason: str | None = None,
    ) -> JudgeRejection:
        """Send a reviewed task back to the Planner (review -> pending) and reject its
        judge_pending assets, atomically, with history.

        Only if the task is still in `review` at `task_version`; otherwise StaleState and nothing
        changes. No campaign check: a rejection publishes nothing.
        """
        task, rejected = self._move_with_assets(
            "rejection",
            task_id,
            ("review", "pending"),
            ("judge_pending", "rejected"),
            task_version=task_version,
            actor=actor,
            reason=reason,
        )
        return JudgeRejection(task=task, rejected_asset_ids=rejected)

    def submit_task(
        self,
        task_id: UUID | str,
        *,
        task_version: int,
        actor: str,
        reason: str | None = None,
    ) -> Submission:
        """The Worker's submission: the task in progress goes to review and its draft assets to
        judge_pending, atomically, with history, so a Judge never sees a task in review whose
        assets are not yet submitted.

        Only if the task is still `in_progress` at `task_version` (e.g. not taken back by an
        operator meanwhile); otherwise StaleState and nothing changes.
        """
        task, submitted = self._move_with_assets(
            "submission",
            task_id,
            ("in_progress", "review"),
            ("draft", "judge_pending"),
            task_version=task_version,
            actor=actor,
            reason=reason,
        )
        return Submission(task=task, submitted_asset_ids=submitted)

    def _move_with_assets(
        self,
        what: str,
        task_id: UUID | str,
        task_move: tuple[str, str],
        asset_move: tuple[str, str],
        *,
        task_version: int,
        actor: str,
        reason: str | None,
    ) -> tuple[Task, list[UUID]]:
        """One of the two fixed moves of a task with its assets (move_task_with_assets)."""
        key = v.check_uuid(task_id, "task_id")
        params = {
            "task_id": key,
            "task_version": v.check_version(task_version, "task_version"),
            "actor": v.check_text(actor, "actor"),
            "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
            "task_from": task_move[0],
            "task_to": task_move[1],
            "asset_from": asset_move[0],
            "asset_to": asset_move[1],
        }
        row, state = self._compare_and_set(query("move_task_with_assets"), params)
        if row is not None:
            moved = list(row.pop("moved"))
            return Task(**row), moved
        raise StaleState(
            f"refused a stale {what} of task {key}: task is {state['task_status']} at version "
            f"{state['task_version']} (expected {task_move[0]} at {task_version})",
            **state,
        )

    def _compare_and_set(
        self, statement: str, params: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Run a task's compare-and-set statement (the Judge's, the Worker's submission): its row,
        or none and the task's and campaign's state then (read on the same connection, to say
        why it was refused; with the Judge's `asset_ids`, under "strays" those that are not the
        task's judge_pending assets); NotFound for no such task."""
        state: dict[str, Any] | None = None
        with self._connection() as conn:
            try:
                cur = conn.cursor(row_factory=dict_row)
                cur.execute(statement, params)
                row = cur.fetchone()
                if row is None:
                    cur.execute(query("judge_commit_state"), {"task_id": params["task_id"]})
                    state = cur.fetchone()
                    if state is not None and params.get("asset_ids") is not None:
                        cur.execute(query("judge_commit_strays"), params)
                        state["strays"] = [r["id"] for r in cur.fetchall()]
            except psycopg.Error as exc:
                raise translate(exc) from None
        if row is None and state is None:
            raise NotFound("task", params["task_id"])
        return row, state or {}

    # --- reports -----------------------------------------------------------------------------

    def campaign_summary(self, id: UUID | str) -> CampaignSummary:
        """The campaign with its counts, in one round trip."""
        key = v.check_uuid(id, "id")
        with self._connection() as conn:
            try:
                cur = conn.execute(query("campaign_summary"), {"id": key})
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

    # --- bulk ingest and purge ---------------------------------------------------------------

    def bulk_insert_assets(self, records: inputs.Records) -> int:
        """Stream assets in with COPY: constant memory, all or nothing, bad rows by position."""
        return self._copy(
            "copy_assets", inputs.ASSET_COPY_TYPES, inputs.asset_copy_row, records
        )

    def bulk_insert_tasks(self, records: inputs.Records) -> int:
        return self._copy("copy_tasks", inputs.TASK_COPY_TYPES, inputs.task_copy_row, records)

    def bulk_insert_task_payloads(
        self, payloads: inputs.Records, campaign_id: UUID | str
    ) -> int:
        """`create_task_from_payload` for many payloads at COPY speed: the same checks and the
        same stored rows (each payload's own `task_id` and `created_at`), streamed, all or
        nothing, a bad payload named by its position."""
        campaign = v.check_uuid(campaign_id, "campaign_id")
        return self._copy(
            "copy_task_payloads",
            inputs.TASK_PAYLOAD_COPY_TYPES,
            functools.partial(inputs.task_payload_copy_row, campaign_id=campaign),
            payloads,
        )

    def _copy(
        self,
        name: str,
        types: Sequence[str],
        to_row: Any,
        records: inputs.Records,
    ) -> int:
        rows = inputs.record_iterator(records)
        count = 0
        with self._connection() as conn:
            try:
                with conn.transaction():
                    cur = conn.cursor()
                    with cur.copy(query(name)) as copy:
                        copy.set_types(types)
                        for record in rows:
                            count += 1
                            try:
                                row = to_row(record)
                            except InvalidInput as exc:
                                raise exc.at_record(count) from None
                            copy.write_row(row)
            except psycopg.Error as exc:
                raise _copy_error(exc) from None
        return count

    def purge_campaign(self, id: UUID | str) -> PurgeCounts:
        """Delete a campaign with its agents, tasks, assets and history, in one transaction."""
        key = v.check_uuid(id, "id")
        counts: dict[str, int] = {}
        with self._connection() as conn:
            try:
                with conn.transaction():
                    for field, name in (
                        ("asset_history", "purge_asset_history"),
                        ("task_history", "purge_task_history"),
                        ("video_assets", "purge_assets"),
                        ("tasks", "purge_tasks"),
                        ("agents", "purge_agents"),
                        ("campaigns", "purge_campaign_row"),
                    ):
                        cur = conn.execute(query(name), {"id": key})
                        counts[field] = cur.rowcount
                    if counts["campaigns"] == 0:
                        raise NotFound("campaign", key)
            except psycopg.Error as exc:
                raise translate(exc) from None
        return PurgeCounts(**counts)

    # --- a whole campaign out and back in --------------------------------------------------

    def export_campaign(self, id: UUID | str) -> Iterator[dict[str, Any]]:
        """Everything stored for a campaign, as items `import_campaign` takes back: a header,
        the campaign, its agents, tasks, task history, assets and asset history (each item a
        dict with its `kind` and every stored column; `chimera_store.store.transfer`).

        One consistent snapshot (a read-only REPEATABLE READ transaction) streamed through
        server-side cursors, in constant memory. It holds a connection until the iteration
        ends: iterate to the end, or close the iterator.
        """
        key = v.check_uuid(id, "id")
        with self._connection() as conn:
            try:
                # Inside a caller's transaction its snapshot rules (and cannot be changed).
                fresh = conn.info.transaction_status == TransactionStatus.IDLE
                with conn.transaction():
                    if fresh:
                        conn.execute(query("snapshot_read"))
                    cur = conn.cursor(row_factory=dict_row)
                    cur.execute(query("export_campaign"), {"id": key})
                    campaign = cur.fetchone()
                    if campaign is None:
                        raise NotFound("campaign", key)
                    cur.execute(query("current_revisions"))
                    revision = ",".join(str(row["version_num"]) for row in cur.fetchall())
                    yield transfer.header(key, revision, datetime.now(UTC))
                    yield transfer.item("campaign", campaign)
                    end: dict[str, Any] = {"kind": "end"}
                    for kind in transfer.COPIED:
                        named = conn.cursor(name=f"chimera_export_{kind}", row_factory=dict_row)
                        named.itersize = 1000
                        n = 0
                        with named:
                            named.execute(query(transfer.EXPORT_QUERIES[kind]), {"id": key})
                            for row in named:
                                n += 1
                                yield transfer.item(kind, row)
                        end[transfer.COUNT_FIELDS[kind]] = n
                    yield end
            except psycopg.Error as exc:
                raise translate(exc) from None

    def import_campaign(self, items: inputs.Records) -> ImportCounts:
        """Recreate a campaign from `export_campaign`'s items, every column as exported (into
        another database, or this one after a purge). One transaction, all or nothing; the
        items are streamed (COPY), keeping only the agents' and tasks' ids, and a bad one is
        named by its 1-based position. Refused if the campaign, or any of its rows' ids, exists
        already.
        """
        records = inputs.record_iterator(items)
        reader = transfer.ImportReader()
        counts = dict.fromkeys(transfer.COUNT_FIELDS.values(), 0)
        with self._connection() as conn:
            try:
                with conn.transaction():
                    current = _next_item(records, reader)
                    while current is not None:
                        kind, row = current
                        if kind in ("header", "campaign", "end"):
                            if kind == "campaign":
                                _insert_campaign(conn, row, reader.position)
                            if kind == "end":
                                try:
                                    transfer.check_counts(row, counts)
                                except InvalidInput as exc:
                                    raise exc.at_record(reader.position) from None
                            current = _next_item(records, reader)
                            continue
                        if kind in transfer.SUBJECTS:
                            conn.execute(query("stage_history"))
                        first, n = reader.position, 0
                        try:
                            with conn.cursor().copy(
                                query(transfer.COPY_QUERIES[kind])
                            ) as copy:
                                copy.set_types(transfer.COPY_TYPES[kind])
                                while current is not None and current[0] == kind:
                                    copy.write_row(current[1])
                                    n += 1
                                    current = _next_item(records, reader)
                        except psycopg.Error as exc:
                            # The reader has placed an asset whose parents are not rows of
                            # this import; should the key still fail, it is said the same way.
                            foreign = outside_campaign(exc)
                            raise (foreign or _copy_error(exc, first - 1)) from None
                        if kind in transfer.SUBJECTS:
                            assert reader.campaign_id is not None
                            _move_history(conn, kind, reader.campaign_id, n)
                        counts[transfer.COUNT_FIELDS[kind]] += n
                    reader.finish()
            except psycopg.Error as exc:
                raise translate(exc) from None
        assert reader.campaign_id is not None  # finish() saw the whole export
        return transfer.import_counts(reader.campaign_id, counts)

    # --- retention ---------------------------------------------------------------------------

    def clean(
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
            with self._connection() as conn:
                try:
                    cur = conn.execute(query("clean_count"), {"before": before})
                    row = cur.fetchone()
                except psycopg.Error as exc:
                    raise translate(exc) from None
            assert row is not None
            return CleanCounts(tasks=int(row[0]), video_assets=int(row[1]), history=0)
        totals = {"tasks": 0, "video_assets": 0, "history": 0}
        while True:
            with self._connection() as conn:
                try:
                    with conn.transaction():
                        cur = conn.execute(
                            query("clean_candidates"), {"before": before, "batch": batch_size}
                        )
                        ids = [r[0] for r in cur.fetchall()]
                        if not ids:
                            break
                        if archive is not None:
                            cur = conn.execute(query("clean_archive"), {"ids": ids})
                            for (record,) in cur.fetchall():
                                archive(record)
                        for key, name in (
                            ("history", "clean_asset_history"),
                            ("video_assets", "clean_assets"),
                            ("history", "clean_task_history"),
                            ("tasks", "clean_tasks"),
                        ):
                            cur = conn.execute(query(name), {"ids": ids})
                            totals[key] += cur.rowcount
                except psycopg.Error as exc:
                    raise translate(exc) from None
            if progress is not None:
                progress(len(ids))
        return CleanCounts(**totals)


def _transition_params(
    key: UUID,
    to_status: str,
    sources: list[str],
    actor: str,
    reason: str | None,
    idempotency_key: str | None,
    expected_version: int | None,
) -> dict[str, Any]:
    return {
        "id": key,
        "to_status": to_status,
        "from_statuses": sources,
        "actor": v.check_text(actor, "actor"),
        "reason": inputs.optional_text(reason, "reason", max_len=v.MAX_TEXT),
        "idempotency_key": inputs.optional_text(idempotency_key, "idempotency_key"),
        "expected_version": inputs.optional_version(expected_version),
    }


def _next_item(
    records: Iterator[Any], reader: transfer.ImportReader
) -> tuple[str, Any] | None:
    """The next import item, checked, as its kind and row; None at the end."""
    try:
        record = next(records)
    except StopIteration:
        return None
    try:
        return reader.read(record)
    except (InvalidInput, ParentNotFound) as exc:
        raise exc.at_record(reader.position) from None


def _insert_campaign(conn: Connection[Any], row: Any, position: int) -> None:
    """The imported campaign's row; one that exists already is said so, by its id."""
    try:
        conn.execute(query("import_campaign"), row)
    except psycopg.errors.UniqueViolation:
        raise InvalidInput(
            "id",
            f"campaign {row['id']} exists already in this database (purge it first, or import "
            "into another); nothing was imported",
        ).at_record(position) from None


def _move_history(
    conn: Connection[Any], kind: str, campaign_id: UUID, staged: int
) -> None:
    """Move staged history entries into their table; one whose task or asset is not this
    campaign's is refused by its position (see stage_history in store.sql)."""
    params = {"campaign_id": campaign_id}
    cur = conn.execute(query(f"move_{kind}"), params)
    moved = cur.fetchone()
    if moved is None or moved[0] != staged:
        cur = conn.execute(query(f"stray_{kind}"), params)
        stray = cur.fetchone()
        assert stray is not None
        field, entity = transfer.SUBJECTS[kind]
        error = ParentNotFound(entity, stray[1], field, how="is not one of this campaign's")
        raise error.at_record(int(stray[0]))
    conn.execute(query("unstage_history"))


def _check_schema(pool: ConnectionPool[Connection[Any]]) -> None:
    """SchemaError when the database lacks migrations this code needs (see `open`)."""
    from chimera_store.migrator import schema_behind  # Alembic's scripts: only when opening

    with pool.connection() as conn:
        try:
            cur = conn.execute(query("version_table_exists"))
            row = cur.fetchone()
            revisions: list[str] | None = None
            if row is not None and row[0]:
                cur = conn.execute(query("current_revisions"))
                revisions = [str(r[0]) for r in cur.fetchall()]
        except psycopg.Error as exc:
            raise translate(exc) from None
    problem = schema_behind(revisions)
    if problem is not None:
        raise SchemaError(problem)


def _refresh_if_hung_up(
    pool: ConnectionPool[Connection[Any]], conn: Connection[Any]
) -> None:
    """The pool's checkout check (see liveness.py). A connection the server hung up on is
    closed, and so is every other idle one (a restart ends them all): the caller then waits for
    a new connection instead of drawing the dead ones in turn, which the pool would space out
    by a backoff of 1 s, then 2 s, ... The raise makes the pool discard it and try again."""
    if not server_hung_up(conn):
        return
    _log.warning(
        "the database server closed an idle pooled connection (restarted or ended the "
        "session); reconnecting the pool"
    )
    conn.close()
    pool.drain()
    raise ConnectionLost("the server closed this idle connection")


def _connect_once(url: str, connect_timeout: float) -> psycopg.Error | None:
    """One direct connection, closed at once: the driver's error, or None if it worked."""
    try:
        conn = Connection.connect(url, connect_timeout=max(2, int(connect_timeout)))
    except psycopg.Error as exc:
        return exc
    conn.close()
    return None


def _copy_error(exc: psycopg.Error, before: int = 0) -> ChimeraError:
    """A COPY failure names the record (1-based) the server stopped at; `before` records came
    ahead of this COPY's first one."""
    error = translate(exc)
    match = _COPY_LINE.search(exc.diag.context or "")
    return error.at_record(before + int(match.group(1))) if match else error
