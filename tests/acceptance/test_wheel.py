"""A plain wheel (not the editable install) carries the migrations and page templates and works from any folder."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from daemon.store import connector
from tests.support import process

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
    _serves_the_status_page([sys.executable, "-S", "-m", "daemon"], elsewhere, env, tmp_path)


def _serves_the_status_page(
    command: list[str], cwd: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The wheel's templates and stylesheet are in it: the daemon serves / and its CSS."""
    log = tmp_path / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [*command, "run"],
            cwd=cwd,
            env={**env, "PLEDGEWATCH_HTTP_PORT": "0"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            found = None
            while found is None and time.monotonic() < deadline and daemon.poll() is None:
                time.sleep(0.1)
                found = process.STARTED.search(log.read_text())
            assert found is not None, log.read_text()
            page = httpx.get(found[1] + "/", timeout=10, trust_env=False)
            assert page.status_code == 200, page.text
            assert "Framework for Syria" in page.text
            style = httpx.get(found[1] + "/static/pages.css", timeout=10, trust_env=False)
            assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
