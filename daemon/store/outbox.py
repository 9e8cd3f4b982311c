"""The transactional outbox: events, their deliveries, and each attempt.

An event is written in the same transaction as the change that caused it, and
its unique key (commitment, type, scheduled instant) makes writing it twice a
no-op. Deliveries are fanned out from it, one per matching webhook.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from daemon.settings import CONSOLE, WebhookSettings
from daemon.store import claims
from daemon.store.schema import Attempt, Delivery, Event

STATES = ("pending", "delivered", "dead")

# Statements run for every notice or attempt, built once (see claims).
_D = Delivery.__table__.c
_NEW_EVENT = {
    dialect.dialect.name: dialect.insert(Event.__table__)
    .on_conflict_do_nothing()
    .returning(Event.__table__.c.id)
    for dialect in (postgresql, sqlite)
}
_NEW_DELIVERY = insert(Delivery.__table__)
_NEW_ATTEMPT = insert(Attempt.__table__)
# Guarded by the claim's token; a retry time or delivery time replaces the old only when given.
_RECORD = (
    update(Delivery.__table__)
    .where(_D.id == bindparam("delivery_id"), _D.claimed_by == bindparam("token"))
    .values(
        state=bindparam("new_state"),
        attempts=_D.attempts + 1,
        claimed_by=None,
        last_status=bindparam("status"),
        last_error=bindparam("error"),
        next_attempt_at=func.coalesce(
            bindparam("retry_at", type_=_D.next_attempt_at.type), _D.next_attempt_at
        ),
        delivered_at=func.coalesce(
            bindparam("when_delivered", type_=_D.delivered_at.type), _D.delivered_at
        ),
    )
)


def new_id(prefix: str) -> str:
    """Return a fresh random id such as `msg_3f2a...` (32 hex digits)."""
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class NewEvent:
    """An event to write: what happened (or falls due) to which pledge, and when."""

    commitment_id: str
    type: str
    scheduled_for: datetime
    body: dict[str, Any]
    tags: Sequence[str]


def enqueue(
    conn: Connection,
    commitment_id: str,
    type_: str,
    scheduled_for: datetime,
    body: dict[str, Any],
    tags: Sequence[str],
    *,
    now: datetime,
    webhooks: Mapping[str, WebhookSettings] | None,
) -> str | None:
    """Write one event unless its key exists (see `enqueue_all`); return its id or None."""
    event = NewEvent(commitment_id, str(type_), scheduled_for, body, tags)
    return enqueue_all(conn, [event], now=now, webhooks=webhooks)[0]


def enqueue_all(
    conn: Connection,
    events: Sequence[NewEvent],
    *,
    now: datetime,
    webhooks: Mapping[str, WebhookSettings] | None,
) -> list[str | None]:
    """Write each event unless its key exists; fan them out when `webhooks` is given.

    One statement for the events and one for their deliveries, however many.
    Returns, for each event, its new id, or None when it was already written.
    `webhooks=None` leaves the fan-out to the daemon (`fan_out`).
    """
    if not events:
        return []
    values = [
        {
            "id": new_id("evt"),
            "commitment_id": event.commitment_id,
            "type": str(event.type),
            "scheduled_for": event.scheduled_for,
            "created_at": now,
            "body": event.body,
            "tags": list(event.tags),
            # Fanned out in this same transaction when the webhooks are known.
            "fanned_out_at": now if webhooks is not None else None,
        }
        for event in events
    ]
    written = set(conn.execute(_NEW_EVENT[conn.dialect.name], values).scalars())
    ids = [row["id"] if row["id"] in written else None for row in values]
    if webhooks is not None:
        deliveries = [
            delivery
            for event, event_id in zip(events, ids, strict=True)
            if event_id is not None
            for delivery in _deliveries(event_id, str(event.type), event.tags, now, webhooks)
        ]
        if deliveries:
            conn.execute(_NEW_DELIVERY, deliveries)
    return ids


def fan_out(
    conn: Connection,
    event_id: str,
    type_: str,
    tags: Sequence[str],
    *,
    now: datetime,
    webhooks: Mapping[str, WebhookSettings],
) -> int:
    """Write one pending delivery per webhook that wants this event and mark it fanned out.

    Returns how many deliveries were written.
    """
    deliveries = _deliveries(event_id, type_, tags, now, webhooks)
    if deliveries:
        conn.execute(_NEW_DELIVERY, deliveries)
    conn.execute(update(Event).where(Event.id == event_id).values(fanned_out_at=now))
    return len(deliveries)


def _deliveries(
    event_id: str,
    type_: str,
    tags: Sequence[str],
    now: datetime,
    webhooks: Mapping[str, WebhookSettings],
) -> list[dict[str, Any]]:
    """Return one pending delivery row per webhook that wants this event.

    With no webhook configured at all, the console sink takes every event.
    """
    names = (
        [name for name, hook in webhooks.items() if hook.wants(type_, tags)]
        if webhooks
        else [CONSOLE]
    )
    return [
        {
            "id": new_id("msg"),
            "event_id": event_id,
            "webhook": name,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "claimed_by": None,
            "created_at": now,
        }
        for name in sorted(names)
    ]


@dataclass(frozen=True)
class Result:
    """What one attempt came to, ready to record."""

    state: str  # pending (retry at next_attempt_at), delivered or dead
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: float


@dataclass(frozen=True)
class Attempted:
    """One attempt to record: which delivery, under which claim, when, and how it went."""

    delivery_id: str
    token: str
    at: datetime
    result: Result


def record(
    conn: Connection, delivery_id: str, *, token: str, now: datetime, result: Result
) -> bool:
    """Record one attempt (see `record_all`); False when the lease was lost."""
    return record_all(conn, [Attempted(delivery_id, token, now, result)])[0]


def record_all(conn: Connection, attempts: Sequence[Attempted]) -> list[bool]:
    """Record attempts and their deliveries' new states; for each, False when its lease was lost.

    A delivery is recorded only while its claim's token still holds it: one
    whose lease expired and was taken over records nothing, and the new
    holder's outcome stands. Three statements however many attempts: which
    tokens still hold (their rows locked on PostgreSQL), then the updates and
    the attempts, each one batch.
    """
    if not attempts:
        return []
    ids = [attempt.delivery_id for attempt in attempts]
    holders = claims.lock_holders(conn, ids)
    held = [holders.get(attempt.delivery_id) == attempt.token for attempt in attempts]
    kept = [attempt for attempt, holds in zip(attempts, held, strict=True) if holds]
    if kept:
        conn.execute(
            _RECORD,
            [
                {
                    "delivery_id": attempt.delivery_id,
                    "token": attempt.token,
                    "new_state": attempt.result.state,
                    "status": attempt.result.status_code,
                    "error": attempt.result.error,
                    "retry_at": attempt.result.next_attempt_at,
                    "when_delivered": attempt.at if attempt.result.state == "delivered" else None,
                }
                for attempt in kept
            ],
        )
        conn.execute(
            _NEW_ATTEMPT,
            [
                {
                    "delivery_id": attempt.delivery_id,
                    "attempted_at": attempt.at,
                    "status_code": attempt.result.status_code,
                    "error": attempt.result.error,
                    "duration_ms": attempt.result.duration_ms,
                }
                for attempt in kept
            ],
        )
    return held


def replay(conn: Connection, delivery_id: str, *, now: datetime) -> bool:
    """Make a delivered or dead delivery pending again, due now, with the same id.

    Its attempt history stays; the retry schedule starts over. Returns False
    when no such delivery exists or it is still pending.
    """
    stmt = (
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state != "pending")
        .values(state="pending", attempts=0, next_attempt_at=now, claimed_by=None)
    )
    return bool(conn.execute(stmt).rowcount)


def replay_dead(conn: Connection, *, now: datetime) -> int:
    """Make every dead delivery pending again, due now; return how many."""
    stmt = (
        update(Delivery)
        .where(Delivery.state == "dead")
        .values(state="pending", attempts=0, next_attempt_at=now, claimed_by=None)
    )
    return int(conn.execute(stmt).rowcount or 0)


def state_of(conn: Connection, delivery_id: str) -> str | None:
    """Return a delivery's state, or None when there is no such delivery."""
    return conn.scalar(select(Delivery.state).where(Delivery.id == delivery_id))


def release(conn: Connection, now: datetime, *, worker: str | None = None) -> int:
    """Hand back leased deliveries, due at once; return how many.

    With `worker`, only what that worker holds (its claim tokens are
    `<worker>/<claim>`): a stopping daemon calls this once its sends have
    finished or run out of time, so another replica (or the next start) takes
    the rest at once instead of waiting for the leases to expire. Without it,
    every lease: only safe when no other process can be sending, as for a
    SQLite daemon holding the file's lock at start-up, freeing what a killed
    predecessor held.
    """
    held = Delivery.claimed_by.is_not(None)
    if worker is not None:
        # autoescape: a host name's `_` must not act as a LIKE wildcard.
        held = Delivery.claimed_by.startswith(f"{worker}/", autoescape=True)
    stmt = (
        update(Delivery)
        .where(Delivery.state == "pending", held)
        .values(claimed_by=None, next_attempt_at=now)
    )
    return int(conn.execute(stmt).rowcount or 0)


def listing(conn: Connection, state: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Return deliveries, newest first, as the CLI and API print them."""
    stmt = _LISTED.order_by(Delivery.created_at.desc(), Delivery.id).limit(limit)
    if state is not None:
        stmt = stmt.where(Delivery.state == state)
    return [_listed(row) for row in conn.execute(stmt)]


def delivery(conn: Connection, delivery_id: str) -> dict[str, Any] | None:
    """Return one delivery as `listing` shows it, or None when no delivery has that id."""
    row = conn.execute(_LISTED.where(Delivery.id == delivery_id)).first()
    return None if row is None else _listed(row)


_LISTED = select(
    Delivery.id,
    Event.commitment_id,
    Delivery.event_id,
    Event.type,
    Delivery.webhook,
    Delivery.state,
    Delivery.attempts,
    Delivery.next_attempt_at,
    Delivery.last_status,
    Delivery.last_error,
).join(Event, Event.id == Delivery.event_id)


def _listed(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "commitment_id": row.commitment_id,
        "event_id": row.event_id,
        "type": row.type,
        "webhook": row.webhook,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.isoformat() if row.state == "pending" else None,
        "last_status": row.last_status,
        "last_error": row.last_error,
    }


def attempts_of(conn: Connection, delivery_id: str) -> list[dict[str, Any]]:
    """Return every recorded attempt of one delivery, oldest first."""
    stmt = select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.id)
    return [
        {
            "at": r.attempted_at.isoformat(),
            "status": r.status_code,
            "error": r.error,
            "duration_ms": r.duration_ms,
        }
        for r in conn.execute(stmt)
    ]


def deliveries_of(conn: Connection, pledge_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """Return one pledge's latest deliveries, newest first, each with its attempts, oldest first.

    The events are found through their unique key, which starts with the pledge id.
    """
    stmt = (
        select(
            Delivery.id,
            Event.type,
            Event.scheduled_for,
            Delivery.webhook,
            Delivery.state,
            Delivery.next_attempt_at,
            Delivery.created_at,
        )
        .join(Event, Event.id == Delivery.event_id)
        .where(Event.commitment_id == pledge_id)
        .order_by(Delivery.created_at.desc(), Delivery.id)
        .limit(limit)
    )
    found = [row._asdict() for row in conn.execute(stmt)]
    tried: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in found}
    if tried:
        attempts = (
            select(Attempt)
            .where(Attempt.delivery_id.in_(list(tried)))
            .order_by(Attempt.delivery_id, Attempt.id)
        )
        for r in conn.execute(attempts):
            tried[r.delivery_id].append(
                {"at": r.attempted_at, "status": r.status_code, "error": r.error}
            )
    return [{**row, "attempts": tried[row["id"]]} for row in found]
