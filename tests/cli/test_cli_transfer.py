"""`campaign export` and `campaign import` at the command line."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from chimera_store.demo import _id
from tests.cli.conftest import cli
from tests.dbfixtures import create_database, drop_database, with_dbname
from tests.helpers import snapshot
from tests.integration.test_transfer import rows_of


def test_export_to_a_file_and_import_it_into_another_database(
    seeded: str, admin_url: str, template_db: str, tmp_path: Path
) -> None:
    campaign = str(_id("campaign", 1))
    path = tmp_path / "campaign.jsonl"
    exported = cli(seeded, "campaign", "export", campaign, "--output", str(path))
    assert exported.exit_code == 0, exported.output
    assert f"to {path}" in exported.stdout
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and json.loads(lines[-1])["kind"] == "end"
    name = create_database(admin_url, template=template_db)
    try:
        target = with_dbname(admin_url, name)
        imported = cli(target, "campaign", "import", str(path))
        assert imported.exit_code == 0, imported.output
        end = json.loads(lines[-1])
        assert f"imported campaign {campaign}: {end['agents']:,} agents" in imported.stdout
        assert rows_of(target, campaign) == rows_of(seeded, campaign)
    finally:
        drop_database(admin_url, name)


def test_export_purge_and_import_from_stdin(seeded: str) -> None:
    campaign = str(_id("campaign", 1))
    before = rows_of(seeded, campaign)
    exported = cli(seeded, "campaign", "export", campaign)
    assert exported.exit_code == 0, exported.output
    purged = cli(seeded, "campaign", "purge", campaign, "--yes")
    assert purged.exit_code == 0 and rows_of(seeded, campaign)[0] == []
    imported = cli(seeded, "campaign", "import", "-", input=exported.stdout)
    assert imported.exit_code == 0, imported.output
    assert rows_of(seeded, campaign) == before
    again = cli(seeded, "campaign", "import", "-", input=exported.stdout)
    assert again.exit_code == 10 and "line 2: id: campaign" in again.output
    assert "exists already" in again.output


def test_a_bad_file_is_refused_by_its_line_and_writes_nothing(seeded: str) -> None:
    campaign = str(_id("campaign", 1))
    lines = cli(seeded, "campaign", "export", campaign).stdout.splitlines()
    cli(seeded, "campaign", "purge", campaign, "--yes")
    before = snapshot(seeded)
    cut = "\n".join(lines[: len(lines) // 2]) + "\n"
    result = cli(seeded, "campaign", "import", "-", input=cut)
    assert result.exit_code == 10 and "incomplete" in result.output, result.output
    edited = [json.loads(line) for line in lines]
    edited[4]["status"] = "lost"  # the fifth item; a blank line before it makes it line 6
    text = "\n".join(json.dumps(item) for item in edited[:4]) + "\n\n"
    text += "\n".join(json.dumps(item) for item in edited[4:]) + "\n"
    result = cli(seeded, "campaign", "import", "-", input=text)
    assert result.exit_code == 10 and "line 6: status:" in result.output, result.output
    assert "Traceback" not in result.output
    assert snapshot(seeded) == before


def test_a_failed_export_leaves_no_file(seeded: str, tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    result = cli(seeded, "campaign", "export", str(uuid.uuid4()), "-o", str(path))
    assert result.exit_code == 8 and "not found" in result.output
    assert list(tmp_path.iterdir()) == []
    path.write_text("an earlier export\n")
    result = cli(seeded, "campaign", "export", str(uuid.uuid4()), "-o", str(path))
    assert result.exit_code == 8 and path.read_text() == "an earlier export\n"
    assert list(tmp_path.iterdir()) == [path]
    result = cli(seeded, "campaign", "export", str(_id("campaign", 1)), "-o", "/nonexistent/x")
    assert result.exit_code == 10 and "--output: cannot write in /nonexistent" in result.output


def test_dry_run_imports_check_everything_and_write_nothing(seeded: str, tmp_path: Path) -> None:
    """`--dry-run` on each import: the counts (or the error, with its line) and no write."""
    campaign = str(_id("campaign", 1))
    exported = cli(seeded, "campaign", "export", campaign).stdout
    payloads = cli(seeded, "tasks", "export", "--campaign", campaign).stdout
    cli(seeded, "campaign", "purge", campaign, "--yes")
    assets = tmp_path / "assets.jsonl"
    asset = {"agent_id": str(_id("agent", 0)), "task_id": str(_id("task", 0)),
             "platform": "tiktok", "tier": "tier1", "character_reference_id": "r"}  # fmt: skip
    assets.write_text(json.dumps(asset) + "\n" + json.dumps(asset) + "\n")
    other = str(_id("campaign", 0))
    before = snapshot(seeded)
    checked = cli(seeded, "campaign", "import", "-", "--dry-run", input=exported)
    assert checked.exit_code == 0, checked.output
    assert f"would import campaign {campaign}: " in checked.stdout
    assert "(dry run: nothing written)" in checked.stdout
    tasks = cli(seeded, "tasks", "import", "-", "--campaign", other, "--dry-run", input=payloads)
    assert tasks.exit_code == 0, tasks.output
    n = len(payloads.splitlines())
    assert f"would import {n} tasks (dry run: nothing written)" in tasks.stdout
    ingest = cli(seeded, "assets", "import", str(assets), "--dry-run")
    assert ingest.exit_code == 0 and "would import 2 assets" in ingest.stdout, ingest.output
    assert snapshot(seeded) == before
    # A file the database would refuse: the same error and exit code as without --dry-run.
    assets.write_text(
        json.dumps(asset) + "\n" + json.dumps({**asset, "task_id": str(uuid.uuid4())})
    )
    refused = cli(seeded, "assets", "import", str(assets), "--dry-run")
    assert refused.exit_code == 9 and "line 2:" in refused.output, refused.output
    assert snapshot(seeded) == before
    # And for real, what the dry run said.
    imported = cli(seeded, "campaign", "import", "-", input=exported)
    assert checked.stdout == imported.stdout.replace("imported", "would import").replace(
        "\n", " (dry run: nothing written)\n"
    )
