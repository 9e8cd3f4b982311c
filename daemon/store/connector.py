"""How to reach the database: engines, transactions, migrations, the change signal, the file lock.

SQLite runs in WAL mode with a busy timeout and foreign keys on; writing
transactions start with `BEGIN IMMEDIATE` so two writers queue on the busy
timeout instead of failing when a reader upgrades. PostgreSQL goes through
psycopg 3.
"""

from __future__ import annotations

import fcntl
import logging
import sqlite3
import threading
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
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009", "0010")
HEAD_REVISION = REVISIONS[-1]


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


def checkpoint(engine: Engine) -> None:
    """After a large write on SQLite, copy the write-ahead log into the file and empty it.

    A big import leaves its whole size in the WAL; left there, the next
    process to open the file pays to read it all back. Does nothing on
    PostgreSQL. It runs after the write has committed, so it never fails the
    write: a checkpoint that readers hold up stops short, and one that errors
    (the file locked past the busy timeout) is logged, leaving the log to the
    next checkpoint SQLite makes itself.
    """
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except DBAPIError as exc:
        logger.warning(
            "the write-ahead log was not checkpointed: %s",
            exc.orig,
            extra={"action": "checkpoint_failed"},
        )


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
