"""Alembic environment: every migration runs in ONE transaction, under a migration lock.

- Lock: `pg_advisory_xact_lock` is transaction-scoped, so it also works through a
  transaction-mode pooler (pgbouncer), where a session advisory lock would leak or be lost.
- Timeouts: `lock_timeout` and `statement_timeout` are set with SET LOCAL so that a migration never
  hangs silently behind another session.
- Atomic: PostgreSQL DDL is transactional and the whole chain is one transaction, so a migration
  killed or failing half-way leaves the database at its previous revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection, Engine

from chimera_store.migrator import MigrationSettings, open_engine, prepare_migration_transaction
from chimera_store.revisions import MIGRATION_LOCK_KEY


def _run(connection: Connection) -> None:
    settings: MigrationSettings = context.config.attributes.get("settings", MigrationSettings())
    context.configure(
        connection=connection,
        target_metadata=None,
        transaction_per_migration=False,
        version_table="alembic_version",
    )
    with context.begin_transaction():
        prepare_migration_transaction(connection, settings)
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)  # the migrator's transaction, already holding the lock
        return
    # An Engine (pytest-alembic passes one) or nothing (the plain `alembic` command).
    engine = (
        connection
        if isinstance(connection, Engine)
        else open_engine(context.config.attributes.get("url"))
    )
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    if engine is not connection:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url="postgresql://",
        literal_binds=True,
        transaction_per_migration=False,
        dialect_name="postgresql",
        # As Alembic's own template: with psycopg's "pyformat" style every % in the DDL came
        # out doubled, so the trigger functions' format('... %s ...') strings changed.
        dialect_opts={"paramstyle": "named"},
    )
    settings = MigrationSettings()
    with context.begin_transaction():
        # The same timeouts as online runs, so a hand-applied --sql script cannot hang either.
        context.execute(f"SET LOCAL lock_timeout = '{int(settings.lock_timeout * 1000)}ms'")
        context.execute(
            f"SET LOCAL statement_timeout = '{int(settings.statement_timeout * 1000)}ms'"
        )
        # The migration lock of online runs, so a hand-applied script and `chimera-store
        # migrate` take turns instead of colliding (its wait is bounded by lock_timeout above).
        context.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
