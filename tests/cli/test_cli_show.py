"""What `task show` and `asset show` print: every value whole, folded to the terminal's width,
never cut short."""

from __future__ import annotations

import psycopg

from tests.cli.conftest import cli, tasks_in_review


def test_task_show_keeps_a_long_actor_whole(seeded: str) -> None:
    (task_id, _version, _assets), _other = tasks_in_review(seeded, 2)
    actor = "operator:reviewer-with-a-long-login-name"
    assert cli(seeded, "task", "reject", task_id, "--reason", "r", "--actor", actor).exit_code == 0
    shown = cli(seeded, "task", "show", task_id)  # the runner's console: 80 columns
    assert shown.exit_code == 0, shown.output
    assert "\u2026" not in shown.output  # no cell cut short with an ellipsis
    rows = [line.split("\u2502") for line in shown.output.splitlines()]
    rows = [r for r in rows if len(r) == 7]  # the history table's lines: 5 cells
    last = max(i for i, r in enumerate(rows) if r[1].strip())  # where its last row starts
    assert "".join(r[4].strip() for r in rows[last:]) == actor  # folded over its lines


def test_asset_show_keeps_a_long_url_whole(seeded: str) -> None:
    url = "https://cdn.chimera.example/renders/" + "x" * 90 + ".mp4"
    with psycopg.connect(seeded) as conn:
        row = conn.execute("SELECT id::text FROM video_assets LIMIT 1").fetchone()
    assert row is not None
    assert cli(seeded, "asset", "set-metadata", row[0], f"external_url={url}").exit_code == 0
    shown = cli(seeded, "asset", "show", row[0])  # 80 columns
    assert shown.exit_code == 0, shown.output
    assert "\u2026" not in shown.output
    split = [line.split("\u2502") for line in shown.output.splitlines()]
    cells = [(parts[1].strip(), parts[2].strip()) for parts in split if len(parts) == 4]
    first = next(i for i, (key, _v) in enumerate(cells) if key == "metadata")
    end = next(i for i in range(first + 1, len(cells)) if cells[i][0])
    value = "".join(v for _k, v in cells[first:end])  # the metadata cell, folded over its lines
    assert url in value
