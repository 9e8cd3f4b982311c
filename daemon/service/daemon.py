"""`pledgewatch run`: wire the store, planner, dispatcher, scheduler and HTTP, then wait.

Start-up order: lock (SQLite), migrate, bind the HTTP port, start the
scheduler, tell systemd READY=1 once the HTTP server answers. Signal handlers
only set flags; the main thread does the work:

* SIGTERM, SIGINT: stop claiming, give sends in flight STOP_GRACE_SECONDS to
  finish, hand the unfinished deliveries back (no waiting for their leases to
  expire), exit 0.
* SIGHUP: read the settings again from the same env files and apply what can
  change while running; a bad file is refused and the running settings stay.

Under systemd the daemon reports READY, STATUS, RELOADING and STOPPING, and
pings the watchdog only while the planner makes progress (`notify`).
"""

from __future__ import annotations

import gc
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from daemon.clock import Clock, system_clock
from daemon.delivery import guard
from daemon.delivery.dispatcher import Dispatcher
from daemon.service import checks, http, logs, metrics, notify
from daemon.service.loop import Drain
from daemon.service.planner import Planner
from daemon.settings import (
    CONSOLE,
    PREFIX,
    ConfigError,
    Settings,
    load_settings,
    mask_database_url,
)
from daemon.store import claims, connector, cursors, outbox, pledges, webhooks

logger = logging.getLogger(__name__)

MAX_SLEEP = timedelta(seconds=60)  # the longest the planner sleeps without looking
# How often SQLite's change counter is read: a change is planned within a second.
WATCH_INTERVAL_SECONDS = 0.25
RETRY_WATCH_SECONDS = 5.0  # after an unexpected error in the watch
STOP_GRACE_SECONDS = 10.0  # how long sends in flight may take to finish on stop
RELEASE_TIMEOUT_SECONDS = 5.0  # handing leases back on stop: a database away must not hold it up
STATUS_INTERVAL_SECONDS = 30.0  # how often systemd's STATUS line is refreshed
# Figures that read every pledge (the STATUS line's count, the pledges by status in
# /metrics, the snoozed ones in /health) are read again only after the watch has seen a
# commit, and at least this often, in case a change was made without telling.
RECOUNT_SECONDS = 600.0
SERVE_TIMEOUT_SECONDS = 30.0  # how long the HTTP server may take to start answering
# What SIGHUP applies while running. Anything else (the database, the HTTP address, the
# concurrency, the target guard, the API token...) is read once at start-up.
RELOADABLE = frozenset(
    {
        "reminder_offsets",
        "overdue_repeat",
        "check_in",
        "catch_up",
        "catch_up_grace",
        "retry_schedule",
        "lease_margin",
        "log_level",
        "log_format",
        "webhooks",
    }
)


class StartupError(Exception):
    """The daemon cannot start; the message says why."""


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
        self._requests: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._stop_pending = False  # set by the stop handler itself: a long reload looks at it
        self.notifier = notify.Notifier.from_environment()
        self.watchdog = notify.watchdog_timeout(os.environ, os.getpid())
        self._started_at = time.monotonic()
        self._withheld = False  # watchdog pings held back: logged once per episode
        self._watchdog_thread: threading.Thread | None = None
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            # Two drains of up to two instances each (a wake during a run), and the status job.
            executors={"default": ThreadPoolExecutor(5)},
            job_defaults={"misfire_grace_time": None},
        )
        policy = guard.Policy(self.settings.allow_private_targets, self.settings.allowed_targets)
        self.client = guard.client(policy, max_connections=self.settings.max_concurrency)
        # One registry per daemon; label values are the configured webhook names (bounded).
        self.metrics = metrics.Metrics(sorted(self.settings.webhooks) or [CONSOLE])
        self._changes = 0  # commits the watch has seen (only the watch thread writes it)
        self.metrics.watch_tables(self.engine, self.clock, generation=self.generation)
        self.holds = checks.Holds(self.engine, self.generation)
        self.dispatcher = Dispatcher(
            self.engine,
            self.settings,
            self.client,
            self.clock,
            worker=self.worker,
            workers=self.settings.max_concurrency,
            per_webhook=self.settings.webhook_concurrency,
            on_done=self._wake_send,
            on_attempt=self.metrics.attempted,
        )
        self.planner = Planner(
            self.engine,
            self.settings,
            self.clock,
            on_enqueued=self._wake_send,
            instruments=self.metrics,
        )
        self.watcher = connector.ChangeWatcher(self.engine)
        self._watch_thread = threading.Thread(target=self._watch, name="watch", daemon=True)
        self.first_look = threading.Event()  # set once the watch has looked (and counted) once
        self._counted: tuple[Hashable, int] | None = None  # (generation, pledges) of the last count
        self.plan_job: Drain | None = None
        self.send_job: Drain | None = None

    def _wake_send(self) -> None:
        if self.send_job is not None:
            self.send_job.wake()

    def _watch(self) -> None:
        """Wake the planner whenever another process commits (a thread of its own).

        The first look does not wait: it sets the watcher's baseline. The STATUS
        line READY=1 carries is then taken here, its pledge count (a read of every
        pledge) running while the rest of the daemon starts; a commit after the
        baseline counts as a change, so the count is taken again later.
        """
        poll = 0.0
        while not self.stop_requested.is_set():
            failed = False
            try:
                if self.watcher.wait(poll):
                    # A pledge changed, or deliveries were replayed or a webhook enabled.
                    self._changes += 1
                    for drain in (self.plan_job, self.send_job):
                        if drain is not None:
                            drain.wake()
            except Exception:
                logger.exception("change watch failed", extra={"action": "watch_failed"})
                failed = True
            if not self.first_look.is_set():
                if self.notifier.enabled:
                    self.status_line()
                self.first_look.set()
                poll = WATCH_INTERVAL_SECONDS
            if failed:
                self.stop_requested.wait(RETRY_WATCH_SECONDS)

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
            self.scheduler.add_job(
                self.update_status,
                "interval",
                seconds=STATUS_INTERVAL_SECONDS,
                id="status",
                name="status",
                coalesce=True,
                max_instances=1,
            )
        self.scheduler.start()
        self._watch_thread.start()
        if self.watchdog is not None and self.notifier.enabled:
            # A thread of its own, not a scheduler job: a saturated job pool must not
            # look like a hang, and the decision rests on the planner's progress alone.
            self._watchdog_thread = threading.Thread(
                target=self._ping_watchdog, name="watchdog", daemon=True
            )
            self._watchdog_thread.start()

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
        self.watcher.interrupt()  # the watch may be blocked on the LISTEN socket
        if self._watchdog_thread is not None:
            # It wakes at once on the stop flag: no ping may follow STOPPING=1.
            self._watchdog_thread.join(timeout=1)
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
        self.client.close()
        self._watch_thread.join(timeout=2 * WATCH_INTERVAL_SECONDS + 1)
        self.watcher.close()
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
        self._stop_pending = True
        self._requests.put(f"stop:{signal_name}")

    def request_reload(self) -> None:
        """Ask the main thread to reload the settings (safe in a signal handler)."""
        self._requests.put("reload")

    def serve(self, env_files: Sequence[str | Path]) -> None:
        """Wait on the main thread for requests: reload when asked, return when asked to stop."""
        while True:
            request = self._requests.get()
            if request.startswith("stop:"):
                self.stop_requested.set()
                logger.info(
                    "stop requested",
                    extra={"action": "stop_requested", "signal": request[5:] or None},
                )
                return
            if not self._stop_pending:
                self.reload(env_files)

    # -- SIGHUP

    def reload(self, env_files: Sequence[str | Path]) -> bool:
        """Read the settings again and apply what can change while running; return True when applied.

        A setting read only at start-up keeps its value, with a WARNING naming it.
        A bad setting is refused with one ERROR line naming it; the running
        settings stay. New timing settings move every open pledge's next notice.
        """
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")
        try:
            return self._reload(env_files)
        except Exception:
            # Never fatal: the daemon goes on with whatever settings it holds.
            logger.exception("settings reload failed", extra={"action": "settings_reload_failed"})
            return False
        finally:
            self.notifier.send("READY=1", f"STATUS={self.status_line()}")

    def _reload(self, env_files: Sequence[str | Path]) -> bool:
        if not env_files:
            # systemd's EnvironmentFile= is read once, at start: editing it changes nothing here.
            logger.warning(
                "no --env-file to read again: the environment, systemd's EnvironmentFile= "
                "and credentials are fixed at start; give the settings file with --env-file "
                "to reload it",
                extra={"action": "reload_without_env_file"},
            )

        try:
            new = load_settings(env_files)
        except ConfigError as exc:
            # The message names the variable, never its value (ConfigError's rule).
            logger.error(
                "settings not reloaded, the running ones stay: %s",
                exc,
                extra={"action": "settings_reload_refused"},
            )
            return False
        old = self.settings
        changed = changed_settings(old, new)
        kept = [name for name in changed if name not in RELOADABLE]
        for name in kept:
            logger.warning(
                "%s changed: takes effect at the next restart",
                variable_name(name),
                extra={"action": "setting_needs_restart", "variable": variable_name(name)},
            )
        applied = new.model_copy(update={name: getattr(old, name) for name in kept})
        if applied.log_level != old.log_level or applied.log_format != old.log_format:
            logs.configure(applied.log_level, applied.log_format)
        # Swapped as whole objects, never field by field: every read sees one valid set.
        self.settings = applied
        self.planner.settings = applied
        self.dispatcher.settings = applied
        self.metrics.set_webhooks(sorted(applied.webhooks) or [CONSOLE])
        if applied.policy != old.policy:
            self._replan(old, applied)
        for drain in (self.plan_job, self.send_job):
            if drain is not None:
                drain.wake()
        names: list[str] = []
        for name in changed:
            if name in RELOADABLE:
                names += (
                    _webhook_variables(old, new) if name == "webhooks" else [variable_name(name)]
                )
        logger.info(
            "settings reloaded",
            extra={
                "action": "settings_reloaded",
                "changed": ",".join(names) or "none",
                "restart_needed": ",".join(variable_name(n) for n in kept) or None,
            },
        )
        return True

    def _replan(self, old: Settings, new: Settings) -> None:
        """Move every open pledge's next notice to where the new timing puts it.

        One short transaction per batch, so the planner and other writers get
        their turn, and a stop asked for meanwhile is not held up.
        """
        moved, after = 0, ""
        try:
            while after is not None:
                if self._stop_pending:
                    logger.warning(
                        "next notices partly recomputed: stopping; the rest take the new "
                        "timing when the planner next looks at them",
                        extra={"action": "replan_interrupted", "count": moved},
                    )
                    return
                with connector.write(self.engine) as conn:
                    count, after = cursors.replan(
                        conn, old.policy, new.policy, now=self.clock(), after=after
                    )
                moved += count
        except Exception as exc:
            logger.error(
                "next notices not recomputed (%s); each pledge takes the new timing "
                "when the planner next looks at it",
                connector.describe_error(exc),
                extra={"action": "replan_failed"},
            )
            return
        logger.info(
            "next notices recomputed for the new timing",
            extra={"action": "pledges_replanned", "count": moved},
        )

    # -- systemd STATUS and watchdog

    def generation(self) -> Hashable:
        """Return a token that changes when the watch sees a commit, and every RECOUNT_SECONDS.

        A figure read from the tables under a token is still current while the
        token stays the same (read it before the figure, so a commit meanwhile
        shows as a change).
        """
        return self._changes, int(time.monotonic() // RECOUNT_SECONDS)

    def status_line(self) -> str:
        """Return the STATUS line: pledges watched, the next notice, deliveries pending.

        The next notice and the deliveries pending are two index reads. The pledge
        count reads the whole index, so it is kept for its `generation`: an idle
        daemon's line costs the same at any size.
        """
        generation, counted = self.generation(), self._counted
        try:
            with connector.read(self.engine) as conn:
                if counted is not None and counted[0] == generation:
                    count = counted[1]
                    next_at, _ = claims.peek(conn)
                else:
                    count, next_at = pledges.summary(conn)
                    self._counted = (generation, count)
                pending = outbox.pending_count(conn)
        except Exception as exc:
            return f"database unreachable ({connector.describe_error(exc)})"
        return notify.status_text(count, next_at, pending, self.clock())

    def update_status(self) -> None:
        """Send systemd the current STATUS line (a scheduler job)."""
        line = self.status_line()
        if not self.stop_requested.is_set():  # once stopping, the stop's own STATUS stands
            self.notifier.send(f"STATUS={line}")

    def progressing(self) -> bool:
        """Return True while the planner shows progress, so the watchdog may be pinged."""
        assert self.watchdog is not None
        plan = self.plan_job
        if plan is None:
            return True  # not started yet: start-up has its own timeout
        running = plan.running_since
        progressed = self.planner.progressed_at
        if running is not None and progressed is not None:
            running = max(running, progressed)
        return notify.watchdog_ok(
            last_run=plan.finished_at or self._started_at,
            running_since=running,
            now=time.monotonic(),
            max_sleep=MAX_SLEEP.total_seconds(),
            timeout=self.watchdog.total_seconds(),
        )

    def _ping_watchdog(self) -> None:
        """Ping every half watchdog timeout while the planner progresses (a thread of its own)."""
        assert self.watchdog is not None
        period = self.watchdog.total_seconds() / 2
        while not self.stop_requested.is_set():
            if self.progressing():
                self._withheld = False
                self.notifier.send("WATCHDOG=1")
            elif not self._withheld:
                self._withheld = True
                logger.error(
                    "the planner has made no progress: watchdog pings withheld, so systemd "
                    "restarts the daemon",
                    extra={"action": "watchdog_withheld"},
                )
            self.stop_requested.wait(period)


def changed_settings(old: Settings, new: Settings) -> list[str]:
    """Return the names of the settings whose values differ, in declaration order."""
    return [name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)]


def variable_name(name: str) -> str:
    """Return the environment variable of a setting: `http_port` -> `PLEDGEWATCH_HTTP_PORT`."""
    return PREFIX + name.upper()


def _webhook_variables(old: Settings, new: Settings) -> list[str]:
    """Return one `PLEDGEWATCH_WEBHOOKS__<NAME>` per webhook added, removed or changed."""
    names = sorted(set(old.webhooks) | set(new.webhooks))
    return [
        f"{PREFIX}WEBHOOKS__{name.upper()}"
        for name in names
        if old.webhooks.get(name) != new.webhooks.get(name)
    ]


def _serving(server: uvicorn.Server, thread: threading.Thread, timeout: float) -> bool:
    """Wait (bounded) until uvicorn answers on its socket; False when it failed or took too long."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"cannot listen on {host}:{port} ({exc.strerror}); set PLEDGEWATCH_HTTP_PORT to a free port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run(
    settings: Settings, clock: Clock = system_clock, env_files: Sequence[str | Path] = ()
) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit code.

    SIGHUP reloads the settings from the environment and `env_files`, the
    files `settings` were read from.
    """
    engine = connector.make_engine(settings.effective_database_url())
    lock = connector.InstanceLock(engine) if engine.dialect.name == "sqlite" else None
    try:
        if lock is not None:
            lock.acquire()
    except connector.DatabaseUnavailable as exc:
        raise StartupError(str(exc)) from None
    # The port before the database: a start that cannot listen changes nothing.
    try:
        sock = _bind(settings.http_host, settings.http_port)
    except StartupError:
        if lock is not None:
            lock.release()
        raise
    try:
        connector.migrate(engine)
        if lock is not None:
            # We hold the file: any lease left is a killed predecessor's. Take it back now.
            with connector.write(engine) as conn:
                released = outbox.release(conn, clock())
            if released:
                logger.info(
                    "leases of a previous run released",
                    extra={"action": "leases_released", "count": released},
                )
    except Exception as exc:
        sock.close()
        if lock is not None:
            lock.release()
        if isinstance(exc, connector.DatabaseUnavailable):
            raise StartupError(str(exc)) from None
        raise StartupError(
            f"cannot open the database {mask_database_url(settings.effective_database_url())} "
            f"({connector.describe_error(exc)}); check PLEDGEWATCH_DATABASE_URL and the server"
        ) from None
    daemon = Daemon(engine, settings, clock)

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        daemon.request_stop(signal.Signals(signum).name)

    def on_reload(_signum: int, _frame: FrameType | None) -> None:
        daemon.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_reload)
    # Before the HTTP app is built: the watch takes the pledge count READY=1's STATUS line
    # shows meanwhile, on its own thread (the query leaves the GIL).
    daemon.start()

    app = http.create_app(
        engine,
        clock=clock,
        policy=lambda: daemon.settings.policy,  # the reloaded one after SIGHUP
        alive=daemon.alive,
        health=daemon.health,
        api_token=settings.api_token,
        zone=settings.zone,
        instruments=daemon.metrics,
    )
    # log_config=None: uvicorn's records go through our handler and format.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", log_config=None
    )
    # Outside the main thread uvicorn leaves the signal handlers alone: ours stay in charge.
    server = http.Server(config)
    web = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True)

    web.start()
    logger.info(
        "pledgewatch started",
        extra={
            "action": "daemon_started",
            "http": f"http://{settings.http_host}:{sock.getsockname()[1]}",
            "database": engine.dialect.name,
            "webhooks": ",".join(sorted(settings.webhooks)) or "console",
        },
    )
    serving = _serving(server, web, SERVE_TIMEOUT_SECONDS)
    if serving:
        daemon.first_look.wait(SERVE_TIMEOUT_SECONDS)
        daemon.notifier.send("READY=1", f"STATUS={daemon.status_line()}")
    else:
        logger.error(
            "the HTTP server did not start; stopping",
            extra={"action": "http_not_started"},
        )
        daemon.request_stop("")
    # What start-up made lives as long as the daemon: collect the little it left (the
    # collector may have been held off meanwhile, see `pledgewatch run`), then keep the
    # rest out of every later collection.
    gc.collect()
    gc.freeze()
    gc.enable()
    daemon.serve(env_files)
    finished = daemon.stop()
    server.exit()
    web.join(timeout=5)
    sock.close()
    if lock is not None:
        lock.release()
    logger.info("pledgewatch stopped", extra={"action": "daemon_stopped"})
    code = 0 if serving else 1
    if not finished:
        # A send or a database call outlived the grace: its deliveries were handed back,
        # but the interpreter would wait for the thread at exit (up to a webhook's
        # timeout, or for ever on a hung database). Leave now, output flushed.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
