"""Receiver outages and slow receivers, against the real daemon process."""

from __future__ import annotations

import itertools
import socket
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support import process
from tests.support.receiver import Receiver, serve

STEP = 1.0  # seconds: every step of the compressed retry schedule
pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.02)


def _seed(folder: Path, count: int, due: datetime) -> Path:
    path = folder / "pledges.yaml"
    commitments = [
        {"id": f"p{i}", "title": f"Pledge {i}", "deadline": due.isoformat()} for i in range(count)
    ]
    path.write_text(yaml.safe_dump({"commitments": commitments}))
    return path


def _attempts(database: Path) -> dict[str, list[tuple[str, int | None, str | None]]]:
    found: dict[str, list[tuple[str, int | None, str | None]]] = {}
    with sqlite3.connect(database) as conn:
        rows = conn.execute(
            "SELECT delivery_id, attempted_at, status_code, error FROM delivery_attempts ORDER BY id"
        )
        for delivery, at, status, error in rows:
            found.setdefault(delivery, []).append((at, status, error))
    return found


@pytest.fixture
def closed_port() -> Iterator[socket.socket]:
    """A port bound but not listening: connections to it are refused, and nobody else takes it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def test_refused_then_503_then_recovered_everything_arrives_on_schedule(
    tmp_path: Path, closed_port: socket.socket
) -> None:
    port = closed_port.getsockname()[1]
    database = tmp_path / "outage.db"
    settings = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}",
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": f"http://127.0.0.1:{port}/hook",
        "PLEDGEWATCH_ALLOWED_TARGETS": "127.0.0.0/8",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
        "PLEDGEWATCH_RETRY_SCHEDULE": ",".join(["1s"] * 12),
    }
    imported = process.cli("import", str(_seed(tmp_path, 3, datetime.now(UTC))), settings=settings)
    assert imported.returncode == 0, imported.stderr
    daemon = process.start(settings, tmp_path / "daemon.log")
    receiver = Receiver()
    try:
        # 1. Nobody listens: every delivery fails twice with a refused connection.
        _wait_until(
            lambda: (
                len(_attempts(database)) == 3
                and all(len(a) >= 2 for a in _attempts(database).values())
            ),
            20,
            "refusals",
        )
        # 2. A receiver comes up on that port, answering 503.
        closed_port.close()
        receiver.answer["/hook"] = 503
        server, thread = serve(receiver, port)
        _wait_until(lambda: len(receiver.at("/hook")) >= 6, 20, "503 answers")
        # 3. It recovers.
        receiver.answer["/hook"] = 204
        _wait_until(
            lambda: all(a[-1][1] == 204 for a in _attempts(database).values()), 20, "recovery"
        )
    finally:
        assert daemon.stop() == 0, daemon.output()
    server.should_exit = True
    thread.join(timeout=5)

    attempts = _attempts(database)
    with sqlite3.connect(database) as conn:
        states = [row[0] for row in conn.execute("SELECT state FROM deliveries")]
    assert states == ["delivered"] * 3
    for delivery, tries in attempts.items():
        kinds = [("refused" if status is None else status) for _, status, _ in tries]
        # Refusals, then 503s, then one success, in that order; every one recorded.
        assert kinds[0] == "refused" and kinds[-1] == 204, (delivery, kinds)
        assert kinds == sorted(kinds, key=lambda k: {"refused": 0, 503: 1, 204: 2}[k]), kinds
        assert all(
            error and "ConnectError" in error for _, status, error in tries if status is None
        )
        # The schedule is followed: never sooner than a step less its 20% jitter.
        instants = [datetime.fromisoformat(at) for at, _, _ in tries]
        gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(instants)]
        assert min(gaps) >= STEP * 0.8 - 0.05, gaps
    # The receiver saw exactly the attempts that reached it: one webhook-id per notice.
    reached = receiver.at("/hook")
    assert len({r.headers["webhook-id"] for r in reached}) == 3
    assert len(reached) == sum(
        1 for tries in attempts.values() for _, s, _ in tries if s is not None
    )


def test_a_receiver_that_hangs_does_not_delay_another(receiver: Receiver, tmp_path: Path) -> None:
    slow, fast = f"/slow/{uuid.uuid4().hex}", f"/fast/{uuid.uuid4().hex}"
    receiver.delay[slow] = 10.0
    settings = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'isolation.db'}",
        "PLEDGEWATCH_WEBHOOKS__SLOW__URL": receiver.url + slow,
        "PLEDGEWATCH_WEBHOOKS__FAST__URL": receiver.url + fast,
        "PLEDGEWATCH_WEBHOOKS__SLOW__TIMEOUT": "30s",
        "PLEDGEWATCH_ALLOWED_TARGETS": "127.0.0.0/8",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }
    daemon = process.start(settings, tmp_path / "daemon.log")
    try:
        # Far enough ahead that the import (a process start) is done before the first is due.
        start = datetime.now(UTC) + timedelta(seconds=4)
        path = tmp_path / "pledges.yaml"
        commitments = [
            {
                "id": f"p{i}",
                "title": f"Pledge {i}",
                "deadline": (start + timedelta(milliseconds=300 * i)).isoformat(),
            }
            for i in range(12)
        ]
        path.write_text(yaml.safe_dump({"commitments": commitments}))
        assert process.cli("import", str(path), settings=settings).returncode == 0
        arrivals = receiver.wait_for(fast, count=12, timeout=30)
        hanging = len(receiver.at(slow))
    finally:
        # Killed, not stopped: a graceful stop would wait out the hanging requests,
        # and stopping is not what this test is about.
        daemon.process.kill()
        daemon.process.wait(timeout=10)
        daemon.handle.close()
    late = [
        r.received_at - datetime.fromisoformat(r.json()["data"]["scheduled_for"]).timestamp()
        for r in arrivals
    ]
    assert hanging >= 1  # the slow receiver was holding requests all along
    assert max(late) < 1.0, late  # and the fast one still got each notice within a second
