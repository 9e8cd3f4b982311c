"""Read an event body into the words a person sees in a chat notice.

`summarize` turns a stored `json` body into a `Summary`: the pledge title and
description, a headline such as "Due in 7 days", labelled facts (who,
deadline, when, status, source) and a tone that the formats with colours
show. The Slack, Discord and Teams formats lay out the same summary, so they
say the same things. Pure: no clock, no I/O; the words come only from the
body, and a missing optional field drops a fact, never fails. The words are
plain text: each format escapes them for its own markup (`markup`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from daemon.model import durations

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
# A phrase that is only ISO dates or instants ("2016-08-01", "2016-08-01T15:00+03:00",
# a range's default "2016-08-01 to 2016-09-01") says nothing the spelled-out days
# don't, so it is left out.
_ISO_ONLY = re.compile(r"^[\d\-:+.TZ]+(?: to [\d\-:+.TZ]+)?$")
_PREFIX = "commitment."
# Control characters say nothing to a reader, and JSON spells each in six bytes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DASH = " \N{EN DASH} "  # between the two ends of a span, as in "1 Aug to 31 Aug 2016"
# The tone of each event type; a status change takes the tone of its new status.
_TONES = {"reminder": "info", "due": "warning", "overdue": "failure"}
_STATUS_TONES = {"broken": "failure"}


@dataclass(frozen=True)
class Fact:
    """One labelled line of a notice; `url`, when set, is where `text` links to."""

    label: str
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Summary:
    """What a chat notice says, before any platform's layout."""

    event: str  # the body's type, e.g. "commitment.due"
    kind: str  # the type without its prefix: "reminder", "due", "overdue", ...
    title: str
    description: str | None  # the pledge's own, line breaks kept
    headline: str  # "Due in 7 days", "Overdue by 14 days", "Status changed to kept"
    facts: tuple[Fact, ...]
    note: str | None
    tone: str  # "info", "warning", "failure", "success" or "neutral"
    pledge_id: str
    timestamp: str | None  # the body's timestamp when it reads as ISO 8601

    @property
    def line(self) -> str:
        """Return the one-line version: headline, title and who made the pledge."""
        who = next((fact.text for fact in self.facts if fact.label == "Who"), None)
        return f"{self.headline}: {self.title}" + (f" ({who})" if who else "")

    @property
    def context(self) -> str:
        """Return the small print: pledge id and event type."""
        return f"{self.pledge_id} · {self.event}"


def in_words(value: timedelta) -> str:
    """Return a duration as a person says it, largest two units: "7 days", "1 day 12 hours"."""
    seconds = abs(int(value.total_seconds()))
    parts = []
    for name, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count:,} {name}" + ("" if count == 1 else "s"))
    return " ".join(parts[:2]) or "0 seconds"


def summarize(body: dict[str, Any]) -> Summary:
    """Return what a chat notice about `body` says."""
    data = _mapping(body.get("data"))
    pledge = _mapping(data.get("commitment"))
    event = _text(body.get("type")) or "commitment.event"
    kind = event.removeprefix(_PREFIX)
    headline, when = _timing(kind, data, exact=_is_instant(pledge.get("deadline")))
    if data.get("late"):
        headline += " (sent late)"
    pledge_id = _text(pledge.get("id")) or "unknown"
    facts = [
        Fact("Who", ", ".join(p for p in map(_text, _list(pledge.get("parties"))) if p)),
        Fact("Deadline", deadline_in_words(pledge.get("deadline"))),
        Fact("Change" if kind == "status_changed" else "When", when),
        Fact("Status", _status(pledge.get("status"))),
        Fact("By", _text(data.get("actor"))),
        _linked("Evidence", _text(data.get("evidence"))),
        Fact("Late", _late(data) if data.get("late") else ""),
        _source(_mapping(pledge.get("source"))),
    ]
    timestamp = _text(body.get("timestamp"))
    return Summary(
        event=event,
        kind=kind,
        title=_text(pledge.get("title")) or pledge_id,
        description=_paragraphs(pledge.get("description")) or None,
        headline=headline,
        facts=tuple(fact for fact in facts if fact.text),
        note=_paragraphs(data.get("note")) or None,
        tone=_tone(kind, data),
        pledge_id=pledge_id,
        timestamp=timestamp if _instant(timestamp) else None,
    )


def deadline_in_words(deadline: Any) -> str:
    """Return a deadline in words: its phrase, then its first and last day and its zone.

    The window is end-exclusive, so one ending at a midnight ends on the day
    before; an exact instant is shown as its date and time.
    """
    deadline = _mapping(deadline)
    phrase = _text(deadline.get("phrase"))
    earliest = _instant(_text(deadline.get("earliest")))
    latest = _instant(_text(deadline.get("latest")))
    if earliest is None or latest is None:
        return phrase or "none"
    if latest == earliest:
        span = _moment(earliest)
    else:
        start = _moment(earliest) if _has_time(earliest) else earliest.date()
        # End-exclusive: a window closing at midnight ends on the day before.
        end = _moment(latest) if _has_time(latest) else _day_before(latest.date())
        span = _span(start, end)
    zone = _text(deadline.get("timezone"))
    details = f"{span}, {zone}" if zone else span
    return f"{phrase} ({details})" if phrase and not _ISO_ONLY.match(phrase) else details


def _timing(kind: str, data: dict[str, Any], *, exact: bool) -> tuple[str, str]:
    """Return the headline and the "when" text of an event (`exact`: an instant deadline)."""
    if kind == "reminder":
        left = _duration(data.get("offset"))
        when = f"due in {left}" if left else "due soon"
        return when.capitalize(), when
    if kind == "due":
        return "Due now", "due now" if exact else "opens now"
    if kind == "overdue":
        late_by = _duration(data.get("overdue_by"))
        when = f"overdue by {late_by}" if late_by else "overdue"
        return when.capitalize(), when
    if kind == "test":
        return "Test notice", "now (a test: nothing is due)"
    if kind == "status_changed":
        old, new = _status(data.get("old_status")), _status(data.get("new_status"))
        if not new:
            return "Status changed", ""
        return f"Status changed to {new}", f"{old} → {new}" if old else f"now {new}"
    return kind.replace("_", " ").replace("-", " ").capitalize(), ""


def _tone(kind: str, data: dict[str, Any]) -> str:
    """Return how an event looks: a failure (red) when overdue or newly broken, say."""
    if kind == "status_changed":
        return _STATUS_TONES.get(_text(data.get("new_status")), "success")
    return _TONES.get(kind, "neutral")


def _is_instant(deadline: Any) -> bool:
    deadline = _mapping(deadline)
    earliest = _instant(_text(deadline.get("earliest")))
    return earliest is not None and earliest == _instant(_text(deadline.get("latest")))


def _duration(value: Any) -> str:
    """Return an event's `7d`-style duration in words, as written when unreadable."""
    text = _text(value)
    if not text:
        return ""
    try:
        return in_words(durations.parse_duration(text))
    except ValueError:
        return text


def _late(data: dict[str, Any]) -> str:
    missed = data.get("missed")
    if not isinstance(missed, int) or isinstance(missed, bool) or missed < 1:
        return "sent after downtime"
    notices = "notice" if missed == 1 else "notices"
    return f"sent after downtime; stands for {missed:,} earlier {notices}"


def _source(source: dict[str, Any]) -> Fact:
    title = _text(source.get("title"))
    published = _text(source.get("published"))
    try:
        published = _day(date.fromisoformat(published)) if published else ""
    except ValueError:
        pass  # not an ISO date: shown as written
    parts = [_text(source.get("publisher")), f"“{title}”" if title else "", published]
    url = _web_url(source.get("url"))
    return Fact("Source", ", ".join(p for p in parts if p) or url or "", url)


def _linked(label: str, text: str) -> Fact:
    return Fact(label, text, _web_url(text))


def _web_url(value: Any) -> str | None:
    """Return `value` when it is an http(s) address a chat platform can link to."""
    text = _text(value)
    if re.match(r"^https?://[^\s/]+", text) and not any(c.isspace() for c in text):
        return text
    return None


def _status(value: Any) -> str:
    return _text(value).replace("_", " ")


def _span(start: date | str, end: date | str) -> str:
    if isinstance(start, date) and isinstance(end, date):
        if start >= end:
            return _day(start)
        if start.year == end.year:
            return f"{start.day} {_MONTHS[start.month - 1]}{_DASH}{_day(end)}"
    first = start if isinstance(start, str) else _day(start)
    last = end if isinstance(end, str) else _day(end)
    return f"{first}{_DASH}{last}"


def _day(day: date) -> str:
    # Month names from our own table: strftime's %b follows the process locale.
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _day_before(day: date) -> date:
    return day if day == date.min else day - timedelta(days=1)


def _moment(instant: datetime) -> str:
    clock = instant.strftime("%H:%M:%S" if instant.second else "%H:%M")
    return f"{_day(instant.date())} {clock}"


def _has_time(instant: datetime) -> bool:
    return (instant.hour, instant.minute, instant.second, instant.microsecond) != (0, 0, 0, 0)


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def _text(value: Any) -> str:
    """Return a field as one line of text, runs of whitespace made one space ("" for None).

    Control characters are dropped.
    """
    return "" if value is None else _CONTROL.sub("", " ".join(str(value).split()))


def _paragraphs(value: Any) -> str:
    """Return free text with its line breaks kept and each line tidied as `_text` does."""
    if value is None:
        return ""
    return "\n".join(map(_text, str(value).strip().splitlines()))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
