"""Deliveries waiting: when each webhook's earliest falls due, the backlog and its count.

Read-only questions of the outbox that the dispatcher, health and metrics ask
about what is pending; none locks a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Select, String, bindparam, func, select
from sqlalchemy.dialects import postgresql

from daemon.store.schema import Delivery

_D = Delivery.__table__.c


def count(conn: Connection) -> int:
    """Return how many deliveries are pending (an index range on state)."""
    return int(conn.scalar(select(func.count()).where(Delivery.state == "pending")) or 0)


def _names(dialect: str) -> Any:
    """The webhook names, one bound list, as a table of one column `name`."""
    if dialect == "postgresql":
        return func.unnest(bindparam("names", type_=postgresql.ARRAY(String))).table_valued("name")
    # SQLite has no arrays: the list goes in as JSON, read back row by row.
    return func.json_each(bindparam("names", type_=JSON)).table_valued("value")


def _earliest_for(dialect: str) -> Select[Any]:
    """One statement for any number of webhooks: each one's earliest pending delivery.

    The names are one bound list, and each row is a probe of the (state,
    webhook, next_attempt_at) index: a hundred idle webhooks cost about what
    one does, on the database and in this process.
    """
    names = _names(dialect)
    name = names.c.name if dialect == "postgresql" else names.c.value
    earliest = (
        select(func.min(_D.next_attempt_at))
        .where(_D.state == "pending", _D.webhook == name)
        .scalar_subquery()
    )
    probes = select(name.label("webhook"), earliest.label("due")).subquery()
    # Only webhooks with anything pending come back: idle ones cost a probe, not a row.
    return select(probes.c.webhook, probes.c.due).where(probes.c.due.is_not(None))


_EARLIEST = {dialect: _earliest_for(dialect) for dialect in ("postgresql", "sqlite")}


def earliest_due(conn: Connection, webhooks: Sequence[str]) -> dict[str, datetime | None]:
    """Return, for each of `webhooks`, when its earliest pending delivery falls due (None: none)."""
    if not webhooks:
        return {}
    rows = conn.execute(_EARLIEST[conn.dialect.name], {"names": list(webhooks)})
    found = {row.webhook: row.due for row in rows}
    return {name: found.get(name) for name in webhooks}


def next_attempt_at(
    conn: Connection, *, webhooks: Sequence[str] | None = None, skip_webhooks: Sequence[str] = ()
) -> datetime | None:
    """Return the earliest instant a pending delivery falls due.

    Of the named `webhooks` when given (one statement for them all), otherwise
    of every webhook but `skip_webhooks`.
    """
    if webhooks is not None:
        return min(filter(None, earliest_due(conn, webhooks).values()), default=None)
    stmt = select(func.min(Delivery.next_attempt_at)).where(Delivery.state == "pending")
    if skip_webhooks:
        stmt = stmt.where(Delivery.webhook.not_in(list(skip_webhooks)))
    return conn.scalar(stmt)


def backlog(conn: Connection, now: datetime, held: Sequence[str] = ()) -> dict[str, Any]:
    """Return the count of pending deliveries and how late the most overdue one is, in seconds.

    A delivery waiting for its next retry is not late; one whose attempt is
    due but not made (a stuck dispatcher, a saturated webhook) is. Deliveries
    held on purpose (for the webhooks in `held`, disabled) count as pending
    but are never late.
    """
    earliest = next_attempt_at(conn, skip_webhooks=held)
    late = max((now - earliest).total_seconds(), 0.0) if earliest else 0.0
    return {"pending": count(conn), "most_overdue_seconds": late}
