"""What the live schema looks like, and how it differs from what this version expects.

The expected schema is a snapshot (`expected_schema.json`) taken from a database built by the
migration chain (`make schema-snapshot`); a test proves that a fresh `migrate` reproduces it on every
supported server version, so `check` compares against the migrations themselves.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

import psycopg
from psycopg.rows import dict_row

from chimera_store.sql import query

# Tables later revisions add; all of them belong to the contract.
SCHEMA_TABLES = (
    "campaigns",
    "agents",
    "tasks",
    "video_assets",
    "task_status_history",
    "asset_status_history",
)

# ERD attributes: the columns a table made outside the migrations must already have, with these
# types, to be adopted (spec edge case 1).
ERD_COLUMNS: dict[str, dict[str, str]] = {
    "campaigns": {
        "id": "uuid",
        "name": "text",
        "goal_description": "text",
        "status": "text",
        "created_at": "timestamp with time zone",
        "updated_at": "timestamp with time zone",
    },
    "agents": {
        "id": "uuid",
        "soul_md_path": "text",
        "character_reference_id": "text",
        "campaign_id": "uuid",
    },
    "tasks": {
        "id": "uuid",
        "campaign_id": "uuid",
        "task_type": "text",
        "priority": "text",
        "status": "text",
        "context": "jsonb",
        "created_at": "timestamp with time zone",
    },
    "video_assets": {
        "id": "uuid",
        "agent_id": "uuid",
        "task_id": "uuid",
        "platform": "text",
        "tier": "text",
        "character_reference_id": "text",
        "status": "text",
        "metadata": "jsonb",
        "created_at": "timestamp with time zone",
    },
}

Snapshot = dict[str, Any]


def _normalise(definition: str, schema: str) -> str:
    # pg_get_*def qualifies names with the schema; the contract is schema-independent.
    return re.sub(rf"\b{re.escape(schema)}\.", "", definition)


def snapshot(conn: psycopg.Connection[Any], tables: tuple[str, ...] = SCHEMA_TABLES) -> Snapshot:
    """Tables, columns, constraints, indexes, triggers and functions of the live schema."""
    with conn.cursor(row_factory=dict_row) as cur:
        schema_row = cur.execute(query("current_schema")).fetchone()
        schema = str(schema_row["s"]) if schema_row else "public"
        params = {"tables": list(tables)}
        result: Snapshot = {"tables": {}, "functions": {}}
        for row in cur.execute(query("catalog_columns"), params).fetchall():
            table = result["tables"].setdefault(
                row["table_name"], {"columns": {}, "constraints": {}, "indexes": {}, "triggers": {}}
            )
            table["columns"][row["column_name"]] = {
                "type": row["data_type"],
                "not_null": row["not_null"],
                "default": row["column_default"],
            }
        for kind, name in (
            ("constraints", "catalog_constraints"),
            ("indexes", "catalog_indexes"),
            ("triggers", "catalog_triggers"),
        ):
            for row in cur.execute(query(name), params).fetchall():
                table = result["tables"].get(row["table_name"])
                if table is not None:
                    table[kind][row["name"]] = _normalise(row["definition"], schema)
        for row in cur.execute(query("catalog_functions")).fetchall():
            result["functions"][row["name"]] = row["definition_md5"]
    return result


@cache
def expected_snapshot() -> Snapshot:
    text = resources.files("chimera_store").joinpath("expected_schema.json").read_text("utf-8")
    data: Snapshot = json.loads(text)
    return data


def differences(live: Snapshot, expected: Snapshot) -> list[str]:
    """One readable line per difference; empty when the schemas match."""
    out: list[str] = []
    for table in sorted(set(expected["tables"]) | set(live["tables"])):
        want = expected["tables"].get(table)
        have = live["tables"].get(table)
        if want is None:
            continue  # only tables of the contract are inspected
        if have is None:
            out.append(f"table {table}: missing")
            continue
        for kind in ("columns", "constraints", "indexes", "triggers"):
            singular = kind[:-1] if kind != "indexes" else "index"
            for name in sorted(set(want[kind]) | set(have[kind])):
                w, h = want[kind].get(name), have[kind].get(name)
                if w == h:
                    continue
                if h is None:
                    out.append(f"{table}: {singular} {name} missing (expected {_show(w)})")
                elif w is None:
                    out.append(f"{table}: unexpected {singular} {name} ({_show(h)})")
                else:
                    out.append(f"{table}: {singular} {name} is {_show(h)}, expected {_show(w)}")
    for name in sorted(set(expected["functions"]) | set(live["functions"])):
        w, h = expected["functions"].get(name), live["functions"].get(name)
        if w == h:
            continue
        if h is None:
            out.append(f"function {name}(): missing")
        elif w is None:
            out.append(f"function {name}(): unexpected")
        else:
            out.append(
                f"function {name}(): body, SECURITY DEFINER or search_path differs from this "
                "version's"
            )
    return out


def _show(value: Any) -> str:
    if isinstance(value, dict):
        parts = [str(value.get("type"))]
        if value.get("not_null"):
            parts.append("NOT NULL")
        if value.get("default") is not None:
            parts.append(f"DEFAULT {value['default']}")
        return " ".join(parts)
    return str(value)


def adoption_blockers(live: Snapshot) -> list[str]:
    """Why existing tables (made outside the migrations) cannot be adopted; empty if they can.

    Adoptable: every ERD attribute present with its logical type, and no column the contract
    does not know. Missing non-ERD columns, constraints, indexes and triggers are added by the
    (idempotent) first revision; rows that violate a constraint make the adoption fail as a whole.
    """
    blockers: list[str] = []
    expected = expected_snapshot()
    for table, columns in live["tables"].items():
        if table not in ERD_COLUMNS:
            continue
        known = set(expected["tables"][table]["columns"])
        for column, want_type in ERD_COLUMNS[table].items():
            have = columns["columns"].get(column)
            if have is None:
                blockers.append(f"{table}.{column}: missing (expected {want_type})")
            elif have["type"] != want_type:
                blockers.append(f"{table}.{column}: type is {have['type']}, expected {want_type}")
        for column in columns["columns"]:
            if column not in known:
                blockers.append(f"{table}.{column}: column not part of the chimera schema")
    return blockers


def existing_tables(driver: psycopg.Connection[Any]) -> list[str]:
    """Which of the chimera tables exist in the current schema."""
    rows = driver.execute(query("existing_tables"), {"tables": list(SCHEMA_TABLES)}).fetchall()
    return [str(r[0]) for r in rows]
