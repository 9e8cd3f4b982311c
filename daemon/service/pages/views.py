"""What the status page templates show: stored pledges, history and deliveries, shaped for reading.

Every value handed to a template is plain text (the templates escape it) or
an address that `words.web_url` allowed; nothing here builds markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from daemon.delivery import retry
from daemon.model import documents, durations, words
from daemon.model.pledge import Pledge
from daemon.model.statuses import Status
from daemon.store import browse, pledges

STATUS_WORDS = {s: s.value.replace("_", " ") for s in Status}


@dataclass(frozen=True)
class Row:
    """One pledge on the overview."""

    id: str
    title: str
    parties: tuple[str, ...]
    tags: tuple[str, ...]
    status: str
    deadline: str
    countdown: words.Countdown


@dataclass(frozen=True)
class Group:
    """The rows of one status on this page, and how many pledges have it in all."""

    status: str
    label: str
    total: int
    rows: list[Row]


def deadline(pledge: Pledge) -> str:
    """Return the deadline in words, or what stands in for one."""
    if pledge.window is not None:
        return words.window_in_words(pledge.window)
    if pledge.pending is not None:
        return f"{pledge.pending.phrase}, once its conditions are met"
    if pledge.recurrence is not None:
        every = pledge.recurrence.every or pledge.recurrence.cron
        return f"none; check-ins every {every}" if every else "none; regular check-ins"
    return "none"


def row(pledge: Pledge, now: datetime) -> Row:
    """Return the overview row of `pledge` at `now`."""
    return Row(
        id=pledge.id,
        title=pledge.title,
        parties=pledge.parties,
        tags=pledge.tags,
        status=STATUS_WORDS[pledge.status],
        deadline=deadline(pledge),
        countdown=words.countdown(pledge, now),
    )


def groups(found: list[pledges.Stored], totals: dict[Status, int], now: datetime) -> list[Group]:
    """Return the page's pledges by status, in the overview's order (open ones first)."""
    by_status: dict[Status, list[Row]] = {}
    for stored in found:
        by_status.setdefault(stored.pledge.status, []).append(row(stored.pledge, now))
    return [
        Group(status.value, STATUS_WORDS[status], totals.get(status, 0), by_status[status])
        for status in browse.ORDER
        if status in by_status
    ]


def when(instant: datetime | str | None, zone: ZoneInfo, now: datetime) -> str:
    """Return an instant in `zone` and how far it is from `now`: "1 Aug 2016 12:00 MSK, 3 months ago"."""
    if instant is None:
        return ""
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    local = instant.astimezone(zone)
    ago = now - instant
    if abs(ago.total_seconds()) < 1:
        relative = "now"
    elif ago.total_seconds() > 0:
        relative = f"{words.roughly(ago)} ago"
    else:
        relative = f"in {words.roughly(ago)}"
    return f"{words.moment(local)} {local.tzname() or zone.key}, {relative}"


def facts(stored: pledges.Stored, now: datetime) -> list[tuple[str, str, str | None]]:
    """Return the pledge page's facts as (label, text, link), the empty ones left out."""
    pledge = stored.pledge
    zone = documents.zone_of(pledge)
    source = pledge.source
    published = words.day(source.published) if source.published else ""
    said = ", ".join(p for p in (source.publisher, source.title, published) if p)
    found = [
        ("Status", STATUS_WORDS[pledge.status], None),
        ("Kind", pledge.kind.value, None),
        ("Who", ", ".join(pledge.parties), None),
        ("Deadline", deadline(pledge), None),
        ("Next notice", when(stored.next_notice_at, zone, now), None),
        ("Held until", when(pledge.held_until, zone, now), None),
        ("Acknowledged", "yes: overdue repeats stop" if pledge.acknowledged else "", None),
        ("Blocked", "yes: a condition is not met yet" if pledge.blocked else "", None),
        ("Planning error", stored.plan_error or "", None),
        ("Source", said or (source.url or ""), words.web_url(source.url)),
    ]
    return [fact for fact in found if fact[1]]


def history(entries: list[dict[str, Any]], zone: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """Return the status history, newest first, each with its evidence link when it is a web address."""
    return [
        {
            **entry,
            "when": when(entry["at"], zone, now),
            "old": STATUS_WORDS.get(Status(entry["old_status"])) if entry["old_status"] else None,
            "new": STATUS_WORDS[Status(entry["new_status"])],
            "evidence_url": words.web_url(entry["evidence"]),
        }
        for entry in reversed(entries)
    ]


def notices(coming: list[dict[str, Any]], zone: ZoneInfo, now: datetime) -> list[dict[str, str]]:
    """Return the next notices as their type in words and when."""
    return [
        {
            "type": notice["type"].removeprefix("commitment.").replace("_", " "),
            "when": when(notice["at"], zone, now),
            "offset": _before(notice.get("offset")),
        }
        for notice in coming
    ]


def deliveries(found: list[dict[str, Any]], zone: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    """Return the pledge's deliveries, each attempt with its time and outcome in words."""
    return [
        {
            "id": d["id"],
            "type": d["type"].removeprefix("commitment.").replace("_", " "),
            "webhook": d["webhook"],
            "state": d["state"],
            "scheduled": when(d["scheduled_for"], zone, now),
            "next": when(d["next_attempt_at"], zone, now) if d["state"] == "pending" else "",
            "attempts": [
                {
                    "when": when(a["at"], zone, now),
                    "outcome": _outcome(a["status"], a["error"]),
                    "ok": retry.Outcome(a["status"], a["error"], 0.0).ok,
                }
                for a in d["attempts"]
            ],
        }
        for d in found
    ]


def page_url(filters: browse.Filters, number: int) -> str:
    """Return the overview address of page `number` with the same filters."""
    query = {
        "q": filters.text,
        "tag": filters.tag,
        "party": filters.party,
        "status": filters.status.value if filters.status else None,
        "page": str(number) if number > 1 else None,
    }
    kept = {k: v for k, v in query.items() if v}
    return "/" + (f"?{urlencode(kept)}" if kept else "")


def _outcome(status: int | None, error: str | None) -> str:
    if status is not None and error:
        return f"HTTP {status}: {error}"
    if status is not None:
        return f"HTTP {status}"
    return error or "sent"


def _before(offset: str | None) -> str:
    return f"{words.in_words(durations.parse_duration(offset))} before" if offset else ""
