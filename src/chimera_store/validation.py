"""Input checks that PostgreSQL would otherwise answer with a driver error (or not at all).

Pure functions; they raise InvalidInput naming the field and the reason.
"""

from __future__ import annotations

import json
import math
from typing import Any
from uuid import UUID

from chimera_store.errors import InvalidInput

MAX_JSON_BYTES = 256 * 1024  # per context / metadata document
MAX_JSON_DEPTH = 32
MAX_TEXT = 10_000  # characters in a free-text field (goal_description, reason)
MAX_NAME = 200  # characters in names, paths, references, platform

# One encoder: json.dumps with non-default options builds a new JSONEncoder on every call.
_ENCODE = json.JSONEncoder(allow_nan=False, ensure_ascii=False).encode
# Exact types only: for a subclass (an enum member, say) the read-back check decides, as before.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def check_uuid(value: Any, field: str) -> UUID:
    if isinstance(value, UUID):
        return value
    if value is None:
        raise InvalidInput(field, "required (a UUID), got None")
    try:
        return UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise InvalidInput(field, f"not a UUID: {str(value)[:60]!r}") from None


def check_text(
    value: Any, field: str, *, max_len: int = MAX_NAME, allow_empty: bool = False
) -> str:
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, got {type(value).__name__}")
    check_string_content(value, field)
    if not allow_empty and not value.strip():
        raise InvalidInput(field, "must not be empty")
    if len(value) > max_len:
        raise InvalidInput(field, f"longer than {max_len} characters")
    return value


def check_string_content(value: str, field: str) -> None:
    if "\x00" in value:
        raise InvalidInput(
            field, "contains a NUL character (\\u0000), which PostgreSQL cannot store"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "contains a lone surrogate (not valid Unicode)") from None


def json_object_text(value: Any, field: str) -> str:
    """A JSON object PostgreSQL's jsonb can store and give back unchanged, serialised.

    The text is what gets sent, so the size check and the parameter share one serialisation.
    Fast path: C-level dumps and loads prove the object plain (string keys, no tuples, no NaN,
    nothing nested deeper than the limit); anything else is walked in Python, which names the
    offending path. The walk costs about 6 us per value, too much for bulk ingest.
    """
    if not isinstance(value, dict):
        raise InvalidInput(field, f"must be a JSON object, got {type(value).__name__}")
    plain = _plain_json(value)
    if plain is not None:
        text, size = plain
    else:
        _walk(value, field, 0)
        try:
            text = _ENCODE(value)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(field, f"not JSON-serialisable: {exc}") from None
        size = len(text.encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise InvalidInput(field, f"larger than {MAX_JSON_BYTES} bytes ({size})")
    return text


def _plain_json(value: dict[str, Any]) -> tuple[str, int] | None:
    """The serialised object and its size in bytes if it is certainly storable as it is, else
    None (walk it)."""
    try:
        text = _ENCODE(value)
        size = len(text.encode("utf-8"))  # a lone surrogate cannot be encoded
    except (ValueError, TypeError, UnicodeEncodeError):
        return None
    # NUL is always escaped as \u0000 (an escaped backslash before "u0000" only costs a walk).
    if "\\u0000" in text:
        return None
    # The usual document (flat: string keys, plain scalars) is written by dumps exactly as it is
    # read back, so the read-back below, half this check's time, is not needed for it.
    if all(type(key) is str and type(item) in _SCALARS for key, item in value.items()):
        return text, size
    # Nesting depth is at most the number of containers (brace characters in strings only cost a
    # walk).
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH:
        return None
    # dumps turns int keys into strings and tuples into lists: loads shows whether it changed.
    if json.loads(text) != value:
        return None
    return text, size


def _walk(value: Any, path: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(path, f"object keys must be strings, got {type(key).__name__}")
            check_string_content(key, f"{path}.{key[:40]}")
            _walk(item, f"{path}.{key[:40]}", depth + 1)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, str):
        check_string_content(value, path)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise InvalidInput(path, "NaN and Infinity are not valid JSON numbers")
    elif isinstance(value, int):
        return
    else:
        raise InvalidInput(path, f"{type(value).__name__} is not a JSON value")


def context_text(value: Any) -> str:
    """Task context: goal_description (string, required), persona_constraints (list of strings),
    required_resources (list of mcp:// URIs); other keys allowed and kept unchanged. Serialised."""
    text = json_object_text(value, "context")
    context: dict[str, Any] = value
    goal = context.get("goal_description")
    if not isinstance(goal, str) or not goal.strip():
        raise InvalidInput("context.goal_description", "required, a non-empty string")
    if len(goal) > MAX_TEXT:
        raise InvalidInput("context.goal_description", f"longer than {MAX_TEXT} characters")
    if "persona_constraints" in context:
        items = context["persona_constraints"]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InvalidInput("context.persona_constraints", "must be a list of strings")
    if "required_resources" in context:
        items = context["required_resources"]
        if not isinstance(items, list) or not all(
            isinstance(i, str) and i.startswith("mcp://") and len(i) > len("mcp://") for i in items
        ):
            raise InvalidInput(
                "context.required_resources", "must be a list of mcp:// resource URIs"
            )
    return text


MAX_VERSION = 2**63 - 1  # versions are bigint


def check_int(value: Any, field: str, low: int, high: int) -> int:
    """An integer within [low, high]; a bool, float or None is refused, not coerced."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, f"must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(field, f"must be an integer from {low} to {high}")
    return value


def check_seconds(
    value: Any, field: str, *, zero_ok: bool = False, most: float = math.inf
) -> float:
    """A number of seconds: above 0 (or 0 too, with `zero_ok`), at most `most`. A bool, a
    string, None or NaN is refused, not coerced (compared, they would raise a TypeError or
    pass every check)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(field, f"must be a number of seconds, not {value!r}")
    if not ((value >= 0 if zero_ok else value > 0) and value <= most):  # NaN fails both
        low = "0 or more" if zero_ok else "above 0"
        high = f", at most {most:g}" if most < math.inf else ""
        raise InvalidInput(field, f"must be {low} seconds{high}, not {value!r}")
    return value


def check_version(value: Any, field: str) -> int:
    """A row version the caller read (versions start at 1). Checked here because the server
    would take a float, a bool or None as a version that never matches (StaleState) or fail
    on a type it cannot compare, neither of which says what was wrong."""
    return check_int(value, field, 1, MAX_VERSION)


def check_limit(limit: Any) -> int:
    return check_int(limit, "limit", 1, 1000)
