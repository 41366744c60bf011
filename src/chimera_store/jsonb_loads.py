"""Reading jsonb back: the standard library's C scanner, called directly.

psycopg's default loader is `json.loads`, whose per-call wrapping (encoding detection on bytes,
two whitespace regex matches, argument checks) costs about three times the parse itself on the
small documents we store: 1.8 us against 0.6 us for a typical `metadata`, or a sixth of a
100-row page. The result is the same object `json.loads` gives (same decoder, same options);
anything the direct call does not handle cleanly goes through `json.loads`, which gives its
usual value or error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg.adapt import AdaptersMap
from psycopg.types.json import set_json_loads

# The decoder's own scanner (C where available): what json.loads ends up calling.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    text = data if isinstance(data, str) else str(data, "utf-8")
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return json.loads(text)  # not JSON (never from jsonb): json.loads raises with a position
    if end != len(text):  # surrounding whitespace or trailing data: json.loads decides
        return json.loads(text)
    return value


def adapters() -> AdaptersMap:
    """psycopg's default adapters with `loads` for json and jsonb: the `context` of the store's
    own connections (a caller's connection keeps whatever it was given)."""
    return _ADAPTERS


_ADAPTERS = AdaptersMap(psycopg.adapters)
set_json_loads(loads, _ADAPTERS)
