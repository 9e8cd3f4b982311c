"""Which notice a pledge is owed, and when: a pure function of (pledge, policy, instants).

For a pledge with a deadline window [earliest, latest) the timeline is:

* `commitment.reminder` at each offset before `earliest`;
* `commitment.due` at `earliest`;
* `commitment.overdue` at `latest` (for an exact instant, one repeat after it,
  or one day after it when repeats are off), then every `overdue_repeat`.

A closed pledge (kept, partially kept, broken, withdrawn) has no timeline, nor
has an archived one. Two
notices never share an instant: when they would, the later stage wins (a
reminder that lands on the opening is dropped in favour of `commitment.due`).
The repeats are computed arithmetically, so the cost of a question does not
grow with how long a pledge has been overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from daemon.model import recurrence
from daemon.model.pledge import Pledge


class NoticeType(StrEnum):
    """The event types a webhook can receive."""

    REMINDER = "commitment.reminder"
    DUE = "commitment.due"
    OVERDUE = "commitment.overdue"
    STATUS_CHANGED = "commitment.status_changed"
    CONDITION_MET = "commitment.condition_met"
    CHECK_IN = "commitment.check_in"
    # Sent only by `pledgewatch webhooks test`, at once: never planned, never in the outbox.
    TEST = "commitment.test"


# An exact-instant deadline with repeats off still gets one overdue notice, this late.
ONCE_OVERDUE_AFTER = timedelta(days=1)
_NO_TIME = timedelta(0)


@dataclass(frozen=True)
class Policy:
    """The operator's timing settings, as the model needs them."""

    reminder_offsets: tuple[timedelta, ...] = (
        timedelta(days=30),
        timedelta(days=7),
        timedelta(days=1),
    )
    overdue_repeat: timedelta = timedelta(days=7)
    catch_up: str = "latest"  # after downtime: latest, all or none (see `plan`)
    check_in: str = "30d"  # how often an ongoing pledge with no `every` of its own is checked in on
    grace: timedelta = timedelta(minutes=5)  # a notice later than this is late


@dataclass(frozen=True)
class Notice:
    """One notice a pledge is owed at instant `at`.

    `offset` is set on reminders (how long before the opening); `repeat` counts
    overdue notices after the first (0 for the first).
    """

    type: NoticeType
    at: datetime
    offset: timedelta | None = None
    repeat: int = 0


@dataclass(frozen=True)
class Due:
    """What a pledge is owed at `now`: the latest notice and how many it stands for."""

    notice: Notice
    count: int

    @property
    def missed(self) -> int:
        """How many earlier notices this one replaces (0 when on time)."""
        return self.count - 1


def _fixed(pledge: Pledge, policy: Policy) -> list[Notice]:
    """Return the notices before the repeats, one per instant, in time order."""
    window = pledge.window
    if window is None or not _clock_runs(pledge):
        return []
    offsets = offsets_of(pledge, policy)
    earliest = window.earliest
    # One notice per instant, the later stage winning. Reminders (distinct offsets, one
    # instant each) fall before the opening; the overdue notice drops any other at its
    # instant. Every import computes this for each pledge: kept lean, comparing instants
    # rather than hashing them.
    notices = [
        Notice(NoticeType.REMINDER, at, offset)
        for offset in sorted(set(offsets), reverse=True)
        if offset > _NO_TIME and (at := _shift(earliest, -offset)) is not None
    ]
    notices.append(Notice(NoticeType.DUE, earliest))
    first_overdue = _first_overdue(pledge, policy)
    if first_overdue is not None:
        notices = [n for n in notices if n.at != first_overdue]
        notices.append(Notice(NoticeType.OVERDUE, first_overdue))
    return sorted(notices, key=_by_instant)


def offsets_of(pledge: Pledge, policy: Policy) -> tuple[timedelta, ...]:
    """Return how long before its window opens a pledge is reminded: its own offsets, else the operator's."""
    return pledge.reminders if pledge.reminders is not None else policy.reminder_offsets


def _by_instant(notice: Notice) -> datetime:
    return notice.at


def _shift(instant: datetime, by: timedelta) -> datetime | None:
    """Return `instant + by`, or None when that falls off the calendar (before year 1, after 9999)."""
    try:
        return instant + by
    except OverflowError:
        return None


def _first_overdue(pledge: Pledge, policy: Policy) -> datetime | None:
    window = pledge.window
    assert window is not None
    if not window.is_instant:
        return window.latest
    return _shift(window.latest, policy.overdue_repeat or ONCE_OVERDUE_AFTER)


def _repeat(first: datetime, k: int, policy: Policy) -> Notice | None:
    try:
        at = first + k * policy.overdue_repeat
    except OverflowError:
        return None  # the repeats have run off the end of the calendar
    return Notice(NoticeType.OVERDUE, at, repeat=k)


def _clock_runs(pledge: Pledge) -> bool:
    """True unless the pledge is closed, waits for its conditions, or is archived."""
    return not (pledge.status.is_closed or pledge.blocked or pledge.archived)


def _check_ins_run(pledge: Pledge) -> bool:
    return pledge.recurrence is not None and _clock_runs(pledge)


def _next_check_in(pledge: Pledge, policy: Policy, after: datetime | None) -> Notice | None:
    if not _check_ins_run(pledge):
        return None
    assert pledge.recurrence is not None
    at = recurrence.next_after(pledge.recurrence, policy.check_in, after)
    return Notice(NoticeType.CHECK_IN, at) if at is not None else None


def next_notice(pledge: Pledge, policy: Policy, after: datetime | None) -> Notice | None:
    """Return the first notice strictly after `after` (None: from the beginning), or None.

    Deadline notices and check-ins are two streams merged in time order; when
    both fall on one instant the deadline notice is the one sent.
    """
    deadline = _next_deadline_notice(pledge, policy, after)
    check_in = _next_check_in(pledge, policy, after)
    if deadline is None or (check_in is not None and check_in.at < deadline.at):
        return check_in
    return deadline


def _next_deadline_notice(pledge: Pledge, policy: Policy, after: datetime | None) -> Notice | None:
    fixed = _fixed(pledge, policy)
    for notice in fixed:
        if after is None or notice.at > after:
            return notice
    if (
        not fixed
        or fixed[-1].type is not NoticeType.OVERDUE
        or policy.overdue_repeat <= timedelta(0)
        or pledge.acknowledged
    ):
        return None
    first = fixed[-1].at
    assert after is not None  # fixed is non-empty and all of it lies at or before `after`
    k = (after - first) // policy.overdue_repeat + 1
    return _repeat(first, max(k, 1), policy)


def due_at(pledge: Pledge, policy: Policy, after: datetime | None, now: datetime) -> Due | None:
    """Return the latest notice in (after, now] and how many fell in that span, or None.

    The planner sends the latest one; the count tells the receiver how many
    notices it stands for when the daemon was not running to send them on time.
    """
    deadline = _deadline_due(pledge, policy, after, now)
    if not _check_ins_run(pledge):
        return deadline
    assert pledge.recurrence is not None
    # A check-in on the very instant of a deadline notice is never sent (the deadline
    # notice is): it is not counted either.
    fixed = _fixed(pledge, policy)
    last, count = recurrence.between(
        pledge.recurrence,
        policy.check_in,
        after,
        now,
        skip=lambda at: _is_deadline_instant(pledge, policy, fixed, at),
    )
    if last is None:
        return deadline
    check_in = Due(Notice(NoticeType.CHECK_IN, last), count)
    if deadline is None:
        return check_in
    latest = deadline if deadline.notice.at >= check_in.notice.at else check_in
    return Due(latest.notice, deadline.count + check_in.count)


def _is_deadline_instant(pledge: Pledge, policy: Policy, fixed: list[Notice], at: datetime) -> bool:
    """True when a deadline notice (reminder, due, overdue or a repeat) falls exactly at `at`."""
    if any(n.at == at for n in fixed):
        return True
    if not fixed or fixed[-1].type is not NoticeType.OVERDUE or pledge.acknowledged:
        return False
    repeat, first = policy.overdue_repeat, fixed[-1].at
    return repeat > timedelta(0) and at > first and (at - first) % repeat == timedelta(0)


def _deadline_due(
    pledge: Pledge, policy: Policy, after: datetime | None, now: datetime
) -> Due | None:
    all_fixed = _fixed(pledge, policy)
    fixed = [n for n in all_fixed if (after is None or n.at > after) and n.at <= now]
    latest = fixed[-1] if fixed else None
    count = len(fixed)
    repeats = all_fixed and all_fixed[-1].type is NoticeType.OVERDUE and not pledge.acknowledged
    if repeats and policy.overdue_repeat > timedelta(0):
        first = all_fixed[-1].at
        high = (now - first) // policy.overdue_repeat if now >= first else 0
        low = 1 if after is None or after < first else (after - first) // policy.overdue_repeat + 1
        if high >= low:
            count += high - low + 1
            latest = _repeat(first, high, policy) or latest
    return Due(latest, count) if latest is not None else None


@dataclass(frozen=True)
class Planned:
    """A notice to send now: `late` when past its instant by more than the grace,
    `missed` the earlier notices it stands for (policy `latest`)."""

    notice: Notice
    late: bool = False
    missed: int = 0


@dataclass(frozen=True)
class Plan:
    """What to send for one pledge at `now`, how far that covers, and what was skipped."""

    send: tuple[Planned, ...]
    through: datetime | None
    skipped: int = 0


CATCH_UP_POLICIES = ("latest", "all", "none")
ALL_AT_ONCE = 100  # policy `all`: at most this many notices per pass; the next pass goes on


def plan(pledge: Pledge, policy: Policy, after: datetime | None, now: datetime) -> Plan:
    """Return the notices owed in (after, now] under the catch-up policy.

    * `latest` (default): only the most recent, marked late with the count it
      stands for when several were missed (a reminder whose window has opened
      is folded into the due or overdue notice that follows it).
    * `all`: every one, in time order, each marked late when past the grace.
    * `none`: only a notice still within the grace; missed ones are skipped
      and counted (the caller logs them: never silently).
    """
    if pledge.held_until is not None and now < pledge.held_until:
        return Plan((), after)  # snoozed or silenced: everything waits for the end of the hold
    due = due_at(pledge, policy, after, now)
    if due is None:
        return Plan((), after)
    on_time = now - due.notice.at <= policy.grace
    if policy.catch_up == "all":
        owed = upcoming(pledge, policy, after, now, limit=ALL_AT_ONCE)
        send = tuple(Planned(n, late=now - n.at > policy.grace) for n in owed)
        return Plan(send, owed[-1].at if owed else after)
    if policy.catch_up == "none":
        if on_time:
            return Plan((Planned(due.notice),), due.notice.at, skipped=due.missed)
        return Plan((), due.notice.at, skipped=due.count)
    late = due.missed > 0 or not on_time
    return Plan((Planned(due.notice, late=late, missed=due.missed),), due.notice.at)


def wake_at(pledge: Pledge, policy: Policy, after: datetime | None) -> datetime | None:
    """Return when the planner must next look at a pledge: its next notice, or the end of a hold."""
    notice = next_notice(pledge, policy, after)
    if notice is None:
        return None
    if pledge.held_until is not None and notice.at < pledge.held_until:
        return pledge.held_until
    return notice.at


@dataclass(frozen=True)
class Outgoing:
    """A notice as it will go out: at `at`, later than `planned.notice.at` when a hold kept it back."""

    at: datetime
    planned: Planned


def look_ahead_start(planned_through: datetime | None, now: datetime) -> datetime:
    """Return where a look ahead starts: notices already due are the planner's, not the future's."""
    return now if planned_through is None else max(planned_through, now)


def outgoing(
    pledge: Pledge,
    policy: Policy,
    after: datetime | None,
    now: datetime,
    until: datetime,
    limit: int = 50,
) -> list[Outgoing]:
    """Return the notices that will go out in (now, until], in order, at most `limit`.

    `after` is how far the planner has planned (its `planned_through`). A
    notice already due at `now` is the planner's next pass, not listed. While
    a hold (snooze, silence) runs, nothing goes out: at its end the planner
    sends what `plan` decides there under the catch-up policy, and that is
    what is listed at the hold's end. Every later notice goes out at its own
    instant (acknowledged repeats and blocked pledges have none).
    """
    start = look_ahead_start(after, now)
    found: list[Outgoing] = []
    held = pledge.held_until
    if held is not None and start < held:
        if held > until:
            return []
        cursor = after
        while len(found) < limit:
            # As the planner at the end of the hold: pass after pass until nothing more is owed.
            owed = plan(pledge, policy, cursor, held)
            found += [Outgoing(held, planned) for planned in owed.send]
            if owed.through == cursor:
                break
            cursor = owed.through
        start = held
    found += [
        Outgoing(notice.at, Planned(notice))
        for notice in upcoming(pledge, policy, start, until, limit=limit - len(found))
    ]
    return found[:limit]


def upcoming(
    pledge: Pledge, policy: Policy, after: datetime | None, until: datetime, limit: int = 50
) -> list[Notice]:
    """Return the notices in (after, until], in time order, at most `limit`."""
    notices: list[Notice] = []
    cursor = after
    while len(notices) < limit:
        notice = next_notice(pledge, policy, cursor)
        if notice is None or notice.at > until:
            break
        notices.append(notice)
        cursor = notice.at
    return notices
