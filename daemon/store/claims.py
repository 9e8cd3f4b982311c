"""The claiming statements, in one place: no other module locks rows.

On PostgreSQL each claim picks candidates `FOR UPDATE SKIP LOCKED`, so several
replicas share the work without waiting on each other. On SQLite the clause
renders as nothing; the writing transaction (`BEGIN IMMEDIATE`) and the
one-daemon-per-file lock give the same exclusivity.

The statements run for every notice are built once, with bound parameters:
building and hashing a statement costs more than running it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Connection, Integer, Row, bindparam, func, select, update

from daemon.model.statuses import Status
from daemon.store.schema import Commitment, Delivery, Event

_C = Commitment.__table__.c
_D = Delivery.__table__.c
_E = Event.__table__.c

_NEXT_NOTICE = select(func.min(_C.next_notice_at))
_UNFANNED = select(_E.id).where(_E.fanned_out_at.is_(None)).limit(1)
_DUE_PLEDGES = (
    select(Commitment.__table__)
    .where(_C.next_notice_at <= bindparam("now"))
    # The index order alone: the lock stops reading once `limit` rows are taken.
    .order_by(_C.next_notice_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_DUE = (
    select(
        _D.id,
        _D.webhook,
        _D.attempts,
        _D.next_attempt_at,
        bindparam("token").label("token"),
        _E.id.label("event_id"),
        _E.commitment_id,
        _E.type,
        _E.scheduled_for,
        _E.body,
    )
    .join(Event.__table__, _E.id == _D.event_id)
    .where(
        _D.state == "pending",
        _D.next_attempt_at <= bindparam("now"),
        _D.id.not_in(bindparam("skip", expanding=True)),
    )
    .order_by(_D.next_attempt_at)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True, of=Delivery.__table__)
)
# One webhook's due deliveries: a range of the (state, webhook, next_attempt_at) index.
_DUE_FOR_WEBHOOK = _DUE.where(_D.webhook == bindparam("webhook"))
# Those of webhooks not configured here: rare, read only when asked for.
_DUE_FOR_OTHERS = _DUE.where(_D.webhook.not_in(bindparam("known", expanding=True)))
# Who holds each of a turn's deliveries, locked until its outcomes are written.
# Locked in id order: two replicas recording overlapping batches (a lease that ran
# out and was taken over) then wait for each other instead of deadlocking.
_HOLDERS = (
    select(_D.id, _D.claimed_by)
    .where(_D.id.in_(bindparam("ids", expanding=True)))
    .order_by(_D.id)
    .with_for_update()
)
_LEASE = (
    update(Delivery.__table__)
    .where(_D.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_by=bindparam("lease_token"), next_attempt_at=bindparam("lease_until"))
)


def peek(conn: Connection) -> tuple[datetime | None, bool]:
    """Return the earliest next notice and whether an event waits for fan-out; locks nothing."""
    return conn.scalar(_NEXT_NOTICE), conn.scalar(_UNFANNED) is not None


def claim_due_pledges(conn: Connection, now: datetime, limit: int) -> list[Row]:
    """Return up to `limit` commitment rows whose next notice is due, most overdue first, locked.

    Rows another replica holds are skipped, not waited for: it is planning them.
    """
    return list(conn.execute(_DUE_PLEDGES, {"now": now, "limit": limit}))


def lock_open_pledges(conn: Connection, *, after: str, limit: int) -> list[Row]:
    """Return up to `limit` open pledges with ids after `after`, by id, locked until commit.

    For a replan: unlike the planner's claim it waits for a replica planning one of
    them, so that every open pledge is moved, none skipped.
    """
    still_open = [s.value for s in Status if not s.is_closed]
    stmt = (
        select(Commitment.__table__)
        .where(_C.status.in_(still_open), _C.id > after)
        .order_by(_C.id)
        .limit(limit)
        .with_for_update()
    )
    return list(conn.execute(stmt))


def lock_holders(conn: Connection, ids: Collection[str]) -> dict[str, str | None]:
    """Return the claim token holding each of these deliveries, locked until commit.

    Waits for a replica writing one of them (recording its own outcome): what
    it wrote is then read, not overwritten.
    """
    return {row.id: row.claimed_by for row in conn.execute(_HOLDERS, {"ids": list(ids)})}


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
    room: Mapping[str, int],
    limit: int,
    others: Collection[str] | None = None,
    skip_ids: Collection[str] = (),
) -> list[Row]:
    """Lease up to `limit` due deliveries, the most overdue first, at most `room[webhook]` per webhook.

    Each webhook's due deliveries are read on their own index range, so a
    webhook at its cap (left out of `room`) costs nothing however many of its
    deliveries wait. Webhooks are read in the order `room` gives them, each up
    to what is left of `limit`, and no further once `limit` rows are found:
    the rows read grow with the rows leased, not with the webhooks due (the
    dispatcher names first the webhook whose oldest due delivery is oldest).
    With `others`, deliveries of any webhook not named there
    (one since removed from the settings) are taken as well, up to the limit.

    The lease is the delivery's `next_attempt_at`: a worker that dies leaves a
    row that falls due again when the lease runs out, and another takes it
    over. `token` names this claim alone, so an outcome recorded after the
    lease was lost and taken over cannot overwrite the new holder's.
    `skip_ids` (sends still in flight here) are never taken twice by the same process.
    """
    params = {"now": now, "token": token, "skip": list(skip_ids)}
    found: list[Row] = []
    for webhook, left in room.items():
        wanted = min(left, limit - len(found))
        if len(found) >= limit:
            break
        if wanted > 0:
            found += conn.execute(_DUE_FOR_WEBHOOK, {**params, "webhook": webhook, "limit": wanted})
    if others is not None:
        found += conn.execute(_DUE_FOR_OTHERS, {**params, "known": list(others), "limit": limit})
    # Across webhooks the oldest first, as one queue would: none starves the others.
    rows = sorted(found, key=lambda row: (row.next_attempt_at, row.id))[:limit]
    if rows:
        conn.execute(
            _LEASE,
            {"ids": [row.id for row in rows], "lease_token": token, "lease_until": lease_until},
        )
    return rows
