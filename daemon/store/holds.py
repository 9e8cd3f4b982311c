"""Holds on notices: acknowledging a pledge's overdue repeats, snoozing a pledge, silencing a tag.

Every function takes an open connection (the caller owns the transaction) and
records the hold in the history of each pledge it touches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, delete, insert, update

from daemon.model import schedule
from daemon.model.schedule import Policy
from daemon.store import connector, lifecycle, pledges
from daemon.store.schema import Commitment, Silence


def acknowledge(
    conn: Connection, pledge_id: str, *, now: datetime, policy: Policy, actor: str, note: str | None
) -> None:
    """Stop a pledge's overdue repeats until its next status change; recorded in its history."""
    stored = pledges.get(conn, pledge_id)
    pledge = replace(stored.pledge, acknowledged=True)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(
            acknowledged_at=now,
            updated_at=now,
            next_notice_at=schedule.wake_at(pledge, policy, stored.planned_through),
        )
    )
    status = pledge.status.value
    lifecycle.record_history(
        conn, pledge_id, now, status, status, actor, _history_note("acknowledged", note), None
    )
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
    stored = pledges.get(conn, pledge_id)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(snoozed_until=until, updated_at=now)
    )
    _refresh(conn, [pledges.get(conn, pledge_id)], policy=policy)
    what = f"snoozed until {until.isoformat()}" if until else "snooze ended"
    status = stored.pledge.status.value
    lifecycle.record_history(
        conn, pledge_id, now, status, status, actor, _history_note(what, note), None
    )
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
    tagged = [s for s in pledges.list_all(conn) if tag in s.pledge.tags]
    _refresh(conn, tagged, policy=policy)
    what = (
        f"tag {tag} silenced until {until.isoformat()}" if until else f"silence on tag {tag} lifted"
    )
    for stored in tagged:
        status = stored.pledge.status.value
        lifecycle.record_history(
            conn, stored.pledge.id, now, status, status, actor, _history_note(what, note), None
        )
    connector.signal_change(conn)
    return len(tagged)


def _refresh(conn: Connection, found: Sequence[pledges.Stored], *, policy: Policy) -> None:
    """Work out again when the planner must look at these pledges (read after a hold changed)."""
    for stored in found:
        following = schedule.wake_at(stored.pledge, policy, stored.planned_through)
        conn.execute(
            update(Commitment)
            .where(Commitment.id == stored.pledge.id)
            .values(next_notice_at=following)
        )


def _history_note(what: str, note: str | None) -> str:
    """Return the history note of a hold: what it did, then the operator's note if any."""
    return f"{what}: {note}" if note else what
