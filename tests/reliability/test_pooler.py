"""Through pgbouncer in transaction pooling mode: migrate (concurrently) and the data API.

External server only (pgbouncer reaches it over TCP): deselected in the embedded run, and it
fails, never skips, when pgbouncer is missing there (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from chimera_store import InvalidInput, migrator, schema_state
from chimera_store.revisions import head_revision
from chimera_store.store import Store
from tests.helpers import CLI, revisions

pytestmark = pytest.mark.external_only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pgbouncer_url(empty_db_url: str) -> Iterator[str]:
    exe = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert Path(exe).exists(), "pgbouncer is not installed (apt-get install pgbouncer)"
    params = conninfo_to_dict(empty_db_url)
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="chimera-pgb-"))
    tmp.chmod(0o777)
    (tmp / "users.txt").write_text(f'"{params.get("user", "postgres")}" ""\n')
    (tmp / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={params.get('host', '127.0.0.1')} port={params.get('port', 5432)}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
        f"auth_file = {tmp}/users.txt\npool_mode = transaction\nmax_client_conn = 500\n"
        f"default_pool_size = 8\nlogfile = {tmp}/pgbouncer.log\nunix_socket_dir =\n"
    )
    for f in tmp.iterdir():
        f.chmod(0o666)
    # pgbouncer refuses to run as root.
    cmd = [exe, str(tmp / "pgbouncer.ini")]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "nobody", "--", *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://{params.get('user', 'postgres')}@127.0.0.1:{port}/{params['dbname']}"
    deadline = time.monotonic() + 10
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


def test_migrate_through_pgbouncer(pgbouncer_url: str, empty_db_url: str) -> None:
    env = {**os.environ, "CHIMERA_DATABASE_URL": pgbouncer_url}
    procs = [
        subprocess.Popen(
            [*CLI, "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0] * 6, results
    assert sum(out.startswith("migrated") for _, out, _ in results) == 1
    assert revisions(empty_db_url) == [head_revision()]
    again = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert schema_state.check(pgbouncer_url) == []


def test_data_api_through_pgbouncer(pgbouncer_url: str, empty_db_url: str) -> None:
    migrator.migrate(pgbouncer_url)
    store = Store.open(pgbouncer_url, max_size=4, prepare_threshold=None)
    try:
        c = store.create_campaign("pooled", "g", "active")
        a = store.create_agent(c.id, "p", "r")
        for _ in range(10):  # repeated statements: would break with server-side prepares
            t = store.create_task(c.id, "generate_content", "high", {"goal_description": "g"})
        v = store.create_asset(a.id, t.id, "tiktok", "tier1", "r", status="judge_pending")
        t = store.transition_task(t.id, "in_progress", actor="w")
        t = store.transition_task(t.id, "review", actor="w")
        done = store.judge_commit(
            t.id, campaign_version=c.version, task_version=t.version, actor="j"
        )
        assert done.approved_asset_ids == [v.id]
        assert (
            store.bulk_insert_assets(
                [
                    {
                        "agent_id": a.id,
                        "task_id": t.id,
                        "platform": "x",
                        "tier": "tier1",
                        "character_reference_id": "r",
                    }
                ]
                * 100
            )
            == 100
        )
        assert len(store.list_assets(campaign_id=c.id, limit=500).items) == 101
        with pytest.raises(InvalidInput), store.transaction() as tx:
            tx.create_campaign("rolled back", "g")
            tx.create_task(c.id, "bad", "low", {"goal_description": "g"})
        assert [x.name for x in store.list_campaigns().items] == ["pooled"]
        # Server-side cursors and the import's temporary table live within one transaction,
        # which transaction pooling keeps on one server connection.
        items = list(store.export_campaign(c.id))
        store.purge_campaign(c.id)
        counts = store.import_campaign(items)
        assert (counts.video_assets, counts.task_history, counts.asset_history) == (101, 3, 1)
        assert list(store.export_campaign(c.id))[1:] == items[1:]
    finally:
        store.close()
