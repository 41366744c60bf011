"""The schema contract in pgTAP, run with pg_prove (external PostgreSQL 15 only)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.helpers import REPO

pytestmark = pytest.mark.external_only


def test_schema_contract_in_pgtap(db_url: str) -> None:
    pg_prove = shutil.which("pg_prove")
    assert pg_prove, (
        "pg_prove is not installed (apt-get install libtap-parser-sourcehandler-pgtap-perl)"
    )
    params = conninfo_to_dict(db_url)
    result = subprocess.run(
        [
            pg_prove,
            "-h",
            str(params.get("host", "127.0.0.1")),
            "-p",
            str(params.get("port", 5432)),
            "-U",
            str(params.get("user", "postgres")),
            "-d",
            str(params["dbname"]),
            str(REPO / "tests" / "pgtap" / "schema.sql"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All tests successful" in result.stdout
