"""Every SQL statement of the package, loaded once from the `.sql` files beside this module.

Each statement starts with a `-- name: NAME` header (the aiosql/procrastinate convention); code
refers to statements by name only, so the SQL can be read, reviewed and linted in one place.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import LiteralString, cast

_HEADER = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def _parse(text: str, source: str) -> dict[str, LiteralString]:
    queries: dict[str, LiteralString] = {}
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise RuntimeError(f"duplicate query name {name!r} in {source}")
        # Cast: these strings are files shipped inside the package, never user input, so they
        # are as trustworthy as a literal; values are always bound as parameters.
        queries[name] = cast(LiteralString, body.strip().rstrip(";"))
    return queries


@cache
def _all_queries() -> dict[str, LiteralString]:
    queries: dict[str, LiteralString] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            for name, body in _parse(entry.read_text(encoding="utf-8"), entry.name).items():
                if name in queries:
                    raise RuntimeError(f"duplicate query name {name!r} in {entry.name}")
                queries[name] = body
    return queries


def query(name: str) -> LiteralString:
    """The SQL text of the named statement."""
    try:
        return _all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL statement named {name!r}") from None


def names() -> list[str]:
    return sorted(_all_queries())
