"""Writing commitments from seed files: upsert, bulk create, and the encoding of their rows.

Every function takes an open connection (the caller owns the transaction).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Row, Table, delete, insert, select, update
from sqlalchemy.exc import DBAPIError

from daemon.model import documents, schedule
from daemon.model.pledge import Extracted, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import Policy
from daemon.store import connector, lifecycle, pledges
from daemon.store.schema import Commitment, StatusChange
from daemon.store.schema import Condition as ConditionRow

CREATE_BATCH = 2000  # pledges inserted per batch by an import
LOOKUP_CHUNK = 5000  # ids looked up per statement (SQLite takes 32,766 parameters)
_SQLITE_INSTANT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # as SQLAlchemy's SQLite DATETIME


def upsert(
    conn: Connection,
    pledge: Pledge,
    *,
    status_given: bool,
    now: datetime,
    policy: Policy,
    actor: str,
) -> str:
    """Insert or update one pledge; return "created", "updated" or "unchanged".

    A status recorded since the last import is kept unless the file sets one;
    a status the file changes is a transition, recorded and notified.
    """
    row = conn.execute(select(Commitment.__table__).where(Commitment.id == pledge.id)).first()
    if row is None:
        create(conn, [pledge], now=now, policy=policy, actor=actor)
        return "created"
    current = pledges.to_pledge(row, pledges.conditions_of(conn, [pledge.id])[pledge.id])
    pledge = _as_stored(pledge, current, status_given=status_given)
    if pledge == current:
        return "unchanged"
    status_changed = pledge.status != current.status
    state = lifecycle.with_started_deadline(
        _with_state(conn, pledge, row, status_changed=status_changed), now
    )
    through = row.planned_through
    if status_changed and row.acknowledged_at is not None:
        # The repeats the acknowledgement held back are not owed.
        through = pledges.look_ahead_start(through, now)
    values = _columns(state)
    values.update(
        updated_at=now,
        planned_through=through,
        next_notice_at=schedule.wake_at(state, policy, through),
        plan_error=None,
        acknowledged_at=None if status_changed else row.acknowledged_at,
    )
    conn.execute(update(Commitment).where(Commitment.id == pledge.id).values(**values))
    _replace_conditions(conn, pledge)
    if status_changed:
        lifecycle.record_history(
            conn,
            pledge.id,
            now,
            current.status.value,
            pledge.status.value,
            actor,
            "set by import",
            None,
        )
        if not state.archived:  # an archived pledge is notified of nothing
            lifecycle.enqueue_status_event(
                conn,
                pledge,
                now,
                old=current.status,
                note="set by import",
                evidence=None,
                actor=actor,
            )
        lifecycle.propagate_status(conn, pledge.id, pledge.status, now=now, policy=policy)
    connector.signal_change(conn)
    return "updated"


def _as_stored(pledge: Pledge, current: Pledge, *, status_given: bool) -> Pledge:
    """Return `pledge` from a file with what the store keeps of `current`: equal when unchanged."""
    if not status_given and pledge.status is not current.status:
        pledge = replace(pledge, status=current.status)
    if pledge.pending and current.window and current.window.phrase == pledge.pending.phrase:
        # Its conditions were met and the deadline started then: a re-import keeps it.
        pledge = replace(pledge, window=current.window, pending=None)
    if (
        pledge.recurrence
        and current.recurrence
        and replace(pledge.recurrence, since=current.recurrence.since) == current.recurrence
    ):
        # The same check-ins: they keep counting from when they first did (an undated
        # source would otherwise restart them at every import).
        pledge = replace(pledge, recurrence=current.recurrence)
    return pledge


def unchanged(conn: Connection, wanted: Sequence[tuple[Pledge, bool]]) -> set[str]:
    """Return the ids of the stored pledges `upsert` would leave as they are.

    `wanted` holds (pledge, status_given) as `upsert` takes them. Rows are
    read LOOKUP_CHUNK at a time, so re-importing a large file costs a few
    queries, not two per pledge.
    """
    found: set[str] = set()
    table = Commitment.__table__
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = {p.id: (p, given) for p, given in wanted[start : start + LOOKUP_CHUNK]}
        conditions = pledges.conditions_of(conn, list(chunk))
        for row in conn.execute(select(table).where(table.c.id.in_(list(chunk)))):
            pledge, given = chunk[row.id]
            current = pledges.to_pledge(row, conditions[row.id])
            if _as_stored(pledge, current, status_given=given) == current:
                found.add(row.id)
    return found


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Return which of `ids` are stored, reading them in chunks (imports of any size)."""
    found: set[str] = set()
    if ids and conn.scalar(select(Commitment.id).limit(1)) is None:
        return found  # nothing stored: a first import asks no more
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = list(ids[start : start + LOOKUP_CHUNK])
        found.update(conn.scalars(select(Commitment.id).where(Commitment.id.in_(chunk))))
    return found


def create(
    conn: Connection, new: Sequence[Pledge], *, now: datetime, policy: Policy, actor: str
) -> None:
    """Insert pledges not stored yet: their rows, then their conditions, then their history.

    `new` is in condition order: a pledge may require one stored or earlier in `new`.
    A bulk import is then bounded by the database's insert rate, not by a
    round trip per pledge: the rows go straight to the driver (PostgreSQL:
    COPY; SQLite: CREATE_BATCH at a time), encoded by `_BulkWriter` as SQLAlchemy's
    column types would encode them.
    """
    if not new:
        return
    silenced = pledges.silences(conn)
    statuses = pledges.statuses_of(conn, sorted({c.requires for p in new for c in p.conditions}))
    statuses.update((p.id, p.status) for p in new)
    bulk = _BulkWriter(conn)
    at = bulk.instant(now)

    def rows() -> Iterator[dict[str, Any]]:
        for pledge in new:
            state = pledge
            blocked = pledges.any_unmet(pledge.conditions, statuses) if pledge.conditions else False
            held = None
            if silenced:
                held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
            # Most pledges hold neither: copying a frozen value costs more than its notice.
            if blocked != pledge.blocked or held != pledge.held_until:
                state = replace(pledge, blocked=blocked, held_until=held)
            state = lifecycle.with_started_deadline(state, now)
            values = _columns(state, bulk)
            following = schedule.wake_at(state, policy, None)
            values["id"] = pledge.id
            values["created_at"] = values["updated_at"] = at
            values["planned_through"] = None
            values["next_notice_at"] = None if following is None else bulk.instant(following)
            yield values

    bulk.insert(Commitment.__table__, rows())
    bulk.insert(ConditionRow.__table__, (c for p in new for c in _condition_rows(p)))
    bulk.insert(
        StatusChange.__table__,
        (
            lifecycle.history_row(p.id, at, None, p.status.value, actor, "imported", None)
            for p in new
        ),
    )
    connector.signal_change(conn)


def _with_state(
    conn: Connection, pledge: Pledge, row: Row | None, *, status_changed: bool = False
) -> Pledge:
    """Return `pledge` with what the store keeps beside the file: blocked, acknowledged, held, archived."""
    statuses = pledges.statuses_of(conn, [c.requires for c in pledge.conditions])
    silenced = pledges.silences(conn)
    if row is not None:
        held = pledges.held_until(row, silenced)
    else:
        held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
    acknowledged = row is not None and row.acknowledged_at is not None and not status_changed
    return replace(
        pledge,
        blocked=pledges.any_unmet(pledge.conditions, statuses),
        acknowledged=acknowledged,
        held_until=held,
        archived=row is not None and row.archived_at is not None,
    )


def _condition_rows(pledge: Pledge) -> list[dict[str, Any]]:
    """Return the `conditions` rows of a pledge."""
    return [
        {"commitment_id": pledge.id, "requires_id": c.requires, "status": c.status.value}
        for c in pledge.conditions
    ]


def _replace_conditions(conn: Connection, pledge: Pledge) -> None:
    """Store a pledge's conditions in place of those stored."""
    conn.execute(delete(ConditionRow).where(ConditionRow.commitment_id == pledge.id))
    if pledge.conditions:
        conn.execute(insert(ConditionRow), _condition_rows(pledge))


class _Encoding:
    """How `_columns` gives the values SQLAlchemy's column types encode: as they are.

    `_BulkWriter` gives them already encoded, as the driver stores them.
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


_SQLALCHEMY_ENCODING = _Encoding()


def _columns(pledge: Pledge, encode: _Encoding = _SQLALCHEMY_ENCODING) -> dict[str, Any]:
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


class _BulkWriter(_Encoding):
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
