"""Idempotent DDL helpers used by the migration scripts.

Why idempotent: the first revision must also *adopt* tables that an older create-if-not-exists
script made (spec edge case 1). Online, each helper looks at the catalog and only issues what is
missing; offline (`alembic upgrade --sql`, used by the linter) it emits the plain fresh-database DDL.
Nothing here ever drops or rewrites existing data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import context, op
from psycopg import sql

from chimera_store.errors import DataLossRefused


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    not_null: bool = True
    default: str | None = None
    # SQL run before SET NOT NULL when an adopted table gains this column (fills existing rows).
    backfill: str | None = None

    def definition(self) -> str:
        parts = [self.name, self.type]
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.not_null:
            parts.append("NOT NULL")
        return " ".join(parts)


def _offline() -> bool:
    return context.is_offline_mode()


def _scalar(sql: str, **params: object) -> object:
    return op.get_bind().execute(sa.text(sql), params).scalar()


def _table_exists(table: str) -> bool:
    return bool(_scalar("SELECT to_regclass(current_schema() || '.' || :t) IS NOT NULL", t=table))


def _column_info(table: str) -> dict[str, tuple[bool, str | None]]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT a.attname, a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d "
            "  ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = (current_schema() || '.' || :t)::regclass "
            "  AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        {"t": table},
    )
    return {name: (bool(notnull), default) for name, notnull, default in rows}


def _constraint_exists(table: str, name: str) -> bool:
    return bool(
        _scalar(
            "SELECT 1 FROM pg_constraint WHERE conname = :n "
            "AND conrelid = (current_schema() || '.' || :t)::regclass",
            n=name,
            t=table,
        )
    )


def create_table(table: str, columns: Sequence[Col]) -> None:
    """CREATE TABLE, or bring an existing table's columns, defaults and NOT NULLs up to it."""
    if _offline() or not _table_exists(table):
        body = ",\n    ".join(c.definition() for c in columns)
        op.execute(f"CREATE TABLE {table} (\n    {body}\n)")
        return
    existing = _column_info(table)
    for col in columns:
        if col.name not in existing:
            nullable = Col(col.name, col.type, not_null=False, default=col.default)
            op.execute(f"ALTER TABLE {table} ADD COLUMN {nullable.definition()}")
            if col.backfill:
                op.execute(col.backfill)
            if col.not_null:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {col.name} SET NOT NULL")
            continue
        not_null, default = existing[col.name]
        if col.default is not None and default is None:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col.name} SET DEFAULT {col.default}")
        if col.not_null and not not_null:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col.name} SET NOT NULL")


def add_constraint(table: str, name: str, definition: str) -> None:
    """ALTER TABLE ... ADD CONSTRAINT unless a constraint of that name exists on the table."""
    if not _offline() and _constraint_exists(table, name):
        return
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")


def drop_adopted_constraint(table: str, name: str) -> None:
    """Drop a constraint that only tables made outside the migrations can have (adoption).

    Offline output describes a fresh database, where it never exists, so nothing is emitted.
    """
    if _offline():
        return
    if _constraint_exists(table, name):
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")


def create_index(name: str, table: str, definition: str, *, unique: bool = False) -> None:
    kind = "UNIQUE INDEX" if unique else "INDEX"
    op.execute(f"CREATE {kind} IF NOT EXISTS {name} ON {table} {definition}")


def create_trigger(name: str, table: str, definition: str) -> None:
    # CREATE OR REPLACE TRIGGER needs PostgreSQL 14, our documented minimum.
    op.execute(f"CREATE OR REPLACE TRIGGER {name} {definition.format(table=table)}")


def refuse_data_loss(what: Sequence[tuple[str, str | None]]) -> None:
    """Before a downgrade drops tables or columns: refuse if any holds data, unless allowed.

    `what` lists (table, column) pairs; column None means the whole table. The allowance comes from
    `alembic -x allow_data_loss=true` or the migrator's `allow_data_loss` attribute.
    """
    config = context.config
    allowed = bool(config.attributes.get("allow_data_loss")) or (
        context.get_x_argument(as_dictionary=True).get("allow_data_loss", "").lower()
        in {"1", "true", "yes"}
    )
    if allowed:
        return
    if _offline():
        # A rendered script cannot count rows now: it counts them when it is applied.
        op.execute(_data_loss_guard(what))
        return
    holding: list[str] = []
    for table, column in what:
        if not _table_exists(table):
            continue
        if column is None:
            sql = f"SELECT EXISTS (SELECT 1 FROM {table})"  # noqa: S608 - constant identifiers
            label = f"table {table}"
        else:
            sql = f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} IS NOT NULL)"  # noqa: S608
            label = f"column {table}.{column}"
        if _scalar(sql):
            holding.append(label)
    if holding:
        raise DataLossRefused(
            "downgrade would drop data in "
            + ", ".join(holding)
            + "; nothing was changed (pass --allow-data-loss to drop it)"
        )


def _data_loss_guard(what: Sequence[tuple[str, str | None]]) -> str:
    """The refusal of `refuse_data_loss` as SQL, for a rendered downgrade (`--sql`): raises, so
    the script's transaction changes nothing, if any of the tables or columns holds data."""
    checks = []
    for table, column in what:
        probe = sql.SQL("SELECT EXISTS (SELECT 1 FROM {}{})").format(
            sql.Identifier(table),
            sql.SQL("")
            if column is None
            else sql.SQL(" WHERE {} IS NOT NULL").format(sql.Identifier(column)),
        )
        label = f"table {table}" if column is None else f"column {table}.{column}"
        checks.append(
            sql.SQL(
                "    IF to_regclass(format('%I.%I', current_schema(), {table})) IS NOT NULL THEN\n"
                "        EXECUTE {probe} INTO has_rows;\n"
                "        IF has_rows THEN holding := holding || {label}::text; END IF;\n"
                "    END IF;\n"
            ).format(
                table=sql.Literal(table),
                probe=sql.Literal(probe.as_string()),
                label=sql.Literal(label),
            )
        )
    return (
        sql.SQL(
            "DO $chimera_guard$\nDECLARE\n    holding text[] := ARRAY[]::text[];\n"
            "    has_rows boolean;\nBEGIN\n{checks}"
            "    IF cardinality(holding) > 0 THEN\n"
            "        RAISE EXCEPTION 'downgrade would drop data in %; nothing was changed (render "
            "it with --allow-data-loss to drop it)', array_to_string(holding, ', ');\n"
            "    END IF;\nEND\n$chimera_guard$"
        )
        .format(checks=sql.SQL("").join(checks))
        .as_string()
    )
