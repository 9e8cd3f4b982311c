"""A drain job on APScheduler that sleeps until its next known work and can be woken early.

The scheduler only holds in-memory jobs; the instants come from the tables.
Each run calls `work()`, which does everything that is due and returns when
the next piece of work falls due (or None). The job then sleeps until that
instant, capped by `max_sleep`, unless `wake()` is called first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import SchedulerNotRunningError
from apscheduler.triggers.interval import IntervalTrigger

from daemon.clock import Clock
from daemon.service import metrics
from daemon.store import connector

logger = logging.getLogger(__name__)

RETRY_AFTER_ERROR = timedelta(seconds=5)
# While the database stays away, repeat the one-line report this often, not on every retry.
REPORT_OUTAGE_EVERY = timedelta(minutes=1)


class Drain:
    """One wakeable job: `work()` runs to completion, then the job sleeps."""

    def __init__(
        self,
        scheduler: BackgroundScheduler,
        name: str,
        work: Callable[[], datetime | None],
        *,
        clock: Clock,
        max_sleep: timedelta,
        instruments: metrics.Metrics | None = None,
    ) -> None:
        self.name = name
        self._metrics = instruments or metrics.Metrics()
        self._scheduler = scheduler
        self._work = work
        self._clock = clock
        self._max_sleep = max_sleep
        self._lock = threading.Lock()
        self._running = False
        self._woken = False
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()
        self.last_run: datetime | None = None
        self.last_error: str | None = None
        self._failures = 0  # runs failed in a row
        self._failing_since: datetime | None = None
        self._reported_at: datetime | None = None
        # For the watchdog, on the monotonic clock (a wall-clock step must not look like a hang):
        # when the run in progress started (None while asleep) and when the last one ended.
        self.running_since: float | None = None
        self.finished_at: float | None = None
        scheduler.add_job(
            self._run,
            IntervalTrigger(seconds=max_sleep.total_seconds()),
            id=name,
            name=name,
            next_run_time=clock(),
            # Two, so a wake landing just as a run ends is never skipped by the
            # scheduler; a second instance that finds a run in progress only marks it woken.
            max_instances=2,
            coalesce=True,
            misfire_grace_time=None,
        )

    def wake(self) -> None:
        """Run as soon as possible (again, if a run is in progress)."""
        with self._lock:
            self._woken = True
            if not self._running and not self._stopping:
                self._reschedule(self._clock())

    def stop(self) -> None:
        """Finish the run in progress, if any, and never reschedule."""
        with self._lock:
            self._stopping = True

    def wait_idle(self, timeout: float) -> bool:
        """Wait (bounded) until no run is in progress; return False on timeout."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        with self._lock:
            if self._stopping:
                return
            if self._running:
                self._woken = True  # the run in progress loops once more
                return
            self._running = True
            self._idle.clear()
        while True:
            with self._lock:
                self._woken = False
                self.running_since = time.monotonic()
            started = time.perf_counter()
            try:
                next_at = self._work()
            except Exception as exc:
                # Logged and retried shortly (a database outage, say); never fatal.
                self._failed(exc)
                next_at = self._clock() + RETRY_AFTER_ERROR
            else:
                self._succeeded()
            now = self._clock()
            self.last_run = now
            self._metrics.ticked(self.name, time.perf_counter() - started, now)
            with self._lock:
                if self._woken and not self._stopping:
                    continue
                self._running = False
                self.running_since = None
                self.finished_at = time.monotonic()
                self._idle.set()
                if not self._stopping:
                    cap = now + self._max_sleep
                    self._reschedule(min(next_at, cap) if next_at is not None else cap)
                return

    def _failed(self, exc: Exception) -> None:
        now = self._clock()
        self._failures += 1
        if self._failures == 1:
            self._failing_since = now
        if not connector.is_unavailable(exc):
            # Not the environment: a bug, whose traceback is needed.
            logger.exception("%s failed", self.name, extra={"action": f"{self.name}_failed"})
            self.last_error = f"{type(exc).__name__}: {exc}"
            return
        # The database is away or busy: one line when it starts, then one a minute; the
        # traceback would only repeat the driver's internals.
        self.last_error = connector.describe_error(exc)
        if self._reported_at is None or now - self._reported_at >= REPORT_OUTAGE_EVERY:
            self._reported_at = now
            assert self._failing_since is not None
            logger.error(
                "%s failed: database unavailable; retrying every %ds",
                self.name,
                RETRY_AFTER_ERROR.total_seconds(),
                extra={
                    "action": f"{self.name}_failed",
                    "error": self.last_error,
                    "failures": self._failures,
                    "since": self._failing_since,
                },
            )

    def _succeeded(self) -> None:
        if self._failures and self._failing_since is not None:
            logger.info(
                "%s recovered",
                self.name,
                extra={
                    "action": f"{self.name}_recovered",
                    "failures": self._failures,
                    "seconds": round((self._clock() - self._failing_since).total_seconds(), 1),
                },
            )
        self._failures = 0
        self._failing_since = None
        self._reported_at = None
        self.last_error = None

    def _reschedule(self, at: datetime) -> None:
        try:
            self._scheduler.modify_job(self.name, next_run_time=at)
        except (JobLookupError, SchedulerNotRunningError):
            pass  # shutting down
