"""Holds on notices: acknowledging a pledge's overdue repeats, snoozing a pledge, silencing a tag.

Every function takes an open connection (the caller owns the transaction) and
records the hold in the history of each pledge it touches. A hold that would
change nothing is refused (`refusals.NothingToDo`) before anything is written:

* acknowledging a pledge with no overdue repeats to stop: closed (kept,
  partially kept, broken, withdrawn), without a deadline (ongoing and
  recurring pledges have only check-ins), already acknowledged, or when
  overdue repeats are off (`PLEDGEWATCH_OVERDUE_REPEAT=0`). Open, in
  progress and stalled pledges with a deadline are acknowledged, before it
  passes too; a deadline that waits for its conditions counts as well;
* ending a snooze when none runs, or snoozing until the instant it already ends;
* silencing a tag no pledge has, lifting a silence when none runs, or
  silencing until the instant it already ends.

A different end for a running snooze or silence is an update, and is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from daemon.model import documents, schedule
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.store import connector, lifecycle, pledges, refusals
from daemon.store.schema import Commitment, Silence, StatusChange

_SNOOZED = "snoozed until "  # how a snooze's history note starts


def acknowledge(
    conn: Connection, pledge_id: str, *, now: datetime, policy: Policy, actor: str, note: str | None
) -> None:
    """Stop a pledge's overdue repeats until its next status change; recorded in its history.

    Raises:
        pledges.NotFound: no pledge has that id.
        refusals.NothingToDo: it has no overdue repeats to stop (see the module docstring).
    """
    stored = pledges.get(conn, pledge_id)
    _check_repeats_to_stop(stored.pledge, policy)
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
    lifecycle.record_action(conn, pledge, now, actor, "acknowledged", note)
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
    """Hold every notice of one pledge until `until` (None: end the snooze); recorded.

    Raises:
        pledges.NotFound: no pledge has that id.
        refusals.NothingToDo: no snooze to end, or it already ends at `until`.
    """
    stored = pledges.get(conn, pledge_id)
    current = conn.scalar(select(Commitment.snoozed_until).where(Commitment.id == pledge_id))
    running = current is not None and current > now
    if until is None and not running:
        raise refusals.NothingToDo(f"{pledge_id}: not snoozed, so there is no snooze to end")
    if running and until == current:
        shown = documents.shown(current, documents.zone_of(stored.pledge))
        raise refusals.NothingToDo(f"{pledge_id}: already snoozed until {shown}")
    conn.execute(
        update(Commitment)
        .where(Commitment.id == pledge_id)
        .values(snoozed_until=until, updated_at=now)
    )
    _refresh(conn, [pledges.get(conn, pledge_id)], policy=policy)
    zone = documents.zone_of(stored.pledge)
    what = f"{_SNOOZED}{documents.shown(until, zone)}" if until else "snooze ended"
    lifecycle.record_action(conn, stored.pledge, now, actor, what, note)
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
    """Hold the notices of every pledge tagged `tag` until `until` (None: lift); return how many.

    Raises:
        refusals.NothingToDo: no pledge has the tag, no silence to lift, or it already
            ends at `until`.
    """
    current = conn.scalar(select(Silence.until).where(Silence.tag == tag))
    running = current is not None and current > now
    if until is None and not running:
        raise refusals.NothingToDo(f"tag {tag}: not silenced, so there is no silence to lift")
    if until is not None and not _in_use(conn, tag):
        raise refusals.NothingToDo(f"tag {tag}: no pledge has this tag")
    if running and until == current:
        shown = documents.shown(current, UTC)
        raise refusals.NothingToDo(f"tag {tag}: already silenced until {shown}")
    conn.execute(delete(Silence).where(Silence.tag == tag))
    if until is not None:
        conn.execute(
            insert(Silence).values(tag=tag, until=until, created_at=now, actor=actor, note=note)
        )
    tagged = [s for s in pledges.list_all(conn, archived=None) if tag in s.pledge.tags]
    _refresh(conn, tagged, policy=policy)
    for stored in tagged:
        # Each pledge's history shows the end in that pledge's own zone.
        zone = documents.zone_of(stored.pledge)
        what = (
            f"tag {tag} silenced until {documents.shown(until, zone)}"
            if until
            else f"silence on tag {tag} lifted"
        )
        lifecycle.record_action(conn, stored.pledge, now, actor, what, note)
    connector.signal_change(conn)
    return len(tagged)


def active(conn: Connection, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the snoozes and the silences running at `now`, each by pledge id or tag.

    A snooze: `commitment_id`, `until`, and the `note` and `actor` of the
    history row that set it (a snooze keeps no columns of its own for them).
    A silence: `tag`, `until`, `note`, `actor` and how many `pledges` have the tag.
    """
    snoozed = list(
        conn.execute(
            select(Commitment.id, Commitment.snoozed_until)
            .where(Commitment.snoozed_until > now)
            .order_by(Commitment.id)
        )
    )
    # Who snoozed and why: the newest "snoozed until ..." history row of each, in one read.
    setters: dict[str, Any] = {}
    if snoozed:
        for change in conn.execute(
            select(StatusChange.commitment_id, StatusChange.actor, StatusChange.note)
            .where(
                StatusChange.commitment_id.in_([row.id for row in snoozed]),
                StatusChange.note.startswith(_SNOOZED),
            )
            .order_by(StatusChange.id.desc())
        ):
            setters.setdefault(change.commitment_id, change)
    snoozes = []
    for row in snoozed:
        setting = setters.get(row.id)
        # The note is "snoozed until <instant>", then ": <why>" when one was given.
        _, _, note = setting.note.partition(": ") if setting else ("", "", "")
        snoozes.append(
            {
                "commitment_id": row.id,
                "until": row.snoozed_until,
                "note": note or None,
                "actor": setting.actor if setting else None,
            }
        )
    running = list(conn.execute(select(Silence).where(Silence.until > now).order_by(Silence.tag)))
    counts = dict.fromkeys((row.tag for row in running), 0)
    if counts:
        # Tags live in a JSON list: counted here, not in SQL, the same way on every engine.
        for tags in conn.scalars(select(Commitment.tags)):
            for tag in set(tags or ()) & counts.keys():
                counts[tag] += 1
    silences = [
        {
            "tag": row.tag,
            "until": row.until,
            "note": row.note,
            "actor": row.actor,
            "pledges": counts[row.tag],
        }
        for row in running
    ]
    return snoozes, silences


def _in_use(conn: Connection, tag: str) -> bool:
    """Whether some pledge has `tag`."""
    # Tags live in a JSON list: looked for here, not in SQL, the same way on every engine.
    return any(tag in (tags or ()) for tags in conn.scalars(select(Commitment.tags)))


def _check_repeats_to_stop(pledge: Pledge, policy: Policy) -> None:
    """Raise refusals.NothingToDo unless acknowledging `pledge` would stop overdue repeats."""
    if pledge.status.is_closed:
        raise refusals.NothingToDo(
            f"{pledge.id}: {pledge.status.value} is a closed outcome, which gets no overdue "
            "notices: there are no repeats to stop"
        )
    if pledge.window is None and pledge.pending is None:
        check_ins = " (snooze holds its check-ins)" if pledge.recurrence is not None else ""
        raise refusals.NothingToDo(
            f"{pledge.id}: no deadline, so no overdue notices: there are no repeats to stop"
            + check_ins
        )
    if pledge.acknowledged:
        raise refusals.NothingToDo(
            f"{pledge.id}: already acknowledged; overdue repeats stay stopped until its status "
            "changes"
        )
    if policy.overdue_repeat <= timedelta(0):
        raise refusals.NothingToDo(
            f"{pledge.id}: overdue repeats are off (PLEDGEWATCH_OVERDUE_REPEAT=0): "
            "there are none to stop"
        )


def _refresh(conn: Connection, found: Sequence[pledges.Stored], *, policy: Policy) -> None:
    """Work out again when the planner must look at these pledges (read after a hold changed)."""
    for stored in found:
        following = schedule.wake_at(stored.pledge, policy, stored.planned_through)
        conn.execute(
            update(Commitment)
            .where(Commitment.id == stored.pledge.id)
            .values(next_notice_at=following)
        )
