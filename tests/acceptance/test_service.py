"""The daemon as a service: systemd notify and watchdog, SIGTERM hand-back, SIGHUP reload."""

from __future__ import annotations

import ctypes
import json
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select

from daemon.service.daemon import STOP_GRACE_SECONDS
from daemon.store import connector
from daemon.store.schema import Delivery
from tests.support import process
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


def _wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something true (bounded); return that."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def _seed(folder: Path, commitments: list[dict[str, object]], name: str) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"timezone": "UTC", "commitments": commitments}))
    return path


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Systemd:
    """Stands in for systemd's notify socket: an abstract datagram socket read by a thread.

    `on_ready` runs in that thread the moment READY=1 arrives, before the
    daemon can do anything more.
    """

    def __init__(self, on_ready: Callable[[], object] = lambda: None) -> None:
        self.address = f"@pledgewatch-test-{uuid.uuid4().hex}"
        self.messages: list[str] = []
        self.at_ready: list[object] = []
        self._on_ready = on_ready
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + self.address[1:])
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                text = self._sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            if "READY=1" in text.splitlines() and not self.at_ready:
                try:
                    self.at_ready.append(self._on_ready())
                except Exception as exc:  # shown by the test's assertion on at_ready
                    self.at_ready.append(exc)
            with self._lock:
                self.messages.append(text)

    def received(self) -> list[str]:
        with self._lock:
            return list(self.messages)

    def lines(self) -> list[str]:
        return [line for message in self.received() for line in message.splitlines()]

    def wait_for(self, line: str, count: int = 1, timeout: float = 30) -> list[str]:
        """Wait until `line` has come `count` times; return every message so far."""
        _wait_until(lambda: self.lines().count(line) >= count, timeout, f"{count} x {line}")
        return self.received()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def hook_path() -> str:
    return f"/service/{uuid.uuid4().hex}"


class TestSystemdNotify:
    def test_it_says_ready_what_it_watches_that_it_lives_and_that_it_stops(
        self, sqlite_url: str, receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = {
            "PLEDGEWATCH_DATABASE_URL": sqlite_url,
            "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
            "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        }
        seed = _seed(
            tmp_path,
            [{"id": f"p{i}", "title": f"P{i}", "deadline": "2031-01-01"} for i in range(3)],
            "pledges.yaml",
        )
        assert process.cli("import", str(seed), settings=settings).returncode == 0
        log = tmp_path / "daemon.log"

        def readyz() -> int:
            """What /readyz answers at the moment systemd hears READY=1."""
            found = process.STARTED.search(log.read_text())
            assert found, "READY=1 before the daemon said where it listens"
            return httpx.get(f"{found[1]}/readyz", timeout=10).status_code

        systemd = Systemd(on_ready=readyz)
        try:
            daemon = process.start(
                {**settings, "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "1000000"}, log
            )
            try:
                systemd.wait_for("READY=1")
                systemd.wait_for("WATCHDOG=1", count=3, timeout=30)  # one every 0.5 s
            finally:
                code = daemon.stop()
            assert code == 0, daemon.output()
            messages = systemd.wait_for("STOPPING=1", timeout=5)
        finally:
            systemd.close()
        assert systemd.at_ready == [200]
        ready = next(m for m in messages if "READY=1" in m.splitlines())
        assert re.fullmatch(
            r"READY=1\nSTATUS=watching 3 pledges, next notice in \d+d, 0 deliveries pending",
            ready,
        )
        # Nothing before READY but watchdog pings; nothing after STOPPING.
        assert all(m == "WATCHDOG=1" for m in messages[: messages.index(ready)])
        assert messages[-1] == "STOPPING=1\nSTATUS=stopping: 0 sends in flight"

    def test_the_status_line_counts_a_pledge_imported_while_running(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        """The count is kept between refreshes: an import while running must still show."""
        settings = {"PLEDGEWATCH_DATABASE_URL": sqlite_url}
        first = _seed(tmp_path, [{"id": "p1", "title": "P1", "deadline": "2031-01-01"}], "a.yaml")
        assert process.cli("import", str(first), settings=settings).returncode == 0
        systemd = Systemd()
        try:
            daemon = process.start(
                {**settings, "NOTIFY_SOCKET": systemd.address}, tmp_path / "daemon.log"
            )
            try:
                ready = systemd.wait_for("READY=1")
                assert "STATUS=watching 1 pledge, " in ready[-1]
                more = [{"id": f"q{i}", "title": f"Q{i}", "deadline": "2031-01-01"} for i in (1, 2)]
                added = process.cli(
                    "import", str(_seed(tmp_path, more, "b.yaml")), settings=settings
                )
                assert added.returncode == 0, added.stderr

                def counted() -> bool:
                    # A reload sends the STATUS line again: no need to wait for the 30 s refresh.
                    daemon.process.send_signal(signal.SIGHUP)
                    time.sleep(0.3)
                    return any("STATUS=watching 3 pledges, " in m for m in systemd.received())

                _wait_until(counted, 15, "the STATUS line counting the imported pledges")
            finally:
                assert daemon.stop() == 0, daemon.output()
        finally:
            systemd.close()

    def test_a_watchdog_meant_for_another_process_is_never_pinged(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        systemd = Systemd()
        try:
            daemon = process.start(
                {
                    "PLEDGEWATCH_DATABASE_URL": sqlite_url,
                    "NOTIFY_SOCKET": systemd.address,
                    "WATCHDOG_USEC": "200000",
                    "WATCHDOG_PID": "1",
                },
                tmp_path / "daemon.log",
            )
            try:
                systemd.wait_for("READY=1")
            finally:
                assert daemon.stop() == 0, daemon.output()
            systemd.wait_for("STOPPING=1", timeout=5)
        finally:
            systemd.close()
        # Ready to stopping spans many 0.1 s periods of a watchdog that would apply.
        assert "WATCHDOG=1" not in systemd.lines()


def _deliveries(url: str) -> dict[str, dict[str, Any]]:
    engine = connector.make_engine(url)
    try:
        with connector.read(engine) as conn:
            rows = conn.execute(
                select(
                    Delivery.id,
                    Delivery.webhook,
                    Delivery.state,
                    Delivery.claimed_by,
                    Delivery.attempts,
                    Delivery.next_attempt_at,
                )
            )
            return {row.id: row._asdict() for row in rows}
    finally:
        engine.dispose()


class TestHttp:
    def test_the_date_header_follows_the_clock_while_the_server_sleeps_between_requests(
        self, sqlite_url: str, tmp_path: Path
    ) -> None:
        """The idle server does not wake to refresh its Date header: it is read when asked."""
        daemon = process.start({"PLEDGEWATCH_DATABASE_URL": sqlite_url}, tmp_path / "daemon.log")
        try:
            dates = []
            for _ in range(2):
                answer = httpx.get(f"{daemon.url}/livez", timeout=10)
                assert answer.status_code == 200
                dates.append(parsedate_to_datetime(answer.headers["date"]))
                assert abs((dates[-1] - datetime.now(UTC)).total_seconds()) < 5
                time.sleep(2.1)
            assert dates[1] > dates[0]
        finally:
            assert daemon.stop() == 0, daemon.output()


class TestStop:
    def test_sigterm_lets_quick_sends_finish_and_hands_slow_ones_back_for_the_next_daemon(
        self, database_url: str, receiver: Receiver, tmp_path: Path
    ) -> None:
        quick, slow = f"/quick/{uuid.uuid4().hex}", f"/slow/{uuid.uuid4().hex}"
        # Far slower than the stop grace, and the webhook waits that long: only the
        # grace can end these sends.
        receiver.delay[slow] = 5 * STOP_GRACE_SECONDS
        try:
            self.stop_and_start_again(database_url, receiver, tmp_path, quick, slow)
        finally:
            receiver.delay.pop(slow, None)

    def stop_and_start_again(
        self, database_url: str, receiver: Receiver, tmp_path: Path, quick: str, slow: str
    ) -> None:
        settings = {
            "PLEDGEWATCH_DATABASE_URL": database_url,
            "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
            "PLEDGEWATCH_REMINDER_OFFSETS": "0",
            "PLEDGEWATCH_WEBHOOKS__QUICK__URL": receiver.url + quick,
            "PLEDGEWATCH_WEBHOOKS__SLOW__URL": receiver.url + slow,
            "PLEDGEWATCH_WEBHOOKS__SLOW__TIMEOUT": f"{int(6 * STOP_GRACE_SECONDS)}s",
        }
        seed = _seed(
            tmp_path,
            [{"id": f"p{i}", "title": f"P{i}", "deadline": _now_iso()} for i in range(2)],
            "due.yaml",
        )
        assert process.cli("import", str(seed), settings=settings).returncode == 0
        first = process.start(settings, tmp_path / "first.log")
        try:
            receiver.wait_for(quick, count=2, timeout=30)
            held = {r.headers["webhook-id"] for r in receiver.wait_for(slow, count=2, timeout=30)}
            _wait_until(
                lambda: all(
                    d["state"] == "delivered"
                    for d in _deliveries(database_url).values()
                    if d["webhook"] == "quick"
                ),
                30,
                "the quick sends recorded",
            )
        finally:
            # Bounded: a daemon that waited for the slow sends would take 50 s.
            code = first.stop(timeout=STOP_GRACE_SECONDS + 15)
        assert code == 0, first.output()
        assert re.search(r"action=leases_released count=2\b", first.output()), first.output()

        after = _deliveries(database_url)
        assert {d["id"] for d in after.values() if d["webhook"] == "slow"} == held
        for delivery in after.values():
            if delivery["webhook"] == "quick":
                assert delivery["state"] == "delivered"
            else:  # back to pending, due now, no lease, no attempt recorded
                assert delivery["state"] == "pending"
                assert delivery["claimed_by"] is None
                assert delivery["attempts"] == 0
                assert delivery["next_attempt_at"] <= datetime.now(UTC)

        receiver.delay.pop(slow)
        second = process.start(settings, tmp_path / "second.log")
        try:
            # Leases of 60 s plus a margin would hold them far longer than this.
            again = receiver.wait_for(slow, count=4, timeout=30)[2:]
            assert {r.headers["webhook-id"] for r in again} == held
            _wait_until(
                lambda: all(d["state"] == "delivered" for d in _deliveries(database_url).values()),
                30,
                "the handed-back sends recorded",
            )
        finally:
            assert second.stop() == 0, second.output()
        # Handed back at the stop, not by the next start (which frees a SQLite file's leftovers).
        assert "action=leases_released" not in second.output()


def _env_file(path: Path, values: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def _show(env: Path, pledge_id: str) -> dict[str, Any]:
    result = process.cli("--env-file", str(env), "show", pledge_id, "--json", settings={})
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _send_to_a_worker_thread(pid: int, signum: int) -> int:
    """Send `signum` to one thread of process `pid` other than its main thread; return its id."""
    libc = ctypes.CDLL(None, use_errno=True)
    workers = sorted(int(task.name) for task in Path(f"/proc/{pid}/task").iterdir())
    workers.remove(pid)  # the main thread's id is the process id
    assert workers, "the daemon runs threads besides its main one"
    if libc.tgkill(pid, workers[0], signum) != 0:
        raise OSError(ctypes.get_errno(), "tgkill failed")
    return workers[0]


def test_sigterm_handed_to_another_thread_than_the_main_one_still_stops_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The kernel may hand a signal to any thread; the main thread must still act on it."""
    daemon = process.start({"PLEDGEWATCH_DATABASE_URL": sqlite_url}, tmp_path / "daemon.log")
    try:
        _send_to_a_worker_thread(daemon.process.pid, signal.SIGTERM)
        code = daemon.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        daemon.stop()
        raise AssertionError(
            f"no stop after a SIGTERM to a worker thread:\n{daemon.output()}"
        ) from None
    finally:
        daemon.handle.close()
    assert code == 0, daemon.output()
    assert "action=stop_requested signal=SIGTERM" in daemon.output()


class TestReload:
    @pytest.fixture
    def paths(self) -> tuple[str, str]:
        return f"/x/{uuid.uuid4().hex}", f"/y/{uuid.uuid4().hex}"

    @pytest.fixture
    def env(self, sqlite_url: str, receiver: Receiver, paths: tuple[str, str]) -> dict[str, str]:
        """Env file A: one webhook X, notices at the deadline only."""
        return {
            "PLEDGEWATCH_DATABASE_URL": sqlite_url,
            "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
            "PLEDGEWATCH_REMINDER_OFFSETS": "0",
            "PLEDGEWATCH_WEBHOOKS__X__URL": receiver.url + paths[0],
        }

    def test_sighup_adds_a_webhook_and_moves_next_notices_to_the_new_reminder_offsets(
        self, env: dict[str, str], receiver: Receiver, paths: tuple[str, str], tmp_path: Path
    ) -> None:
        x, y = paths
        file = tmp_path / "pledgewatch.env"
        _env_file(file, env)
        later = _seed(
            tmp_path, [{"id": "later", "title": "Later", "deadline": "2031-06-01"}], "later.yaml"
        )
        imported = process.cli("--env-file", str(file), "import", str(later), settings={})
        assert imported.returncode == 0, imported.stderr
        assert _show(file, "later")["next_notice_at"] == "2031-06-01T00:00:00+00:00"

        systemd = Systemd()
        daemon = process.start(
            {"NOTIFY_SOCKET": systemd.address},
            tmp_path / "daemon.log",
            options=("--env-file", str(file)),
        )
        try:
            systemd.wait_for("READY=1")
            _env_file(
                file,
                {
                    **env,
                    "PLEDGEWATCH_REMINDER_OFFSETS": "1d",
                    "PLEDGEWATCH_WEBHOOKS__Y__URL": receiver.url + y,
                    "PLEDGEWATCH_MAX_CONCURRENCY": "8",
                },
            )
            daemon.process.send_signal(signal.SIGHUP)
            reloaded = _wait_until(
                lambda: re.search(r".*action=settings_reloaded.*", daemon.output()),
                30,
                "settings_reloaded",
            )[0]
            assert "changed=PLEDGEWATCH_REMINDER_OFFSETS,PLEDGEWATCH_WEBHOOKS__Y" in reloaded
            assert (
                "PLEDGEWATCH_MAX_CONCURRENCY changed: takes effect at the next restart"
                in daemon.output()
            )
            # The pledge imported before the reload: its next notice is now the reminder.
            assert _show(file, "later")["next_notice_at"] == "2031-05-31T00:00:00+00:00"
            now = _seed(
                tmp_path, [{"id": "now", "title": "Now", "deadline": _now_iso()}], "now.yaml"
            )
            imported = process.cli("--env-file", str(file), "import", str(now), settings={})
            assert imported.returncode == 0, imported.stderr
            for path in (x, y):
                body = receiver.wait_for(path, timeout=30)[0].json()
                assert (body["type"], body["data"]["commitment"]["id"]) == (
                    "commitment.due",
                    "now",
                )
            assert daemon.process.poll() is None  # reloaded, not restarted
        finally:
            code = daemon.stop()
            systemd.close()
        assert code == 0, daemon.output()
        lines = systemd.lines()
        reloading = next(i for i, line in enumerate(lines) if line == "RELOADING=1")
        assert re.fullmatch(r"MONOTONIC_USEC=\d+", lines[reloading + 1])
        assert "READY=1" in lines[reloading + 2 :]

    def test_a_bad_setting_on_sighup_is_refused_naming_it_and_the_old_settings_go_on(
        self, env: dict[str, str], receiver: Receiver, paths: tuple[str, str], tmp_path: Path
    ) -> None:
        x, _ = paths
        file = tmp_path / "pledgewatch.env"
        _env_file(file, env)
        daemon = process.start({}, tmp_path / "daemon.log", options=("--env-file", str(file)))
        secret = f"hunter2-{uuid.uuid4().hex}"
        try:
            _env_file(
                file,
                {
                    **env,
                    "PLEDGEWATCH_OVERDUE_REPEAT": "weekly",
                    "PLEDGEWATCH_WEBHOOKS__X__SECRET": secret,
                },
            )
            daemon.process.send_signal(signal.SIGHUP)
            _wait_until(
                lambda: "action=settings_reload_refused" in daemon.output(), 30, "the refusal"
            )
            now = _seed(
                tmp_path, [{"id": "now", "title": "Now", "deadline": _now_iso()}], "now.yaml"
            )
            # The running settings: X, and no secret (the refused one would sign).
            imported = process.cli("import", str(now), settings=env)
            assert imported.returncode == 0, imported.stderr
            request = receiver.wait_for(x, timeout=30)[0]
            assert request.json()["data"]["commitment"]["id"] == "now"
            assert "webhook-signature" not in request.headers
        finally:
            code = daemon.stop()
        assert code == 0, daemon.output()
        output = daemon.output()
        errors = [line for line in output.splitlines() if " ERROR " in line]
        assert len(errors) == 1, output
        assert "PLEDGEWATCH_OVERDUE_REPEAT" in errors[0]
        assert "PLEDGEWATCH_WEBHOOKS__X__SECRET" in errors[0]
        assert "action=settings_reload_refused" in errors[0]
        assert secret not in output
        assert "action=settings_reloaded" not in output

    def test_a_storm_of_sighups_then_sigterm_still_stops_cleanly(
        self, env: dict[str, str], tmp_path: Path
    ) -> None:
        # The handlers only queue a request; the main thread works through them in turn.
        file = tmp_path / "pledgewatch.env"
        _env_file(file, env)
        daemon = process.start({}, tmp_path / "daemon.log", options=("--env-file", str(file)))
        try:
            for _ in range(50):
                daemon.process.send_signal(signal.SIGHUP)
            _wait_until(lambda: "action=settings_reloaded" in daemon.output(), 30, "a reload")
        finally:
            code = daemon.stop()
        assert code == 0, daemon.output()
        output = daemon.output()
        assert "action=stop_requested signal=SIGTERM" in output
        assert "Traceback" not in output
