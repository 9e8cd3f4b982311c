"""Reading what the calendar feed shows: pledges with a deadline window, a page at a time.

Every function takes an open connection (the caller owns the transaction).
Pages follow the primary key (`id > after`), so each is an index range and a
feed of any size is read in short transactions, never held in memory whole.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Text, cast, func, or_, select

from daemon.model.pledge import Pledge
from daemon.model.statuses import Status
from daemon.store import pledges
from daemon.store.schema import Commitment

PAGE = 1000  # pledges read per query
# Tags that JSON spells as themselves in quotes, whatever wrote them (printable ASCII but
# quote and backslash): those are looked for in the stored text; others only by the caller.
_PLAIN_TAG = re.compile(r"[ !#-\[\]-~]+")


@dataclass(frozen=True)
class Entry:
    """A pledge with when it was stored first and when it last changed."""

    pledge: Pledge
    created_at: datetime
    updated_at: datetime


def page(
    conn: Connection,
    *,
    after: str | None,
    statuses: Collection[Status] = (),
    tags: Collection[str] = (),
    limit: int = PAGE,
) -> list[Entry]:
    """Return up to `limit` pledges with a window, by id after `after`.

    With `statuses`, only pledges in one of them. With `tags`, the page may
    leave out pledges with none of them, but need not: the caller checks the
    tags of each (the stored JSON text is searched for the plain ones).
    """
    table = Commitment.__table__
    stmt = select(table).where(table.c.deadline_earliest.is_not(None), pledges.WATCHED)
    if statuses:
        # `status || ''`: not the status index, whose rows would need sorting by id for every
        # page (SQLite chose it); the pages walk the primary key, filtering as they go.
        unindexed = table.c.status + ""
        stmt = stmt.where(unindexed.in_(sorted(s.value for s in statuses)))
    if tags and all(_PLAIN_TAG.fullmatch(tag) for tag in tags):
        text = cast(table.c.tags, Text)
        stmt = stmt.where(or_(*(text.contains(f'"{t}"', autoescape=True) for t in sorted(tags))))
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    rows = conn.execute(stmt.order_by(table.c.id).limit(limit))
    return [Entry(pledges.to_pledge(r), r.created_at, r.updated_at) for r in rows]


def one(conn: Connection, pledge_id: str) -> Entry:
    """Return one stored pledge, window or not, or raise `pledges.NotFound`."""
    table = Commitment.__table__
    row = conn.execute(select(table).where(table.c.id == pledge_id)).first()
    if row is None:
        raise pledges.NotFound(pledge_id)
    return Entry(pledges.to_pledge(row), row.created_at, row.updated_at)


def version(conn: Connection) -> tuple[int, datetime | None]:
    """Return how many pledges have a window and the last change to any pledge.

    Any change the feed could show moves one of the two (a pledge gaining or
    losing a window changes the count or its `updated_at`): a validator for
    every filter of the feed, in one scan.
    """
    table = Commitment.__table__
    count = func.count(table.c.deadline_earliest)  # counts the non-NULL ones
    found = conn.execute(select(count, func.max(table.c.updated_at))).one()
    return int(found[0] or 0), found[1]
