"""What every command shares: the database option, error handling, output helpers."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import psycopg
import typer
from rich.console import Console
from typer.core import TyperGroup

from chimera_store.config import ENV_DATABASE_URL, DatabaseTarget, mask_password, resolve_target
from chimera_store.dberrors import translate
from chimera_store.errors import ChimeraError, IncompatibleSchema, InvalidInput, ParentNotFound
from chimera_store.store import Store

ENV_EPILOG = (
    "Environment: CHIMERA_DATABASE_URL (libpq URL of an external PostgreSQL; or "
    "--database-url before the command), CHIMERA_HOME (embedded server data, used when no URL "
    "is set), CHIMERA_DEBUG=1 (tracebacks for internal errors)."
)

# The order an operator meets a record's commands in: find it, make it, read it, change it, move
# it along its life cycle, remove it. Commands are registered by several modules (reads in
# data.py, writes in writes.py), so registration order would list `create` after `show`.
COMMAND_ORDER = (
    "list",
    "import",
    "create",
    "show",
    "export",
    "schema",
    "update",
    "set-metadata",
    "set-status",
    "requeue",
    "approve",
    "reject",
    "purge",
)


class RecordCommands(TyperGroup):
    """A command group for one kind of record, its commands listed in COMMAND_ORDER."""

    def list_commands(self, ctx: Any) -> list[str]:  # Typer's vendored click.Context
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else 99)


EXIT_DIFFERENCES = 1
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for `git log | head`


def reader_went_away() -> NoReturn:
    """stdout's reader closed it (`| head`): stop quietly, as Unix tools do.

    stdout is pointed at /dev/null first, so the interpreter's final flush cannot fail again
    (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise typer.Exit(EXIT_BROKEN_PIPE)


class _Console(Console):
    def on_broken_pipe(self) -> None:  # Rich's own exits 1, which means "differences" here
        self.quiet = True
        reader_went_away()


P = ParamSpec("P")
R = TypeVar("R")

out = _Console(highlight=False, soft_wrap=True)
err = _Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class State:
    database_url: str | None = None
    _target: DatabaseTarget | None = None

    def target(self) -> DatabaseTarget:
        if self._target is None:
            self._target = resolve_target(self.database_url)
        return self._target

    @property
    def url(self) -> str:
        return self.target().url


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """One line on stderr and a documented exit code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):
            raise  # Click reports its own usage errors (exit 2)
        except IncompatibleSchema as exc:
            err.print(f"[bold red]error:[/] {exc.message}", markup=True)
            for line in exc.differences:
                err.print(f"  - {line}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except (InvalidInput, ParentNotFound) as exc:
            message = as_typed(exc, kwargs.get("ctx"))
            raise fail(mask_password_in(message), exc.exit_code) from None
        except ChimeraError as exc:
            raise fail(mask_password_in(exc.message), exc.exit_code) from None
        except psycopg.Error as exc:
            # Commands that connect with psycopg themselves (bench's scratch database) get the
            # data API's mapping too: a refused CREATE DATABASE is exit 18, not 70.
            error = translate(exc)
            raise fail(mask_password_in(error.message), error.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", EXIT_INTERRUPTED) from None
        except BrokenPipeError:
            reader_went_away()
        except Exception as exc:
            if os.environ.get("CHIMERA_DEBUG"):
                raise
            raise fail(
                f"internal error: {type(exc).__name__}: {mask_password_in(str(exc))} "
                "(set CHIMERA_DEBUG=1 for a traceback)",
                EXIT_INTERNAL,
            ) from None

    return wrapper


def as_typed(exc: InvalidInput | ParentNotFound, ctx: object) -> str:
    """The error's message with its field named as the operator typed it: the API names its own
    fields (`campaign_id`, `to_status`, `id`), the operator gave `--campaign`, `status`,
    `task_id`.

    Only for a value the command passed on; an error about a record of an imported file keeps
    the record's field names (those are what the file says).
    """
    # Typer hands the command its own click context, not a typer.Context instance.
    command = getattr(ctx, "command", None)
    field = exc.field
    if command is None or exc.position is not None or not exc.message.startswith(f"{field}: "):
        return exc.message
    params: list[Any] = command.params
    names = {field, field.removesuffix("_id"), field.removeprefix("to_")}
    if field == "id":  # get_task(id): the command's one id argument, or a create's --id
        names = {p.name for p in params if p.param_type_name == "argument" and p.name}
        names = {n for n in names if n.endswith("_id")}
        names |= {p.name for p in params if "--id" in p.opts}
    for param in params:
        if param.name in names:
            # An option as its flag; an argument as --help lists it under Arguments.
            shown: str = param.opts[0] if param.param_type_name == "option" else param.name
            return shown + exc.message[len(field) :]
    return exc.message


def mask_password_in(text: str) -> str:
    """Belt and braces: scrub the configured URL's password from any message."""
    url = os.environ.get(ENV_DATABASE_URL)
    if url:
        text = text.replace(url, mask_password(url))
    return text


def parse_pairs(pairs: list[str], field: str) -> dict[str, Any]:
    """KEY=VALUE items as a JSON object: VALUE is JSON when it parses (30, true, [1, 2],
    {"a": 1}), else text (1080x1920)."""
    document: dict[str, Any] = {}
    for item in pairs:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInput(field, f"{item!r} is not KEY=VALUE")
        try:
            document[key] = json.loads(raw)
        except json.JSONDecodeError:
            document[key] = raw
    return document


def json_text(data: Any) -> str:
    """One JSON document on one line: uuids as strings, times in ISO 8601 with a `T` and an
    offset (`2026-11-27T04:03:27.323546+00:00`; `str()` gave a space, which not every reader
    of ISO 8601 takes)."""
    return json.dumps(data, default=_json_value)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data) + "\n")


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; silent in pipes and under CI. Yields `advance(n)`."""
    if not err.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


_AGO = re.compile(r"(\d+)([smhdw])")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None, option: str) -> datetime | None:
    """An operator's time: ISO 8601 (UTC when no offset, as lists print), or a duration ago
    (`90s`, `30m`, `2h`, `7d`, `2w`), as journalctl's and git's `--since` take."""
    if value is None:
        return None
    ago = _AGO.fullmatch(value.strip())
    if ago is not None:
        amount, unit = int(ago.group(1)), _AGO_UNITS[ago.group(2)]
        try:
            return datetime.now(UTC) - timedelta(**{unit: amount})
        except OverflowError:
            raise InvalidInput(option, f"{value!r} reaches back before year 1") from None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            option,
            f"{value!r} is neither an ISO 8601 date or time nor a duration ago (30m, 2h, 7d)",
        ) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


Json = Annotated[bool, typer.Option("--json", help="JSON (JSON lines for lists) for scripts.")]

CLI_CONNECT_TIMEOUT = 5.0


def open_store(ctx: typer.Context) -> Store:
    # An operator at a terminal wants an unreachable server reported in seconds, not after the
    # API's default 30 s of retries (a refused login is reported at once either way).
    return Store.open(state(ctx).url, min_size=1, max_size=2, connect_timeout=CLI_CONNECT_TIMEOUT)
