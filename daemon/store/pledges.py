"""Operations on commitments: upsert from imports, read, change status.

Every function takes an open connection (the caller owns the transaction) and
returns model values, never ORM rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Row,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

from daemon.model import documents, lifecycle, schedule
from daemon.model.deadlines import Precision, Window, read_deadline
from daemon.model.durations import format_duration
from daemon.model.pledge import Condition, Pending, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import NoticeType, Policy
from daemon.model.statuses import Kind, Status
from daemon.store import connector, outbox
from daemon.store.schema import Commitment, Silence, StatusChange
from daemon.store.schema import Condition as ConditionRow

logger = logging.getLogger(__name__)

UPCOMING_HORIZON = timedelta(days=366)  # how far ahead `show` lists notices
UPCOMING_LIMIT = 1000  # notices per pledge `upcoming` lists at most
REPLAN_BATCH = 500  # pledges read and updated at a time by `replan`
CREATE_BATCH = 2000  # pledges inserted per batch by an import
_SQLITE_INSTANT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"  # as SQLAlchemy's SQLite DATETIME
LOOKUP_CHUNK = 5000  # ids looked up per statement (SQLite takes 32,766 parameters)


class NotFound(LookupError):
    """No commitment has that id."""


@dataclass(frozen=True)
class Stored:
    """A pledge with the planner state kept beside it."""

    pledge: Pledge
    next_notice_at: datetime | None
    planned_through: datetime | None
    plan_error: str | None
    updated_at: datetime


def to_pledge(row: Row | Any, conditions: Sequence[Condition] = ()) -> Pledge:
    """Return the model value for a `commitments` row."""
    window = None
    if row.deadline_earliest is not None:
        window = Window(
            phrase=row.deadline_phrase or "",
            earliest=row.deadline_earliest,
            latest=row.deadline_latest,
            precision=Precision(row.deadline_precision),
            timezone=row.deadline_timezone,
        )
    source = dict(row.source or {})
    published = source.get("published")
    return Pledge(
        id=row.id,
        title=row.title,
        description=row.description,
        kind=Kind(row.kind),
        status=Status(row.status),
        parties=tuple(row.parties or ()),
        tags=tuple(row.tags or ()),
        source=Source(
            title=source.get("title"),
            publisher=source.get("publisher"),
            url=source.get("url"),
            published=date.fromisoformat(published) if published else None,
        ),
        window=window,
        reminders=None
        if row.reminders is None
        else tuple(timedelta(seconds=s) for s in row.reminders),
        pending=Pending(row.deadline_phrase, row.deadline_timezone)
        if window is None and row.deadline_phrase is not None
        else None,
        recurrence=None
        if row.recurrence is None
        else Recurrence(
            since=datetime.fromisoformat(row.recurrence["since"]),
            timezone=row.recurrence["timezone"],
            every=row.recurrence.get("every"),
            cron=row.recurrence.get("cron"),
        ),
        conditions=tuple(conditions),
    )


class _Encoding:
    """How `_columns` gives the values SQLAlchemy's column types encode: as they are.

    `_Bulk` gives them already encoded, as the driver stores them.
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


_AS_IS = _Encoding()


def _columns(pledge: Pledge, encode: _Encoding = _AS_IS) -> dict[str, Any]:
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
    }


def _conditions(conn: Connection, ids: Sequence[str]) -> dict[str, list[Condition]]:
    found: dict[str, list[Condition]] = {i: [] for i in ids}
    if not ids:
        return found
    stmt = (
        select(ConditionRow)
        .where(ConditionRow.commitment_id.in_(list(ids)))
        .order_by(ConditionRow.requires_id)
    )
    for row in conn.execute(stmt):
        found[row.commitment_id].append(Condition(row.requires_id, Status(row.status)))
    return found


def _statuses(conn: Connection, ids: Sequence[str]) -> dict[str, Status]:
    if not ids:
        return {}
    stmt = select(Commitment.id, Commitment.status).where(Commitment.id.in_(list(ids)))
    return {row.id: Status(row.status) for row in conn.execute(stmt)}


def _unmet(conditions: Sequence[Condition], statuses: dict[str, Status]) -> bool:
    return any(statuses.get(c.requires) is not c.status for c in conditions)


def silences(conn: Connection) -> dict[str, datetime]:
    """Return every silence: tag -> until (expired ones included; they hold nothing)."""
    return {row.tag: row.until for row in conn.execute(select(Silence.tag, Silence.until))}


def _held_until(row: Row, silenced: dict[str, datetime]) -> datetime | None:
    """The latest end of the pledge's snooze and of the silences on its tags."""
    ends = [silenced[tag] for tag in row.tags or () if tag in silenced]
    if row.snoozed_until is not None:
        ends.append(row.snoozed_until)
    return max(ends, default=None)


def _stored(conn: Connection, rows: Sequence[Row]) -> list[Stored]:
    conditions = _conditions(conn, [r.id for r in rows])
    required = sorted({c.requires for found in conditions.values() for c in found})
    statuses = _statuses(conn, required)
    silenced = silences(conn)
    return [
        Stored(
            replace(
                to_pledge(r, conditions[r.id]),
                blocked=_unmet(conditions[r.id], statuses),
                acknowledged=r.acknowledged_at is not None,
                held_until=_held_until(r, silenced),
            ),
            r.next_notice_at,
            r.planned_through,
            r.plan_error,
            r.updated_at,
        )
        for r in rows
    ]


def get(conn: Connection, pledge_id: str) -> Stored:
    """Return one stored pledge, or raise NotFound."""
    row = conn.execute(select(Commitment.__table__).where(Commitment.id == pledge_id)).first()
    if row is None:
        raise NotFound(pledge_id)
    return _stored(conn, [row])[0]


def from_rows(conn: Connection, rows: Sequence[Row]) -> list[Stored]:
    """Return the stored pledges of `commitments` rows already read (claimed), in order.

    Their conditions and the silences are read once for all of them.
    """
    return _stored(conn, rows)


def list_all(conn: Connection, status: Status | None = None) -> list[Stored]:
    """Return every stored pledge (or those with `status`), by next notice then id."""
    stmt = select(Commitment.__table__)
    if status is not None:
        stmt = stmt.where(Commitment.status == status.value)
    rows = list(conn.execute(stmt.order_by(Commitment.id)))
    return _stored(conn, rows)


def condition_edges(conn: Connection) -> list[tuple[str, str]]:
    """Return every stored condition as (waiting pledge, required pledge)."""
    stmt = select(ConditionRow.commitment_id, ConditionRow.requires_id)
    return [(row[0], row[1]) for row in conn.execute(stmt)]


def history(conn: Connection, pledge_id: str) -> list[dict[str, Any]]:
    """Return a pledge's status history, oldest first."""
    stmt = (
        select(StatusChange)
        .where(StatusChange.commitment_id == pledge_id)
        .order_by(StatusChange.id)
    )
    return [
        {
            "at": documents.isoformat(row.at),
            "old_status": row.old_status,
            "new_status": row.new_status,
            "actor": row.actor,
            "note": row.note,
            "evidence": row.evidence,
        }
        for row in conn.execute(stmt)
    ]


def describe(conn: Connection, stored: Stored, policy: Policy, now: datetime) -> dict[str, Any]:
    """Return the commitment object with its history, next notices and planner state."""
    pledge = stored.pledge
    zone = documents.zone_of(pledge)
    coming = schedule.upcoming(
        pledge, policy, _later(stored.planned_through, now), now + UPCOMING_HORIZON, limit=10
    )
    return {
        **documents.commitment_document(pledge),
        "next_notice_at": documents.isoformat(stored.next_notice_at, zone),
        "plan_error": stored.plan_error,
        "history": history(conn, pledge.id),
        "next_notices": [
            {
                "type": n.type.value,
                "at": documents.isoformat(n.at, zone),
                **({"offset": format_duration(n.offset)} if n.offset else {}),
            }
            for n in coming
        ],
    }


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
    current = to_pledge(row, _conditions(conn, [pledge.id])[pledge.id])
    pledge = _as_stored(pledge, current, status_given=status_given)
    if pledge == current:
        return "unchanged"
    status_changed = pledge.status != current.status
    state = _started(_with_state(conn, pledge, row, status_changed=status_changed), now)
    through = row.planned_through
    if status_changed and row.acknowledged_at is not None:
        through = _later(through, now)  # the repeats the ack held back are not owed
    values = _columns(state)
    values.update(
        updated_at=now,
        planned_through=through,
        next_notice_at=_next_at(state, policy, through),
        plan_error=None,
        acknowledged_at=None if status_changed else row.acknowledged_at,
    )
    conn.execute(update(Commitment).where(Commitment.id == pledge.id).values(**values))
    _replace_conditions(conn, pledge)
    if status_changed:
        _record(
            conn,
            pledge.id,
            now,
            current.status.value,
            pledge.status.value,
            actor,
            "set by import",
            None,
        )
        _status_event(
            conn, pledge, now, old=current.status, note="set by import", evidence=None, actor=actor
        )
        _propagate(conn, pledge.id, pledge.status, now=now, policy=policy)
    connector.signal_change(conn)
    return "updated"


def _as_stored(pledge: Pledge, current: Pledge, *, status_given: bool) -> Pledge:
    """Return `pledge` from a file with what the store keeps of `current`: equal when unchanged."""
    if not status_given and pledge.status is not current.status:
        pledge = _with_status(pledge, current.status)
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
        conditions = _conditions(conn, list(chunk))
        for row in conn.execute(select(table).where(table.c.id.in_(list(chunk)))):
            pledge, given = chunk[row.id]
            current = to_pledge(row, conditions[row.id])
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
    COPY; SQLite: CREATE_BATCH at a time), encoded by `_Bulk` as SQLAlchemy's
    column types would encode them.
    """
    if not new:
        return
    silenced = silences(conn)
    statuses = _statuses(conn, sorted({c.requires for p in new for c in p.conditions}))
    statuses.update((p.id, p.status) for p in new)
    bulk = _Bulk(conn)
    at = bulk.instant(now)

    def rows() -> Iterator[dict[str, Any]]:
        for pledge in new:
            state = pledge
            blocked = _unmet(pledge.conditions, statuses) if pledge.conditions else False
            held = None
            if silenced:
                held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
            # Most pledges hold neither: copying a frozen value costs more than its notice.
            if blocked != pledge.blocked or held != pledge.held_until:
                state = replace(pledge, blocked=blocked, held_until=held)
            state = _started(state, now)
            values = _columns(state, bulk)
            following = _next_at(state, policy, None)
            values["id"] = pledge.id
            values["created_at"] = values["updated_at"] = at
            values["planned_through"] = None
            values["next_notice_at"] = None if following is None else bulk.instant(following)
            yield values

    bulk.insert(Commitment.__table__, rows())
    bulk.insert(ConditionRow.__table__, (c for p in new for c in _condition_rows(p)))
    bulk.insert(
        StatusChange.__table__,
        (_history_row(p.id, at, None, p.status.value, actor, "imported", None) for p in new),
    )
    connector.signal_change(conn)


class _Bulk(_Encoding):
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

    def _cached(self, key: Any, value: Any) -> str:
        """Return the JSON text of `value(key)`, cached by the model value `key`."""
        found = self._json.get((type(key), key))
        if found is None:
            if len(self._json) >= self.CACHE:
                self._json.clear()
            found = self._json[(type(key), key)] = json.dumps(value(key))
        return found


def _with_state(
    conn: Connection, pledge: Pledge, row: Row | None, *, status_changed: bool = False
) -> Pledge:
    """Return `pledge` with what the store keeps beside the file: blocked, acknowledged, held."""
    statuses = _statuses(conn, [c.requires for c in pledge.conditions])
    silenced = silences(conn)
    if row is not None:
        held = _held_until(row, silenced)
    else:
        held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
    acknowledged = row is not None and row.acknowledged_at is not None and not status_changed
    return replace(
        pledge,
        blocked=_unmet(pledge.conditions, statuses),
        acknowledged=acknowledged,
        held_until=held,
    )


def _started(pledge: Pledge, now: datetime) -> Pledge:
    """Start a deadline that waits for its conditions, when they are met."""
    if pledge.pending is None or pledge.blocked:
        return pledge
    zone = ZoneInfo(pledge.pending.timezone)
    window = read_deadline(pledge.pending.phrase, reference=now, tz=zone)
    return replace(pledge, window=window, pending=None)


def set_status(
    conn: Connection,
    pledge_id: str,
    status: Status,
    *,
    now: datetime,
    policy: Policy,
    actor: str,
    note: str | None = None,
    evidence: str | None = None,
) -> Status:
    """Move a pledge to `status`, record it and write its notice; return the old status.

    Raises:
        NotFound: no pledge has that id.
        lifecycle.TransitionError: the change is not allowed (see `model.lifecycle`).
    """
    stored = get(conn, pledge_id)
    old = stored.pledge.status
    lifecycle.check(old, status, note)
    # A status change ends an acknowledgement: overdue repeats resume from now on
    # (those it held back are not owed).
    pledge = replace(_with_status(stored.pledge, status), acknowledged=False)
    through = stored.planned_through
    if stored.pledge.acknowledged:
        through = _later(through, now)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(
            status=status.value,
            updated_at=now,
            acknowledged_at=None,
            planned_through=through,
            next_notice_at=_next_at(pledge, policy, through),
        )
    )
    _record(conn, pledge_id, now, old.value, status.value, actor, note, evidence)
    _status_event(conn, pledge, now, old=old, note=note, evidence=evidence, actor=actor)
    _propagate(conn, pledge_id, status, now=now, policy=policy)
    connector.signal_change(conn)
    return old


def _propagate(
    conn: Connection, pledge_id: str, status: Status, *, now: datetime, policy: Policy
) -> None:
    """Tell the pledges that wait on `pledge_id` what its new status means for them.

    A condition now met: `commitment.condition_met`, and the dependent's clock
    starts (it is no longer blocked). The required pledge closed with another
    outcome: the condition has failed, and the dependent hears so. Either way
    the dependent's next notice is worked out again. A dependent's own status
    changes (and so its dependents') only when someone records one.
    """
    stmt = select(ConditionRow.commitment_id, ConditionRow.status).where(
        ConditionRow.requires_id == pledge_id
    )
    for dependent_id, wanted in list(conn.execute(stmt)):
        dependent = get(conn, dependent_id)
        condition = Condition(pledge_id, Status(wanted))
        through = dependent.planned_through
        if status is condition.status and not dependent.pledge.blocked:
            # Its clock starts now: what it would have been owed while waiting is not owed.
            through = _later(through, now)
            if dependent.pledge.pending is not None:
                dependent = _start_deadline(conn, dependent, now)
        if status is condition.status or status.is_closed:
            body = documents.condition_body(dependent.pledge, now, condition, status.value)
            type_ = body["type"]
            outbox.enqueue(
                conn, dependent_id, type_, now, body, dependent.pledge.tags, now=now, webhooks=None
            )
        following = _next_at(dependent.pledge, policy, through)
        conn.execute(
            update(Commitment)
            .where(Commitment.id == dependent_id)
            .values(planned_through=through, next_notice_at=following)
        )


def acknowledge(
    conn: Connection, pledge_id: str, *, now: datetime, policy: Policy, actor: str, note: str | None
) -> None:
    """Stop a pledge's overdue repeats until its next status change; recorded in its history."""
    stored = get(conn, pledge_id)
    pledge = replace(stored.pledge, acknowledged=True)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(
            acknowledged_at=now,
            updated_at=now,
            next_notice_at=_next_at(pledge, policy, stored.planned_through),
        )
    )
    status = pledge.status.value
    _record(conn, pledge_id, now, status, status, actor, _why("acknowledged", note), None)
    connector.signal_change(conn)


def snooze(
    conn: Connection,
    pledge_id: str,
    until: datetime | None,
    *,
    now: datetime,
    policy: Policy,
    actor: str,
    note: str | None,
) -> None:
    """Hold every notice of one pledge until `until` (None: end the snooze); recorded."""
    stored = get(conn, pledge_id)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(snoozed_until=until, updated_at=now)
    )
    _refresh(conn, [get(conn, pledge_id)], policy=policy)
    what = f"snoozed until {until.isoformat()}" if until else "snooze ended"
    status = stored.pledge.status.value
    _record(conn, pledge_id, now, status, status, actor, _why(what, note), None)
    connector.signal_change(conn)


def silence(
    conn: Connection,
    tag: str,
    until: datetime | None,
    *,
    now: datetime,
    policy: Policy,
    actor: str,
    note: str | None,
) -> int:
    """Hold the notices of every pledge tagged `tag` until `until` (None: lift); return how many."""
    conn.execute(delete(Silence).where(Silence.tag == tag))
    if until is not None:
        conn.execute(
            insert(Silence).values(tag=tag, until=until, created_at=now, actor=actor, note=note)
        )
    # Tags live in a JSON list: found here, not in SQL, the same way on every engine.
    tagged = [s for s in list_all(conn) if tag in s.pledge.tags]
    _refresh(conn, tagged, policy=policy)
    what = (
        f"tag {tag} silenced until {until.isoformat()}" if until else f"silence on tag {tag} lifted"
    )
    for stored in tagged:
        status = stored.pledge.status.value
        _record(conn, stored.pledge.id, now, status, status, actor, _why(what, note), None)
    connector.signal_change(conn)
    return len(tagged)


def _refresh(conn: Connection, found: Sequence[Stored], *, policy: Policy) -> None:
    """Work out again when the planner must look at these pledges (read after a hold changed)."""
    for stored in found:
        following = _next_at(stored.pledge, policy, stored.planned_through)
        conn.execute(
            update(Commitment)
            .where(Commitment.id == stored.pledge.id)
            .values(next_notice_at=following)
        )


def _why(what: str, note: str | None) -> str:
    return f"{what}: {note}" if note else what


# Run for every planned pledge: built once, with bound parameters.
_ADVANCE = (
    update(Commitment.__table__)
    .where(Commitment.__table__.c.id == bindparam("pledge_id"))
    .values(
        planned_through=bindparam("through"),
        next_notice_at=bindparam("next_at"),
        plan_error=None,
    )
)


def advance(
    conn: Connection, cursors: Sequence[tuple[str, datetime | None, datetime | None]]
) -> None:
    """Move the planner's cursor of each (pledge id, planned through, next notice at), at once."""
    if cursors:
        conn.execute(
            _ADVANCE,
            [
                {"pledge_id": pledge_id, "through": through, "next_at": next_at}
                for pledge_id, through, next_at in cursors
            ],
        )


def defer(conn: Connection, pledge_id: str, *, until: datetime, error: str) -> None:
    """Push a pledge that failed to plan forward, keeping the error for the operator."""
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(next_notice_at=until, plan_error=error)
    )


def _later(planned_through: datetime | None, now: datetime) -> datetime:
    """Where a look ahead starts: notices already due are the planner's, not the future's."""
    return now if planned_through is None else max(planned_through, now)


def summary(conn: Connection) -> tuple[int, datetime | None]:
    """Return how many pledges are stored and the earliest next notice.

    A count over the smallest index and one index lookup: about 15 ms on SQLite
    with a million pledges, cheap enough for a status line every 30 s.
    """
    count = conn.scalar(select(func.count()).select_from(Commitment))
    earliest = conn.scalar(select(func.min(Commitment.next_notice_at)))
    return int(count or 0), earliest


def replan(
    conn: Connection, old: Policy, new: Policy, *, now: datetime, after: str = ""
) -> tuple[int, str | None]:
    """Work out the next notice again under a new timing policy for one batch of open pledges.

    The batch is the REPLAN_BATCH open pledges with ids after `after`, locked
    for the caller's transaction (on PostgreSQL a replica planning one of them
    finishes first, and the planner skips them meanwhile). Returns how many
    moved and the id to go on after, or None when this was the last batch.

    The new timing applies from `now` on: a notice it would have placed in the
    past is not sent late. A pledge that still owes notices under the old
    timing (due and not yet planned, or held by a snooze or silence) keeps its
    cursor, and the planner catches up on it under the new timing as after
    downtime. A pledge whose planning failed keeps its retry time.
    """
    still_open = [s.value for s in Status if not s.is_closed]
    moved = 0
    rows = list(
        conn.execute(
            select(Commitment.__table__)
            .where(Commitment.status.in_(still_open), Commitment.id > after)
            .order_by(Commitment.id)
            .limit(REPLAN_BATCH)
            .with_for_update()
        )
    )
    if not rows:
        return moved, None
    changes = []
    for stored in _stored(conn, rows):
        if stored.plan_error is not None:
            continue
        try:
            through, following = _replanned(stored, old, new, now)
        except Exception:
            # The planner meets the same fault and records it on the pledge.
            logger.warning(
                "next notice not recomputed",
                extra={"action": "pledge_replan_failed", "commitment": stored.pledge.id},
                exc_info=True,
            )
            continue
        if (through, following) != (stored.planned_through, stored.next_notice_at):
            changes.append({"b_id": stored.pledge.id, "b_through": through, "b_next": following})
            moved += following != stored.next_notice_at
    if changes:
        table = Commitment.__table__
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                planned_through=bindparam("b_through", type_=table.c.planned_through.type),
                next_notice_at=bindparam("b_next", type_=table.c.next_notice_at.type),
            ),
            changes,
        )
    return moved, rows[-1].id if len(rows) == REPLAN_BATCH else None


def _replanned(
    stored: Stored, old: Policy, new: Policy, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Return a pledge's planned-through cursor and next notice under the `new` policy."""
    pledge = stored.pledge
    through = stored.planned_through
    following = _next_at(pledge, new, through)
    if following is None or following > now:
        return through, following
    held = pledge.held_until is not None and pledge.held_until > now
    before = _next_at(pledge, old, through)
    if not held and (before is None or before > now):
        # The new timing puts a notice in the past, but the old one owed nothing up
        # to now: that notice never fell due, so the new timing starts from now.
        through = _later(through, now)
        following = _next_at(pledge, new, through)
    return through, following


def upcoming(
    conn: Connection, policy: Policy, now: datetime, until: datetime
) -> list[tuple[Pledge, schedule.Notice]]:
    """Return the notices in (now, until] of every pledge, in time order.

    Only pledges whose next notice lies before `until` can have one there: an index range.
    """
    ids = list(conn.scalars(select(Commitment.id).where(Commitment.next_notice_at <= until)))
    found = []
    for stored in (get(conn, i) for i in ids):
        for notice in schedule.upcoming(
            stored.pledge, policy, _later(stored.planned_through, now), until, limit=UPCOMING_LIMIT
        ):
            found.append((stored.pledge, notice))
    found.sort(key=lambda pair: (pair[1].at, pair[0].id))
    return found


def _with_status(pledge: Pledge, status: Status) -> Pledge:
    return replace(pledge, status=status)


def _next_at(pledge: Pledge, policy: Policy, after: datetime | None) -> datetime | None:
    return schedule.wake_at(pledge, policy, after)


def _start_deadline(conn: Connection, stored: Stored, now: datetime) -> Stored:
    """Read a pledge's waiting deadline phrase against `now`, the moment its conditions were met."""
    pledge = _started(stored.pledge, now)
    window = pledge.window
    assert window is not None
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge.id)
        .values(
            deadline_earliest=window.earliest,
            deadline_latest=window.latest,
            deadline_precision=window.precision.value,
            updated_at=now,
        )
    )
    return replace(stored, pledge=pledge)


def _condition_rows(pledge: Pledge) -> list[dict[str, Any]]:
    return [
        {"commitment_id": pledge.id, "requires_id": c.requires, "status": c.status.value}
        for c in pledge.conditions
    ]


def _replace_conditions(conn: Connection, pledge: Pledge) -> None:
    conn.execute(delete(ConditionRow).where(ConditionRow.commitment_id == pledge.id))
    if pledge.conditions:
        conn.execute(insert(ConditionRow), _condition_rows(pledge))


def _history_row(
    pledge_id: str,
    at: Any,  # an aware datetime, or one `_Bulk` encoded
    old: str | None,
    new: str,
    actor: str | None,
    note: str | None,
    evidence: str | None,
) -> dict[str, Any]:
    return {
        "commitment_id": pledge_id,
        "at": at,
        "old_status": old,
        "new_status": new,
        "actor": actor,
        "note": note,
        "evidence": evidence,
    }


def _record(conn: Connection, *fields: Any) -> None:
    """Insert one status history row; `fields` as `_history_row` takes them."""
    conn.execute(insert(StatusChange), [_history_row(*fields)])


def _status_event(
    conn: Connection,
    pledge: Pledge,
    at: datetime,
    *,
    old: Status,
    note: str | None,
    evidence: str | None,
    actor: str,
) -> None:
    body = documents.status_body(
        pledge, at, old_status=old.value, note=note, evidence=evidence, actor=actor
    )
    # Fanned out by the daemon, which knows the webhooks in force.
    outbox.enqueue(
        conn, pledge.id, NoticeType.STATUS_CHANGED, at, body, pledge.tags, now=at, webhooks=None
    )
