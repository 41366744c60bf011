"""Write docs/cli.md from the command line's own --help (a test fails when it is stale).

Commands are discovered from the "Commands:" section of each --help, so every command and
sub-command the app exposes is documented. Usage: python tools/gen_cli_docs.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer.testing import CliRunner

from chimera_store.cli import app

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"

INTRO = """# Command-line reference

Generated from `--help` by `tools/gen_cli_docs.py` (`make docs`); do not edit by hand.
Exit codes are listed in [exit-codes.md](exit-codes.md).
"""


def help_text(path: list[str]) -> str:
    # A fixed width and no colour, for this call only: tests import this module, and a width
    # left in their process's environment changed the layout of every CLI they started later.
    result = CliRunner().invoke(
        app,
        [*path, "--help"],
        prog_name="chimera-store",
        color=False,
        env={"COLUMNS": "100", "TERM": "dumb"},
    )
    if result.exit_code != 0:
        raise RuntimeError(f"--help failed for {path}: {result.output}")
    return result.output.rstrip() + "\n"


def subcommands(text: str) -> list[str]:
    names: list[str] = []
    in_commands = False
    for line in text.splitlines():
        if line.strip() == "Commands:":
            in_commands = True
            continue
        if in_commands:
            if not line.startswith("  "):
                break
            if line.startswith("  ") and not line.startswith("   "):
                names.append(line.split()[0])
    return names


def walk(path: list[str]) -> list[tuple[list[str], str]]:
    text = help_text(path)
    found = [(path, text)]
    for name in subcommands(text):
        found.extend(walk([*path, name]))
    return found


def render() -> str:
    parts = [INTRO]
    for path, text in walk([]):
        title = " ".join(["chimera-store", *path])
        parts.append(f"\n## `{title}`\n\n```text\n{text}```\n")
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
