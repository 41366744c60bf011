"""The Typer application and the console-script entry point."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from chimera_store import __version__, revisions
from chimera_store.cli import admin, data, files, lifecycle, requeue, review, writes
from chimera_store.cli.common import State
from chimera_store.config import ENV_DATABASE_URL, ENV_HOME

app = typer.Typer(
    name="chimera-store",
    help=(
        "Persistence for Project Chimera: campaigns, agents, tasks and video assets on PostgreSQL.\n\n"
        f"Database: --database-url or {ENV_DATABASE_URL} (a libpq URL) selects an external "
        f"PostgreSQL; unset, an embedded PostgreSQL is started with its data under {ENV_HOME}."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion for bash, zsh, fish, PowerShell
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        # The newest revision this version migrates to: what `status` compares a database with.
        typer.echo(f"chimera-store {__version__} (schema head {revisions.head_revision()})")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar=ENV_DATABASE_URL,
            show_envvar=True,
            help="libpq URL of an external PostgreSQL (14+). Unset: the embedded server.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the version and the newest schema revision it knows, and exit.",
        ),
    ] = False,
) -> None:
    # The pool logs each failed connection attempt as a warning; the command reports the final
    # error itself, in one line, so the retries would only be noise on the terminal.
    logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
    logging.getLogger("chimera_store.pool").setLevel(logging.CRITICAL)
    ctx.obj = State(database_url=database_url)


admin.register(app)
data.register(app)
files.register()
lifecycle.register()
requeue.register()
review.register()
writes.register()


def main() -> None:
    # The same name however it is started (`python -m chimera_store` too): usage lines, and the
    # _CHIMERA_STORE_COMPLETE variable shell completion calls it with.
    app(prog_name="chimera-store")
