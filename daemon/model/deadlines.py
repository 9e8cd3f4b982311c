"""Deadline windows: what "by August", said in Moscow on 2016-03-25, means.

A deadline is a window [earliest, latest), end-exclusive, with the phrase it
was read from, its precision and the time zone it was read in. Calendar
arithmetic happens in that zone and only the resulting instants are converted
to UTC, so a month boundary stays at local midnight across DST changes.

Phrases ("by the end of August", "Q3 2016", "this summer") are read into local
days by `daemon.model.phrases`; this module places those days in the zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from daemon.model import periods, phrases

# Defined beside the phrase rules that produce most of its values.
Precision = periods.Precision


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


def read_deadline(value: Any, *, reference: datetime, tz: ZoneInfo) -> Window:
    """Return the window a deadline value describes.

    Args:
        value: a `datetime` (an instant), a `date` (that day), a string (an ISO
            date, week, month, year or instant, or a phrase such as "by August",
            "Q3 2016" or "in 3 days"; see docs/deadlines.md), or a mapping
            `{earliest, latest}`.
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
            day = periods.Period(value, value + timedelta(days=1), Precision.DAY)
            return _calendar(value.isoformat(), day, tz)
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
    if ":" in phrase:
        # A time of day: no phrase (read_phrase reads none), an ISO instant if anything.
        # Large imports are full of them, so the phrase rules are not even asked.
        return _read_iso_instant(phrase, tz)
    local_ref = reference.astimezone(tz)
    try:
        # Phrases count from the reference's local date: 23:00 UTC may be tomorrow.
        read = phrases.read_phrase(phrase, local_ref.date())
    except periods.PhraseError as exc:
        raise DeadlineError(f"cannot read deadline {phrase!r}: {exc}") from None
    if isinstance(read, periods.Period):
        return _calendar(phrase, read, tz)
    if isinstance(read, timedelta):  # "in 2 hours": an instant, counted in UTC
        return _instant(phrase, local_ref.astimezone(UTC) + read, tz)
    return _read_iso_instant(phrase, tz)


def _read_iso_instant(phrase: str, tz: ZoneInfo) -> Window:
    try:
        parsed = datetime.fromisoformat(phrase.upper())
    except ValueError:
        raise DeadlineError(
            f"cannot read deadline {phrase!r} (try a date like 2016-08-01, a month like "
            "2016-08, 'by August', 'Q3 2016', 'in 3 days' or {earliest, latest}; "
            "see docs/deadlines.md)"
        ) from None
    return _instant(phrase, _aware(parsed, tz), tz)


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


def _calendar(phrase: str, period: periods.Period, tz: ZoneInfo) -> Window:
    # Both bounds are local midnights, converted to UTC only at the end (DST-safe).
    earliest = datetime.combine(period.start, time(0), tzinfo=tz)
    latest = datetime.combine(period.end, time(0), tzinfo=tz)
    return Window(
        phrase, earliest.astimezone(UTC), latest.astimezone(UTC), period.precision, tz.key
    )


def _instant(phrase: str, instant: datetime, tz: ZoneInfo) -> Window:
    utc = instant.astimezone(UTC)
    return Window(phrase, utc, utc, Precision.INSTANT, tz.key)


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    """Attach the pledge's zone to a naive datetime; keep an explicit offset."""
    return value.replace(tzinfo=tz) if value.tzinfo is None else value
