"""A plain wheel (not the editable install) carries the migrations and works from any folder."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from daemon.store import connector

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("pledgewatch-*.whl"))


def test_the_installed_wheel_migrates_and_imports_the_seeds_from_another_folder(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "daemon" / "migrations" / "env.py").is_file()
    assert list((target / "daemon" / "migrations" / "versions").glob("0001_*.py"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # -S: no site-packages processing, so the editable install's finder is not loaded;
    # the dependencies come from this environment's site-packages, the package from the wheel.
    path = f"{target}:{sysconfig.get_paths()['purelib']}"
    env = {
        "PYTHONPATH": path,
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-S", "-m", "daemon", *args],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    where = subprocess.run(
        [sys.executable, "-S", "-c", "import daemon; print(daemon.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == f"database at revision {connector.HEAD_REVISION}"
    imported = run("import", str(ROOT / "seeds" / "moscow-talks-2016.yaml"))
    assert imported.returncode == 0, imported.stderr
    assert "12 created" in imported.stdout
