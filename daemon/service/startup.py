"""The steps of `pledgewatch run` around the daemon: lock, port and database, the HTTP thread, the exit.

None of them needs the running daemon; `daemon.run` puts them in order.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import NoReturn

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from daemon.clock import Clock
from daemon.service import http
from daemon.settings import Settings, mask_database_url
from daemon.store import connector, outbox

# The daemon's log lines keep the logger name they have always had (LOG_FORMAT=json shows it).
logger = logging.getLogger("daemon.service.daemon")

SERVE_TIMEOUT_SECONDS = 30.0  # how long the HTTP server may take to start answering


class StartupError(Exception):
    """The daemon cannot start; the message says why."""


@dataclass
class Held:
    """What start-up holds for the daemon's whole life: the engine, the SQLite lock, the socket."""

    engine: Engine
    lock: connector.InstanceLock | None  # SQLite only: one daemon per file
    sock: socket.socket  # bound and listening, handed to the HTTP server

    def release(self) -> None:
        """Close the socket and release the lock (after the daemon has stopped)."""
        self.sock.close()
        if self.lock is not None:
            self.lock.release()


def open_database_and_port(settings: Settings, clock: Clock) -> Held:
    """Take the SQLite lock, bind the HTTP port, migrate, and take back a killed predecessor's leases.

    Raises:
        StartupError: the lock is held, the port is taken or the database cannot
            be opened; what was taken meanwhile is let go.
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
        sock = _listen(settings.http_host, settings.http_port)
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
    return Held(engine, lock, sock)


def _listen(host: str, port: int) -> socket.socket:
    """Return a socket bound to `host`:`port` and listening, for the HTTP server to inherit."""
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


def log_started(settings: Settings, held: Held) -> None:
    """Write the "pledgewatch started" line: the HTTP address, the database, the webhooks."""
    logger.info(
        "pledgewatch started",
        extra={
            "action": "daemon_started",
            "http": f"http://{settings.http_host}:{held.sock.getsockname()[1]}",
            "database": held.engine.dialect.name,
            "webhooks": ",".join(sorted(settings.webhooks)) or "console",
        },
    )


class HttpThread:
    """The HTTP server on a thread of its own ("http"), serving `app` on a bound socket."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        # log_config=None: uvicorn's records go through our handler and format.
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", log_config=None
        )
        # Outside the main thread uvicorn leaves the signal handlers alone: ours stay in charge.
        self._server = http.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="http", daemon=True
        )

    def start(self) -> None:
        """Start the server thread."""
        self._thread.start()

    def answering(self, timeout: float = SERVE_TIMEOUT_SECONDS) -> bool:
        """Wait (bounded) until uvicorn answers on its socket; False when it failed or took too long."""
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        """Ask the server to exit and wait (bounded) for its thread."""
        self._server.exit()
        self._thread.join(timeout=5)


def freeze_startup_objects() -> None:
    """Collect what start-up left, freeze the rest, and turn the collector back on.

    What start-up made lives as long as the daemon: collect the little it left (the
    collector may have been held off meanwhile, see `pledgewatch run`), then keep the
    rest out of every later collection.
    """
    gc.collect()
    gc.freeze()
    gc.enable()


def exit_now(code: int) -> NoReturn:
    """Leave the process at once with `code`, the log and output flushed.

    For a send or a database call that outlived the stop's grace: its deliveries
    were handed back, but the interpreter would wait for the thread at exit (up to a
    webhook's timeout, or for ever on a hung database).
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
