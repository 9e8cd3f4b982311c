"""Reading pledges a page at a time for the status pages: filters, order, counts, conditions.

The overview lists open pledges first (open, in progress, stalled), then
closed ones, each group by the end of its deadline window (soonest first, no
deadline last), then id: the order of the (status, deadline_latest, id) index. Filters: a tag, a party, a status, and a text found
in the id, title or description. Tags and parties are JSON lists; a filter on
one looks for the element as JSON writes it, so it works the same on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Text, cast, func, or_, select

from daemon.model.statuses import Status
from daemon.store import pledges
from daemon.store.schema import Commitment, StatusChange
from daemon.store.schema import Condition as ConditionRow

# The order of the groups on the overview: what still needs doing first.
ORDER = (
    Status.OPEN,
    Status.IN_PROGRESS,
    Status.STALLED,
    Status.KEPT,
    Status.PARTIALLY_KEPT,
    Status.BROKEN,
    Status.WITHDRAWN,
)
TREE_DEPTH = 8  # levels of conditions shown each way
TREE_NODES = 200  # pledges shown in one condition tree at most


@dataclass(frozen=True)
class Filters:
    """What the overview is narrowed to; None is no filter."""

    tag: str | None = None
    party: str | None = None
    status: Status | None = None
    text: str | None = None


@dataclass(frozen=True)
class Node:
    """One pledge in a condition tree: `needed` is the status the condition waits for."""

    id: str
    title: str | None  # None: no pledge has this id
    status: Status | None
    needed: Status
    children: tuple[Node, ...]
    repeated: bool = False  # already shown in this tree (a cycle, a diamond): not expanded again


def _filtered(
    stmt: Select[Any], filters: Filters, dialect: str, *, watched: bool = True
) -> Select[Any]:
    c = Commitment.__table__.c
    if watched:
        stmt = stmt.where(pledges.WATCHED)  # archived pledges are no longer shown
    if filters.status is not None:
        stmt = stmt.where(c.status == filters.status.value)
    if filters.tag:
        stmt = stmt.where(_holds(c.tags, filters.tag))
    if filters.party:
        stmt = stmt.where(_holds(c.parties, filters.party))
    if filters.text:
        text = filters.text
        # SQLite's LIKE already ignores ASCII case, as its lower() does: half the time
        # of lower(...) LIKE on every row. PostgreSQL's LIKE minds case.
        if dialect == "sqlite":
            found = [col.contains(text, autoescape=True) for col in (c.id, c.title, c.description)]
        else:
            found = [col.icontains(text, autoescape=True) for col in (c.id, c.title, c.description)]
        stmt = stmt.where(or_(*found))
    return stmt


def _holds(column: Any, value: str) -> Any:
    """Return whether a JSON list `column` holds `value` (the element as JSON writes it)."""
    return cast(column, Text).contains(json.dumps(value), autoescape=True)


Tally = dict[tuple[Status, bool], int]  # (status, has a deadline) -> how many


def counts(conn: Connection, filters: Filters) -> Tally:
    """Return how many pledges match `filters`, by status and whether they have a deadline.

    Without a tag, party or text filter, a scan of the (status, deadline) index alone.
    """
    c = Commitment.__table__.c
    dated = c.deadline_latest.is_not(None)
    if filters.tag or filters.party or filters.text:
        # Grouped by an expression no index holds, so the planner reads the table in
        # one pass instead of walking an index and fetching each row from it.
        status = c.status.concat("")
        stmt = _filtered(
            select(status, dated, func.count()).group_by(status, dated), filters, conn.dialect.name
        )
        return {(Status(s), bool(d)): int(n) for s, d, n in conn.execute(stmt)}
    # Per status from the status index, then those without a deadline: one index range each.
    # The archived ones, few and found on their own index, are taken off after.
    totals = _filtered(
        select(c.status, func.count()).group_by(c.status),
        filters,
        conn.dialect.name,
        watched=False,
    )
    tally: Tally = {}
    for name, count in list(conn.execute(totals)):
        undated = select(func.count()).where(c.status == name, c.deadline_latest.is_(None))
        without = int(conn.scalar(undated) or 0)
        tally[Status(name), True] = int(count) - without
        tally[Status(name), False] = without
    archived = _filtered(
        select(c.status, dated, func.count())
        .where(c.archived_at.is_not(None))
        .group_by(c.status, dated),
        filters,
        conn.dialect.name,
        watched=False,
    )
    for name, has_deadline, count in conn.execute(archived):
        tally[Status(name), bool(has_deadline)] -= int(count)
    return tally


def by_status(tally: Tally) -> dict[Status, int]:
    """Return the counts of `tally` by status alone."""
    found: dict[Status, int] = {}
    for (status, _), count in tally.items():
        found[status] = found.get(status, 0) + count
    return found


def page(
    conn: Connection, filters: Filters, tally: Tally, *, offset: int, limit: int
) -> list[pledges.Stored]:
    """Return one page of the overview: up to `limit` pledges after the first `offset`.

    The order is walked as segments (each status, with a deadline then
    without), each an index range; `tally` (from `counts`) says which segment
    the page starts in, so those before it are skipped unread. A tag, party or
    text filter is checked on each row along the range.
    """
    c = Commitment.__table__.c
    rows: list[Any] = []
    for status in ORDER:
        for dated in (True, False):
            size = tally.get((status, dated), 0)
            if offset >= size:
                offset -= size
                continue
            stmt = _filtered(select(Commitment.__table__), filters, conn.dialect.name)
            stmt = stmt.where(c.status == status.value)
            if dated:
                stmt = stmt.where(c.deadline_latest.is_not(None))
                stmt = stmt.order_by(c.deadline_latest, c.id)
            else:
                stmt = stmt.where(c.deadline_latest.is_(None)).order_by(c.id)
            rows += conn.execute(stmt.offset(offset).limit(limit - len(rows)))
            offset = 0
            if len(rows) >= limit:
                return pledges.from_rows(conn, rows)
    return pledges.from_rows(conn, rows)


def tags_and_parties(conn: Connection, limit: int = 500) -> tuple[list[str], list[str]]:
    """Return the tags and parties of the first `limit` pledges by id, sorted, for the filter form."""
    c = Commitment.__table__.c
    rows = conn.execute(select(c.tags, c.parties).order_by(c.id).limit(limit))
    tags: set[str] = set()
    parties: set[str] = set()
    for row in rows:
        tags.update(row.tags or ())
        parties.update(row.parties or ())
    return sorted(tags), sorted(parties)


def recent_changes(conn: Connection, limit: int = 8) -> list[dict[str, Any]]:
    """Return the latest entries of every pledge's history, newest last, with each pledge's title.

    A pledge's first entry (no old status) is its creation. Read backwards
    along the history's primary key: a few rows, however long the history.
    """
    h = StatusChange.__table__.c
    stmt = (
        select(h, Commitment.__table__.c.title)
        .join(Commitment, Commitment.id == h.commitment_id)
        .order_by(h.id.desc())
        .limit(limit)
    )
    return [
        {
            "commitment_id": row.commitment_id,
            "title": row.title,
            "at": row.at,
            "old_status": row.old_status,
            "new_status": row.new_status,
            "actor": row.actor,
            "note": row.note,
            "evidence": row.evidence,
        }
        for row in reversed(list(conn.execute(stmt)))
    ]


def condition_tree(conn: Connection, pledge_id: str) -> tuple[list[Node], list[Node]]:
    """Return what `pledge_id` waits on and what waits on it, each as a tree.

    Walked one level at a time (an index lookup per level), at most
    TREE_DEPTH levels and TREE_NODES pledges each way.
    """
    return _tree(conn, pledge_id, upward=False), _tree(conn, pledge_id, upward=True)


def _tree(conn: Connection, root: str, *, upward: bool) -> list[Node]:
    cr = ConditionRow.__table__.c
    near, far = (cr.requires_id, cr.commitment_id) if upward else (cr.commitment_id, cr.requires_id)
    links: dict[str, list[tuple[str, Status]]] = {}
    level, seen = [root], {root}
    for _ in range(TREE_DEPTH):
        if not level or len(seen) > TREE_NODES:
            break
        stmt = select(near, far, cr.status).where(near.in_(level)).order_by(near, far)
        found = list(conn.execute(stmt))
        for here, there, status in found:
            links.setdefault(here, []).append((there, Status(status)))
        level = sorted({there for _, there, _ in found} - seen)
        seen.update(level)
    facts = _titles(conn, sorted(seen))
    shown = {root}  # each pledge is expanded once, so a cycle or a diamond stays small

    def build(pledge_id: str, needed: Status) -> Node:
        title, status = facts.get(pledge_id, (None, None))
        if pledge_id in shown or pledge_id not in seen:
            return Node(pledge_id, title, status, needed, (), repeated=pledge_id in shown)
        shown.add(pledge_id)
        children = tuple(build(there, why) for there, why in links.get(pledge_id, ()))
        return Node(pledge_id, title, status, needed, children)

    return [build(there, why) for there, why in links.get(root, ())]


def _titles(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, Status]]:
    c = Commitment.__table__.c
    stmt = select(c.id, c.title, c.status).where(c.id.in_(list(ids)))
    return {row.id: (row.title, Status(row.status)) for row in conn.execute(stmt)}
