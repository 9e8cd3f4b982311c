"""Time in words for people: durations, deadline windows and countdowns, as chat and pages say them.

One wording for every place a person reads a pledge: the chat notices
(`delivery.chat`) and the status pages (`service.pages`) both call these.
Pure: `now` is always an argument, and month names come from our own table
(strftime's follow the process locale).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from daemon.model.deadlines import Window
from daemon.model.pledge import Pledge

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DASH = " \N{EN DASH} "  # between the two ends of a span, as in "1 Aug to 31 Aug 2016"
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
# A phrase that is only ISO dates or instants ("2016-08-01", "2016-08-01T15:00+03:00",
# a range's default "2016-08-01 to 2016-09-01") says nothing the spelled-out days
# don't, so it is left out.
_ISO_ONLY = re.compile(r"^[\d\-:+.TZ]+(?: to [\d\-:+.TZ]+)?$")
# Rough durations: days up to two months, then months (of 30 days) up to two years.
_MONTH_DAYS, _YEAR_DAYS = 30, 365
_DAYS_BEFORE_MONTHS, _DAYS_BEFORE_YEARS = 60, 730


def in_words(value: timedelta, parts: int = 2) -> str:
    """Return a duration as a person says it, largest `parts` units: "7 days", "1 day 12 hours"."""
    seconds = abs(int(value.total_seconds()))
    found = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            found.append(_count(count, name))
    return " ".join(found[:parts]) or "0 seconds"


def roughly(value: timedelta) -> str:
    """Return a duration in one rounded-down unit: "12 days", "3 months", "10 years", "5 hours"."""
    days = abs(value).days
    if days >= _DAYS_BEFORE_YEARS:
        return _count(days // _YEAR_DAYS, "year")
    if days >= _DAYS_BEFORE_MONTHS:
        return _count(days // _MONTH_DAYS, "month")
    return in_words(value, parts=1)


def _count(count: int, name: str) -> str:
    return f"{count:,} {name}" + ("" if count == 1 else "s")


@dataclass(frozen=True)
class Countdown:
    """Where a pledge stands against its deadline: the words and a state to style them by.

    States: `upcoming` (the window has not opened), `due` (it is open),
    `overdue` (it closed with the pledge still open), `closed` (the pledge
    has an outcome), `none` (no deadline).
    """

    state: str
    text: str


def countdown(pledge: Pledge, now: datetime) -> Countdown:
    """Return the countdown of `pledge` at `now`: "due in 12 days", "overdue for 3 months"...

    Before the window opens: "opens in" (an exact instant: "due in"); while it
    is open: "due in" the time left; after it closes: "overdue for".
    """
    window = pledge.window
    if pledge.status.is_closed:
        return Countdown("closed", pledge.status.value.replace("_", " "))
    if window is None:
        if pledge.pending is not None:
            return Countdown("none", "starts when its conditions are met")
        if pledge.blocked:
            return Countdown("none", "waits on its conditions")
        return Countdown("none", "no deadline")
    if now < window.earliest:
        verb = "due" if window.is_instant else "opens"
        return Countdown("upcoming", f"{verb} in {roughly(window.earliest - now)}")
    if now < window.latest:
        return Countdown("due", f"due in {roughly(window.latest - now)}")
    if now == window.latest:
        return Countdown("due", "due now")
    return Countdown("overdue", f"overdue for {roughly(now - window.latest)}")


def window_in_words(window: Window) -> str:
    """Return a window in words, in its own zone: "by August (1 Aug - 31 Aug 2016, ...)"."""
    return span_in_words(
        window.phrase, window.local(window.earliest), window.local(window.latest), window.timezone
    )


def span_in_words(phrase: str, earliest: datetime, latest: datetime, zone: str) -> str:
    """Return a deadline in words: its phrase, then its first and last day and its zone.

    `earliest` and `latest` are local instants. The window is end-exclusive,
    so one ending at a midnight ends on the day before; an exact instant is
    shown as its date and time.
    """
    if latest == earliest:
        span = moment(earliest)
    else:
        start = moment(earliest) if _has_time(earliest) else earliest.date()
        # End-exclusive: a window closing at midnight ends on the day before.
        end = moment(latest) if _has_time(latest) else _day_before(latest.date())
        span = _span(start, end)
    details = f"{span}, {zone}" if zone else span
    return f"{phrase} ({details})" if phrase and not _ISO_ONLY.match(phrase) else details


def day(value: date) -> str:
    """Return a date as "1 Aug 2016"."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def moment(instant: datetime) -> str:
    """Return an instant as its date and clock time, as it reads: "1 Aug 2016 15:30"."""
    clock = instant.strftime("%H:%M:%S" if instant.second else "%H:%M")
    return f"{day(instant.date())} {clock}"


def web_url(value: Any) -> str | None:
    """Return `value` when it is an http(s) address that may be made a link, else None."""
    text = "" if value is None else str(value)
    if re.match(r"^https?://[^\s/]+", text) and not any(c.isspace() for c in text):
        return text
    return None


def _span(start: date | str, end: date | str) -> str:
    if isinstance(start, date) and isinstance(end, date):
        if start >= end:
            return day(start)
        if start.year == end.year:
            return f"{start.day} {MONTHS[start.month - 1]}{DASH}{day(end)}"
    first = start if isinstance(start, str) else day(start)
    last = end if isinstance(end, str) else day(end)
    return f"{first}{DASH}{last}"


def _day_before(value: date) -> date:
    return value if value == date.min else value - timedelta(days=1)


def _has_time(instant: datetime) -> bool:
    return (instant.hour, instant.minute, instant.second, instant.microsecond) != (0, 0, 0, 0)
