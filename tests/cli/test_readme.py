"""The README's command examples name commands and options that exist (a renamed option would
otherwise leave the README wrong without any test noticing)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from chimera_store.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()


def _example_commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.splitlines():
            line = line.split("  #", 1)[0].strip()
            if line.startswith("chimera-store "):
                words = shlex.split(line.split(">", 1)[0].split("|", 1)[0])
                commands.append(words[1:])
    return commands


def test_readme_examples_use_real_commands_and_options() -> None:
    commands = _example_commands()
    assert len(commands) > 20
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
