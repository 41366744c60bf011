"""Generate the sync data API (the store/_sync package) from the async one (store/_async).

Usage: python tools/async_to_sync.py [--check]
With --check, exit 1 when the checked-in file differs from what would be generated.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "chimera_store" / "store" / "_async"
TARGET = SOURCE.with_name("_sync")
REPLACEMENTS = {
    "AsyncStore": "Store",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncCursor": "Cursor",
    "AsyncRowFactory": "RowFactory",
    "AsyncIterator": "Iterator",
    "asynccontextmanager": "contextmanager",
    "AsyncLister": "Lister",
    "AsyncRecords": "Records",
    "async_record_iterator": "record_iterator",
    "anext": "next",
    "async_sleep": "sleep",
    "_async": "_sync",  # the package in import paths
}
# Docstrings are strings to unasync; these say what the sync modules are and how they are used.
DOCSTRINGS = {
    "The asyncio data API. The sync API (the `_sync` package beside it) is generated from these\n"
    "modules by": "The synchronous data API, generated from the asyncio one (the `_async` package\n"
    "beside it) by",
    "`AsyncStore`: the asyncio data API": "`Store`: the synchronous data API",
    "`AsyncStore` (store.py)": "`Store` (store.py)",
    "`await AsyncStore.open(url)`": "`Store.open(url)`",
    "`AsyncConnectionPool` / `AsyncConnection`": "`ConnectionPool` / `Connection`",
    "`async with store.transaction() as tx:`": "`with store.transaction() as tx:`",
    "calls themselves are in the classes `AsyncStore`": "calls themselves are in the classes `Store`",
}
HEADER = (
    "# WARNING: this file is generated from the _async package by tools/async_to_sync.py.\n"
    "# DO NOT CHANGE: edit the _async package and run `make sync-api`.\n"
)


def generate() -> dict[str, str]:
    """Each module of the async package, as its sync module's text, by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        src_dir = Path(tmp) / "_async"
        dst_dir = Path(tmp) / "_sync"
        src_dir.mkdir()
        for module in sorted(SOURCE.glob("*.py")):
            (src_dir / module.name).write_text(module.read_text())
        rule = unasync.Rule(str(src_dir), str(dst_dir), additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(p) for p in sorted(src_dir.glob("*.py"))], rules=[rule])
        texts = {p.name: p.read_text() for p in sorted(dst_dir.glob("*.py"))}
    for name, text in texts.items():
        for asynchronous, synchronous in DOCSTRINGS.items():
            text = text.replace(asynchronous, synchronous)
        texts[name] = text
    return {name: HEADER + text for name, text in texts.items()}


def main() -> int:
    texts = generate()
    if "--check" in sys.argv:
        current = {p.name: p.read_text() for p in sorted(TARGET.glob("*.py"))}
        if current != texts:
            print(f"{TARGET} is stale: run `make sync-api`", file=sys.stderr)
            return 1
        return 0
    TARGET.mkdir(exist_ok=True)
    for stale in set(p.name for p in TARGET.glob("*.py")) - set(texts):
        (TARGET / stale).unlink()  # a module removed from the async package
    for name, text in texts.items():
        (TARGET / name).write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
