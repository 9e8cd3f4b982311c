"""`pledgewatch run` refuses to start on bad ground: a clear message, the right exit code, nothing changed."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import process

pytestmark = pytest.mark.daemon

EXIT_RUNTIME = 1
EXIT_CONFIG = 78


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def test_a_port_in_use_exits_1_naming_the_variable_and_leaves_the_database_untouched(
    busy_port: int, tmp_path: Path
) -> None:
    database = tmp_path / "pledgewatch.db"
    result = process.cli(
        "run",
        settings={
            "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}",
            "PLEDGEWATCH_HTTP_PORT": str(busy_port),
        },
    )
    assert result.returncode == EXIT_RUNTIME
    assert f"cannot listen on 127.0.0.1:{busy_port}" in result.stderr
    assert "PLEDGEWATCH_HTTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert not database.exists()  # the port is checked before anything is migrated


def test_an_unreachable_database_exits_1_with_the_password_masked(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens once the probe is closed
    result = process.cli(
        "run",
        settings={
            "PLEDGEWATCH_DATABASE_URL": f"postgresql://watch:hunter2@127.0.0.1:{closed}/pledges",
            "PLEDGEWATCH_HTTP_PORT": "0",
        },
    )
    assert result.returncode == EXIT_RUNTIME
    assert f"127.0.0.1:{closed}/pledges" in result.stderr
    assert "PLEDGEWATCH_DATABASE_URL" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "is a folder, not a file"),
        (b"PLEDGEWATCH_HTTP_PORT=\xff\xfe\n", "not UTF-8 text"),
    ],
    ids=["folder", "not-utf8"],
)
def test_an_env_file_that_cannot_be_read_exits_78_naming_it(
    content: bytes | None, reason: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "pledgewatch.env"
    if content is None:
        env_file.mkdir()
    else:
        env_file.write_bytes(content)
    database = tmp_path / "pledgewatch.db"
    result = process.cli(
        "--env-file",
        str(env_file),
        "run",
        settings={"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}"},
    )
    assert result.returncode == EXIT_CONFIG
    assert f"env file {env_file}: {reason}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not database.exists()


@pytest.mark.parametrize("command", ["check-config", "run"])
def test_a_misspelt_variable_in_an_env_file_exits_78_naming_it_and_the_setting_meant(
    command: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "pledgewatch.env"
    env_file.write_text("PLEDGEWATCH_TIMEZOEN=Europe/Moscow\n", encoding="utf-8")
    database = tmp_path / "pledgewatch.db"
    result = process.cli(
        "--env-file",
        str(env_file),
        command,
        settings={"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}"},
    )
    assert result.returncode == EXIT_CONFIG
    assert result.stderr == (
        "pledgewatch: configuration error: PLEDGEWATCH_TIMEZOEN: not a setting "
        "(did you mean PLEDGEWATCH_TIMEZONE?)\n"
    )
    assert result.stdout == ""
    assert not database.exists()
