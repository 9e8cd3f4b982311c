"""Several `pledgewatch run` replicas on one PostgreSQL database share a burst, each notice once."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.support import burst, process
from tests.support.receiver import Receiver

NOTICES = 2000
REPLICAS = 3
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
pytestmark = [pytest.mark.postgres, pytest.mark.daemon, pytest.mark.receiver]


def _settings(url: str, receiver: Receiver, path: str) -> dict[str, str]:
    return {
        "PLEDGEWATCH_DATABASE_URL": url,
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + path,
        "PLEDGEWATCH_WEBHOOKS__DESK__SECRET": SECRET,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        # One notice per pledge in the test's window: the due notice, nothing before
        # it, and the first overdue repeat a month away.
        "PLEDGEWATCH_REMINDER_OFFSETS": "",
        "PLEDGEWATCH_OVERDUE_REPEAT": "30d",
        "PLEDGEWATCH_RETRY_SCHEDULE": "1s,1s,1s,1s,1s",
    }


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[process.Daemon]]:
    """The replicas a test starts; whatever is still running at the end is killed."""
    running: list[process.Daemon] = []
    yield running
    for daemon in running:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
        daemon.handle.close()


def _start_during_burst(
    settings: dict[str, str], folder: Path, running: list[process.Daemon]
) -> float:
    """Start REPLICAS daemons while NOTICES pledges are imported; return when all fell due.

    The pledges are due two seconds after the seed is written; an import of
    this size takes longer than that here, so they all fall due at once when it
    commits. Importing while the daemons start saves the test that much time.
    """
    with ThreadPoolExecutor(REPLICAS + 1) as pool:
        imported = pool.submit(_import_burst, settings, folder)
        futures = [
            pool.submit(process.start, settings, folder / f"replica-{n}.log")
            for n in range(REPLICAS)
        ]
    # Every one that started is handed to the fixture (to be killed) before any failure is raised.
    running.extend(f.result() for f in futures if f.exception() is None)
    for future in futures:
        future.result()
    return imported.result()


def _import_burst(settings: dict[str, str], folder: Path) -> float:
    """Import NOTICES pledges due two seconds from now; return when they are all due and visible."""
    due = datetime.now(UTC) + timedelta(seconds=2)
    imported = process.cli(
        "import", str(burst.write_seed(folder, NOTICES, due)), settings=settings, timeout=120
    )
    assert imported.returncode == 0, imported.stderr
    return max(time.time(), due.timestamp())


def _database(url: str) -> tuple[set[str], int, int]:
    """Return the delivery ids, how many are delivered, and how many events exist."""
    with psycopg.connect(url) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM deliveries")}
        delivered = conn.execute(
            "SELECT count(*) FROM deliveries WHERE state = 'delivered'"
        ).fetchone()
        events = conn.execute("SELECT count(*) FROM events").fetchone()
    assert delivered is not None and events is not None
    return ids, int(delivered[0]), int(events[0])


def _all_delivered(url: str) -> bool:
    _, delivered, _ = _database(url)
    return delivered == NOTICES


def _delivered(url: str, ids: set[str]) -> bool:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT state FROM deliveries WHERE id = ANY(%s)", (list(ids),))
        return all(row[0] == "delivered" for row in rows)


def _leased_by(url: str, pid: int) -> set[str]:
    """Return the pending deliveries leased by the daemon with process id `pid`.

    A claim token is `<host>:<pid>:<run>/<claim>`.
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM deliveries WHERE state = 'pending' AND claimed_by LIKE %s",
            (f"%:{pid}:%/%",),
        )
        return {row[0] for row in rows}


def _kill_holding_leases(daemon: process.Daemon, url: str) -> set[str]:
    """SIGKILL `daemon` at a moment it holds leases; return the deliveries it leaves leased.

    The process is frozen (SIGSTOP) while its leases are read, so what it holds
    cannot change before the kill; without any, it runs on a little and is tried again.
    """
    deadline = time.monotonic() + 30
    while True:
        daemon.process.send_signal(signal.SIGSTOP)
        held = _leased_by(url, daemon.process.pid)
        if held or time.monotonic() > deadline:
            break
        daemon.process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)
    return held


def test_three_replicas_share_a_burst_and_deliver_each_notice_exactly_once(
    postgres_url: str, receiver: Receiver, replicas: list[process.Daemon], tmp_path: Path
) -> None:
    path = f"/replicas/{uuid.uuid4().hex}"
    settings = _settings(postgres_url, receiver, path)
    due = _start_during_burst(settings, tmp_path, replicas)

    burst.wait_until(lambda: _all_delivered(postgres_url), 120, "every notice delivered")
    finished = time.time()
    for daemon in replicas:
        assert daemon.stop() == 0, daemon.output()

    ids, _, events = _database(postgres_url)
    result = burst.tally(receiver.at(path), ids, SECRET)
    shares = [len(burst.delivered_in_log(d.output())) for d in replicas]
    print(  # shown with -s: the figures for the record
        f"replicas: notices={NOTICES} replicas={REPLICAS} requests={result.requests} "
        f"lost={len(result.lost)} duplicates={result.duplicates} shares={shares} "
        f"seconds={finished - due:.1f} (from all due to the last delivery recorded)"
    )
    assert events == NOTICES and len(ids) == NOTICES
    assert not result.lost and not result.unexpected
    assert result.duplicates == 0, "a notice was sent twice with every replica alive"
    assert len(result.per_event) == NOTICES and not result.events_twice
    # The work was shared: every replica sent some, and together exactly the whole.
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == NOTICES


def test_a_replica_killed_mid_burst_leaves_nothing_lost_and_no_altered_repeat(
    postgres_url: str, receiver: Receiver, replicas: list[process.Daemon], tmp_path: Path
) -> None:
    path = f"/replicas/{uuid.uuid4().hex}"
    settings = {
        **_settings(postgres_url, receiver, path),
        # A short lease, so the killed replica's deliveries are taken over within seconds.
        "PLEDGEWATCH_WEBHOOKS__DESK__TIMEOUT": "2s",
        "PLEDGEWATCH_LEASE_MARGIN": "1s",
    }
    due = _start_during_burst(settings, tmp_path, replicas)
    rng = random.Random()
    threshold = rng.randrange(300, 900)
    victim = replicas[rng.randrange(REPLICAS)]

    def arrived() -> int:
        return len({r.headers["webhook-id"] for r in receiver.at(path)})

    burst.wait_until(lambda: arrived() >= threshold, 90, f"{threshold} notices arrived")
    orphaned = _kill_holding_leases(victim, postgres_url)
    killed_at = time.monotonic()
    at_kill = arrived()
    assert at_kill < NOTICES, "the burst ended before the kill: nothing was tested"
    assert orphaned, "the killed replica held no lease: no takeover was tested"

    # Its leases run out (timeout 2s + margin 1s) and the others take them over.
    burst.wait_until(
        lambda: _delivered(postgres_url, orphaned), 60, "the killed replica's leases taken over"
    )
    taken_over = time.monotonic() - killed_at
    burst.wait_until(lambda: _all_delivered(postgres_url), 120, "every notice delivered")
    finished = time.time()
    survivors = [d for d in replicas if d is not victim]
    for daemon in survivors:
        assert daemon.stop() == 0, daemon.output()

    ids, _, events = _database(postgres_url)
    result = burst.tally(receiver.at(path), ids, SECRET)
    shares = [len(burst.delivered_in_log(d.output())) for d in replicas]
    print(  # shown with -s: the figures for the record
        f"replica killed: notices={NOTICES} killed=replica-{replicas.index(victim)} "
        f"after={at_kill} leases_left={len(orphaned)} taken_over_after={taken_over:.1f}s "
        f"requests={result.requests} lost={len(result.lost)} "
        f"duplicates={result.duplicates} shares={shares} "
        f"seconds={finished - due:.1f} (from all due to the last delivery recorded)"
    )
    assert events == NOTICES and len(ids) == NOTICES
    assert not result.lost and not result.unexpected
    # A repeat can only follow the kill (sent, not recorded), under the same webhook-id
    # and with the same body; never a second webhook-id for one notice.
    assert not result.changed
    assert len(result.per_event) == NOTICES and not result.events_twice
    assert all(shares[replicas.index(d)] > 0 for d in survivors), shares
