"""The iCalendar (RFC 5545) text of pledges: one VEVENT per deadline window, with its alarms.

Pure: every function takes the instants it needs (`stamp` is the caller's
`now`). The text is written here rather than through icalendar's object
model, which costs about a millisecond per event (100,000 pledges: over a
minute and a half); the few value types an event needs are written by the
rules of RFC 5545 section 3.3, and the tests read the output back with
icalendar.

| pledge | event |
| --- | --- |
| window whose bounds are local midnights | all-day: `DTSTART;VALUE=DATE`, `DTEND;VALUE=DATE` (end excluded, as the window's) |
| any other window | timed, in UTC: `DTSTART:...Z`, `DTEND:...Z` |
| exact instant (zero length) | timed, no DTEND: RFC 5545 3.6.1 makes it end at its start (DTEND must be later than DTSTART) |
| reminder offsets (its own, else the operator's) | one `VALARM` each, `ACTION:DISPLAY`, `TRIGGER:-P30D` before the start; none once closed |
| id | `UID:<id>@pledgewatch` |
| created/updated instants | `SEQUENCE` (seconds from creation to the last change), `LAST-MODIFIED`, `CREATED` |
| status | in DESCRIPTION and `X-PLEDGEWATCH-STATUS`; `STATUS:CANCELLED` when withdrawn, else `CONFIRMED` |
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from daemon.model import schedule
from daemon.model.deadlines import Window
from daemon.model.durations import format_duration
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.model.statuses import Status

CRLF = "\r\n"
LINE_OCTETS = 75  # RFC 5545 3.1: lines longer than this are folded
UID_DOMAIN = "pledgewatch"
REFRESH = "PT1H"  # how often a subscribed client is asked to fetch the feed again
TAIL = "END:VCALENDAR" + CRLF
_MIDNIGHT = time(0)
# Controls other than tab are not allowed in TEXT (RFC 5545 3.3.11): dropped.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def escape_text(value: str) -> str:
    """Return `value` as an iCalendar TEXT value: `\\ ; ,` escaped, line ends as `\\n`."""
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    # Backslashes first, so the ones added are not escaped again.
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\n", "\\n")
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


def _lines(lines: list[str]) -> str:
    """Return content lines folded, each ending in CRLF."""
    # Most lines are short ASCII: they skip `fold`.
    return "".join(
        [
            line + CRLF if len(line) <= LINE_OCTETS and line.isascii() else fold(line)
            for line in lines
        ]
    )


def fold(line: str) -> str:
    """Return one content line folded at 75 octets, never inside a UTF-8 sequence, ending in CRLF."""
    if len(line) <= LINE_OCTETS and line.isascii():
        return line + CRLF
    data = line.encode()
    if len(data) <= LINE_OCTETS:
        return line + CRLF
    parts = []
    start, room = 0, LINE_OCTETS
    while len(data) - start > room:
        end = start + room
        while data[end] & 0xC0 == 0x80:  # a continuation byte: break before its sequence
            end -= 1
        parts.append(data[start:end])
        # Each continuation line opens with a space, which counts towards its 75 octets.
        start, room = end, LINE_OCTETS - 1
    parts.append(data[start:])
    return b"\r\n ".join(parts).decode() + CRLF


@functools.lru_cache(maxsize=256)
def duration(value: timedelta) -> str:
    """Return a DURATION value (`-P30D`, `PT1H30M`), to the whole second."""
    seconds = int(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}P{days}D" if days else f"{sign}P"
    if hours or minutes or seconds:
        text += "T"
        text += f"{hours}H" if hours else ""
        # The grammar has no hours followed by seconds without the minutes between.
        text += f"{minutes}M" if minutes or (hours and seconds) else ""
        text += f"{seconds}S" if seconds else ""
    return text if days or hours or minutes or seconds else "PT0S"


@functools.lru_cache(maxsize=1024)  # bulk imports share their instants (CREATED, LAST-MODIFIED)
def utc_text(instant: datetime) -> str:
    """Return a DATE-TIME value in UTC (`20160801T090000Z`)."""
    t = instant.astimezone(UTC)
    return f"{date_text(t)}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def date_text(day: date) -> str:
    """Return a DATE value (`20160801`); four-digit years, which strftime does not promise."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def uid(pledge_id: str) -> str:
    """Return the event's UID: the same for a pledge in every feed and every fetch."""
    return f"{pledge_id}@{UID_DOMAIN}"


def sequence(created_at: datetime, updated_at: datetime) -> int:
    """Return the event's SEQUENCE: whole seconds from the pledge's creation to its last change.

    The store sets `updated_at` to now whenever a pledge's fields or status
    change (an import that changes nothing leaves it; an acknowledgement or a
    snooze moves it too, which only makes it grow more), so this grows with
    every change a second or more after the one before. It stays within the
    32-bit INTEGER of RFC 5545 for 68 years.
    """
    return max(0, int((updated_at - created_at).total_seconds()))


def reminder_offsets(pledge: Pledge, policy: Policy) -> tuple[timedelta, ...]:
    """Return the reminder offsets of a pledge, longest first: its own, else the operator's."""
    return tuple(sorted(set(schedule.offsets_of(pledge, policy)), reverse=True))


def is_all_day(window: Window) -> bool:
    """True when the window has length and both its bounds are midnights in its own zone."""
    if window.is_instant:
        return False
    zone = ZoneInfo(window.timezone)
    return (
        window.earliest.astimezone(zone).time() == _MIDNIGHT
        and window.latest.astimezone(zone).time() == _MIDNIGHT
    )


def head(name: str, version: str) -> str:
    """Return the calendar's opening lines, named `name` in clients (`X-WR-CALNAME`)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:-//pledgewatch//pledgewatch {escape_text(version)}//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"NAME:{escape_text(name)}",
        f"X-WR-CALNAME:{escape_text(name)}",
        f"REFRESH-INTERVAL;VALUE=DURATION:{REFRESH}",
        f"X-PUBLISHED-TTL:{REFRESH}",
    ]
    return _lines(lines)


def event(
    pledge: Pledge,
    *,
    created_at: datetime,
    updated_at: datetime,
    stamp: datetime,
    policy: Policy,
) -> str:
    """Return the VEVENT of a pledge's deadline window, folded, in CRLF lines ("" without a window).

    Args:
        pledge: the pledge; one without a window has no event.
        created_at: when it was stored first.
        updated_at: when it last changed (LAST-MODIFIED; with `created_at`, SEQUENCE).
        stamp: when the calendar is written (DTSTAMP), usually now.
        policy: gives the reminder offsets of a pledge that names none.
    """
    return _lines(event_lines(pledge, created_at, updated_at, stamp, policy))


def event_lines(
    pledge: Pledge, created_at: datetime, updated_at: datetime, stamp: datetime, policy: Policy
) -> list[str]:
    """Return the unfolded content lines of `event` (none without a window)."""
    window = pledge.window
    if window is None:
        return []
    lines = [
        "BEGIN:VEVENT",
        f"UID:{escape_text(uid(pledge.id))}",
        f"DTSTAMP:{utc_text(stamp)}",
        f"SEQUENCE:{sequence(created_at, updated_at)}",
        f"CREATED:{utc_text(created_at)}",
        f"LAST-MODIFIED:{utc_text(updated_at)}",
        *_dates(window),
        f"SUMMARY:{escape_text(pledge.title)}",
        f"DESCRIPTION:{escape_text(description(pledge))}",
        f"STATUS:{'CANCELLED' if pledge.status is Status.WITHDRAWN else 'CONFIRMED'}",
        "TRANSP:TRANSPARENT",  # a deadline does not make anyone busy
        f"X-PLEDGEWATCH-STATUS:{pledge.status.value}",
    ]
    if pledge.tags:
        lines.append("CATEGORIES:" + ",".join(escape_text(t) for t in pledge.tags))
    url = pledge.source.url
    if url and url.startswith(("https://", "http://")) and url.isprintable() and " " not in url:
        lines.append(f"URL:{url}")
    if not pledge.status.is_closed:
        lines.extend(_alarms(pledge, reminder_offsets(pledge, policy)))
    lines.append("END:VEVENT")
    return lines


def _dates(window: Window) -> list[str]:
    if is_all_day(window):
        zone = ZoneInfo(window.timezone)
        start = date_text(window.earliest.astimezone(zone))
        end = date_text(window.latest.astimezone(zone))
        return [f"DTSTART;VALUE=DATE:{start}", f"DTEND;VALUE=DATE:{end}"]
    if window.is_instant:
        return [f"DTSTART:{utc_text(window.earliest)}"]
    return [f"DTSTART:{utc_text(window.earliest)}", f"DTEND:{utc_text(window.latest)}"]


def _alarms(pledge: Pledge, offsets: Sequence[timedelta]) -> list[str]:
    lines = []
    for offset in offsets:
        if offset <= timedelta(0):
            continue  # no reminder at or after the opening (`commitment.due` is that)
        said = escape_text(f"{pledge.title}: due in {_spelled(offset)}")
        lines += [
            "BEGIN:VALARM",
            "ACTION:DISPLAY",
            f"DESCRIPTION:{said}",
            f"TRIGGER:{duration(-offset)}",
            "END:VALARM",
        ]
    return lines


_spelled = functools.lru_cache(maxsize=256)(format_duration)


def description(pledge: Pledge) -> str:
    """Return the event's description: the pledge's own, its deadline, parties, status, source."""
    window = pledge.window
    lines = [pledge.description] if pledge.description else []
    if window is not None:
        zone = ZoneInfo(window.timezone)
        earliest = window.earliest.astimezone(zone).isoformat(timespec="minutes")
        latest = window.latest.astimezone(zone).isoformat(timespec="minutes")
        span = earliest if window.is_instant else f"{earliest} to {latest}"
        lines.append(
            f"Deadline: {window.phrase} ({window.precision.value}, {window.timezone}: {span})"
        )
    if pledge.parties:
        lines.append("Parties: " + ", ".join(pledge.parties))
    lines.append(f"Status: {pledge.status.value}")
    source = pledge.source
    found = [
        source.publisher,
        source.title,
        source.published.isoformat() if source.published else None,
        source.url,
    ]
    if any(found):
        lines.append("Source: " + ", ".join(part for part in found if part))
    return "\n".join(lines)
