"""`pledgewatch run`: wire the store, planner, dispatcher, scheduler and HTTP, then wait.

Start-up order: lock (SQLite), migrate, bind the HTTP port, start the
scheduler, tell systemd READY=1. SIGTERM and SIGINT only set a flag; the main
thread then stops the scheduler, lets sends in flight finish and exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType

import uvicorn
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from daemon.clock import Clock, system_clock
from daemon.delivery import guard
from daemon.delivery.dispatcher import Dispatcher
from daemon.service import checks, http, notify
from daemon.service.loop import Drain
from daemon.service.planner import Planner
from daemon.settings import CONSOLE, Settings, mask_database_url
from daemon.store import connector, outbox, webhooks

logger = logging.getLogger(__name__)

MAX_SLEEP = timedelta(seconds=60)  # the longest the planner sleeps without looking
# How often SQLite's change counter is read: a change is planned within a second.
WATCH_INTERVAL_SECONDS = 0.25
RETRY_WATCH_SECONDS = 5.0  # after an unexpected error in the watch
STOP_GRACE_SECONDS = 10.0  # how long sends in flight may take to finish on stop


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
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"misfire_grace_time": None},
        )
        policy = guard.Policy(self.settings.allow_private_targets, self.settings.allowed_targets)
        self.client = guard.client(policy, max_connections=self.settings.max_concurrency)
        self.dispatcher = Dispatcher(
            self.engine,
            self.settings,
            self.client,
            self.clock,
            worker=self.worker,
            workers=self.settings.max_concurrency,
            per_webhook=self.settings.webhook_concurrency,
            on_done=self._wake_send,
        )
        self.planner = Planner(self.engine, self.settings, self.clock, on_enqueued=self._wake_send)
        self.watcher = connector.ChangeWatcher(self.engine)
        self._watch_thread = threading.Thread(target=self._watch, name="watch", daemon=True)
        self.plan_job: Drain | None = None
        self.send_job: Drain | None = None

    def _wake_send(self) -> None:
        if self.send_job is not None:
            self.send_job.wake()

    def _watch(self) -> None:
        """Wake the planner whenever another process commits (a thread of its own)."""
        while not self.stop_requested.is_set():
            try:
                if self.watcher.wait(WATCH_INTERVAL_SECONDS):
                    # A pledge changed, or deliveries were replayed or a webhook enabled.
                    for drain in (self.plan_job, self.send_job):
                        if drain is not None:
                            drain.wake()
            except Exception:
                logger.exception("change watch failed", extra={"action": "watch_failed"})
                self.stop_requested.wait(RETRY_WATCH_SECONDS)

    def start(self) -> None:
        """Start the scheduler with its two in-memory drains, and the change watch."""
        self.plan_job = Drain(
            self.scheduler, "plan", self.planner.drain, clock=self.clock, max_sleep=MAX_SLEEP
        )
        self.send_job = Drain(
            self.scheduler, "send", self.dispatcher.send_due, clock=self.clock, max_sleep=MAX_SLEEP
        )
        self.scheduler.start()
        self._watch_thread.start()

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
            *checks.holds(self.engine, now),
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

    def stop(self) -> None:
        """Stop planning and claiming, let sends finish, close connections."""
        self.planner.stopping = True
        self.dispatcher.stopping = True
        notify.notify("STOPPING=1")
        drains = [d for d in (self.plan_job, self.send_job) if d is not None]
        for drain in drains:
            drain.stop()
        # Not wait=True: APScheduler holds its job-store lock while it waits, and a
        # finishing drain may still be asking it for a wake-up; wait on our drains instead.
        self.scheduler.shutdown(wait=False)
        for drain in drains:
            if not drain.wait_idle(STOP_GRACE_SECONDS):
                logger.warning(
                    "%s still running at exit", drain.name, extra={"action": "stop_timeout"}
                )
        self.dispatcher.close(STOP_GRACE_SECONDS)
        self.client.close()
        self._watch_thread.join(timeout=2 * WATCH_INTERVAL_SECONDS + 1)
        self.watcher.close()
        self.engine.dispose()


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


def run(settings: Settings, clock: Clock = system_clock) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit code."""
    engine = connector.make_engine(settings.effective_database_url())
    lock = connector.InstanceLock(engine) if engine.dialect.name == "sqlite" else None
    try:
        if lock is not None:
            lock.acquire()
        connector.migrate(engine)
        if lock is not None:
            # We hold the file: any lease left is a killed predecessor's. Take it back now.
            with connector.write(engine) as conn:
                released = outbox.release_all(conn, clock())
            if released:
                logger.info(
                    "leases of a previous run released",
                    extra={"action": "leases_released", "count": released},
                )
    except connector.DatabaseUnavailable as exc:
        raise StartupError(str(exc)) from None
    except Exception as exc:
        raise StartupError(
            f"cannot open the database {mask_database_url(settings.effective_database_url())} "
            f"({connector.describe_error(exc)}); check PLEDGEWATCH_DATABASE_URL and the server"
        ) from None
    sock = _bind(settings.http_host, settings.http_port)
    daemon = Daemon(engine, settings, clock)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info(
            "stop requested",
            extra={"action": "stop_requested", "signal": signal.Signals(signum).name},
        )
        daemon.stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    app = http.create_app(
        engine,
        clock=clock,
        policy=lambda: settings.policy,
        alive=daemon.alive,
        health=daemon.health,
    )
    # log_config=None: uvicorn's records go through our handler and format.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # ours stay in charge
    web = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="http", daemon=True)

    daemon.start()
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
    notify.notify("READY=1\nSTATUS=watching pledges")
    daemon.stop_requested.wait()
    daemon.stop()
    server.should_exit = True
    web.join(timeout=5)
    sock.close()
    if lock is not None:
        lock.release()
    logger.info("pledgewatch stopped", extra={"action": "daemon_stopped"})
    return 0
