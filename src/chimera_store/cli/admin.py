"""Administration commands: migrate, downgrade, status, check, history, url, psql, stop, bench."""

from __future__ import annotations

import os
import re
import shutil
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from chimera_store import __version__, revisions, schema_state
from chimera_store.cli.common import (
    ENV_EPILOG,
    EXIT_DIFFERENCES,
    err,
    fail,
    handle_errors,
    out,
    print_json,
    state,
)
from chimera_store.errors import ConfigurationError, DatabaseUnavailable, InvalidInput

LockWait = Annotated[
    float,
    typer.Option(help="Seconds to wait for another migrator to finish.", min=0),
]
LockTimeout = Annotated[
    float,
    typer.Option(help="Seconds to wait for a table lock held by another session.", min=0.1),
]


class StepsArgumentCommand(TyperCommand):
    """`downgrade -1`, as its help says: click takes "-1" for an unknown option (exit 2), so a
    lone -N is moved behind "--", where it is an argument. Other options stay checked."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # vendored click.Context
        steps = [a for a in args if re.fullmatch(r"-\d+", a)]
        if steps and "--" not in args:
            args = [a for a in args if a not in steps] + ["--", *steps]
        return super().parse_args(ctx, args)


def register(app: typer.Typer) -> None:
    app.command(epilog=ENV_EPILOG)(migrate)
    app.command(epilog=ENV_EPILOG, cls=StepsArgumentCommand)(downgrade)
    app.command(epilog=ENV_EPILOG)(status)
    app.command(epilog=ENV_EPILOG)(check)
    app.command(epilog=ENV_EPILOG)(history)
    app.command(epilog=ENV_EPILOG)(url)
    app.command(epilog=ENV_EPILOG)(psql)
    app.command(epilog=ENV_EPILOG)(stop)
    app.command(epilog=ENV_EPILOG)(bench)


@handle_errors
def migrate(
    ctx: typer.Context,
    # Named as the migrator names the field, so its errors come back as `--to: ...`.
    revision: Annotated[
        str, typer.Option("--to", help="Target revision (default: head).")
    ] = "head",
    lock_wait: LockWait = 60.0,
    lock_timeout: LockTimeout = 5.0,
    as_sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Change nothing: print the SQL the migration would run, as one script (the "
            "migration lock and timeouts included) for review or for a DBA to apply with psql.",
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="With --sql: the revision the script starts from ('base': an empty database; "
            "no connection is made). Default: the database's current revision.",
        ),
    ] = None,
) -> None:
    """Bring the database schema to the newest revision (or --to REV).

    Safe to run twice (the second run changes nothing) and from several processes at once (they
    take turns on a migration lock). Each run is one transaction: on any failure the database stays
    at its previous revision. Tables with the same names made outside chimera-store are adopted if
    compatible (rows kept); otherwise nothing changes and the differences are printed.
    """
    st = state(ctx)
    if start is not None and not as_sql:
        raise InvalidInput("--from", "only with --sql (a migration starts where the database is)")
    # Alembic and SQLAlchemy (~0.4 s to import) only for the commands that migrate.
    from chimera_store import migration_scripts, migrator

    if as_sql:
        script = migration_scripts.render_sql(None if start else st.url, start=start, to=revision)
        if script:
            typer.echo(script, nl=False)  # as rendered: no console markup or emoji codes
        else:
            err.print(f"the database is at {revision} already; no SQL to print", markup=False)
        return
    settings = migrator.MigrationSettings(lock_wait=lock_wait, lock_timeout=lock_timeout)
    outcome = migrator.migrate(st.url, to=revision, settings=settings)
    before = ", ".join(outcome.before) or "empty"
    after = ", ".join(outcome.after) or "empty"
    if outcome.adopted:
        out.print(f"adopted existing tables; schema at {after} (was unversioned)")
    elif outcome.changed:
        out.print(f"migrated {before} -> {after}")
    else:
        out.print(f"already at {after}; nothing to do")


@handle_errors
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, '-1' for one step, 'base'.")],
    allow_data_loss: Annotated[
        bool,
        typer.Option(help="Allow steps that drop tables or columns holding data."),
    ] = False,
    lock_wait: LockWait = 60.0,
    lock_timeout: LockTimeout = 5.0,
    as_sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Change nothing: print the SQL the downgrade would run, as one script; its "
            "data-loss check runs when the script is applied (it then raises, changing nothing).",
        ),
    ] = False,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="With --sql: the revision the script starts from (no connection is made). "
            "Default: the database's current revision.",
        ),
    ] = None,
) -> None:
    """Step the schema down to REVISION.

    A step that would drop a table or column holding data is refused (exit 7, nothing changed)
    unless --allow-data-loss is given.
    """
    st = state(ctx)
    if start is not None and not as_sql:
        raise InvalidInput("--from", "only with --sql (a downgrade starts where the database is)")
    from chimera_store import migration_scripts, migrator

    if as_sql:
        script = migration_scripts.render_downgrade_sql(
            revision, None if start else st.url, start=start, allow_data_loss=allow_data_loss
        )
        if script:
            typer.echo(script, nl=False)  # as rendered: no console markup or emoji codes
        else:
            err.print(f"the database is at {revision} already; no SQL to print", markup=False)
        return
    settings = migrator.MigrationSettings(lock_wait=lock_wait, lock_timeout=lock_timeout)
    outcome = migrator.downgrade(
        revision, st.url, allow_data_loss=allow_data_loss, settings=settings
    )
    before = ", ".join(outcome.before) or "empty"
    after = ", ".join(outcome.after) or "base (no schema)"
    if outcome.before == outcome.after:
        out.print(f"already at {after}; nothing to do")
    else:
        out.print(f"downgraded {before} -> {after}")


@handle_errors
def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Server version, embedded or external, current and head revision, pending, a migration
    running (who, for how long), row counts (a table a migration holds: "locked", not waited on)."""
    st = state(ctx)
    target = st.target()
    info = schema_state.status(target.url, embedded=target.embedded)
    data = info.as_dict()
    data["url"] = target.masked_url
    data["chimera_store_version"] = __version__
    if as_json:
        print_json(data)
        return
    fields = [
        ("chimera-store", __version__),
        ("database", target.masked_url),
        (
            "server",
            f"PostgreSQL {info.server_version} ({'embedded' if info.embedded else 'external'})",
        ),
        ("revision", ", ".join(info.current) or "none (run `chimera-store migrate`)"),
        ("head", info.head),
        ("pending", ", ".join(info.pending) or "none"),
        ("migration", _migration_line(info.migration_running)),
        *(
            (f"rows in {name}", "locked (by a migration?); not counted" if n is None else f"{n:,}")
            for name, n in info.row_counts.items()
        ),
    ]
    width = max(len(key) for key, _ in fields)
    for key, value in fields:
        # One line per field, never folded: a URL or a path broken over two lines cannot be
        # copied (a table folds at 80 columns when the output is not a terminal).
        out.print(f"{key.ljust(width)}  {value}", soft_wrap=True, markup=False, highlight=False)


def _migration_line(running: dict[str, Any] | None) -> str:
    if running is None:
        return "none running"
    took = running["running_for_s"]
    return (
        f"running: pid {running['pid']}, user {running['usename']}, application "
        f"{running['application_name']!r}" + ("" if took is None else f", for {took:g} s")
    )


@handle_errors
def check(
    ctx: typer.Context,
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Wait up to SECONDS while the database does not answer or its schema is behind "
            "(a migration pending or running), e.g. before a service starts. A schema at the "
            "newest revision that still differs is reported at once.",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help='Print {"matches": ..., "head": ..., "differences": [...]}.'),
    ] = False,
) -> None:
    """Exit 0 when the live schema is exactly what this version expects; else list differences, exit 1."""
    st = state(ctx)
    if wait is None:
        diffs = schema_state.check(st.url)
    else:

        def waiting(reason: str) -> None:
            err.print(f"waiting: {reason}", markup=False)

        diffs = schema_state.wait_for_schema(st.url, timeout=wait, on_wait=waiting)
    if as_json:
        print_json({"matches": not diffs, "head": revisions.head_revision(), "differences": diffs})
        if diffs:
            raise typer.Exit(EXIT_DIFFERENCES)
        return
    if not diffs:
        out.print("schema matches this version")
        return
    for line in diffs:
        err.print(f"- {line}", markup=False)
    raise typer.Exit(EXIT_DIFFERENCES)


@handle_errors
def history(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines for scripts.")] = False,
) -> None:
    """List the migration revisions this version ships, oldest first."""
    from chimera_store import migrator

    rows = migrator.history()
    if as_json:
        for rev, down, message in rows:
            print_json({"revision": rev, "down_revision": down, "message": message})
        return
    table = Table("revision", "down revision", "description")
    for rev, down, message in rows:
        table.add_row(rev, down or "-", message)
    out.print(table)


@handle_errors
def url(
    ctx: typer.Context,
    show_password: Annotated[bool, typer.Option(help="Print the password instead of ***.")] = False,
) -> None:
    """Print the database URL in use (password masked unless --show-password)."""
    target = state(ctx).target()
    print(target.url if show_password else target.masked_url)


@handle_errors
def psql(
    ctx: typer.Context,
    args: Annotated[
        list[str] | None, typer.Argument(help="Passed to psql, e.g. -- -c 'SELECT 1'.")
    ] = None,
) -> None:
    """Open psql on the database (psql on PATH, or the embedded server's own)."""
    target = state(ctx).target()
    exe = None
    if target.embedded:  # the server's own psql: same major version
        from chimera_store.embedded import embedded_psql

        exe = embedded_psql()
    exe = exe or shutil.which("psql")
    if exe is None:
        raise fail(
            "psql is not installed (install the PostgreSQL client)", DatabaseUnavailable.exit_code
        )
    os.execv(exe, [exe, target.url, *(args or [])])  # noqa: S606 - replacing ourselves with psql is the point


@handle_errors
def stop(ctx: typer.Context) -> None:
    """Stop the embedded PostgreSQL server; its data stays under CHIMERA_HOME.

    The next command that needs the server starts it again. Sessions still connected are
    disconnected and their open transactions roll back (pg_ctl's fast mode); nothing committed is
    lost. Not running: says so and exits 0. An external server (CHIMERA_DATABASE_URL) is not
    chimera-store's to stop: exit 3.
    """
    from chimera_store.config import chimera_home, external_url
    from chimera_store.embedded import stop_embedded

    if external_url(state(ctx).database_url):
        raise fail(
            "stop applies to the embedded server only; --database-url / CHIMERA_DATABASE_URL "
            "selects an external one (stop it with its own tools)",
            ConfigurationError.exit_code,
        )
    if stop_embedded():
        out.print(f"stopped the embedded server (data kept in {chimera_home()})")
    else:
        out.print(f"the embedded server is not running (data in {chimera_home()})")


@handle_errors
def bench(
    ctx: typer.Context,
    rows: Annotated[int, typer.Option(help="Video assets to ingest.", min=1000)] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    check_targets: Annotated[
        bool, typer.Option("--check", help="Exit 1 when a target is missed.")
    ] = False,
) -> None:
    """Benchmark the data API against raw psycopg and SQLAlchemy in a scratch database.

    Creates a database next to the configured one (needs CREATEDB), builds the dataset (default
    1,000,000 assets, 100 campaigns, 1,000 agents, 100,000 tasks), prints ratios, drops it.
    """
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from chimera_store import bench as benchmark

    target = state(ctx).target()
    admin = make_conninfo("", **{**conninfo_to_dict(target.url), "dbname": "postgres"})
    quiet = as_json
    results = benchmark.run(admin, rows, progress=(lambda _m: None) if quiet else out.print)
    if as_json:
        print_json(results)
    else:
        table = Table()
        # The keys stay whole (they are the --json keys and the names); values fold.
        table.add_column("figure", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("target", no_wrap=True)
        table.add_column("met", no_wrap=True)
        for key, value in results.items():
            if key == "targets_met":
                continue
            goal = benchmark.TARGETS.get(key)
            met = results["targets_met"].get(key)
            table.add_row(
                key,
                str(value),
                f"{goal[0]} {goal[1]:g}" if goal else "",
                "" if met is None else ("yes" if met else "NO"),
            )
        out.print(table)
    if check_targets and not all(results["targets_met"].values()):
        raise typer.Exit(EXIT_DIFFERENCES)
