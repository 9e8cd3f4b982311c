"""config/pledgewatch.service: its keys, what systemd-analyze says of it, and the daemon run as systemd runs it."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from daemon.delivery import offload
from daemon.service.daemon import MAX_SLEEP, RELEASE_TIMEOUT_SECONDS, STOP_GRACE_SECONDS
from tests.support import process

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "config" / "pledgewatch.service"
SHIPPED_EXEC = "ExecStart=/opt/pledgewatch/bin/pledgewatch run"
MAX_EXPOSURE = 2.0  # systemd-analyze calls up to 2.0 "OK"; the unit must stay there
EXIT_CONFIG = 78

# "whsec_" and the base64 of "credential-key-for-the-tests" / "key-from-the-env-file".
SECRET = "whsec_Y3JlZGVudGlhbC1rZXktZm9yLXRoZS10ZXN0cw=="
ENV_SECRET = "whsec_a2V5LWZyb20tdGhlLWVudi1maWxl"
TOKEN = "t0ken-handed-over-by-systemd"

Unit = dict[str, list[tuple[str, str]]]


def parse(text: str) -> Unit:
    """Return {section: [(key, value), ...]} in file order; keys may repeat, as systemd allows."""
    unit: Unit = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"no continuation lines, please: {line}"
        if line.startswith("["):
            section = line.strip("[]")
            unit.setdefault(section, [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line}"
        unit[section].append((key.strip(), value.strip()))
    return unit


def values(unit: Unit, key: str, section: str = "Service") -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def one(unit: Unit, key: str, section: str = "Service") -> str:
    found = values(unit, key, section)
    assert len(found) == 1, f"{section}/{key}: expected once, found {found}"
    return found[0]


def seconds(span: str) -> int:
    """Return the seconds of a time span written as `<n>s`, the only form the unit uses."""
    found = re.fullmatch(r"(\d+)s", span)
    assert found, f"write time spans as <n>s: {span!r}"
    return int(found[1])


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse(UNIT.read_text(encoding="utf-8"))


class TestKeys:
    def test_it_is_a_notify_service_run_by_the_installed_command(self, unit: Unit) -> None:
        assert one(unit, "Type") == "notify"
        assert one(unit, "NotifyAccess") == "main"
        assert one(unit, "ExecStart") == SHIPPED_EXEC.removeprefix("ExecStart=")
        assert one(unit, "WantedBy", "Install") == "multi-user.target"

    def test_its_watchdog_outlasts_the_longest_planner_sleep(self, unit: Unit) -> None:
        """The daemon pings every WatchdogSec/2 while the planner, which looks at least
        once per MAX_SLEEP, makes progress: half the period must exceed that sleep."""
        watchdog = seconds(one(unit, "WatchdogSec"))
        assert watchdog / 2 > MAX_SLEEP.total_seconds()

    def test_it_restarts_on_failure_but_not_after_a_configuration_error(self, unit: Unit) -> None:
        assert one(unit, "Restart") == "on-failure"
        assert str(EXIT_CONFIG) in one(unit, "RestartPreventExitStatus").split()

    def test_it_stops_with_sigterm_and_waits_out_the_daemon_s_own_grace(self, unit: Unit) -> None:
        assert one(unit, "KillSignal") == "SIGTERM"
        # The grace for sends, handing leases back, the posting process's exit, 5 s for
        # HTTP, 2.5 s for threads to join.
        worst = STOP_GRACE_SECONDS + RELEASE_TIMEOUT_SECONDS + offload.EXIT_SECONDS + 5 + 2.5
        assert seconds(one(unit, "TimeoutStopSec")) > worst

    def test_it_reloads_with_sighup(self, unit: Unit) -> None:
        assert one(unit, "ExecReload") == "/bin/kill -HUP $MAINPID"

    def test_it_reads_the_optional_env_file_and_keeps_state_in_its_own_directory(
        self, unit: Unit
    ) -> None:
        assert one(unit, "EnvironmentFile") == "-/etc/pledgewatch/pledgewatch.env"
        assert one(unit, "StateDirectory") == "pledgewatch"
        assert one(unit, "DynamicUser") == "yes"

    def test_it_is_hardened(self, unit: Unit) -> None:
        expected = {
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "PrivateDevices": "yes",
            "PrivateUsers": "yes",
            "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes",
            "ProtectControlGroups": "yes",
            "ProtectClock": "yes",
            "ProtectHostname": "yes",
            "ProtectProc": "invisible",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
            "RestrictNamespaces": "yes",
            "RestrictRealtime": "yes",
            "RestrictSUIDSGID": "yes",
            "LockPersonality": "yes",
            "MemoryDenyWriteExecute": "yes",
            "SystemCallArchitectures": "native",
            "CapabilityBoundingSet": "",
        }
        assert {key: one(unit, key) for key in expected} == expected
        assert values(unit, "SystemCallFilter") == ["@system-service", "~@privileged @resources"]

    def test_it_shows_how_to_hand_over_secrets_as_credentials(self) -> None:
        examples = re.findall(r"^#LoadCredential=(\S+)$", UNIT.read_text(), re.MULTILINE)
        names = [example.partition(":")[0] for example in examples]
        assert "PLEDGEWATCH_API_TOKEN" in names
        assert "PLEDGEWATCH_WEBHOOKS__OPS__SECRET" in names
        # Files named like their variables: the folder works as CREDENTIALS_DIRECTORY by hand.
        for example in examples:
            name, _, path = example.partition(":")
            assert path == f"/etc/pledgewatch/credentials/{name}"


@pytest.fixture(scope="module")
def analyze() -> str:
    """The path of systemd-analyze, or a skip saying it is not installed."""
    found = shutil.which("systemd-analyze")
    if not found:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return found


def verifiable(text: str, folder: Path) -> Path:
    """Write the unit to `folder` with ExecStart on this venv's command, the one change.

    `verify` insists that the ExecStart binary exists, and /opt/pledgewatch is
    the operator's install, not ours.
    """
    assert text.count(SHIPPED_EXEC) == 1
    path = folder / "pledgewatch.service"
    path.write_text(text.replace(SHIPPED_EXEC, f"ExecStart={process.COMMAND} run"), "utf-8")
    return path


def verify(analyze: str, path: Path) -> list[str]:
    """Return what `systemd-analyze verify` says of our unit, and fail on a bad exit code.

    verify also loads the units ours depends on (network-online.target and what
    that pulls in) from this machine and repeats their warnings; those lines name
    another unit, say nothing of ours, and differ from host to host, so only the
    lines naming our unit are kept.
    """
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = (result.stdout + result.stderr).splitlines()
    ours = [line for line in lines if "pledgewatch" in line]
    assert result.returncode == 0, "\n".join(lines)
    return ours


class TestSystemdAnalyze:
    def test_verify_has_nothing_to_say_about_the_unit(self, analyze: str, tmp_path: Path) -> None:
        path = verifiable(UNIT.read_text(encoding="utf-8"), tmp_path)
        assert verify(analyze, path) == []

    def test_verify_accepts_the_credential_examples_once_uncommented(
        self, analyze: str, tmp_path: Path
    ) -> None:
        text = UNIT.read_text(encoding="utf-8").replace("#LoadCredential=", "LoadCredential=")
        assert "\nLoadCredential=PLEDGEWATCH_API_TOKEN:" in text
        assert verify(analyze, verifiable(text, tmp_path)) == []

    def test_verify_would_report_a_mistake_in_the_unit(self, analyze: str, tmp_path: Path) -> None:
        """The filter above keeps what matters: a bad line of ours is seen."""
        text = UNIT.read_text(encoding="utf-8").replace(
            "ProtectSystem=strict", "ProtectSystem=sternly"
        )
        said = verify(analyze, verifiable(text, tmp_path))
        assert any("ProtectSystem" in line or "protect system" in line for line in said), said

    def test_the_security_exposure_is_ok(self, analyze: str) -> None:
        result = subprocess.run(
            [analyze, "security", "--offline=yes", "--no-pager", str(UNIT)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0 and "offline" in result.stderr:
            pytest.skip(f"this systemd-analyze cannot analyse offline: {result.stderr.strip()}")
        assert result.returncode == 0, result.stderr
        found = re.search(
            r"Overall exposure level for pledgewatch\.service: (\d+\.\d+)", result.stdout
        )
        assert found, result.stdout
        assert float(found[1]) <= MAX_EXPOSURE, result.stdout


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """An abstract datagram socket standing in for systemd's $NOTIFY_SOCKET."""
    name = f"pledgewatch-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        yield "@" + name, sock


def messages_until(sock: socket.socket, wanted: str, timeout: float) -> list[str]:
    """Collect notify messages until one has the line `wanted`; bounded by `timeout`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if wanted in seen[-1].splitlines():
            return seen
    raise AssertionError(f"no {wanted} within {timeout}s; got {seen}")


def credential(folder: Path, name: str, value: str) -> None:
    """Write a credential as systemd leaves it: a file named after the variable, mode 0400."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o400)


@pytest.mark.daemon
def test_under_systemd_it_says_ready_keeps_its_database_in_the_state_directory_and_takes_credentials(
    tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    address, sock = notify_socket
    state = tmp_path / "state"
    state.mkdir()
    credentials = tmp_path / "credentials"
    credential(credentials, "PLEDGEWATCH_API_TOKEN", TOKEN)
    daemon = process.start(
        {
            "PLEDGEWATCH_API_TOKEN": "the-env-file-token",
            "STATE_DIRECTORY": str(state),
            "CREDENTIALS_DIRECTORY": str(credentials),
            "NOTIFY_SOCKET": address,
        },
        tmp_path / "daemon.log",
    )
    try:
        messages_until(sock, "READY=1", timeout=30)
        assert (state / "pledgewatch.db").is_file()
        url = f"{daemon.url}/api/commitments/no-such-pledge/status"
        body = {"status": "kept"}
        refused = httpx.post(url, json=body, headers={"Authorization": "Bearer the-env-file-token"})
        assert refused.status_code == 401  # the credential replaced the environment's token
        taken = httpx.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert taken.status_code == 404, taken.text  # past the token check: no such pledge
    finally:
        code = daemon.stop()
    assert code == 0
    messages_until(sock, "STOPPING=1", timeout=5)
    assert TOKEN not in daemon.output()


class TestCheckConfig:
    """`pledgewatch check-config` sees credentials the way the daemon does."""

    def settings(self, tmp_path: Path, **values: str) -> dict[str, str]:
        return {
            "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'pledgewatch.db'}",
            "PLEDGEWATCH_WEBHOOKS__OPS__URL": "https://hooks.example.org/ops",
            "CREDENTIALS_DIRECTORY": str(tmp_path / "credentials"),
            **values,
        }

    def test_a_credential_secret_replaces_a_broken_one_from_the_environment(
        self, tmp_path: Path
    ) -> None:
        credential(tmp_path / "credentials", "PLEDGEWATCH_WEBHOOKS__OPS__SECRET", SECRET)
        settings = self.settings(tmp_path, PLEDGEWATCH_WEBHOOKS__OPS__SECRET="not-a-whsec")
        assert process.cli("migrate", settings=settings).returncode == 0
        result = process.cli("check-config", settings=settings)
        assert result.returncode == 0, result.stderr
        assert '"secret": "********"' in result.stdout
        assert SECRET not in result.stdout + result.stderr

    def test_a_broken_credential_wins_too_and_exits_78_naming_the_variable(
        self, tmp_path: Path
    ) -> None:
        credential(tmp_path / "credentials", "PLEDGEWATCH_WEBHOOKS__OPS__SECRET", "n0t-a-whsec")
        settings = self.settings(tmp_path, PLEDGEWATCH_WEBHOOKS__OPS__SECRET=ENV_SECRET)
        result = process.cli("check-config", settings=settings)
        assert result.returncode == EXIT_CONFIG
        assert "PLEDGEWATCH_WEBHOOKS__OPS__SECRET" in result.stderr
        assert "n0t-a-whsec" not in result.stdout + result.stderr

    def test_an_unreadable_credential_exits_78_naming_the_file(self, tmp_path: Path) -> None:
        folder = tmp_path / "credentials" / "PLEDGEWATCH_DATABASE_URL"
        folder.mkdir(parents=True)
        result = process.cli("check-config", settings=self.settings(tmp_path))
        assert result.returncode == EXIT_CONFIG
        assert f"credential {folder}: cannot be read" in result.stderr
        assert "Traceback" not in result.stderr
