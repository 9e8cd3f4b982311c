"""Reading pledges a page at a time for the status pages: filters, order, counts, conditions.

The overview lists open pledges first (open, in progress, stalled), then
closed ones, each group by the end of its deadline window (soonest first, no
deadline last), then id. Filters: a tag, a party, a status, and a text found
in the id, title or description. Tags and parties are JSON lists; a filter on
one looks for the element as JSON writes it, so it works the same on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, Text, case, cast, func, or_, select

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


def _filtered(stmt: Select[Any], filters: Filters) -> Select[Any]:
    c = Commitment.__table__.c
    if filters.status is not None:
        stmt = stmt.where(c.status == filters.status.value)
    if filters.tag:
        stmt = stmt.where(_holds(c.tags, filters.tag))
    if filters.party:
        stmt = stmt.where(_holds(c.parties, filters.party))
    if filters.text:
        stmt = stmt.where(
            or_(
                c.id.icontains(filters.text, autoescape=True),
                c.title.icontains(filters.text, autoescape=True),
                c.description.icontains(filters.text, autoescape=True),
            )
        )
    return stmt


def _holds(column: Any, value: str) -> Any:
    """Return whether a JSON list `column` holds `value` (the element as JSON writes it)."""
    return cast(column, Text).contains(json.dumps(value), autoescape=True)


def page(conn: Connection, filters: Filters, *, offset: int, limit: int) -> list[pledges.Stored]:
    """Return one page of the overview: up to `limit` pledges after the first `offset`."""
    c = Commitment.__table__.c
    rank = case({s.value: i for i, s in enumerate(ORDER)}, value=c.status, else_=len(ORDER))
    stmt = _filtered(select(Commitment.__table__), filters).order_by(
        rank, c.deadline_latest.is_(None), c.deadline_latest, c.id
    )
    rows = list(conn.execute(stmt.offset(offset).limit(limit)))
    return pledges.from_rows(conn, rows)


def counts(conn: Connection, filters: Filters) -> dict[Status, int]:
    """Return how many pledges match `filters`, by status (statuses with none left out)."""
    c = Commitment.__table__.c
    stmt = _filtered(select(c.status, func.count()).group_by(c.status), filters)
    return {Status(status): int(count) for status, count in conn.execute(stmt)}


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
    """Return the latest status changes of any pledge, newest last, with each pledge's title.

    Only changes from one status to another: an import's first entry is not one.
    """
    h = StatusChange.__table__.c
    stmt = (
        select(h, Commitment.__table__.c.title)
        .join(Commitment, Commitment.id == h.commitment_id)
        .where(h.old_status.is_not(None))
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
