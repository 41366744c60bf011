"""A connection the caller passes in may come with settings of its own: a row factory
(psycopg's `dict_row`, `namedtuple_row`), a cursor class (`ClientCursor`), a DateStyle other than
ISO; and a database may be set to one. Every call still works, in both flavours. Before the
store named the row factory of each cursor it reads by position, `campaign_summary` raised a
bare `TypeError`, `clean` and `import_campaign` a `KeyError` over a `dict_row` connection;
before it read its results in binary, any DateStyle but ISO made every call that returns a row
fail with psycopg's `NotImplementedError` (exit 70 on the command line). A cursor class that
takes `$1` placeholders (`RawCursor`), which no call can use, or a client encoding that cannot
send every character, is refused when the store is made; the store's own pool asks for UTF8."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row, namedtuple_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from chimera_store import InvalidInput
from chimera_store.records import Campaign, CampaignSummary, VideoAsset
from chimera_store.store import AsyncStore, Store
from tests.integration.conftest import Sync

GOAL = {"goal_description": "post"}
CUTOFF = datetime(2026, 6, 1, tzinfo=UTC)


SETTINGS = {
    "sync-dict_row": ("sync", {"row_factory": dict_row}),
    "async-dict_row": ("async", {"row_factory": dict_row}),
    "sync-namedtuple_row": ("sync", {"row_factory": namedtuple_row}),
    "sync-ClientCursor": ("sync", {"cursor_factory": psycopg.ClientCursor}),
    "async-ClientCursor": ("async", {"cursor_factory": psycopg.AsyncClientCursor}),
    "async-German-datestyle": ("async", {"options": "-c datestyle=German"}),
}


@pytest.fixture(params=list(SETTINGS))
def callers_store(request: pytest.FixtureRequest, db_url: str) -> Iterator[Sync]:
    """A store over the caller's own autocommit connection with those settings."""
    flavour, settings = SETTINGS[request.param]
    if flavour == "sync":
        with psycopg.connect(db_url, autocommit=True, **settings) as conn:
            yield Sync(Store(conn), None)
        return
    with asyncio.Runner() as runner:
        aconn = runner.run(psycopg.AsyncConnection.connect(db_url, autocommit=True, **settings))
        yield Sync(AsyncStore(aconn), runner)
        runner.run(aconn.close())


def test_every_kind_of_call_over_a_callers_connection(callers_store: Sync) -> None:
    _every_kind_of_call(callers_store)


@pytest.fixture(params=["sync", "async"])
def store_on_sql_datestyle(request: pytest.FixtureRequest, db_url: str) -> Iterator[Sync]:
    """The store's own pool on a database set to print times in the SQL style, as a DBA may
    set one: psycopg parses only ISO text (NotImplementedError otherwise), so the store reads
    its results in binary."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        name = admin.info.dbname
        admin.execute(
            sql.SQL("ALTER DATABASE {} SET datestyle = 'SQL, DMY'").format(sql.Identifier(name))
        )
    if request.param == "sync":
        with Store.open(db_url) as store:
            yield Sync(store, None)
        return
    with asyncio.Runner() as runner:
        astore = runner.run(AsyncStore.open(db_url))
        yield Sync(astore, runner)
        runner.run(astore.close())


def test_every_kind_of_call_on_a_database_with_another_datestyle(
    store_on_sql_datestyle: Sync, db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SHOW datestyle").fetchone() == ("SQL, DMY",)
    _every_kind_of_call(store_on_sql_datestyle)


def _every_kind_of_call(store: Any) -> None:
    """Writes, reads, pages, the life cycle with its history, the summary, retention, a
    campaign out and back in: each kind of statement the store reads rows from."""
    c = store.create_campaign("Rows", "g", "active")
    assert isinstance(c, Campaign)
    a = store.create_agent(c.id, "a/SOUL.md", "lora:a")
    task = store.create_task(c.id, "generate_content", "high", GOAL)
    asset = store.create_asset(a.id, task.id, "tiktok", "tier1", "lora:a", metadata={"k": 1})
    assert store.list_assets(campaign_id=c.id).items == [asset]
    assert isinstance(store.list_assets(campaign_id=c.id).items[0], VideoAsset)

    claimed = store.transition_task(task.id, "in_progress", actor="w", assigned_worker_id="w")
    submitted = store.submit_task(task.id, task_version=claimed.version, actor="w")
    assert submitted.submitted_asset_ids == [asset.id]
    store.judge_commit(
        task.id, campaign_version=c.version, task_version=submitted.task.version, actor="j"
    )
    assert [h.to_status for h in store.task_history(task.id)] == [
        "in_progress",
        "review",
        "complete",
    ]

    summary = store.campaign_summary(c.id)
    assert isinstance(summary, CampaignSummary)
    assert summary.campaign == store.get_campaign(c.id)
    assert (summary.agents, summary.tasks_by_status, summary.assets_by_status) == (
        1,
        {"complete": 1},
        {"approved": 1},
    )

    # Finished work from before the cut-off: what `clean` finds, counts and removes.
    old = store.create_task(
        c.id, "generate_content", "low", GOAL, status="complete", created_at=CUTOFF - timedelta(1)
    )
    assert store.clean(CUTOFF, dry_run=True)[:2] == (1, 0)
    archived: list[dict[str, Any]] = []
    assert store.clean(CUTOFF, archive=archived.append)[:2] == (1, 0)
    assert [record["task"]["id"] for record in archived] == [str(old.id)]

    items = list(store.export_campaign(c.id))
    purged = store.purge_campaign(c.id)
    assert (purged.campaigns, purged.agents, purged.tasks, purged.video_assets) == (1, 1, 1, 1)
    counts = store.import_campaign(items)
    assert counts == (c.id, 1, 1, 1, 3, 2)
    assert store.campaign_summary(c.id) == summary


def test_a_cursor_class_with_numbered_placeholders_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, cursor_factory=psycopg.RawCursor) as conn:
        with pytest.raises(InvalidInput, match="RawCursor takes \\$1 placeholders") as caught:
            Store(conn)
        assert caught.value.field == "cursor_factory"
    pool = ConnectionPool(db_url, kwargs={"cursor_factory": psycopg.RawCursor}, open=False)
    with pytest.raises(InvalidInput, match="default cursor"):
        Store(pool)

    async def refused() -> None:
        aconn = await psycopg.AsyncConnection.connect(db_url, cursor_factory=psycopg.AsyncRawCursor)
        async with aconn:
            with pytest.raises(InvalidInput, match="AsyncRawCursor"):
                AsyncStore(aconn)
        settings = {"cursor_factory": psycopg.AsyncRawCursor}
        with pytest.raises(InvalidInput, match="cursor_factory"):
            AsyncStore(AsyncConnectionPool(db_url, kwargs=settings, open=False))

    asyncio.run(refused())


def test_a_connection_that_cannot_send_every_character_is_refused(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True, client_encoding="LATIN1") as conn:
        with pytest.raises(InvalidInput, match=r"is LATIN1; .* needs UTF8") as caught:
            Store(conn)
        assert caught.value.field == "client_encoding"
    pool = ConnectionPool(db_url, kwargs={"client_encoding": "SQL_ASCII"}, open=False)
    with pytest.raises(InvalidInput, match="client_encoding"):
        Store(pool)
    Store(ConnectionPool(db_url, kwargs={"client_encoding": "utf-8"}, open=False))  # accepted


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_the_stores_own_pool_speaks_utf8_whatever_the_database_says(
    db_url: str, flavour: str
) -> None:
    """A database set to another client encoding (a legacy setting): the store's own
    connections ask for UTF8, so any text round-trips (it was a UnicodeEncodeError, exit 70)."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        name = sql.Identifier(admin.info.dbname)
        admin.execute(sql.SQL("ALTER DATABASE {} SET client_encoding = LATIN1").format(name))
    with psycopg.connect(db_url) as conn:
        assert conn.info.parameter_status("client_encoding") == "LATIN1"
    name_with_emoji = "Drop \U0001f3ac \u00e9t\u00e9 \u6625"
    if flavour == "sync":
        with Store.open(db_url) as store:
            made = store.create_campaign(name_with_emoji, "g", "active")
            assert store.get_campaign(made.id).name == name_with_emoji
        return

    async def round_trip() -> None:
        async with await AsyncStore.open(db_url) as store:
            made = await store.create_campaign(name_with_emoji, "g", "active")
            assert (await store.get_campaign(made.id)).name == name_with_emoji

    asyncio.run(round_trip())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_callers_pool_on_a_database_in_another_encoding(db_url: str, flavour: str) -> None:
    """The pool's settings name no encoding, so the database's (LATIN1) applies and the store
    cannot know it when made: text the encoding lacks is InvalidInput at the call, with
    nothing written; text it has is stored."""
    with psycopg.connect(db_url, autocommit=True) as admin:
        name = sql.Identifier(admin.info.dbname)
        admin.execute(sql.SQL("ALTER DATABASE {} SET client_encoding = LATIN1").format(name))
    settings = {"autocommit": True}
    if flavour == "sync":
        with ConnectionPool(db_url, kwargs=settings, open=True) as pool:
            store: Any = Sync(Store(pool), None)
            _emoji_refused_latin_kept(store, db_url)
        return
    with asyncio.Runner() as runner:
        apool = AsyncConnectionPool(db_url, kwargs=settings, open=False)
        runner.run(apool.open())
        try:
            _emoji_refused_latin_kept(Sync(AsyncStore(apool), runner), db_url)
        finally:  # an open pool would keep the runner from closing: a failure would hang
            runner.run(apool.close())


def _emoji_refused_latin_kept(store: Any, db_url: str) -> None:
    with pytest.raises(InvalidInput, match="is LATIN1") as caught:
        store.create_campaign("Drop \U0001f3ac", "g", "active")
    assert caught.value.field == "client_encoding"
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM campaigns").fetchone() == (0,)
    assert store.create_campaign("\u00c9t\u00e9", "g", "active").name == "\u00c9t\u00e9"
