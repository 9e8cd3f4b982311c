"""Writing commitments from seed files: upsert and bulk create (their rows are encoded in `rows`).

Every function takes an open connection (the caller owns the transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from daemon.model import schedule
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.store import connector, lifecycle, pledges, rows
from daemon.store.schema import Commitment, StatusChange
from daemon.store.schema import Condition as ConditionRow

LOOKUP_CHUNK = 5000  # ids looked up per statement (SQLite takes 32,766 parameters)


def upsert(
    conn: Connection,
    pledge: Pledge,
    *,
    status_given: bool,
    now: datetime,
    policy: Policy,
    actor: str,
) -> str:
    """Insert or update one pledge; return "created", "updated" or "unchanged".

    A status recorded since the last import is kept unless the file sets one;
    a status the file changes is a transition, recorded and notified.
    """
    row = conn.execute(select(Commitment.__table__).where(Commitment.id == pledge.id)).first()
    if row is None:
        create(conn, [pledge], now=now, policy=policy, actor=actor)
        return "created"
    current = pledges.to_pledge(row, pledges.conditions_of(conn, [pledge.id])[pledge.id])
    pledge = _as_stored(pledge, current, status_given=status_given)
    if pledge == current:
        return "unchanged"
    status_changed = pledge.status != current.status
    state = lifecycle.with_started_deadline(
        _with_state(conn, pledge, row, status_changed=status_changed), now
    )
    through = row.planned_through
    if status_changed and row.acknowledged_at is not None:
        # The repeats the acknowledgement held back are not owed.
        through = schedule.look_ahead_start(through, now)
    values = rows.columns(state)
    values.update(
        updated_at=now,
        planned_through=through,
        next_notice_at=schedule.wake_at(state, policy, through),
        plan_error=None,
        acknowledged_at=None if status_changed else row.acknowledged_at,
    )
    conn.execute(update(Commitment).where(Commitment.id == pledge.id).values(**values))
    _replace_conditions(conn, pledge)
    if status_changed:
        lifecycle.record_history(
            conn,
            pledge.id,
            now,
            current.status.value,
            pledge.status.value,
            actor,
            "set by import",
            None,
        )
        if not state.archived:  # an archived pledge is notified of nothing
            lifecycle.enqueue_status_event(
                conn,
                pledge,
                now,
                old=current.status,
                note="set by import",
                evidence=None,
                actor=actor,
            )
        lifecycle.propagate_status(conn, pledge.id, pledge.status, now=now, policy=policy)
    connector.signal_change(conn)
    return "updated"


def _as_stored(pledge: Pledge, current: Pledge, *, status_given: bool) -> Pledge:
    """Return `pledge` from a file with what the store keeps of `current`: equal when unchanged."""
    if not status_given and pledge.status is not current.status:
        pledge = replace(pledge, status=current.status)
    if pledge.pending and current.window and current.window.phrase == pledge.pending.phrase:
        # Its conditions were met and the deadline started then: a re-import keeps it.
        pledge = replace(pledge, window=current.window, pending=None)
    if (
        pledge.recurrence
        and current.recurrence
        and replace(pledge.recurrence, since=current.recurrence.since) == current.recurrence
    ):
        # The same check-ins: they keep counting from when they first did (an undated
        # source would otherwise restart them at every import).
        pledge = replace(pledge, recurrence=current.recurrence)
    return pledge


def unchanged(conn: Connection, wanted: Sequence[tuple[Pledge, bool]]) -> set[str]:
    """Return the ids of the stored pledges `upsert` would leave as they are.

    `wanted` holds (pledge, status_given) as `upsert` takes them. Rows are
    read LOOKUP_CHUNK at a time, so re-importing a large file costs a few
    queries, not two per pledge.
    """
    found: set[str] = set()
    table = Commitment.__table__
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = {p.id: (p, given) for p, given in wanted[start : start + LOOKUP_CHUNK]}
        conditions = pledges.conditions_of(conn, list(chunk))
        for row in conn.execute(select(table).where(table.c.id.in_(list(chunk)))):
            pledge, given = chunk[row.id]
            current = pledges.to_pledge(row, conditions[row.id])
            if _as_stored(pledge, current, status_given=given) == current:
                found.add(row.id)
    return found


def existing_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Return which of `ids` are stored, reading them in chunks (imports of any size)."""
    found: set[str] = set()
    if ids and conn.scalar(select(Commitment.id).limit(1)) is None:
        return found  # nothing stored: a first import asks no more
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = list(ids[start : start + LOOKUP_CHUNK])
        found.update(conn.scalars(select(Commitment.id).where(Commitment.id.in_(chunk))))
    return found


def create(
    conn: Connection, new: Sequence[Pledge], *, now: datetime, policy: Policy, actor: str
) -> None:
    """Insert pledges not stored yet: their rows, then their conditions, then their history.

    `new` is in condition order: a pledge may require one stored or earlier in `new`.
    A bulk import is then bounded by the database's insert rate, not by a
    round trip per pledge: the rows go straight to the driver (PostgreSQL:
    COPY; SQLite: `rows.CREATE_BATCH` at a time), encoded by `rows.BulkWriter` as SQLAlchemy's
    column types would encode them.
    """
    if not new:
        return
    silenced = pledges.silences(conn)
    statuses = pledges.statuses_of(conn, sorted({c.requires for p in new for c in p.conditions}))
    statuses.update((p.id, p.status) for p in new)
    bulk = rows.BulkWriter(conn)
    at = bulk.instant(now)

    def commitment_rows() -> Iterator[dict[str, Any]]:
        for pledge in new:
            state = pledge
            blocked = pledges.any_unmet(pledge.conditions, statuses) if pledge.conditions else False
            held = None
            if silenced:
                held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
            # Most pledges hold neither: copying a frozen value costs more than its notice.
            if blocked != pledge.blocked or held != pledge.held_until:
                state = replace(pledge, blocked=blocked, held_until=held)
            state = lifecycle.with_started_deadline(state, now)
            values = rows.columns(state, bulk)
            following = schedule.wake_at(state, policy, None)
            values["id"] = pledge.id
            values["created_at"] = values["updated_at"] = at
            values["planned_through"] = None
            values["next_notice_at"] = None if following is None else bulk.instant(following)
            yield values

    bulk.insert(Commitment.__table__, commitment_rows())
    bulk.insert(ConditionRow.__table__, (c for p in new for c in _condition_rows(p)))
    bulk.insert(
        StatusChange.__table__,
        (
            lifecycle.history_row(p.id, at, None, p.status.value, actor, "imported", None)
            for p in new
        ),
    )
    connector.signal_change(conn)


def _with_state(
    conn: Connection, pledge: Pledge, row: Row | None, *, status_changed: bool = False
) -> Pledge:
    """Return `pledge` with what the store keeps beside the file: blocked, acknowledged, held, archived."""
    statuses = pledges.statuses_of(conn, [c.requires for c in pledge.conditions])
    silenced = pledges.silences(conn)
    if row is not None:
        held = pledges.held_until(row, silenced)
    else:
        held = max((silenced[t] for t in pledge.tags if t in silenced), default=None)
    acknowledged = row is not None and row.acknowledged_at is not None and not status_changed
    return replace(
        pledge,
        blocked=pledges.any_unmet(pledge.conditions, statuses),
        acknowledged=acknowledged,
        held_until=held,
        archived=row is not None and row.archived_at is not None,
    )


def _condition_rows(pledge: Pledge) -> list[dict[str, Any]]:
    """Return the `conditions` rows of a pledge."""
    return [
        {"commitment_id": pledge.id, "requires_id": c.requires, "status": c.status.value}
        for c in pledge.conditions
    ]


def _replace_conditions(conn: Connection, pledge: Pledge) -> None:
    """Store a pledge's conditions in place of those stored."""
    conn.execute(delete(ConditionRow).where(ConditionRow.commitment_id == pledge.id))
    if pledge.conditions:
        conn.execute(insert(ConditionRow), _condition_rows(pledge))
