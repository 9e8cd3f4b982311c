"""Status changes: recording them, telling the pledges that wait on them, their history rows.

Every function takes an open connection (the caller owns the transaction).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, insert, select, update

from daemon.model import documents, schedule
from daemon.model import lifecycle as model_lifecycle
from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Condition, Pledge
from daemon.model.schedule import NoticeType, Policy
from daemon.model.statuses import Status
from daemon.store import connector, outbox, pledges
from daemon.store.schema import Commitment, StatusChange
from daemon.store.schema import Condition as ConditionRow


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
        pledges.NotFound: no pledge has that id.
        model_lifecycle.TransitionError: the change is not allowed (see `model.lifecycle`).
    """
    stored = pledges.get(conn, pledge_id)
    old = stored.pledge.status
    model_lifecycle.check(old, status, note)
    # A status change ends an acknowledgement: overdue repeats resume from now on
    # (those it held back are not owed).
    pledge = replace(stored.pledge, status=status, acknowledged=False)
    through = stored.planned_through
    if stored.pledge.acknowledged:
        through = schedule.look_ahead_start(through, now)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(
            status=status.value,
            updated_at=now,
            acknowledged_at=None,
            planned_through=through,
            next_notice_at=schedule.wake_at(pledge, policy, through),
        )
    )
    record_history(conn, pledge_id, now, old.value, status.value, actor, note, evidence)
    if not pledge.archived:  # an archived pledge is notified of nothing; those waiting on it are
        enqueue_status_event(conn, pledge, now, old=old, note=note, evidence=evidence, actor=actor)
    propagate_status(conn, pledge_id, status, now=now, policy=policy)
    connector.signal_change(conn)
    return old


def propagate_status(
    conn: Connection, pledge_id: str, status: Status, *, now: datetime, policy: Policy
) -> None:
    """Tell the pledges that wait on `pledge_id` what its new status means for them.

    A condition now met: `commitment.condition_met`, and the dependent's clock
    starts (it is no longer blocked). The required pledge closed with another
    outcome: the condition has failed, and the dependent hears so. Either way
    the dependent's next notice is worked out again. A dependent's own status
    changes (and so its dependents') only when someone records one. An archived
    dependent hears nothing, but its clock starts all the same.
    """
    stmt = select(ConditionRow.commitment_id, ConditionRow.status).where(
        ConditionRow.requires_id == pledge_id
    )
    for dependent_id, wanted in list(conn.execute(stmt)):
        dependent = pledges.get(conn, dependent_id)
        condition = Condition(pledge_id, Status(wanted))
        through = dependent.planned_through
        if status is condition.status and not dependent.pledge.blocked:
            # Its clock starts now: what it would have been owed while waiting is not owed.
            through = schedule.look_ahead_start(through, now)
            if dependent.pledge.pending is not None:
                dependent = _start_deadline(conn, dependent, now)
        if (status is condition.status or status.is_closed) and not dependent.pledge.archived:
            body = documents.condition_body(dependent.pledge, now, condition, status.value)
            type_ = body["type"]
            outbox.enqueue(
                conn, dependent_id, type_, now, body, dependent.pledge.tags, now=now, webhooks=None
            )
        following = schedule.wake_at(dependent.pledge, policy, through)
        conn.execute(
            update(Commitment)
            .where(Commitment.id == dependent_id)
            .values(planned_through=through, next_notice_at=following)
        )


def enqueue_status_event(
    conn: Connection,
    pledge: Pledge,
    at: datetime,
    *,
    old: Status,
    note: str | None,
    evidence: str | None,
    actor: str,
) -> None:
    """Write the `commitment.status_changed` notice of a pledge that moved from `old`."""
    body = documents.status_body(
        pledge, at, old_status=old.value, note=note, evidence=evidence, actor=actor
    )
    # Fanned out by the daemon, which knows the webhooks in force.
    outbox.enqueue(
        conn, pledge.id, NoticeType.STATUS_CHANGED, at, body, pledge.tags, now=at, webhooks=None
    )


def history_row(
    pledge_id: str,
    at: Any,  # an aware datetime, or one `rows.BulkWriter` encoded
    old: str | None,
    new: str,
    actor: str | None,
    note: str | None,
    evidence: str | None,
) -> dict[str, Any]:
    """Return the `status_history` row values of one status change (old None: created)."""
    return {
        "commitment_id": pledge_id,
        "at": at,
        "old_status": old,
        "new_status": new,
        "actor": actor,
        "note": note,
        "evidence": evidence,
    }


def record_history(conn: Connection, *fields: Any) -> None:
    """Insert one status history row; `fields` as `history_row` takes them."""
    conn.execute(insert(StatusChange), [history_row(*fields)])


def record_action(
    conn: Connection, pledge: Pledge, now: datetime, actor: str, what: str, note: str | None
) -> None:
    """Record in a pledge's history what was done to it, its status unchanged (a hold, an archiving).

    The note is what was done, then the operator's note if any.
    """
    status = pledge.status.value
    text = f"{what}: {note}" if note else what
    record_history(conn, pledge.id, now, status, status, actor, text, None)


def with_started_deadline(pledge: Pledge, now: datetime) -> Pledge:
    """Return `pledge` with its deadline that waits for its conditions started, when they are met."""
    if pledge.pending is None or pledge.blocked:
        return pledge
    zone = ZoneInfo(pledge.pending.timezone)
    window = read_deadline(pledge.pending.phrase, reference=now, tz=zone)
    return replace(pledge, window=window, pending=None)


def _start_deadline(conn: Connection, stored: pledges.Stored, now: datetime) -> pledges.Stored:
    """Read a pledge's waiting deadline phrase against `now`, the moment its conditions were met."""
    pledge = with_started_deadline(stored.pledge, now)
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
