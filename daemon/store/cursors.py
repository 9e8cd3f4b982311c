"""The planner's cursors: moving them after planning, deferring a failed pledge, replanning.

Each pledge keeps how far its notices are planned (`planned_through`) and when
the planner must look at it next (`next_notice_at`); these functions write them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, update

from daemon.model import schedule
from daemon.model.schedule import Policy
from daemon.store import claims, pledges
from daemon.store.schema import Commitment

logger = logging.getLogger(pledges.__name__)  # the logger name operators filter on

REPLAN_BATCH = 500  # pledges read and updated at a time by `replan`


# Run for every planned pledge: built once, with bound parameters.
_ADVANCE = (
    update(Commitment.__table__)
    .where(Commitment.__table__.c.id == bindparam("pledge_id"))
    .values(
        planned_through=bindparam("through"),
        next_notice_at=bindparam("next_at"),
        plan_error=None,
    )
)


def advance(
    conn: Connection, cursors: Sequence[tuple[str, datetime | None, datetime | None]]
) -> None:
    """Move the planner's cursor of each (pledge id, planned through, next notice at), at once."""
    if cursors:
        conn.execute(
            _ADVANCE,
            [
                {"pledge_id": pledge_id, "through": through, "next_at": next_at}
                for pledge_id, through, next_at in cursors
            ],
        )


def defer(conn: Connection, pledge_id: str, *, until: datetime, error: str) -> None:
    """Push a pledge that failed to plan forward, keeping the error for the operator."""
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(next_notice_at=until, plan_error=error)
    )


def replan(
    conn: Connection, old: Policy, new: Policy, *, now: datetime, after: str = ""
) -> tuple[int, str | None]:
    """Work out the next notice again under a new timing policy for one batch of open pledges.

    The batch is the REPLAN_BATCH open pledges with ids after `after`, locked
    for the caller's transaction (on PostgreSQL a replica planning one of them
    finishes first, and the planner skips them meanwhile). Returns how many
    moved and the id to go on after, or None when this was the last batch.

    The new timing applies from `now` on: a notice it would have placed in the
    past is not sent late. A pledge that still owes notices under the old
    timing (due and not yet planned, or held by a snooze or silence) keeps its
    cursor, and the planner catches up on it under the new timing as after
    downtime. A pledge whose planning failed keeps its retry time.
    """
    moved = 0
    rows = claims.lock_open_pledges(conn, after=after, limit=REPLAN_BATCH)
    if not rows:
        return moved, None
    changes = []
    for stored in pledges.from_rows(conn, rows):
        if stored.plan_error is not None:
            continue
        try:
            through, following = _replanned(stored, old, new, now)
        except Exception:
            # The planner meets the same fault and records it on the pledge.
            logger.warning(
                "next notice not recomputed",
                extra={"action": "pledge_replan_failed", "commitment": stored.pledge.id},
                exc_info=True,
            )
            continue
        if (through, following) != (stored.planned_through, stored.next_notice_at):
            changes.append({"b_id": stored.pledge.id, "b_through": through, "b_next": following})
            moved += following != stored.next_notice_at
    if changes:
        table = Commitment.__table__
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                planned_through=bindparam("b_through", type_=table.c.planned_through.type),
                next_notice_at=bindparam("b_next", type_=table.c.next_notice_at.type),
            ),
            changes,
        )
    return moved, rows[-1].id if len(rows) == REPLAN_BATCH else None


def _replanned(
    stored: pledges.Stored, old: Policy, new: Policy, now: datetime
) -> tuple[datetime | None, datetime | None]:
    """Return a pledge's planned-through cursor and next notice under the `new` policy."""
    pledge = stored.pledge
    through = stored.planned_through
    following = schedule.wake_at(pledge, new, through)
    if following is None or following > now:
        return through, following
    held = pledge.held_until is not None and pledge.held_until > now
    before = schedule.wake_at(pledge, old, through)
    if not held and (before is None or before > now):
        # The new timing puts a notice in the past, but the old one owed nothing up
        # to now: that notice never fell due, so the new timing starts from now.
        through = schedule.look_ahead_start(through, now)
        following = schedule.wake_at(pledge, new, through)
    return through, following
