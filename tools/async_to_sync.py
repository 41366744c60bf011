"""Generate the sync data API (store/_sync.py) from the async one (store/_async.py).

Usage: python tools/async_to_sync.py [--check]
With --check, exit 1 when the checked-in file differs from what would be generated.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "chimera_store" / "store" / "_async.py"
TARGET = SOURCE.with_name("_sync.py")
REPLACEMENTS = {
    "AsyncStore": "Store",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncIterator": "Iterator",
    "asynccontextmanager": "contextmanager",
    "AsyncLister": "Lister",
    "AsyncRecords": "Records",
    "async_record_iterator": "record_iterator",
    "anext": "next",
}
HEADER = (
    "# WARNING: this file is generated from _async.py by tools/async_to_sync.py.\n"
    "# DO NOT CHANGE: edit _async.py and run `make sync-api`.\n"
)


def generate() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        src_dir = Path(tmp) / "_async"
        dst_dir = Path(tmp) / "_sync"
        src_dir.mkdir()
        (src_dir / "store.py").write_text(SOURCE.read_text())
        rule = unasync.Rule(str(src_dir), str(dst_dir), additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(src_dir / "store.py")], rules=[rule])
        text = (dst_dir / "store.py").read_text()
    text = text.replace("The asyncio data API.", "The synchronous data API.")
    return HEADER + text


def main() -> int:
    text = generate()
    if "--check" in sys.argv:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale: run `make sync-api`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
