"""The claiming statements, in one place: no other module locks rows.

On PostgreSQL each claim picks candidates `FOR UPDATE SKIP LOCKED`, so several
replicas share the work without waiting on each other. On SQLite the clause
renders as nothing; the writing transaction (`BEGIN IMMEDIATE`) and the
one-daemon-per-file lock give the same exclusivity.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Connection, Row, func, select, update

from daemon.store.schema import Commitment, Delivery, Event


def peek(conn: Connection) -> tuple[datetime | None, bool]:
    """Return the earliest next notice and whether an event waits for fan-out; locks nothing."""
    next_at = conn.scalar(select(func.min(Commitment.next_notice_at)))
    unfanned = conn.scalar(select(Event.id).where(Event.fanned_out_at.is_(None)).limit(1))
    return next_at, unfanned is not None


def claim_due_pledges(conn: Connection, now: datetime, limit: int) -> list[Row]:
    """Return up to `limit` commitment rows whose next notice is due, most overdue first, locked.

    Rows another replica holds are skipped, not waited for: it is planning them.
    """
    stmt = (
        select(Commitment.__table__)
        .where(Commitment.next_notice_at <= now)
        # The index order alone: the lock stops reading once `limit` rows are taken.
        .order_by(Commitment.next_notice_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(conn.execute(stmt))


def claim_unfanned_event(conn: Connection) -> Row | None:
    """Return an event written outside the daemon that has no deliveries yet, locked, or None."""
    stmt = (
        select(Event.id, Event.type, Event.tags)
        .where(Event.fanned_out_at.is_(None))
        .order_by(Event.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(stmt).first()


def claim_deliveries(
    conn: Connection,
    now: datetime,
    *,
    token: str,
    lease_until: datetime,
    capacity: Mapping[str, int],
    default_capacity: int,
    limit: int,
    skip_ids: Collection[str] = (),
) -> list[Row]:
    """Lease up to `limit` due deliveries, at most `capacity[webhook]` per webhook.

    The lease is the delivery's `next_attempt_at`: a worker that dies leaves a
    row that falls due again when the lease runs out, and another takes it
    over. `token` names this claim alone, so an outcome recorded after the
    lease was lost and taken over cannot overwrite the new holder's.
    Webhooks with no room left are not even read; `skip_ids` (sends still in
    flight here) are never taken twice by the same process.
    """
    full = [name for name, room in capacity.items() if room <= 0]
    candidates = (
        select(Delivery.id, Delivery.webhook)
        .where(Delivery.state == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if full:
        candidates = candidates.where(Delivery.webhook.not_in(full))
    if skip_ids:
        candidates = candidates.where(Delivery.id.not_in(list(skip_ids)))
    # Webhooks near their cap take only what fits; the rest stay due for the
    # next claim, which no longer reads a webhook once it is full.
    room = dict(capacity)
    ids = []
    for delivery_id, webhook in conn.execute(candidates):
        if room.setdefault(webhook, default_capacity) > 0:
            room[webhook] -= 1
            ids.append(delivery_id)
    if not ids:
        return []
    conn.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids))
        .values(claimed_by=token, next_attempt_at=lease_until)
    )
    stmt = (
        select(
            Delivery.id,
            Delivery.webhook,
            Delivery.attempts,
            Delivery.claimed_by.label("token"),
            Event.id.label("event_id"),
            Event.commitment_id,
            Event.type,
            Event.scheduled_for,
            Event.body,
        )
        .join(Event, Event.id == Delivery.event_id)
        .where(Delivery.id.in_(ids))
        .order_by(Event.scheduled_for)
    )
    return list(conn.execute(stmt))
