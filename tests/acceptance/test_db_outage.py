"""The database goes away under a running daemon and comes back: no crash, no restart, nothing lost."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import burst, process
from tests.support.postgres_instance import PostgresInstance
from tests.support.receiver import Receiver

PLEDGES = 5
OUTAGE_SECONDS = 30.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PASSWORD = "s3cret-db-pw"  # trust authentication ignores it; it must never be shown
pytestmark = [pytest.mark.postgres, pytest.mark.daemon, pytest.mark.receiver]


@pytest.fixture
def server() -> Iterator[PostgresInstance]:
    """A PostgreSQL server of this test's own, stopped and removed whatever happens."""
    with PostgresInstance.create() as instance:
        yield instance


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def _status(url: str) -> int | None:
    answer = _get(url)
    return None if answer is None else answer.status_code


def _health(url: str) -> str | None:
    answer = _get(f"{url}/health")
    return None if answer is None else str(answer.json()["status"])


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def test_the_daemon_rides_out_a_database_outage_and_sends_what_fell_due_meanwhile(
    server: PostgresInstance, receiver: Receiver, tmp_path: Path
) -> None:
    path = f"/outage/{uuid.uuid4().hex}"
    settings = {
        "PLEDGEWATCH_DATABASE_URL": _with_password(server.url),
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + path,
        "PLEDGEWATCH_WEBHOOKS__DESK__SECRET": SECRET,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "",
        "PLEDGEWATCH_OVERDUE_REPEAT": "30d",
        "PLEDGEWATCH_RETRY_SCHEDULE": "1s,1s,1s,1s,1s",
    }
    daemon = process.start(settings, tmp_path / "daemon.log")
    try:
        # Due well inside the outage that starts right after the import.
        due = datetime.now(UTC) + timedelta(seconds=10)
        imported = process.cli(
            "import", str(burst.write_seed(tmp_path, PLEDGES, due)), settings=settings
        )
        assert imported.returncode == 0, imported.stderr

        server.stop()
        stopped = time.monotonic()
        assert datetime.now(UTC) < due, "the server stopped after the pledges fell due"
        burst.wait_until(lambda: _status(f"{daemon.url}/readyz") == 503, 20, "/readyz 503")
        burst.wait_until(lambda: _health(daemon.url) == "fail", 20, "/health fail")
        report = httpx.get(f"{daemon.url}/health", timeout=5).text
        assert "database unreachable" in report and PASSWORD not in report
        while time.monotonic() - stopped < OUTAGE_SECONDS:
            assert daemon.process.poll() is None, daemon.output()
            assert _status(f"{daemon.url}/livez") == 200  # alive: nothing to restart
            assert _status(f"{daemon.url}/readyz") == 503  # not ready: keep traffic away
            time.sleep(1)
        assert receiver.at(path) == []  # nothing could be planned meanwhile
        assert datetime.now(UTC) > due

        server.start()
        restarted = time.monotonic()
        burst.wait_until(lambda: _status(f"{daemon.url}/readyz") == 200, 30, "/readyz 200")
        ready_after = time.monotonic() - restarted
        receiver.wait_for(path, PLEDGES, timeout=30)
        sent_after = time.monotonic() - restarted
        burst.wait_until(lambda: _health(daemon.url) != "fail", 30, "/health not failing")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()

    with psycopg.connect(server.url) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM deliveries")}
        states = {row[0] for row in conn.execute("SELECT state FROM deliveries")}
    result = burst.tally(receiver.at(path), ids, SECRET)
    log = daemon.output()
    print(  # shown with -s: the figures and the log of the outage, for the record
        f"db outage: outage={OUTAGE_SECONDS:.0f}s ready_after={ready_after:.1f}s "
        f"sent_after={sent_after:.1f}s requests={result.requests} lost={len(result.lost)} "
        f"duplicates={result.duplicates}\n/health during the outage: {report}\n{log}"
    )
    assert len(ids) == PLEDGES and states == {"delivered"}
    assert not result.lost and not result.unexpected and result.duplicates == 0
    # What the operator reads: one line per drain that met the outage, no traceback,
    # and one line when it works again; never the password.
    assert "Traceback" not in log and PASSWORD not in log
    failed = re.findall(r"action=(\w+)_failed", log)
    recovered = re.findall(r"action=(\w+)_recovered", log)
    assert "plan" in failed  # the pledges fell due while the database was away
    assert all(failed.count(name) <= 2 for name in set(failed)), failed
    assert sorted(set(failed)) == sorted(recovered), (failed, recovered)
    assert all("database unavailable" in line for line in log.splitlines() if "_failed" in line)
