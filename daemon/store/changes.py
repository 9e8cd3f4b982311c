"""Seeing other connections' commits: SQLite's data_version, PostgreSQL's LISTEN.

Writers call `connector.signal_change` in their transaction; the daemon's watch
thread waits here and re-reads what it counts and plans once something changed.
"""

from __future__ import annotations

import contextlib
import os
import select
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine

from daemon.store import connector

RELISTEN_SECONDS = 2.0  # after the LISTEN connection failed, before connecting again
# PostgreSQL: the longest one wait blocks on the LISTEN socket. A notice ends it at once;
# this bounds how long a connection dropped without a word could go unnoticed.
LISTEN_WAIT_SECONDS = 60.0


class ChangeWatcher:
    """Answers "did another connection commit since I last asked?" cheaply.

    SQLite: `PRAGMA data_version` on a connection of its own (it changes when
    any other connection commits), read every `poll` seconds. PostgreSQL: LISTEN
    on a channel that writers NOTIFY; the wait blocks on the socket, so an idle
    daemon spends nothing here.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite: sqlite3.Connection | None = None
        self._pg: Any = None
        self._version: int | None = None
        self._relisten_at = 0.0  # monotonic: no reconnection attempt before then
        self._interrupted = False
        self._pipe: tuple[int, int] | None = None  # written to by `interrupt` to end a wait
        self._poller: Any = None  # select.poll() on the pipe, kept for SQLite's frequent waits

    def wait(self, poll: float) -> bool:
        """Wait for a commit by another connection; return True when one was seen.

        SQLite sleeps `poll` seconds, then compares `data_version` once.
        PostgreSQL returns when a notice arrives (or after LISTEN_WAIT_SECONDS).
        Once `interrupt()` is called, every wait returns False at once.
        """
        if self._engine.dialect.name == "sqlite":
            self._pause(poll)
            return not self._interrupted and self._sqlite_changed()
        return self._pg_changed()

    def interrupt(self) -> None:
        """End the wait in progress and every later one (safe from another thread)."""
        self._interrupted = True
        pipe = self._pipe
        if pipe is not None:
            with contextlib.suppress(OSError):  # closed meanwhile: nothing left to wake
                os.write(pipe[1], b"x")

    def _pause(self, seconds: float, fd: int | None = None) -> bool:
        """Sleep up to `seconds`, until `fd` is readable or until `interrupt`; True when `fd` is."""
        if self._pipe is None:
            self._pipe = os.pipe()
            self._poller = select.poll()
            self._poller.register(self._pipe[0], select.POLLIN)
        if self._interrupted:  # checked after the pipe exists: `interrupt` writes to it from now on
            return False
        poller = self._poller
        if fd is not None:  # PostgreSQL's socket, new with each connection
            poller = select.poll()
            poller.register(self._pipe[0], select.POLLIN)
            poller.register(fd, select.POLLIN)
        ready = poller.poll(seconds * 1000)
        return not self._interrupted and any(found == fd for found, _ in ready)

    def _sqlite_changed(self) -> bool:
        if self._sqlite is None:
            database = self._engine.url.database or ""
            self._sqlite = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        version = self._sqlite.execute("PRAGMA data_version").fetchone()[0]
        # The first reading is a change too: a commit made before it (just after start)
        # would otherwise pass unseen until the drains' next timed look.
        changed = self._version is None or version != self._version
        self._version = version
        return changed

    def _pg_changed(self) -> bool:
        import psycopg

        if self._pg is None:
            wait = self._relisten_at - time.monotonic()
            if wait > 0:
                self._pause(wait)  # the server was away a moment ago: do not hammer it
                return False
        if self._interrupted:
            return False
        try:
            if self._pg is None:
                url = self._engine.url.set(drivername="postgresql")
                # Keepalives: a connection dropped without a word must still be noticed.
                self._pg = psycopg.connect(
                    url.render_as_string(hide_password=False),
                    autocommit=True,
                    connect_timeout=5,
                    keepalives=1,
                    keepalives_idle=30,
                    keepalives_interval=10,
                    keepalives_count=3,
                )
                self._pg.execute(f"LISTEN {connector.CHANNEL}")
                return True  # we may have missed notices while not listening
            # Block on the socket here: psycopg's own wait wakes ten times a second.
            if not self._pause(LISTEN_WAIT_SECONDS, self._pg.fileno()):
                return False
            return any(True for _ in self._pg.notifies(timeout=0, stop_after=1))
        except psycopg.Error:
            # The server is away: the drains report it; reconnect later, and on success
            # report a change, so everything missed meanwhile is looked at again.
            self._close_pg()
            self._relisten_at = time.monotonic() + RELISTEN_SECONDS
            return False

    def close(self) -> None:
        """Close the watcher's own connection (call `interrupt` first if a wait may be running)."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        self._close_pg()
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = self._poller = None

    def _close_pg(self) -> None:
        if self._pg is not None:
            try:
                self._pg.close()
            finally:
                self._pg = None
