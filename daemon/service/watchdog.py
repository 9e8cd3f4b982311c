"""The systemd watchdog: pinged on a thread of its own, and only while the planner makes progress.

A thread, not a scheduler job: a saturated job pool must not look like a hang,
and the decision rests on the planner's progress alone (`notify.watchdog_ok`).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from daemon.service import notify
from daemon.service.loop import Drain
from daemon.service.planner import Planner

# The daemon's log lines keep the logger name they have always had (LOG_FORMAT=json shows it).
logger = logging.getLogger("daemon.service.daemon")


class Watchdog:
    """Pings WATCHDOG=1 every half `timeout` while the planner progresses.

    Usage::

        dog = Watchdog(timeout, notifier, planner, stopping=stop_event, max_sleep=MAX_SLEEP)
        dog.start(plan_job)      # once the planner's drain exists
        stop_event.set()
        dog.join(1)              # no ping may follow STOPPING=1
    """

    def __init__(
        self,
        timeout: timedelta,
        notifier: notify.Notifier,
        planner: Planner,
        *,
        stopping: threading.Event,
        max_sleep: timedelta,
    ) -> None:
        self.timeout = timeout
        self._notifier = notifier
        self._planner = planner
        self._stopping = stopping
        self._max_sleep = max_sleep
        self._started_at = time.monotonic()
        self._pings_withheld = False  # logged once per episode
        self._plan_job: Drain | None = None
        self._thread: threading.Thread | None = None

    def start(self, plan_job: Drain) -> None:
        """Start pinging, judging progress by `plan_job` and the planner."""
        self._plan_job = plan_job
        self._thread = threading.Thread(target=self._ping, name="watchdog", daemon=True)
        self._thread.start()

    def join(self, timeout: float) -> None:
        """Wait (bounded) for the thread to end; it wakes at once on the stop flag."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def progressing(self) -> bool:
        """Return True while the planner shows progress, so the watchdog may be pinged."""
        plan = self._plan_job
        if plan is None:
            return True  # not started yet: start-up has its own timeout
        running = plan.running_since
        progressed = self._planner.progressed_at
        if running is not None and progressed is not None:
            running = max(running, progressed)
        return notify.watchdog_ok(
            last_run=plan.finished_at or self._started_at,
            running_since=running,
            now=time.monotonic(),
            max_sleep=self._max_sleep.total_seconds(),
            timeout=self.timeout.total_seconds(),
        )

    def _ping(self) -> None:
        """Ping every half watchdog timeout while the planner progresses (the watchdog thread)."""
        period = self.timeout.total_seconds() / 2
        while not self._stopping.is_set():
            if self.progressing():
                self._pings_withheld = False
                self._notifier.send("WATCHDOG=1")
            elif not self._pings_withheld:
                self._pings_withheld = True
                logger.error(
                    "the planner has made no progress: watchdog pings withheld, so systemd "
                    "restarts the daemon",
                    extra={"action": "watchdog_withheld"},
                )
            self._stopping.wait(period)
