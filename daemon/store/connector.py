"""How to reach the database: engines, transactions, migrations, the change signal.

SQLite runs in WAL mode with a busy timeout and foreign keys on; writing
transactions start with `BEGIN IMMEDIATE` so two writers queue on the busy
timeout instead of failing when a reader upgrades. PostgreSQL goes through
psycopg 3.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import sqlite3
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
# PostgreSQL: give up on a connection attempt after this long (unless the URL says
# otherwise), so a server that drops packets fails a health check instead of hanging it.
CONNECT_TIMEOUT_SECONDS = 10
CHANNEL = "pledgewatch_changes"  # PostgreSQL NOTIFY channel for "a commitment changed"
VERSION_TABLE = "alembic_version"
_WRITERS: weakref.WeakKeyDictionary[Engine, FairLock] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()
# Every migration in migrations/versions, oldest first (a test checks them against the scripts).
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")
HEAD_REVISION = REVISIONS[-1]
RELISTEN_SECONDS = 2.0  # after the LISTEN connection failed, before connecting again
# PostgreSQL: the longest one wait blocks on the LISTEN socket. A notice ends it at once;
# this bounds how long a connection dropped without a word could go unnoticed.
LISTEN_WAIT_SECONDS = 60.0


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used."""


def describe_error(exc: BaseException) -> str:
    """Return the first line of a database error, never a URL (URLs carry passwords)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    line = text.splitlines()[0] if text else ""
    return (
        f"{type(original).__name__}: {line}"
        if line and "://" not in line
        else type(original).__name__
    )


def is_unavailable(exc: BaseException) -> bool:
    """True for an error of a database that is away or busy, which a retry may cure.

    Such an error is the environment's, not the code's: callers log one line
    without a traceback and try again later.
    """
    if isinstance(exc, DatabaseUnavailable | OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def normalise_url(url: str) -> str:
    """Return `url` with PostgreSQL pointed at psycopg 3, the driver we ship."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sqlite_file(url: str) -> Path | None:
    """Return the absolute path of the SQLite file `url` names; None for another database or memory.

    A relative path is read against the current folder, as SQLite reads it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.query.get("uri"):
        return None  # `file:...?mode=memory` and the like: SQLite reads the name itself
    return Path(parsed.database).absolute()


def absolute_url(url: str) -> str:
    """Return `url` with the path of a SQLite file made absolute; any other URL as it is."""
    file = sqlite_file(url)
    if file is None:
        return url
    return make_url(url).set(database=str(file)).render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    """Return an engine for `url`, creating the SQLite file's folder when needed."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = sqlite_file(url)
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    # Pre-ping: a connection the server dropped (a restart, an outage) is replaced on
    # checkout instead of failing the next transaction.
    connect_args = (
        {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    )
    return create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args
    )


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is unreliable).
    dbapi_connection.isolation_level = None
    for pragma in (
        "journal_mode=WAL",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
        "foreign_keys=ON",
        "synchronous=NORMAL",
    ):
        dbapi_connection.execute(f"PRAGMA {pragma}")


def _sqlite_on_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("pledgewatch_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a writing transaction, committed on success."""
    with _writer(engine), engine.connect() as conn:
        conn.execution_options(pledgewatch_write=True)
        with conn.begin():
            yield conn


class FairLock:
    """A reentrant lock handed to its waiters in the order they came.

    `threading.RLock` lets the thread that releases it take it straight back:
    a planner writing batch after batch would keep the dispatcher from
    recording a single outcome until it ran out of work. Here each writer
    waits its turn, and a turn is one transaction.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[int] = deque()

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._owner == me:
                self._depth += 1
                return
            self._waiting.append(me)
            try:
                while self._owner is not None or self._waiting[0] != me:
                    self._changed.wait()
            except BaseException:
                self._waiting.remove(me)  # interrupted: the next in line must not wait on us
                self._changed.notify_all()
                raise
            self._waiting.popleft()
            self._owner, self._depth = me, 1

    def __exit__(self, *_: object) -> None:
        with self._changed:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._changed.notify_all()


def _writer(engine: Engine) -> AbstractContextManager[Any]:
    """Return the lock this process's SQLite writers take turns on (no lock for PostgreSQL).

    SQLite admits one writer at a time; threads left to contend for it wait in
    its busy handler, which sleeps for milliseconds between tries. Queuing on a
    lock of our own hands the file over as soon as it is free. Reentrant, so a
    nested write fails on SQLite's busy timeout as before rather than hanging.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(engine, FairLock())


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """Yield a connection in a read transaction."""
    with engine.connect() as conn, conn.begin():
        yield conn


def signal_change(conn: Connection) -> None:
    """Tell a running daemon, on commit, that commitments changed (PostgreSQL NOTIFY).

    SQLite needs nothing: the daemon watches `PRAGMA data_version`.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("daemon.migrations")))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Apply every migration up to head (idempotent).

    A database already at head costs one query: Alembic, a fifth of a second
    to import, is loaded only when there is something to apply.
    """
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    if current is not None and current not in REVISIONS:
        raise DatabaseUnavailable(newer_schema(current))
    from alembic import command

    command.upgrade(_alembic_config(engine), "head")


def newer_schema(current: str) -> str:
    """Say that the database was migrated by a newer pledgewatch than this one."""
    return (
        f"the database schema is at {current}, newer than this pledgewatch knows "
        f"({HEAD_REVISION}): upgrade pledgewatch (a newer version migrated it)"
    )


def current_revision(engine: Engine) -> str | None:
    """Return the migration the database is at (None when never migrated)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.scalar(text(f"SELECT version_num FROM {VERSION_TABLE}"))


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
                self._pg.execute(f"LISTEN {CHANNEL}")
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


class InstanceLock:
    """An exclusive lock beside a SQLite file: one daemon per file."""

    def __init__(self, engine: Engine) -> None:
        self._path = Path(f"{engine.url.database}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise DatabaseUnavailable saying another daemon holds it."""
        self._file = self._path.open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            self._file = None
            raise DatabaseUnavailable(
                f"another pledgewatch daemon is already running on {self._path.with_suffix('')}; "
                "SQLite allows one daemon per file (use PostgreSQL for several replicas)"
            ) from None

    def release(self) -> None:
        """Drop the lock."""
        if self._file is not None:
            self._file.close()
            self._file = None
