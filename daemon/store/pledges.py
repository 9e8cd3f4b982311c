"""Reading and describing commitments: stored pledges, their history, next notices.

Every function takes an open connection (the caller owns the transaction) and
returns model values, never ORM rows. Writing lives beside this module:
`imports` (from seed files), `lifecycle` (status changes), `holds` (acknowledge,
snooze, silence), `archive` (archiving) and `cursors` (the planner's cursors).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, func, select

from daemon.model import documents, schedule
from daemon.model.deadlines import Precision, Window
from daemon.model.durations import format_duration
from daemon.model.pledge import Condition, Extracted, Pending, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import Policy
from daemon.model.statuses import Kind, Status
from daemon.store.schema import Commitment, Silence, StatusChange
from daemon.store.schema import Condition as ConditionRow

UPCOMING_HORIZON = timedelta(days=366)  # how far ahead `show` lists notices
UPCOMING_LIMIT = 1000  # notices per pledge `upcoming` lists at most
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)  # `next_notice_at` is looked for this far
WATCHED = Commitment.archived_at.is_(None)  # not archived: the pledges watched


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
    archived_at: datetime | None = None


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
        timezone=row.timezone,
        extracted=None if row.extracted is None else _extracted(row.extracted),
    )


def _extracted(found: dict[str, Any]) -> Extracted:
    """Return the `extracted` column of a row as the model value."""
    return Extracted(
        sentence=found["sentence"],
        span=(found["span"][0], found["span"][1]),
        parties=tuple(found.get("parties") or ()),
        confidence=found.get("confidence", 0.0),
        cue=found.get("cue", ""),
    )


def conditions_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[Condition]]:
    """Return the stored conditions of each of `ids` by pledge id, each list by required id."""
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


def statuses_of(conn: Connection, ids: Sequence[str]) -> dict[str, Status]:
    """Return the stored status of each of `ids` (an id not stored is left out)."""
    if not ids:
        return {}
    stmt = select(Commitment.id, Commitment.status).where(Commitment.id.in_(list(ids)))
    return {row.id: Status(row.status) for row in conn.execute(stmt)}


def any_unmet(conditions: Sequence[Condition], statuses: dict[str, Status]) -> bool:
    """Return whether a pledge with `conditions` is blocked, given the `statuses` it requires."""
    return any(statuses.get(c.requires) is not c.status for c in conditions)


def silences(conn: Connection) -> dict[str, datetime]:
    """Return every silence: tag -> until (expired ones included; they hold nothing)."""
    return {row.tag: row.until for row in conn.execute(select(Silence.tag, Silence.until))}


def held_until(row: Row, silenced: dict[str, datetime]) -> datetime | None:
    """The latest end of the pledge's snooze and of the silences on its tags."""
    ends = [silenced[tag] for tag in row.tags or () if tag in silenced]
    if row.snoozed_until is not None:
        ends.append(row.snoozed_until)
    return max(ends, default=None)


def _stored(conn: Connection, rows: Sequence[Row]) -> list[Stored]:
    conditions = conditions_of(conn, [r.id for r in rows])
    required = sorted({c.requires for found in conditions.values() for c in found})
    statuses = statuses_of(conn, required)
    silenced = silences(conn)
    return [
        Stored(
            replace(
                to_pledge(r, conditions[r.id]),
                blocked=any_unmet(conditions[r.id], statuses),
                acknowledged=r.acknowledged_at is not None,
                held_until=held_until(r, silenced),
                archived=r.archived_at is not None,
            ),
            r.next_notice_at,
            r.planned_through,
            r.plan_error,
            r.updated_at,
            r.archived_at,
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


def list_all(
    conn: Connection, status: Status | None = None, *, archived: bool | None = False
) -> list[Stored]:
    """Return the stored pledges (those with `status`), by id: those watched, by default.

    `archived` True: only the archived ones; None: both.
    """
    found = chunks(conn, statuses=[status] if status else (), archived=archived)
    return [stored for chunk in found for stored in chunk]


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
    """Return the commitment object with its history, next notices and planner state.

    The next notices are those that will go out, holds and acknowledgement
    considered (`schedule.outgoing`); `next_notice_at` is the first of them,
    looked for past the horizon the list stops at.
    """
    pledge = stored.pledge
    zone = documents.zone_of(pledge)
    after = stored.planned_through
    coming = schedule.outgoing(pledge, policy, after, now, now + UPCOMING_HORIZON, limit=10)
    first = coming[:1] or schedule.outgoing(pledge, policy, after, now, _END_OF_TIME, limit=1)
    return {
        **documents.commitment_document(pledge),
        "archived_at": documents.isoformat(stored.archived_at, zone),
        "next_notice_at": documents.isoformat(first[0].at, zone) if first else None,
        "plan_error": stored.plan_error,
        "extracted": documents.extracted_document(pledge.extracted),
        "history": history(conn, pledge.id),
        "next_notices": [
            {"type": o.planned.notice.type.value, **outgoing_document(o, zone)} for o in coming
        ],
    }


def outgoing_document(found: schedule.Outgoing, zone: ZoneInfo) -> dict[str, Any]:
    """Return when a notice goes out and, when a hold kept it back, its own instant and count."""
    notice = found.planned.notice
    document: dict[str, Any] = {"at": documents.isoformat(found.at, zone)}
    if notice.offset:
        document["offset"] = format_duration(notice.offset)
    if found.at != notice.at:
        document |= {
            "scheduled_for": documents.isoformat(notice.at, zone),
            "late": found.planned.late,
            "missed": found.planned.missed,
        }
    return document


def summary(conn: Connection) -> tuple[int, datetime | None]:
    """Return how many pledges are watched (stored, not archived) and the earliest next notice.

    A count over the smallest index, less the few archived (a range of their
    index), and one index lookup: about 15 ms on SQLite with a million
    pledges, cheap enough for a status line every 30 s.
    """
    count = conn.scalar(select(func.count()).select_from(Commitment))
    earliest = conn.scalar(select(func.min(Commitment.next_notice_at)))
    return max(int(count or 0) - archived_count(conn), 0), earliest


def archived_count(conn: Connection) -> int:
    """Return how many pledges are archived (read on their index)."""
    stmt = select(func.count()).where(Commitment.archived_at.is_not(None))
    return int(conn.scalar(stmt) or 0)


def upcoming(
    conn: Connection, policy: Policy, now: datetime, until: datetime, *, only: str | None = None
) -> list[tuple[Pledge, schedule.Outgoing]]:
    """Return the notices that go out in (now, until] for every pledge (or pledge `only`), in time order.

    Only pledges the planner looks at before `until` can have one there: an
    index range (a held pledge is looked at when its hold ends).
    """
    stmt = select(Commitment.id).where(Commitment.next_notice_at <= until)
    if only is not None:
        stmt = stmt.where(Commitment.id == only)
    ids = list(conn.scalars(stmt))
    found = []
    for stored in (get(conn, i) for i in ids):
        for notice in schedule.outgoing(
            stored.pledge, policy, stored.planned_through, now, until, limit=UPCOMING_LIMIT
        ):
            found.append((stored.pledge, notice))
    found.sort(key=lambda pair: (pair[1].at, pair[0].id))
    return found


def chunks(
    conn: Connection,
    *,
    statuses: Collection[Status] = (),
    kinds: Collection[Kind] = (),
    size: int = 500,
    after: str | None = None,
    archived: bool | None = False,
) -> Iterator[list[Stored]]:
    """Yield the stored pledges (those with one of `statuses` and `kinds`, if given) by id, `size` at a time.

    Keyset pages on the primary key, from the first id past `after` (None: the
    first): each chunk is one index range read, and no more than `size`
    pledges are held at once. `archived` as for `list_all`: by default the
    pledges watched, True only the archived ones, None both.
    """
    stmt = select(Commitment.__table__).order_by(Commitment.id).limit(size)
    if archived is not None:
        stmt = stmt.where(Commitment.archived_at.is_not(None) if archived else WATCHED)
    if statuses:
        stmt = stmt.where(Commitment.status.in_([s.value for s in statuses]))
    if kinds:
        stmt = stmt.where(Commitment.kind.in_([k.value for k in kinds]))
    while True:
        page = stmt if after is None else stmt.where(Commitment.id > after)
        rows = list(conn.execute(page))
        if not rows:
            return
        yield _stored(conn, rows)
        if len(rows) < size:
            return
        after = rows[-1].id
