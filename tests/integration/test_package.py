"""The wheel that a service installs works on its own: built from this checkout, unpacked
outside it, it migrates an empty database, passes `check`, and serves the data API.

The suite otherwise runs the editable install, which reads the SQL, the migrations and the
schema snapshot from `src/`; a file left out of the wheel would only fail in production.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from chimera_store.revisions import head_revision
from tests.helpers import REPO

PACKAGE = REPO / "src" / "chimera_store"
# No build isolation: the pinned backend is in the dev dependencies, nothing is downloaded.
PIP_WHEEL = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]


def _build_wheel(into: Path) -> Path:
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(into), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = into.glob("chimera_store-*.whl")
    return wheel


def test_the_wheel_ships_every_file_of_the_package(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"chimera_store/{path.relative_to(PACKAGE).as_posix()}"
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert expected - shipped == set()
    assert {"chimera_store/py.typed", "chimera_store/sql/store.sql"} <= shipped
    entry_points = zipfile.ZipFile(wheel).read(
        next(n for n in shipped if n.endswith(".dist-info/entry_points.txt"))
    )
    assert b"chimera-store = chimera_store.cli:main" in entry_points


def test_the_unpacked_wheel_migrates_checks_and_serves(tmp_path: Path, empty_db_url: str) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"  # no alembic.ini, no src/ in sight
    elsewhere.mkdir()
    script = (
        "import sys, chimera_store\n"
        f"assert chimera_store.__file__.startswith({str(site)!r}), chimera_store.__file__\n"
        "from chimera_store.cli import main\n"
        "from chimera_store.store import Store\n"
        "sys.argv = ['chimera-store', *sys.argv[1:]]\n"
        "if sys.argv[1] == 'api':\n"
        "    with Store.open(sys.argv[2]) as store:\n"
        "        c = store.create_campaign('Wheel', 'From the wheel', 'active')\n"
        "        print(store.get_campaign(c.id).name)\n"
        # Opening checked the revision, from the scripts' names, without Alembic.
        "    print(sorted({'alembic', 'sqlalchemy'} & set(sys.modules)))\n"
        "else:\n"
        "    main()\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", script, *args],
            cwd=elsewhere,
            env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    migrated = run("--database-url", empty_db_url, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"-> {head_revision()}" in migrated.stdout
    checked = run("--database-url", empty_db_url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    served = run("api", empty_db_url)
    assert served.returncode == 0, served.stderr
    assert served.stdout.splitlines() == ["Wheel", "[]"]
    version = run("--version")
    assert version.stdout.endswith(f"(schema head {head_revision()})\n"), version.stderr
