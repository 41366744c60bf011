"""The Python in the README and docs/api.md is true: the README's example runs as written, every
other block is valid Python, and each call the docs name (`store.list_tasks(..., status=)`,
`heartbeats_sync(store, task_id, task_version=)`) exists with the keyword arguments they give it,
on both flavours. A renamed method or argument would otherwise leave the docs wrong without any
test noticing (tests/cli/test_readme.py does the same for the command line)."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chimera_store.store import AsyncStore, Store

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A call's name in a doc, as a backticked span (`list_tasks(campaign_id, status=)`) or as code
# in a block (`store.iterate(store.list_assets, campaign_id=c)`).
CALL = re.compile(r"\b([a-z_][a-z_0-9]*(?:\.[a-z_][a-z_0-9]*)*)\(")
# Where a name the docs use without a module lives, after the stores' methods.
MODULES = ["chimera_store.worker", "chimera_store.payload", "chimera_store.records"]
# What the docs call that is not this package's API: Python's own, the example's placeholder
# for a Worker's own work, SQL functions, and a migration script's own `upgrade()` / `downgrade()`.
NOT_OURS = {"gc.freeze", "list", "range", "render", "isinstance", "len", "print"}
NOT_OURS |= {"now", "gen_random_uuid", "upgrade", "downgrade"}
# The schema's own SQL functions (`chimera_analyse_new_tables()`), which `check` holds to this
# version's.
NOT_OURS |= set(
    json.loads((ROOT / "src/chimera_store/expected_schema.json").read_text())["functions"]
)
# Objects the examples name by a variable: each is a store, or the sync heartbeats' handle.
ALIASES = {"store": Store, "tx": Store, "beats": "chimera_store.worker.Beats"}


def _python_blocks(document: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", document.read_text(), flags=re.S)


def _resolve(name: str) -> list[Callable[..., Any]]:
    """The callables a name in the docs means: a store method on both flavours, else a module's
    function or class; [] when nothing has that name."""
    *owner, attr = name.split(".")
    if owner in ([], ["store"], ["tx"]) and hasattr(Store, attr):
        return [getattr(Store, attr), getattr(AsyncStore, attr)]
    if owner and owner[0] in ALIASES:
        target = ALIASES[owner[0]]
        if isinstance(target, str):
            module, _, cls = target.rpartition(".")
            target = getattr(importlib.import_module(module), cls)
        return [getattr(target, attr)] if hasattr(target, attr) else []
    modules = [".".join(owner)] if owner else MODULES
    if owner and owner[0] != "chimera_store":
        modules = [f"chimera_store.{modules[0]}"]
    for module in modules:
        found = getattr(importlib.import_module(module), attr, None)
        if found is not None:
            return [found]
    return []


def _doc_calls() -> list[tuple[str, str, set[str]]]:
    """(document, name, keyword names given) for each call named in a span or a block."""
    calls: list[tuple[str, str, set[str]]] = []
    for document in DOCUMENTS:
        if document.name == "cli.md":  # generated from --help; no Python
            continue
        prose = re.sub(r"```.*?```", "", document.read_text(), flags=re.S)
        pieces = re.findall(r"`([^`]*\([^`]*)`", prose.replace("\n", " "))
        pieces += _python_blocks(document)
        for piece in pieces:
            for match in CALL.finditer(piece):
                name = match.group(1)
                if name in NOT_OURS or name.startswith(("chimera-store", "async", "await")):
                    continue
                args = _balanced(piece, match.end())
                keywords = set(re.findall(r"(?<![\w.=])([a-z_][a-z_0-9]*)\s*=(?!=)", args))
                calls.append((document.name, name, keywords))
    return calls


def _balanced(text: str, start: int) -> str:
    """The text of a call's arguments: up to its closing parenthesis (or the text's end)."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return _outer_only(text[start:i])
    return _outer_only(text[start:])


def _outer_only(args: str) -> str:
    """The arguments without nested calls' own (their keywords belong to them)."""
    while True:
        flat = re.sub(r"\([^()]*\)", "", args)
        if flat == args:
            return flat
        args = flat


def test_every_python_block_in_the_docs_is_valid_python() -> None:
    blocks = [(d.name, b) for d in DOCUMENTS for b in _python_blocks(d)]
    assert len(blocks) >= 6
    for name, block in blocks:
        # Top-level await and `async with` are how the docs show the asyncio API.
        wrapped = "async def _example():\n" + textwrap.indent(block, "    ")
        ast.parse(wrapped, filename=name)


def test_every_call_the_docs_name_exists_with_the_keywords_they_give() -> None:
    calls = _doc_calls()
    assert len(calls) > 60
    unknown = [(d, n) for d, n, _ in calls if not _resolve(n)]
    assert not unknown, f"the docs name calls that do not exist: {unknown}"
    wrong = []
    for document, name, keywords in calls:
        if name.endswith("iterate"):  # its filters go to the list method it is given
            continue
        for target in _resolve(name):
            parameters = inspect.signature(target).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
            missing = {k for k in keywords if k not in parameters and not takes_any}
            if missing:
                wrong.append((document, name, getattr(target, "__qualname__", ""), missing))
    assert not wrong, f"the docs give keywords these calls do not take: {wrong}"


def test_the_readme_example_runs_as_written(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The README's store comes from CHIMERA_DATABASE_URL, as it says.
    monkeypatch.setenv("CHIMERA_DATABASE_URL", db_url)
    (block,) = _python_blocks(ROOT / "README.md")
    source = "async def _example():\n" + textwrap.indent(block, "    ") + "    return locals()\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, "README.md", "exec"), namespace)
    seen = asyncio.run(namespace["_example"]())

    assert seen["campaign"].name == "Summer" and seen["campaign"].status == "active"
    assert seen["page"].items == [] and seen["page"].next_cursor is None
    with Store.open(db_url) as store:  # it was stored, not only returned
        assert store.get_campaign(seen["campaign"].id) == seen["campaign"]
