"""What a drain logs while its work keeps failing: a database outage is one line a minute, a bug its traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import OperationalError

from daemon.service import loop


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Work:
    """The drain's work: fails with `error` while it is set, else has nothing to do."""

    def __init__(self) -> None:
        self.error: Exception | None = None

    def __call__(self) -> datetime | None:
        if self.error is not None:
            raise self.error
        return None


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    # Never started: the drain is run by hand, one run per call.
    yield BackgroundScheduler(timezone="UTC")


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str, bool]]:
    return [
        (r.levelno, r.action, r.exc_info is not None)  # type: ignore[attr-defined]
        for r in caplog.records
        if hasattr(r, "action")
    ]


def _outage() -> OperationalError:
    refused = ConnectionRefusedError("connection to server at 127.0.0.1 failed: Connection refused")
    return OperationalError("SELECT 1", {}, refused)


def test_an_outage_is_one_line_a_minute_without_traceback_then_one_recovery_line(
    scheduler: BackgroundScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    clock, work = Clock(), Work()
    drain = loop.Drain(scheduler, "plan", work, clock=clock, max_sleep=timedelta(seconds=60))
    work.error = _outage()
    with caplog.at_level(logging.INFO, logger=loop.__name__):
        for _ in range(20):  # 100 s of retries, one every RETRY_AFTER_ERROR
            drain._run()
            clock.now += loop.RETRY_AFTER_ERROR
        assert drain.last_error is not None and "Connection refused" in drain.last_error
        work.error = None
        drain._run()
    # Reported when it started and again a minute later; never with a traceback.
    assert _records(caplog) == [
        (logging.ERROR, "plan_failed", False),
        (logging.ERROR, "plan_failed", False),
        (logging.INFO, "plan_recovered", False),
    ]
    recovered = caplog.records[-1]
    assert recovered.failures == 20  # type: ignore[attr-defined]
    assert recovered.seconds == 100.0  # type: ignore[attr-defined]
    assert drain.last_error is None


def test_any_other_error_is_logged_with_its_traceback_every_time(
    scheduler: BackgroundScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    clock, work = Clock(), Work()
    drain = loop.Drain(scheduler, "send", work, clock=clock, max_sleep=timedelta(seconds=60))
    work.error = KeyError("a bug")
    with caplog.at_level(logging.INFO, logger=loop.__name__):
        drain._run()
        clock.now += loop.RETRY_AFTER_ERROR
        drain._run()
    assert _records(caplog) == [
        (logging.ERROR, "send_failed", True),
        (logging.ERROR, "send_failed", True),
    ]
    assert drain.last_error == "KeyError: 'a bug'"
