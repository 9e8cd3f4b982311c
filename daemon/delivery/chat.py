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
from datetime import date, datetime
from typing import Any

from daemon.model import durations, words

_PREFIX = "commitment."
# Control characters say nothing to a reader, and JSON spells each in six bytes.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
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
    return words.span_in_words(phrase, earliest, latest, _text(deadline.get("timezone")))


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
        return words.in_words(durations.parse_duration(text))
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
        published = words.day(date.fromisoformat(published)) if published else ""
    except ValueError:
        pass  # not an ISO date: shown as written
    parts = [_text(source.get("publisher")), f"“{title}”" if title else "", published]
    url = words.web_url(_text(source.get("url")))
    return Fact("Source", ", ".join(p for p in parts if p) or url or "", url)


def _linked(label: str, text: str) -> Fact:
    return Fact(label, text, words.web_url(text))


def _status(value: Any) -> str:
    return _text(value).replace("_", " ")


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
