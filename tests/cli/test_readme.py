"""The command examples in the README and the hand-written docs name commands and options that
exist (a renamed option would otherwise leave them wrong without any test noticing)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from chimera_store.cli import app

ROOT = Path(__file__).resolve().parents[2]
# docs/cli.md is generated from the help itself.
DOCUMENTS = [ROOT / "README.md", *(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
runner = CliRunner()


def _example_commands() -> list[list[str]]:
    """Each `chimera-store ...` line of a sh block, and each inline `chimera-store ...` span."""
    lines: list[str] = []
    for document in DOCUMENTS:
        text = document.read_text()
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
            lines += [line.split("  #", 1)[0].strip() for line in block.splitlines()]
        lines += re.findall(r"`(chimera-store [^`]+)`", text.replace("\n", " "))
    commands = []
    for line in lines:
        if line.startswith("chimera-store "):
            line = line.replace("\\|", "|")  # a pipe escaped in a Markdown table
            line = line.split(">", 1)[0].split("|", 1)[0].replace("[", " ").replace("]", " ")
            words = shlex.split(line)[1:]
            if words[:1] == ["--database-url"]:  # the root option, before the command
                words = words[2:]
            commands.append(words)
    return commands


def test_readme_examples_use_real_commands_and_options() -> None:
    commands = _example_commands()
    assert len(commands) > 60
    for words in commands:
        # The command path: the leading words that are not options or values.
        path: list[str] = []
        for word in words:
            if word.startswith("-") or word.isupper() or "=" in word or "." in word:
                break
            probe = runner.invoke(app, [*path, word, "--help"])
            if probe.exit_code != 0:
                break
            path.append(word)
        assert path or words[0].startswith("--"), words  # else: a command that does not exist
        help_text = runner.invoke(app, [*path, "--help"]).output
        for option in (w.split("=", 1)[0] for w in words if w.startswith("--")):
            # Whole option names: "--since" is not found inside "--unchanged-since".
            named = re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text)
            assert named, (" ".join(words), option)
