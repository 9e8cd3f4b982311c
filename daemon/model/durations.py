"""Read and write durations the way operators type them: `30d`, `5m`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"^(?:\d+\s*[smhdw]\s*)+$")


class DurationError(ValueError):
    """Not a duration such as 30d, 7d, 12h, 5m or 30s."""


def parse_duration(text: str) -> timedelta:
    """Return the timedelta written as `30d`, `1h30m` or `0`.

    Units: s, m (minutes), h, d, w. A bare `0` means no time at all.
    """
    cleaned = text.strip().lower()
    if cleaned == "0":
        return timedelta(0)
    if not _WHOLE.match(cleaned):
        raise DurationError(
            f"{text!r} is not a duration (use units s, m, h, d, w, e.g. 30d or 1h30m)"
        )
    try:
        return sum((int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)), timedelta(0))
    except OverflowError:
        raise DurationError(f"{text!r} is too long a duration") from None


def parse_durations(text: str) -> tuple[timedelta, ...]:
    """Return the durations of a comma list such as `30d,7d,1d` (empty text: none)."""
    return tuple(parse_duration(part) for part in text.split(",") if part.strip())


def format_duration(value: timedelta) -> str:
    """Return the shortest `1d2h`-style spelling of a duration (`0` for none)."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + "".join(parts)
