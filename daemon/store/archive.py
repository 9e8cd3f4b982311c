"""Archiving a pledge: kept with its history and deliveries, owed no notice, left out of listings.

Every function takes an open connection (the caller owns the transaction) and
records the change in the pledge's history, as holds are. Archiving sets
`archived_at` and clears `next_notice_at`, so the planner never claims the
pledge; the model owes an archived pledge nothing (`Pledge.archived`), so no
import, status change, hold or replan plans one for it either. Its status can
still be set: the change is recorded, and the pledges that wait on it hear of
it (they keep waiting while it is archived), but it sends no notice itself.

Bringing one back starts its notices again from now: those that fell due
while it was archived are not owed. Archiving an archived pledge, or bringing
back one that is not, is refused (`refusals.NothingToDo`) before anything is
written.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, update

from daemon.model import documents, schedule
from daemon.model.schedule import Policy
from daemon.store import connector, lifecycle, pledges, refusals
from daemon.store.schema import Commitment


def archive(
    conn: Connection, pledge_id: str, *, now: datetime, actor: str, note: str | None
) -> None:
    """Archive a pledge: no more notices, left out of listings; recorded in its history.

    Raises:
        pledges.NotFound: no pledge has that id.
        refusals.NothingToDo: it is archived already.
    """
    stored = pledges.get(conn, pledge_id)
    if stored.archived_at is not None:
        raise refusals.NothingToDo(
            f"{pledge_id}: already archived (since "
            f"{documents.shown(stored.archived_at, documents.zone_of(stored.pledge))})"
        )
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(archived_at=now, next_notice_at=None, updated_at=now)
    )
    lifecycle.record_action(conn, stored.pledge, now, actor, "archived", note)
    connector.signal_change(conn)


def unarchive(
    conn: Connection,
    pledge_id: str,
    *,
    now: datetime,
    policy: Policy,
    actor: str,
    note: str | None,
) -> None:
    """Bring an archived pledge back: its notices start again from `now`; recorded.

    Raises:
        pledges.NotFound: no pledge has that id.
        refusals.NothingToDo: it is not archived.
    """
    stored = pledges.get(conn, pledge_id)
    if stored.archived_at is None:
        raise refusals.NothingToDo(f"{pledge_id}: not archived, so there is nothing to bring back")
    # What fell due while it was archived is not owed: the look ahead starts now.
    through = schedule.look_ahead_start(stored.planned_through, now)
    pledge = replace(stored.pledge, archived=False)
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(
            archived_at=None,
            planned_through=through,
            next_notice_at=schedule.wake_at(pledge, policy, through),
            updated_at=now,
        )
    )
    lifecycle.record_action(conn, stored.pledge, now, actor, "unarchived", note)
    connector.signal_change(conn)
