"""Crash safety: the real daemon killed with SIGKILL in the middle of a burst loses nothing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support import process
from tests.support.receiver import Receiver

NOTICES = 500
KILLS = 5
pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


def _delivered(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(
            conn.execute("SELECT count(*) FROM deliveries WHERE state = 'delivered'").fetchone()[0]
        )


def _wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads (a restart comes from the drain's)."""
    children = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as found:
                children += [int(child) for child in found.read().split()]
        except FileNotFoundError:
            pass  # the thread ended while we looked
    return children


def _running(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for its reaper has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_daemon_killed_at_random_moments_of_a_burst_loses_no_notice(
    receiver: Receiver, tmp_path: Path
) -> None:
    path = f"/crash/{uuid.uuid4().hex}"
    database = tmp_path / "crash.db"
    settings = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}",
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + path,
        "PLEDGEWATCH_ALLOWED_TARGETS": "127.0.0.0/8",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
        "PLEDGEWATCH_RETRY_SCHEDULE": "1s,1s,1s,1s,1s",
    }
    due = datetime.now(UTC) + timedelta(seconds=2)
    seed = tmp_path / "burst.yaml"
    seed.write_text(
        yaml.safe_dump(
            {
                "commitments": [
                    {"id": f"p{i:03d}", "title": f"Pledge {i}", "deadline": due.isoformat()}
                    for i in range(NOTICES)
                ]
            }
        )
    )
    imported = process.cli("import", str(seed), settings=settings)
    assert imported.returncode == 0, imported.stderr

    seed_value = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed_value)
    # Kill once this many distinct notices have arrived: five random moments, at least
    # 40 notices apart, so every run is killed in the middle of sending.
    thresholds = sorted(rng.sample(range(10, NOTICES - 10 - 40 * KILLS), KILLS))
    thresholds = [at + 40 * i for i, at in enumerate(thresholds)]

    def arrived() -> set[str]:
        return {r.headers["webhook-id"] for r in receiver.at(path)}

    for number, threshold in enumerate(thresholds, start=1):
        daemon = process.start(settings, tmp_path / f"run-{number}.log")
        _wait_until(
            lambda at=threshold: len(arrived()) >= at, 60, f"run {number} (seed {seed_value})"
        )
        children = _children(daemon.process.pid)
        assert children, "the daemon posts from a child process"
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=10)
        daemon.handle.close()
        # Its posting process ends with it: no orphan goes on sending.
        _wait_until(lambda c=children: not any(map(_running, c)), 10, f"run {number}'s child")

    final = process.start(settings, tmp_path / "final.log")
    try:
        _wait_until(lambda: _delivered(database) == NOTICES, 90, f"final run (seed {seed_value})")
    finally:
        assert final.stop() == 0, final.output()

    with sqlite3.connect(database) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM deliveries")}
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    requests = receiver.at(path)
    counts = Counter(r.headers["webhook-id"] for r in requests)
    by_id: dict[str, set[bytes]] = {}
    for request in requests:
        by_id.setdefault(request.headers["webhook-id"], set()).add(request.body)
    duplicates = sum(n - 1 for n in counts.values())
    print(  # shown with -s: the figures for the record
        f"crash test: seed={seed_value} notices={NOTICES} kills={KILLS} at={thresholds} "
        f"requests={len(requests)} lost={len(ids - set(counts))} duplicates={duplicates}"
    )
    assert events == NOTICES and len(ids) == NOTICES
    assert set(counts) == ids  # every committed notice arrived; nothing arrived uncommitted
    # A duplicate can only repeat a delivery: same webhook-id, same notice.
    assert all(len(bodies) == 1 for bodies in by_id.values())
