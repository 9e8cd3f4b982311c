"""A pledge as a row of `commitments`: its column values, encoded as SQLAlchemy would or in bulk.

`columns` gives the values that describe a pledge. `Encoding` leaves them to
SQLAlchemy's column types; `BulkWriter` encodes them itself, as those types
would, and inserts through the driver (a test compares the two byte for byte).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

from daemon.model import documents
from daemon.model.pledge import Extracted, Pledge, Source
from daemon.model.recurrence import Recurrence

CREATE_BATCH = 2000  # pledges inserted per batch by an import
_SQLITE_INSTANT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # as SQLAlchemy's SQLite DATETIME


class Encoding:
    """How `columns` gives the values SQLAlchemy's column types encode: as they are.

    `BulkWriter` gives them already encoded, as the driver stores them.
    """

    def instant(self, value: datetime) -> Any:
        return value

    def texts(self, values: tuple[str, ...]) -> Any:
        return list(values)

    def source(self, source: Source) -> Any:
        return documents.source_document(source)

    def reminders(self, offsets: tuple[timedelta, ...] | None) -> Any:
        return None if offsets is None else [int(r.total_seconds()) for r in offsets]

    def recurrence(self, found: Recurrence | None) -> Any:
        if found is None:
            return None
        return {
            "since": found.since.isoformat(),
            "timezone": found.timezone,
            "every": found.every,
            "cron": found.cron,
        }

    def extracted(self, found: Extracted | None) -> Any:
        return documents.extracted_document(found)


AS_GIVEN = Encoding()


def columns(pledge: Pledge, encode: Encoding = AS_GIVEN) -> dict[str, Any]:
    """Return the row values that describe a pledge (no planner state)."""
    window, pending = pledge.window, pledge.pending
    return {
        "title": pledge.title,
        "description": pledge.description,
        "kind": pledge.kind.value,
        "status": pledge.status.value,
        "parties": encode.texts(pledge.parties),
        "tags": encode.texts(pledge.tags),
        "source": encode.source(pledge.source),
        "deadline_phrase": window.phrase if window else (pending.phrase if pending else None),
        "deadline_earliest": encode.instant(window.earliest) if window else None,
        "deadline_latest": encode.instant(window.latest) if window else None,
        "deadline_precision": window.precision.value if window else None,
        "deadline_timezone": window.timezone if window else (pending.timezone if pending else None),
        "reminders": encode.reminders(pledge.reminders),
        "recurrence": encode.recurrence(pledge.recurrence),
        "timezone": pledge.timezone,
        "extracted": encode.extracted(pledge.extracted),
    }


class BulkWriter(Encoding):
    """Encodes row values as SQLAlchemy's column types would, and inserts rows through the driver.

    SQLAlchemy's executemany runs each value through its type's processors,
    several times the cost of the insert itself on SQLite. Here instants
    become UTC text (on SQLite the `UTCDateTime` format, naive); JSON columns
    hold `json.dumps` text, cached, since the pledges of one file share their
    source, tags and parties. PostgreSQL takes the rows by COPY, in the
    caller's transaction.
    """

    CACHE = 10_000  # encoded JSON values kept at most

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._sqlite = conn.dialect.name == "sqlite"
        self._json: dict[Any, str] = {}
        self._instant_text = _SQLITE_INSTANT if self._sqlite else _SQLITE_INSTANT + "+00"
        self._last: tuple[datetime | None, Any] = (None, None)
        self._source: tuple[Source | None, str] = (None, "")

    def insert(self, table: Table, rows: Iterable[dict[str, Any]]) -> None:
        """Insert `rows` (encoded, each with the same keys) into `table`, as they come.

        PostgreSQL gets them by one COPY, which the server works through while
        the next ones are made; SQLite by executemany, CREATE_BATCH at a time.
        """
        found = iter(rows)
        first = next(found, None)
        if first is None:
            return
        names = list(first)
        for column in table.c:
            if column.name not in first and column.default is not None:
                raise ValueError(f"{table.name}.{column.name}: a bulk insert sets no default")
        pick = itemgetter(*names)  # a tuple of the values: every table here has several
        quote = self._conn.dialect.identifier_preparer.quote
        target = f"{quote(table.name)} ({', '.join(quote(n) for n in names)})"
        if not self._sqlite:
            self._copy(f"COPY {target} FROM STDIN", (pick(row) for row in chain([first], found)))
            return
        statement = f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))})"
        batch = [pick(first)]
        for row in found:
            batch.append(pick(row))
            if len(batch) == CREATE_BATCH:
                self._conn.exec_driver_sql(statement, batch)
                batch = []
        if batch:
            self._conn.exec_driver_sql(statement, batch)

    def _copy(self, statement: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Run a COPY on the connection's driver, its errors raised as SQLAlchemy's would be."""
        dialect = self._conn.dialect
        driver = self._conn.connection.driver_connection
        assert driver is not None
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:
            # IntegrityError and the rest, as callers catch them from `conn.execute`.
            raise DBAPIError.instance(
                statement, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc

    def instant(self, value: datetime) -> Any:
        if value is self._last[0]:
            return self._last[1]  # an exact deadline: its latest is its earliest
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; instants must be aware")
        utc = value if value.tzinfo is UTC else value.astimezone(UTC)
        # SQLite: SQLAlchemy's DATETIME text, naive UTC. PostgreSQL: the same with its
        # offset, which COPY reads several times faster than psycopg writes a datetime.
        found = self._instant_text % (
            utc.year,
            utc.month,
            utc.day,
            utc.hour,
            utc.minute,
            utc.second,
            utc.microsecond,
        )
        self._last = (value, found)
        return found

    def texts(self, values: tuple[str, ...]) -> Any:
        return self._cached(values, super().texts)

    def source(self, source: Source) -> Any:
        if source is not self._source[0]:  # the pledges of a file share theirs
            self._source = (source, self._cached(source, super().source))
        return self._source[1]

    def reminders(self, offsets: tuple[timedelta, ...] | None) -> Any:
        return self._cached(offsets, super().reminders)

    def recurrence(self, found: Recurrence | None) -> Any:
        if found is None:
            return "null"
        # Not cached: equal instants in two offsets would share an entry.
        return json.dumps(super().recurrence(found))

    def extracted(self, found: Extracted | None) -> Any:
        return json.dumps(super().extracted(found))  # one sentence each: nothing to share

    def _cached(self, key: Any, value: Any) -> str:
        """Return the JSON text of `value(key)`, cached by the model value `key`."""
        found = self._json.get((type(key), key))
        if found is None:
            if len(self._json) >= self.CACHE:
                self._json.clear()
            found = self._json[(type(key), key)] = json.dumps(value(key))
        return found
