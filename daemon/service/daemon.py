"""`pledgewatch run`: the store, planner, dispatcher, scheduler and HTTP wired together, started and stopped.

Start-up order: lock (SQLite), migrate, bind the HTTP port, start the
scheduler, tell systemd READY=1 once the HTTP server answers. Signal handlers
only set flags; the main thread does the work:

* SIGTERM, SIGINT: stop claiming, give sends in flight STOP_GRACE_SECONDS to
  finish, hand the unfinished deliveries back (no waiting for their leases to
  expire), exit 0.
* SIGHUP: read the settings again from the same env files and apply what can
  change while running; a bad file is refused and the running settings stay
  (`reload`).

Under systemd the daemon reports READY, STATUS, RELOADING and STOPPING, and
pings the watchdog only while the planner makes progress (`watchdog`). The change
watch wakes the drains on a commit by another process (`watch`); the steps
around the daemon (lock, port, database, HTTP thread) are in `startup`.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi import FastAPI
from sqlalchemy import Engine

from daemon.clock import Clock, system_clock
from daemon.delivery import guard, offload
from daemon.delivery.dispatcher import Dispatcher
from daemon.service import checks, http, metrics, notify, reload, startup, watch, watchdog
from daemon.service.loop import Drain
from daemon.service.planner import Planner
from daemon.settings import CONSOLE, Settings
from daemon.store import connector, outbox, webhooks

logger = logging.getLogger(__name__)

MAX_SLEEP = timedelta(seconds=60)  # the longest the planner sleeps without looking
STOP_GRACE_SECONDS = 10.0  # how long sends in flight may take to finish on stop
RELEASE_TIMEOUT_SECONDS = 5.0  # handing leases back on stop: a database away must not hold it up
# The main thread looks up from its wait this often. A signal the kernel hands to
# another thread only marks the handler as due; it runs once the main thread
# executes Python again, which a wait without a timeout would never let it do.
SIGNAL_LOOK_SECONDS = 1.0

# What `run` raises when the daemon cannot start (`pledgewatch run` catches it here).
StartupError = startup.StartupError


@dataclass
class Daemon:
    """The running parts, reachable from the HTTP handlers and the tests."""

    engine: Engine
    settings: Settings
    clock: Clock = system_clock

    def __post_init__(self) -> None:
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_requested = threading.Event()
        # What the signal handlers ask of the main thread: "reload", or "stop:<signal>".
        # SimpleQueue.put is reentrant, so safe in a handler; an Event's lock is not.
        self._signal_requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stop_pending = False  # set by the stop handler itself: a long reload looks at it
        self.notifier = notify.Notifier.from_environment()
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            # Two drains of up to two instances each (a wake during a run), and the status job.
            executors={"default": ThreadPoolExecutor(5)},
            job_defaults={"misfire_grace_time": None},
        )
        policy = guard.Policy(self.settings.allow_private_targets, self.settings.allowed_targets)
        # Notices are posted from a child process: sending and the database use both cores.
        # The dispatcher starts it, with its pool and per-webhook limit, and closes it.
        self.posting = offload.PostingProcess(policy)
        # One registry per daemon; label values are the configured webhook names (bounded).
        self.metrics = metrics.Metrics(sorted(self.settings.webhooks) or [CONSOLE])
        self.watch = watch.ChangeWatch(
            self.engine,
            self.clock,
            self.notifier,
            stopping=self.stop_requested,
            wake_drains=self.wake_drains,
        )
        self.metrics.watch_tables(self.engine, self.clock, generation=self.watch.generation)
        self.holds = checks.Holds(self.engine, self.watch.generation)
        self.dispatcher = Dispatcher(
            self.engine,
            self.settings,
            self.posting,
            self.clock,
            worker=self.worker,
            workers=self.settings.max_concurrency,
            per_webhook=self.settings.webhook_concurrency,
            on_done=self._wake_send_drain,
            on_attempt=self.metrics.attempted,
        )
        self.planner = Planner(
            self.engine,
            self.settings,
            self.clock,
            on_enqueued=self._wake_send_drain,
            instruments=self.metrics,
        )
        timeout = notify.watchdog_timeout(os.environ, os.getpid())
        self.watchdog = (
            watchdog.Watchdog(
                timeout,
                self.notifier,
                self.planner,
                stopping=self.stop_requested,
                max_sleep=MAX_SLEEP,
            )
            if timeout is not None and self.notifier.enabled
            else None
        )
        self.plan_job: Drain | None = None
        self.send_job: Drain | None = None

    def _wake_send_drain(self) -> None:
        if self.send_job is not None:
            self.send_job.wake()

    def wake_drains(self) -> None:
        """Wake the planner and the sender (those started)."""
        for drain in (self.plan_job, self.send_job):
            if drain is not None:
                drain.wake()

    def use_settings(self, settings: Settings) -> None:
        """Hand reloaded `settings` to every part that reads them."""
        # Swapped as whole objects, never field by field: every read sees one valid set.
        self.settings = settings
        self.planner.settings = settings
        self.dispatcher.settings = settings
        self.metrics.set_webhooks(sorted(settings.webhooks) or [CONSOLE])

    def start(self) -> None:
        """Start the scheduler with its two in-memory drains, and the change watch."""
        self.plan_job, self.send_job = (
            Drain(
                self.scheduler,
                name,
                work,
                clock=self.clock,
                max_sleep=MAX_SLEEP,
                instruments=self.metrics,
            )
            for name, work in (("plan", self.planner.drain), ("send", self.dispatcher.send_due))
        )

        if self.notifier.enabled:
            self.watch.schedule_status_refresh(self.scheduler)
        self.scheduler.start()
        self.watch.start()
        if self.watchdog is not None:
            self.watchdog.start(self.plan_job)

    def alive(self) -> bool:
        """True while the scheduler runs."""
        return bool(self.scheduler.running)

    def health(self) -> list[checks.Check]:
        """Run every check /health reports."""
        now = self.clock()
        assert self.plan_job is not None
        found = [
            checks.scheduler(
                self.plan_job.last_run, now, MAX_SLEEP.total_seconds(), self.plan_job.last_error
            ),
            checks.database(self.engine),
            *checks.outbox_backlog(self.engine, now),
            *self.holds.check(now),
        ]
        try:
            with connector.read(self.engine) as conn:
                gone = webhooks.disabled(conn)
        except Exception:
            gone = {}  # the database check above already fails
        # Every configured webhook, sent to yet or not (the console when none is).
        names = sorted(self.settings.webhooks) or [CONSOLE]
        for name in names:
            seen = self.dispatcher.health.get(name)
            failures, error = (seen.consecutive_failures, seen.last_error) if seen else (0, None)
            disabled = gone[name][1] if name in gone else None
            found.append(checks.webhook(name, failures, error, disabled=disabled))
        return found

    def stop(self) -> bool:
        """Stop planning and claiming, let sends finish, hand back the rest, close connections.

        Returns True when nothing is left running; False when a send or a
        planner run outlived STOP_GRACE_SECONDS (its deliveries are released).
        """
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        self.planner.stopping = True
        self.dispatcher.stopping = True
        self.stop_requested.set()
        self.watch.interrupt()  # the watch may be blocked on the LISTEN socket
        if self.watchdog is not None:
            # It wakes at once on the stop flag: no ping may follow STOPPING=1.
            self.watchdog.join(timeout=1)
        self.notifier.send(
            "STOPPING=1", f"STATUS=stopping: {self.dispatcher.in_flight} sends in flight"
        )
        drains = [d for d in (self.plan_job, self.send_job) if d is not None]
        for drain in drains:
            drain.stop()
        # Not wait=True: APScheduler holds its job-store lock while it waits, and a
        # finishing drain may still be asking it for a wake-up; wait on our drains instead.
        self.scheduler.shutdown(wait=False)
        idle = True
        for drain in drains:
            if not drain.wait_idle(max(deadline - time.monotonic(), 0.0)):
                idle = False
                logger.warning(
                    "%s still running at exit", drain.name, extra={"action": "stop_timeout"}
                )
        # Closes the posting process too: posts still in flight are abandoned before their
        # leases are handed back, so no replica takes one over while it may still be sent.
        self.dispatcher.close(max(deadline - time.monotonic(), 0.0))
        unfinished = self.dispatcher.in_flight
        if unfinished:
            logger.warning(
                "sends still in flight at the end of the grace period",
                extra={"action": "stop_timeout", "count": unfinished},
            )
        # On a thread of its own, bounded: a database gone silent must not hold the stop up.
        releasing = threading.Thread(target=self._release_leases, name="release", daemon=True)
        releasing.start()
        releasing.join(RELEASE_TIMEOUT_SECONDS)
        if releasing.is_alive():
            idle = False
            logger.warning(
                "the database did not answer in time; unfinished deliveries are sent again "
                "when their leases expire",
                extra={"action": "leases_not_released"},
            )
        self.watch.close()
        self.engine.dispose()
        self.notifier.close()
        return idle and not unfinished

    def _release_leases(self) -> None:
        """Hand back the deliveries this worker claimed and did not finish, due at once."""
        try:
            with connector.write(self.engine) as conn:
                released = outbox.release(conn, self.clock(), worker=self.worker)
        except Exception as exc:
            logger.warning(
                "unfinished deliveries not handed back (%s); they are sent again when "
                "their leases expire",
                connector.describe_error(exc),
                extra={"action": "leases_not_released"},
            )
            return
        if released:
            logger.info(
                "unfinished deliveries handed back",
                extra={"action": "leases_released", "count": released},
            )

    # -- signals: the handlers only queue a request; the main thread acts on it

    def request_stop(self, signal_name: str) -> None:
        """Ask the main thread to stop (safe in a signal handler: no lock is taken)."""
        self.stop_pending = True
        self._signal_requests.put(f"stop:{signal_name}")

    def request_reload(self) -> None:
        """Ask the main thread to reload the settings (safe in a signal handler)."""
        self._signal_requests.put("reload")

    def wait_for_stop(self, env_files: Sequence[str | Path]) -> None:
        """Wait on the main thread for requests: reload when asked, return when asked to stop."""
        while True:
            try:
                request = self._signal_requests.get(timeout=SIGNAL_LOOK_SECONDS)
            except queue.Empty:
                continue
            if request.startswith("stop:"):
                self.stop_requested.set()
                logger.info(
                    "stop requested",
                    extra={"action": "stop_requested", "signal": request[5:] or None},
                )
                return
            if not self.stop_pending:
                reload.reload(self, env_files)


def run(
    settings: Settings, clock: Clock = system_clock, env_files: Sequence[str | Path] = ()
) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit code.

    SIGHUP reloads the settings from the environment and `env_files`, the
    files `settings` were read from.
    """
    held = startup.open_database_and_port(settings, clock)
    daemon = Daemon(held.engine, settings, clock)
    _handle_signals(daemon)
    # Before the HTTP app is built: the watch takes the pledge count READY=1's STATUS line
    # shows meanwhile, on its own thread (the query leaves the GIL).
    daemon.start()
    web = startup.HttpThread(_http_app(daemon), held.sock)
    web.start()
    startup.log_started(settings, held)
    serving = _notify_ready(daemon, web)
    startup.freeze_startup_objects()
    daemon.wait_for_stop(env_files)
    finished = daemon.stop()
    web.stop()
    held.release()
    logger.info("pledgewatch stopped", extra={"action": "daemon_stopped"})
    code = 0 if serving else 1
    if not finished:
        startup.exit_now(code)
    return code


def _handle_signals(daemon: Daemon) -> None:
    """Install the handlers: SIGTERM and SIGINT ask to stop, SIGHUP asks to reload."""

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop(signal.Signals(signum).name)

    def on_reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)


def _http_app(daemon: Daemon) -> FastAPI:
    """Return the HTTP app, answering from the running daemon."""
    return http.create_app(
        daemon.engine,
        clock=daemon.clock,
        policy=lambda: daemon.settings.policy,  # the reloaded one after SIGHUP
        alive=daemon.alive,
        health=daemon.health,
        api_token=daemon.settings.api_token,
        page_token=daemon.settings.page_token,
        zone=daemon.settings.zone,
        instruments=daemon.metrics,
    )


def _notify_ready(daemon: Daemon, web: startup.HttpThread) -> bool:
    """Tell systemd READY=1 once the HTTP server answers; else ask to stop. True when serving."""
    serving = web.answering(startup.SERVE_TIMEOUT_SECONDS)
    if serving:
        daemon.watch.first_look.wait(startup.SERVE_TIMEOUT_SECONDS)
        daemon.notifier.send("READY=1", f"STATUS={daemon.watch.status_line()}")
    else:
        logger.error(
            "the HTTP server did not start; stopping",
            extra={"action": "http_not_started"},
        )
        daemon.request_stop("")
    return serving
