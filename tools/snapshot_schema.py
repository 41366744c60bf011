"""Regenerate src/chimera_store/expected_schema.json from a database built by the migrations.

Usage: python tools/snapshot_schema.py POSTGRES_ADMIN_URL
Creates a scratch database, migrates it to head, snapshots it, drops it.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from chimera_store import migrator, schema_contract

TARGET = Path(__file__).resolve().parent.parent / "src" / "chimera_store" / "expected_schema.json"


def main(admin_url: str) -> None:
    name = f"chimera_snapshot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(**{**conninfo_to_dict(admin_url), "dbname": name})
    try:
        migrator.migrate(url)
        with psycopg.connect(url) as conn:
            snap = schema_contract.snapshot(conn)
        TARGET.write_text(json.dumps(snap, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {TARGET}")
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main(sys.argv[1])
