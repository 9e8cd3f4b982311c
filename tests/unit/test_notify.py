"""systemd notify: the exact datagrams on real sockets, the watchdog rule, the STATUS line."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from daemon.service import notify

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _listen(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


@pytest.fixture
def path_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A socket bound to a file, as systemd's /run/systemd/notify is."""
    path = str(tmp_path / "notify.sock")
    sock = _listen(path)
    yield path, sock
    sock.close()


@pytest.fixture
def abstract_socket() -> Iterator[tuple[str, socket.socket]]:
    """A socket in Linux's abstract namespace, named as NOTIFY_SOCKET names it ("@...")."""
    name = f"@pledgewatch-test-{uuid.uuid4().hex}"
    sock = _listen("\0" + name[1:])
    yield name, sock
    sock.close()


class TestNotifier:
    @pytest.mark.parametrize("kind", ["path_socket", "abstract_socket"])
    def test_it_sends_the_fields_as_one_datagram(
        self, kind: str, request: pytest.FixtureRequest
    ) -> None:
        address, sock = request.getfixturevalue(kind)
        notifier = notify.Notifier.from_environment({"NOTIFY_SOCKET": address})
        assert notifier.enabled
        assert notifier.send("READY=1", "STATUS=watching 2 pledges")
        assert notifier.send("WATCHDOG=1")
        assert sock.recv(4096) == b"READY=1\nSTATUS=watching 2 pledges"
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.close()

    def test_a_line_break_inside_a_value_cannot_start_another_field(
        self, path_socket: tuple[str, socket.socket]
    ) -> None:
        address, sock = path_socket
        notifier = notify.Notifier(address)
        notifier.send("STATUS=database unreachable\nREADY=1")
        notifier.close()
        assert sock.recv(4096) == b"STATUS=database unreachable READY=1"

    def test_without_notify_socket_it_does_nothing(self) -> None:
        notifier = notify.Notifier.from_environment({})
        assert not notifier.enabled
        assert notifier.send("READY=1") is False

    def test_a_socket_gone_away_is_reported_once_and_never_raises(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        notifier = notify.Notifier(str(tmp_path / "gone.sock"))
        with caplog.at_level(logging.DEBUG, logger=notify.__name__):
            assert notifier.send("READY=1") is False
            assert notifier.send("WATCHDOG=1") is False
        notifier.close()
        levels = [r.levelno for r in caplog.records if r.action == "notify_failed"]  # type: ignore[attr-defined]
        assert levels == [logging.WARNING, logging.DEBUG]

    def test_threads_sending_at_once_each_get_their_datagram_through_whole(
        self, abstract_socket: tuple[str, socket.socket]
    ) -> None:
        address, sock = abstract_socket
        notifier = notify.Notifier(address)
        received: list[bytes] = []
        # Read as systemd does, all along: a socket's queue holds only a few datagrams.
        reader = threading.Thread(
            target=lambda: received.extend(sock.recv(4096) for _ in range(20))
        )
        reader.start()
        threads = [
            threading.Thread(target=notifier.send, args=(f"STATUS=thread {i}", "WATCHDOG=1"))
            for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        reader.join(timeout=10)
        notifier.close()
        assert sorted(received) == sorted(
            f"STATUS=thread {i}\nWATCHDOG=1".encode() for i in range(20)
        )


class TestWatchdogTimeout:
    @pytest.mark.parametrize(
        ("environ", "expected"),
        [
            pytest.param({}, None, id="no-watchdog"),
            pytest.param({"WATCHDOG_USEC": "30000000"}, timedelta(seconds=30), id="any-pid"),
            pytest.param(
                {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "4242"},
                timedelta(seconds=1),
                id="our-pid",
            ),
            pytest.param({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, None, id="another-pid"),
            pytest.param({"WATCHDOG_USEC": "0"}, None, id="zero"),
            pytest.param({"WATCHDOG_USEC": "soon"}, None, id="unreadable"),
            pytest.param(
                {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "x"}, None, id="unreadable-pid"
            ),
        ],
    )
    def test_it_applies_only_to_the_process_systemd_watches(
        self, environ: dict[str, str], expected: timedelta | None
    ) -> None:
        assert notify.watchdog_timeout(environ, 4242) == expected


class TestWatchdogOk:
    """Pings only while the planner makes progress (times in seconds, monotonic)."""

    @staticmethod
    def ok(last_run: float, running_since: float | None, now: float) -> bool:
        return notify.watchdog_ok(
            last_run=last_run, running_since=running_since, now=now, max_sleep=60.0, timeout=10.0
        )

    def test_a_planner_asleep_after_a_recent_run_is_fine(self) -> None:
        assert self.ok(1000.0, None, 1065.0)

    def test_a_planner_that_stopped_running_is_not(self) -> None:
        """Longer than its longest sleep and the timeout: the scheduler no longer runs it."""
        assert not self.ok(1000.0, None, 1071.0)

    def test_a_run_making_progress_is_fine_however_long_ago_the_last_one_ended(self) -> None:
        assert self.ok(0.0, 995.0, 1000.0)

    def test_a_run_stuck_longer_than_the_timeout_stops_the_pings(self) -> None:
        """A database call that never returns: no progress for more than the timeout."""
        assert self.ok(980.0, 990.0, 1000.0)
        assert not self.ok(980.0, 989.0, 1000.0)


class TestStatusText:
    @pytest.mark.parametrize(
        ("pledges", "next_at", "pending", "expected"),
        [
            (
                12,
                NOW + timedelta(days=3, hours=5),
                0,
                "watching 12 pledges, next notice in 3d, 0 deliveries pending",
            ),
            (
                1,
                NOW + timedelta(minutes=5, seconds=30),
                1,
                "watching 1 pledge, next notice in 5m, 1 delivery pending",
            ),
            (
                3,
                NOW + timedelta(seconds=0.2),
                2,
                "watching 3 pledges, next notice in 1s, 2 deliveries pending",
            ),
            (
                3,
                NOW - timedelta(hours=1),
                7,
                "watching 3 pledges, next notice due now, 7 deliveries pending",
            ),
            (0, None, 0, "watching 0 pledges, no notice scheduled, 0 deliveries pending"),
        ],
    )
    def test_it_reads_as_a_sentence(
        self, pledges: int, next_at: datetime | None, pending: int, expected: str
    ) -> None:
        assert notify.status_text(pledges, next_at, pending, NOW) == expected
