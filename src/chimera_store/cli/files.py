"""Commands that move records through JSON-lines files: a whole campaign (`campaign export` /
`campaign import`), tasks as queue payloads (`tasks export` / `tasks import`) and assets
(`assets import`)."""

from __future__ import annotations

import bisect
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any

import typer

from chimera_store.cli.common import (
    ENV_EPILOG,
    handle_errors,
    json_text,
    open_store,
    out,
    parse_time,
    print_json,
    progress_bar,
)
from chimera_store.cli.data import campaign_app
from chimera_store.cli.lists import (
    Before,
    CampaignId,
    Since,
    StatusFilter,
    TaskTypeFilter,
    assets_app,
    tasks_app,
)
from chimera_store.cli.refs import CAMPAIGN_FORMS, CAMPAIGN_HELP, campaign_id_of, campaign_of
from chimera_store.errors import ChimeraError, InvalidInput
from chimera_store.validation import check_uuid

DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Do the whole import, every check the database makes included, then roll it back: "
        "the counts, or the error, that the import would give.",
    ),
]


def _would(dry_run: bool) -> str:
    return "would import" if dry_run else "imported"


def _nothing(dry_run: bool) -> str:
    return " (dry run: nothing written)" if dry_run else ""


def _doing(dry_run: bool) -> str:
    return "checking" if dry_run else "importing"


@handle_errors
def campaign_export(
    ctx: typer.Context,
    campaign_id: Annotated[str, typer.Argument(help=CAMPAIGN_HELP)],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write to this file (readable by its owner only: it holds all of the "
            "campaign's data), which appears only once the export is complete "
            "(default: standard output).",
        ),
    ] = None,
) -> None:
    """Print everything stored for a campaign as JSON lines: the campaign, its agents, tasks,
    assets and their history, every column (versions and times included).

    One consistent snapshot, however long it takes. `campaign import` recreates it exactly, in
    another database or after `campaign purge`; it refuses a file that was cut short.
    """
    with open_store(ctx) as store:
        campaign_id = campaign_id_of(store, campaign_id)
        items = store.export_campaign(check_uuid(campaign_id, "campaign_id"))
        if output is None:
            for item in items:
                print_json(item)
            return
        with _replacing(output) as sink:
            for item in items:
                sink.write(json_text(item) + "\n")
    out.print(f"exported campaign {campaign_id} to {output}", markup=False)


@contextmanager
def _replacing(path: Path) -> Iterator[Any]:
    """A file written beside `path` and renamed over it only when the block ends without error:
    a failed export leaves no partial file behind (and an earlier file unchanged)."""
    try:
        sink = tempfile.NamedTemporaryFile(  # noqa: SIM115
            "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
        )
    except OSError as exc:
        raise InvalidInput("--output", f"cannot write in {path.parent}: {exc.strerror}") from None
    try:
        with sink:
            yield sink
        os.replace(sink.name, path)
    except OSError as exc:
        raise InvalidInput("--output", f"cannot write {path}: {exc.strerror}") from None
    finally:
        with suppress(FileNotFoundError):
            os.unlink(sink.name)


@handle_errors
def campaign_import(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="File written by `campaign export`, or - for stdin.")
    ],
    dry_run: DryRun = False,
) -> None:
    """Recreate a campaign from `campaign export`'s file, every column as exported.

    All or nothing (one transaction, streamed with COPY); a bad line is named. Refused when
    the campaign or any of its rows exists here already.
    """
    with open_store(ctx) as store, progress_bar(_doing(dry_run), None) as advance:
        records = JsonLines(source, advance)
        with records.errors_by_line():
            counts = store.import_campaign(records, dry_run=dry_run)
    out.print(
        f"{_would(dry_run)} campaign {counts.campaign_id}: {counts.agents:,} agents, "
        f"{counts.tasks:,} tasks, {counts.video_assets:,} assets, "
        f"{counts.task_history + counts.asset_history:,} history entries{_nothing(dry_run)}",
        markup=False,
    )


def _lines(stream: Iterable[bytes], source: str) -> Iterator[bytes]:
    try:
        yield from stream
    except OSError as exc:  # e.g. a directory, or a device that fails mid-read
        raise InvalidInput("file", f"cannot read {source}: {exc.strerror}") from None


class JsonLines:
    """The records of a JSON-lines file (or stdin), read one at a time; blank lines skipped.

    Errors name the file's line, not the record's rank: `line_of` maps one to the other from
    where blank lines were skipped (kept only for those, so memory stays constant).
    """

    def __init__(self, source: str, advance: Callable[[int], None]) -> None:
        self._source = source
        self._advance = advance
        self._skipped_before: list[int] = []  # records read before each blank line

    def __iter__(self) -> Iterator[dict[str, Any]]:
        source = self._source
        try:
            # Bytes, decoded line by line: a decoding error then names its line.
            stream = sys.stdin.buffer if source == "-" else Path(source).open("rb")  # noqa: SIM115
        except OSError as exc:
            raise InvalidInput("file", f"cannot read {source}: {exc.strerror}") from None
        read = 0
        with stream:
            for number, raw in enumerate(_lines(stream, source), start=1):
                try:
                    # utf-8-sig on the first line: files saved by Windows tools start with a BOM.
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput(
                        "file", f"line {number}: not UTF-8 text (byte {exc.start + 1})"
                    ) from None
                if not line.strip():
                    self._skipped_before.append(read)
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput("json", f"line {number}: {exc.msg}") from None
                read += 1
                yield record
                self._advance(1)

    def line_of(self, record: int) -> int:
        """The file line of the 1-based `record`."""
        return record + bisect.bisect_left(self._skipped_before, record)

    @contextmanager
    def errors_by_line(self) -> Iterator[None]:
        """Re-word an error about record N as one about its line in the file."""
        try:
            yield
        except ChimeraError as exc:
            if exc.position is not None:
                exc.at_record(exc.position, shown_as=f"line {self.line_of(exc.position)}")
            raise


@handle_errors
def tasks_export(
    ctx: typer.Context,
    campaign: CampaignId,
    status: StatusFilter = None,
    task_type: TaskTypeFilter = None,
    since: Since = None,
    before: Before = None,
) -> None:
    """Print a campaign's tasks as queue payloads (JSON lines, newest first), for replay.

    What `task export` prints for one task, for every task that matches, read page by page;
    `tasks import` takes the file back (in another database, or after a purge).
    """
    from chimera_store.payload import task_to_payload  # pydantic: only payload commands load it

    with open_store(ctx) as store:
        campaign_id = campaign_of(store, campaign).id  # no such campaign: exit 8
        for task in store.iterate(
            store.list_tasks,
            campaign_id,
            status=status,
            task_type=task_type,
            created_from=parse_time(since, "--since"),
            created_before=parse_time(before, "--before"),
        ):
            print_json(task_to_payload(task))


@handle_errors
def tasks_import(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="JSON-lines file of queue payloads, or - for stdin.")
    ],
    campaign: Annotated[
        str,
        typer.Option(
            "--campaign",
            help=f"Campaign the tasks belong to: {CAMPAIGN_FORMS}",
        ),
    ],
    dry_run: DryRun = False,
) -> None:
    """Create tasks from queue payloads (JSON lines) with COPY; all or nothing."""
    with open_store(ctx) as store, progress_bar(_doing(dry_run), None) as advance:
        # The campaign is the operator's option, not a record's field: refuse a wrong one as
        # such before reading the file, rather than as "line 1: campaign_id: ...".
        campaign_id = campaign_of(store, campaign).id
        records = JsonLines(source, advance)
        with records.errors_by_line():
            n = store.bulk_insert_task_payloads(records, campaign_id, dry_run=dry_run)
    out.print(f"{_would(dry_run)} {n} tasks{_nothing(dry_run)}")


@handle_errors
def assets_import(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="JSON-lines file of assets, or - for stdin.")],
    dry_run: DryRun = False,
) -> None:
    """Bulk-load video assets (JSON lines) with COPY; all or nothing."""
    with open_store(ctx) as store, progress_bar(_doing(dry_run), None) as advance:
        records = JsonLines(source, advance)
        with records.errors_by_line():
            n = store.bulk_insert_assets(records, dry_run=dry_run)
    out.print(f"{_would(dry_run)} {n} assets{_nothing(dry_run)}")


def register() -> None:
    campaign_app.command("export", epilog=ENV_EPILOG)(campaign_export)
    campaign_app.command("import", epilog=ENV_EPILOG)(campaign_import)
    tasks_app.command("export", epilog=ENV_EPILOG)(tasks_export)
    tasks_app.command("import", epilog=ENV_EPILOG)(tasks_import)
    assets_app.command("import", epilog=ENV_EPILOG)(assets_import)
