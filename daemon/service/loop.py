"""A drain job on APScheduler that sleeps until its next known work and can be woken early.

The scheduler only holds in-memory jobs; the instants come from the tables.
Each run calls `work()`, which does everything that is due and returns when
the next piece of work falls due (or None). The job then sleeps until that
instant, capped by `max_sleep`, unless `wake()` is called first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import SchedulerNotRunningError
from apscheduler.triggers.interval import IntervalTrigger

from daemon.clock import Clock

logger = logging.getLogger(__name__)

RETRY_AFTER_ERROR = timedelta(seconds=5)


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
    ) -> None:
        self.name = name
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
            try:
                next_at = self._work()
                self.last_error = None
            except Exception as exc:
                # Logged and retried shortly (a database outage, say); never fatal.
                logger.exception("%s failed", self.name, extra={"action": f"{self.name}_failed"})
                self.last_error = f"{type(exc).__name__}: {exc}"
                next_at = self._clock() + RETRY_AFTER_ERROR
            now = self._clock()
            self.last_run = now
            with self._lock:
                if self._woken and not self._stopping:
                    continue
                self._running = False
                self._idle.set()
                if not self._stopping:
                    cap = now + self._max_sleep
                    self._reschedule(min(next_at, cap) if next_at is not None else cap)
                return

    def _reschedule(self, at: datetime) -> None:
        try:
            self._scheduler.modify_job(self.name, next_run_time=at)
        except (JobLookupError, SchedulerNotRunningError):
            pass  # shutting down
