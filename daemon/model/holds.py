"""When a hold ends: the one reading of `--until` (and of the API's `until`) for snoozes and silences.

A hold's end is a duration from now (`3d`, `12h`) or a date or time in ISO
8601. One that names no offset is read in a zone: the pledge's for a snooze,
PLEDGEWATCH_TIMEZONE for a silence (its pledges have many zones). It must lie
ahead, and at most ten years ahead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

from daemon.model.durations import DurationError, parse_duration

LONGEST_HOLD = timedelta(days=3653)  # snooze and silence: ten years at most


class UntilError(ValueError):
    """The end of a hold is unreadable, past, or more than ten years ahead."""


def read_until(text: str, now: datetime) -> datetime:
    """Return the instant `text` names: `now` plus a duration, or a date or time as written.

    The result is naive when `text` is a date or time without an offset
    (`hold_end` reads it in a zone).

    Raises:
        UntilError: `text` is neither a duration nor a date or time.
    """
    try:
        return now + parse_duration(text)
    except (DurationError, OverflowError):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise UntilError(
                f"{text!r} is neither a duration (3d, 12h) nor a date (2026-12-01T09:00)"
            ) from None


def hold_end(text: str, *, zone: tzinfo, now: datetime) -> datetime:
    """Return the end of a hold written `text`, in UTC; a naive date or time is read in `zone`.

    Raises:
        UntilError: unreadable, not ahead of `now`, or more than ten years ahead.
    """
    value = read_until(text, now)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if not now < value <= now + LONGEST_HOLD:
        raise UntilError(f"{text!r} must lie ahead, and at most ten years ahead")
    return value.astimezone(UTC)
