"""The change watch: wakes the drains when another process commits, and the STATUS line it keeps cheap.

Each commit the watch sees starts a new `generation`. Figures that read every
pledge (the STATUS line's count, the pledges by status in /metrics, the snoozed
ones in /health) are kept for as long as the generation stays the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from daemon.clock import Clock
from daemon.service import notify
from daemon.store import changes, claims, connector, pledges, waiting

# The daemon's log lines keep the logger name they have always had (LOG_FORMAT=json shows it).
logger = logging.getLogger("daemon.service.daemon")

# How often SQLite's change counter is read: a change is planned within a second.
WATCH_INTERVAL_SECONDS = 0.25
RETRY_WATCH_SECONDS = 5.0  # after an unexpected error in the watch
STATUS_INTERVAL_SECONDS = 30.0  # how often systemd's STATUS line is refreshed
# Figures that read every pledge (the STATUS line's count, the pledges by status in
# /metrics, the snoozed ones in /health) are read again only after the watch has seen a
# commit, and at least this often, in case a change was made without telling.
RECOUNT_SECONDS = 600.0


class ChangeWatch:
    """Watches, on a thread of its own, for commits by other processes, and words the STATUS line.

    Usage::

        watch = ChangeWatch(engine, clock, notifier, stopping=stop_event, wake_drains=wake)
        watch.start()
        watch.first_look.wait()          # the baseline is set and the pledges counted once
        watch.interrupt()                # on stop: end a wait on the LISTEN socket
        watch.close()
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        notifier: notify.Notifier,
        *,
        stopping: threading.Event,
        wake_drains: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.notifier = notifier
        self._stopping = stopping
        self._wake_drains = wake_drains
        self._watcher = changes.ChangeWatcher(engine)
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)
        self.first_look = threading.Event()  # set once the watch has looked (and counted) once
        self._commits_seen = 0  # only the watch thread writes it
        self._pledge_count: tuple[Hashable, int] | None = None  # (generation, pledges) last counted

    def start(self) -> None:
        """Start the watch thread."""
        self._thread.start()

    def schedule_status_refresh(self, scheduler: BackgroundScheduler) -> None:
        """Add the scheduler job that sends systemd the STATUS line every STATUS_INTERVAL_SECONDS."""
        scheduler.add_job(
            self.update_status,
            "interval",
            seconds=STATUS_INTERVAL_SECONDS,
            id="status",
            name="status",
            coalesce=True,
            max_instances=1,
        )

    def interrupt(self) -> None:
        """End the wait in progress and every later one (the watch may be blocked on LISTEN)."""
        self._watcher.interrupt()

    def close(self) -> None:
        """Wait (bounded) for the watch thread to end, then close its connection."""
        self._thread.join(timeout=2 * WATCH_INTERVAL_SECONDS + 1)
        self._watcher.close()

    def _run(self) -> None:
        """Wake the drains whenever another process commits (the watch thread).

        The first look does not wait: it sets the watcher's baseline. The STATUS
        line READY=1 carries is then taken here, its pledge count (a read of every
        pledge) running while the rest of the daemon starts; a commit after the
        baseline counts as a change, so the count is taken again later.
        """
        poll = 0.0
        while not self._stopping.is_set():
            failed = False
            try:
                if self._watcher.wait(poll):
                    # A pledge changed, or deliveries were replayed or a webhook enabled.
                    self._commits_seen += 1
                    self._wake_drains()
            except Exception:
                logger.exception("change watch failed", extra={"action": "watch_failed"})
                failed = True
            if not self.first_look.is_set():
                if self.notifier.enabled:
                    self.status_line()
                self.first_look.set()
                poll = WATCH_INTERVAL_SECONDS
            if failed:
                self._stopping.wait(RETRY_WATCH_SECONDS)

    def generation(self) -> Hashable:
        """Return a token that changes when the watch sees a commit, and every RECOUNT_SECONDS.

        A figure read from the tables under a token is still current while the
        token stays the same (read it before the figure, so a commit meanwhile
        shows as a change).
        """
        return self._commits_seen, int(time.monotonic() // RECOUNT_SECONDS)

    def status_line(self) -> str:
        """Return the STATUS line: pledges watched, the next notice, deliveries pending.

        The next notice and the deliveries pending are two index reads. The pledge
        count reads the whole index, so it is kept for its `generation`: an idle
        daemon's line costs the same at any size.
        """
        generation, counted = self.generation(), self._pledge_count
        try:
            with connector.read(self.engine) as conn:
                if counted is not None and counted[0] == generation:
                    count = counted[1]
                    next_at, _ = claims.peek(conn)
                else:
                    count, next_at = pledges.summary(conn)
                    self._pledge_count = (generation, count)
                pending = waiting.count(conn)
        except Exception as exc:
            return f"database unreachable ({connector.describe_error(exc)})"
        return notify.status_text(count, next_at, pending, self.clock())

    def update_status(self) -> None:
        """Send systemd the current STATUS line (a scheduler job)."""
        line = self.status_line()
        if not self._stopping.is_set():  # once stopping, the stop's own STATUS stands
            self.notifier.send(f"STATUS={line}")
