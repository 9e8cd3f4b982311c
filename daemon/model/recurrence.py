"""Check-ins for ongoing and recurring pledges, computed with APScheduler's triggers.

An ongoing pledge ("reinforce the cessation of hostilities") gets a check-in
every `every` (default: the operator's CHECK_IN, 30 days); a recurring one ("a
regular review of relations") every `every` (`3mo`, `1y`, `2w`, `10d`) or at
each match of a crontab line (`0 9 1 */3 *`). Occurrences count from `since`
(the source's publication date, else the import) in the pledge's zone; the
triggers are pure: they read no clock, the caller passes every instant.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

_EVERY = re.compile(r"^(\d+)\s*(d|w|mo|y)$")
_UNITS = {"d": "days", "w": "weeks", "mo": "months", "y": "years"}
MAX_STEPS = 100_000  # occurrences walked at most in one question (a bound, not a policy)
MIN_GAP = timedelta(hours=23)  # check-ins at most about daily (23h: a DST day is shorter)
_TICK = timedelta(microseconds=1)


class RecurrenceError(ValueError):
    """An `every` or `cron` that cannot be read."""


@dataclass(frozen=True)
class Recurrence:
    """When a pledge is checked in on: every `every`, or at each `cron` match, from `since`."""

    since: datetime
    timezone: str = "UTC"
    every: str | None = None
    cron: str | None = None


def parse_every(text: str) -> tuple[int, str]:
    """Return (count, unit) for `3mo`, `1y`, `2w` or `10d`."""
    match = _EVERY.match(text.strip().lower())
    if not match or int(match[1]) == 0:
        raise RecurrenceError(f"{text!r} is not an interval such as 10d, 2w, 3mo or 1y")
    return int(match[1]), _UNITS[match[2]]


def check_cron(expression: str) -> None:
    """Raise RecurrenceError unless `expression` is a five-field crontab line we read one way.

    Weekdays must be names (mon-sun): APScheduler counts numbers from Monday = 0,
    crontab from Sunday = 0, and a line meant one way must not run the other.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise RecurrenceError(f"{expression!r} is not a crontab line of five fields")
    if any(c.isdigit() for c in fields[4]):
        raise RecurrenceError(
            f"{expression!r}: write weekdays as names (mon, tue ... sun), not numbers"
        )
    try:
        CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise RecurrenceError(f"{expression!r} is not a valid crontab line ({exc})") from None


def check(recurrence: Recurrence, default_every: str) -> None:
    """Raise RecurrenceError unless check-ins come at most daily and at least once.

    Check-ins are for people: more often than once a day would flood them, and
    counting years of them after downtime would cost more than it tells.
    """
    try:
        first = next_after(recurrence, default_every, None)
        second = next_after(recurrence, default_every, first) if first else None
    except (OverflowError, ValueError) as exc:
        raise RecurrenceError(f"check-ins run off the calendar ({exc})") from None
    if first is None or second is None:
        raise RecurrenceError("the check-ins would never happen (or only once)")
    if second - first < MIN_GAP:
        raise RecurrenceError("check-ins more often than once a day are not supported")


@functools.lru_cache(maxsize=4096)
def _trigger(recurrence: Recurrence, default_every: str) -> BaseTrigger:
    zone = ZoneInfo(recurrence.timezone)
    if recurrence.cron:
        return CronTrigger.from_crontab(recurrence.cron, timezone=zone)
    count, unit = parse_every(recurrence.every or default_every)
    start = recurrence.since.astimezone(zone)
    if unit in ("months", "years"):
        # Calendar steps keep the day of the month and the local time of day.
        return CalendarIntervalTrigger(
            **{unit: count},
            start_date=start.date(),
            hour=start.hour,
            minute=start.minute,
            second=start.second,
            timezone=zone,
        )
    return IntervalTrigger(**{unit: count}, start_date=start, timezone=zone)


def next_after(
    recurrence: Recurrence, default_every: str, after: datetime | None
) -> datetime | None:
    """Return the first occurrence strictly after `after` and after `since`, or None.

    The pledge is made at `since`; its first check-in is one step later.
    """
    trigger = _trigger(recurrence, default_every)
    floor = recurrence.since
    probe = max(after, floor) if after is not None else floor
    at = trigger.get_next_fire_time(None, probe + _TICK)
    steps = 0
    # Some triggers start from their first date whatever `now` says: walk them forward.
    while at is not None and at <= probe and steps < MAX_STEPS:
        at = trigger.get_next_fire_time(at, at)
        steps += 1
    return at


def between(
    recurrence: Recurrence,
    default_every: str,
    after: datetime | None,
    until: datetime,
    skip: Callable[[datetime], bool] = lambda _: False,
) -> tuple[datetime | None, int]:
    """Return the last occurrence in (after, until] and how many there were (at most MAX_STEPS).

    Occurrences for which `skip` is true are passed over (not counted, never last).
    """
    trigger = _trigger(recurrence, default_every)
    at = next_after(recurrence, default_every, after)
    last, count, steps = None, 0, 0
    while at is not None and at <= until and steps < MAX_STEPS:
        if not skip(at):
            last, count = at, count + 1
        steps += 1
        at = trigger.get_next_fire_time(at, at + _TICK)
    return last, count
