"""Deadline windows: what "by August", said in Moscow on 2016-03-25, means.

A deadline is a window [earliest, latest), end-exclusive, with the phrase it
was read from, its precision and the time zone it was read in. Calendar
arithmetic happens in that zone and only the resulting instants are converted
to UTC, so a month boundary stays at local midnight across DST changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta


class Precision(StrEnum):
    """How exact a deadline is: the width of its window."""

    INSTANT = "instant"
    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    RANGE = "range"


class DeadlineError(ValueError):
    """A deadline that cannot be read; the message names the phrase."""


@dataclass(frozen=True)
class Window:
    """A deadline window [earliest, latest) in UTC, with what it was read from."""

    phrase: str
    earliest: datetime
    latest: datetime
    precision: Precision
    timezone: str

    def __post_init__(self) -> None:
        if self.earliest.tzinfo is None or self.latest.tzinfo is None:
            raise DeadlineError(f"deadline {self.phrase!r}: instants must be timezone-aware")
        if self.latest < self.earliest:
            raise DeadlineError(f"deadline {self.phrase!r}: latest is before earliest")

    @property
    def is_instant(self) -> bool:
        """True when the window has no length (an exact moment)."""
        return self.latest == self.earliest

    def local(self, instant: datetime) -> datetime:
        """Return `instant` in the window's own time zone, for display."""
        return instant.astimezone(ZoneInfo(self.timezone))


MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_BY_MONTH = re.compile(rf"^(?:by|before|until)\s+{_MONTH}(?:\s+(?P<year>\d{{4}}))?$")
_MONTH_YEAR = re.compile(rf"^{_MONTH}\s+(?P<year>\d{{4}})$")
_ISO_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
_ISO_YEAR = re.compile(r"^(?P<year>\d{4})$")
_IN_N = re.compile(
    r"^(?:in|within)\s+(?P<n>\d+)\s+(?P<unit>second|minute|hour|day|week|month|year)s?$"
)


def read_deadline(value: Any, *, reference: datetime, tz: ZoneInfo) -> Window:
    """Return the window a deadline value describes.

    Args:
        value: a `datetime` (an instant), a `date` (that day), a string (an ISO
            date, month, year or instant, or a phrase such as "by August" or
            "in 3 days"), or a mapping `{earliest, latest}`.
        reference: when the pledge was made (aware); phrases count from it.
        tz: the zone the pledge was made in; calendar bounds are local to it.

    Raises:
        DeadlineError: the value cannot be read; it is never guessed.
    """
    try:
        if isinstance(value, dict):
            return _read_range(value, reference=reference, tz=tz)
        if isinstance(value, datetime):
            instant = _aware(value, tz)
            return _instant(value.isoformat(), instant, tz)
        if isinstance(value, date):
            return _calendar(value.isoformat(), value, relativedelta(days=1), Precision.DAY, tz)
        if not isinstance(value, str) or not value.strip():
            raise DeadlineError(
                f"deadline {value!r} is not a date, a phrase or {{earliest, latest}}"
            )
        return _read_text(value.strip(), reference=reference, tz=tz)
    except DeadlineError:
        raise
    except (ValueError, OverflowError) as exc:
        # Calendar arithmetic beyond what dates can hold (year 0, year 10000...).
        raise DeadlineError(f"deadline {value!r} is outside the calendar ({exc})") from None


def _read_text(phrase: str, *, reference: datetime, tz: ZoneInfo) -> Window:
    text = " ".join(phrase.lower().split())
    local_ref = reference.astimezone(tz)
    if match := _BY_MONTH.match(text):
        month = MONTHS[match["month"]]
        if match["year"]:
            year = int(match["year"])
        else:
            # "by August" means the coming August: this year's unless it has passed.
            year = local_ref.year if month >= local_ref.month else local_ref.year + 1
        return _calendar(phrase, date(year, month, 1), relativedelta(months=1), Precision.MONTH, tz)
    if match := _MONTH_YEAR.match(text) or _ISO_MONTH.match(text):
        month = MONTHS[match["month"]] if not match["month"].isdigit() else int(match["month"])
        if not 1 <= month <= 12:
            raise DeadlineError(f"deadline {phrase!r}: there is no month {month}")
        start = date(int(match["year"]), month, 1)
        return _calendar(phrase, start, relativedelta(months=1), Precision.MONTH, tz)
    if match := _ISO_YEAR.match(text):
        start = date(int(match["year"]), 1, 1)
        return _calendar(phrase, start, relativedelta(years=1), Precision.YEAR, tz)
    if match := _IN_N.match(text):
        return _in_n(phrase, int(match["n"]), match["unit"], local_ref, tz)
    try:  # an ISO date, extended (2016-08-01) or basic (20160801): the whole day
        day = date.fromisoformat(phrase)
    except ValueError:
        pass
    else:
        return _calendar(phrase, day, relativedelta(days=1), Precision.DAY, tz)
    try:
        parsed = datetime.fromisoformat(phrase)
    except ValueError:
        raise DeadlineError(
            f"cannot read deadline {phrase!r} (try a date like 2016-08-01, a month like "
            "2016-08, 'by August', 'in 3 days' or {earliest, latest})"
        ) from None
    return _instant(phrase, _aware(parsed, tz), tz)


def _in_n(phrase: str, n: int, unit: str, local_ref: datetime, tz: ZoneInfo) -> Window:
    """Read "in N units": an instant for sub-day units, else the day it lands on."""
    if unit in ("second", "minute", "hour"):
        instant = local_ref.astimezone(UTC) + timedelta(**{f"{unit}s": n})
        return _instant(phrase, instant, tz)
    day = local_ref.date() + relativedelta(**{f"{unit}s": n})
    return _calendar(phrase, day, relativedelta(days=1), Precision.DAY, tz)


def _read_range(value: dict[str, Any], *, reference: datetime, tz: ZoneInfo) -> Window:
    unknown = set(value) - {"earliest", "latest", "phrase"}
    if unknown or "earliest" not in value or "latest" not in value:
        raise DeadlineError("a deadline range needs exactly the keys earliest and latest")
    earliest = read_deadline(value["earliest"], reference=reference, tz=tz).earliest
    latest = read_deadline(value["latest"], reference=reference, tz=tz).earliest
    if latest < earliest:
        raise DeadlineError(
            f"deadline range: latest {value['latest']} is before earliest {value['earliest']}"
        )
    phrase = str(value.get("phrase") or f"{value['earliest']} to {value['latest']}")
    return Window(phrase, earliest, latest, Precision.RANGE, tz.key)


def _calendar(
    phrase: str, start: date, length: relativedelta, precision: Precision, tz: ZoneInfo
) -> Window:
    # Both bounds are local midnights, converted to UTC only at the end (DST-safe).
    earliest = datetime.combine(start, time(0), tzinfo=tz)
    latest = datetime.combine(start + length, time(0), tzinfo=tz)
    return Window(phrase, earliest.astimezone(UTC), latest.astimezone(UTC), precision, tz.key)


def _instant(phrase: str, instant: datetime, tz: ZoneInfo) -> Window:
    utc = instant.astimezone(UTC)
    return Window(phrase, utc, utc, Precision.INSTANT, tz.key)


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    """Attach the pledge's zone to a naive datetime; keep an explicit offset."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value
