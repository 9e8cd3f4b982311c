"""The JSON documents pledgewatch publishes: the commitment object and event bodies.

`commitment_document` is the one shape of a commitment seen from outside: in
webhook bodies (`data.commitment`), `list --json`, `show --json` and the API.
Instants are written in the pledge's own time zone, with their offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from daemon.model.durations import format_duration
from daemon.model.pledge import Condition, Extracted, Pledge, Source
from daemon.model.schedule import Notice, NoticeType

# Bumped when a published shape changes incompatibly; receivers can branch on it.
PAYLOAD_VERSION = 1


def zone_of(pledge: Pledge) -> ZoneInfo:
    """Return the zone a pledge's instants are shown in.

    Its deadline's, its check-ins', its pending deadline's, the zone of the
    file it came from, else UTC (a pledge stored before pledges kept a zone).
    """
    if pledge.window:
        return ZoneInfo(pledge.window.timezone)
    if pledge.recurrence:
        return ZoneInfo(pledge.recurrence.timezone)
    if pledge.pending:
        return ZoneInfo(pledge.pending.timezone)
    return ZoneInfo(pledge.timezone or "UTC")


def isoformat(instant: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    """Return `instant` as ISO 8601 in `zone` (UTC when none), or None."""
    if instant is None:
        return None
    return instant.astimezone(zone or UTC).isoformat()


def shown(instant: datetime, zone: tzinfo) -> str:
    """Return an instant as people are shown it: ISO 8601 in `zone`, with its offset, to the second.

    The one rule for tables, command answers and history notes; JSON keeps instants exact.
    """
    return instant.astimezone(zone).isoformat(timespec="seconds")


def source_document(source: Source) -> dict[str, Any]:
    """Return where a pledge was reported, as published and as stored."""
    return {
        "title": source.title,
        "publisher": source.publisher,
        "url": source.url,
        "published": source.published.isoformat() if source.published else None,
    }


def commitment_document(pledge: Pledge) -> dict[str, Any]:
    """Return the commitment object that webhooks, the CLI and the API share."""
    zone = zone_of(pledge)
    window = pledge.window
    return {
        "id": pledge.id,
        "title": pledge.title,
        "description": pledge.description,
        "kind": pledge.kind.value,
        "status": pledge.status.value,
        "parties": list(pledge.parties),
        "tags": list(pledge.tags),
        "source": source_document(pledge.source),
        "deadline": None
        if window is None
        else {
            "phrase": window.phrase,
            "earliest": isoformat(window.earliest, zone),
            "latest": isoformat(window.latest, zone),
            "precision": window.precision.value,
            "timezone": window.timezone,
        },
        "reminders": None
        if pledge.reminders is None
        else [format_duration(offset) for offset in pledge.reminders],
        "conditions": [
            {"requires": c.requires, "status": c.status.value} for c in pledge.conditions
        ],
        "check_ins": recurrence_document(pledge),
        # A deadline that starts when the conditions are met: its phrase until then.
        "deadline_after_conditions": pledge.pending.phrase if pledge.pending else None,
        # True while a condition is unmet: no deadline clock runs for it yet.
        "blocked": pledge.blocked,
        "acknowledged": pledge.acknowledged,
        "held_until": isoformat(pledge.held_until, zone),
    }


def extracted_document(found: Extracted | None) -> dict[str, Any] | None:
    """Return where `pledgewatch extract` found a pledge, as stored and shown, or None."""
    if found is None:
        return None
    return {
        "sentence": found.sentence,
        "span": list(found.span),
        "parties": list(found.parties),
        "confidence": found.confidence,
        "cue": found.cue,
    }


def recurrence_document(pledge: Pledge) -> dict[str, Any] | None:
    """Return how a pledge is checked in on: `every` or `cron`, counted from `since`."""
    found = pledge.recurrence
    if found is None:
        return None
    zone = ZoneInfo(found.timezone)
    return {"every": found.every, "cron": found.cron, "since": isoformat(found.since, zone)}


def notice_body(
    pledge: Pledge, notice: Notice, *, missed: int = 0, late: bool | None = None
) -> dict[str, Any]:
    """Return the `json`-format body of a deadline notice (reminder, due, overdue)."""
    fields: dict[str, Any] = {}
    if notice.type is NoticeType.REMINDER and notice.offset is not None:
        fields["offset"] = format_duration(notice.offset)
    if notice.type is NoticeType.CHECK_IN and pledge.recurrence is not None:
        fields["recurrence"] = recurrence_document(pledge)
    if notice.type is NoticeType.OVERDUE and pledge.window is not None:
        fields["overdue_by"] = format_duration(notice.at - pledge.window.latest)
        fields["repeat"] = notice.repeat
    if late or (late is None and missed):
        # Sent after downtime: past its instant, standing for `missed` earlier ones.
        fields["late"] = True
        fields["missed"] = missed
    return event_body(pledge, notice.type, notice.at, fields)


def status_body(
    pledge: Pledge,
    at: datetime,
    *,
    old_status: str | None,
    note: str | None,
    evidence: str | None,
    actor: str | None,
) -> dict[str, Any]:
    """Return the `json`-format body of a `commitment.status_changed` notice."""
    fields = {
        "old_status": old_status,
        "new_status": pledge.status.value,
        "note": note,
        "evidence": evidence,
        "actor": actor,
    }
    return event_body(pledge, NoticeType.STATUS_CHANGED, at, fields)


def condition_body(
    pledge: Pledge, at: datetime, condition: Condition, required_status: str
) -> dict[str, Any]:
    """Return the body telling a dependent pledge that one of its conditions was met or failed.

    Met: `commitment.condition_met`. Failed (the required pledge closed with
    another outcome, so the condition can no longer be met): a
    `commitment.status_changed` whose status stays as it was, with the reason.
    """
    met = required_status == condition.status.value
    fields: dict[str, Any] = {
        "condition": {
            "requires": condition.requires,
            "status": condition.status.value,
            "required_status": required_status,
            "outcome": "met" if met else "failed",
        }
    }
    if met:
        return event_body(pledge, NoticeType.CONDITION_MET, at, fields)
    note = (
        f"condition failed: {condition.requires} is {required_status}, "
        f"this pledge needed it {condition.status.value}"
    )
    fields |= {
        "old_status": pledge.status.value,
        "new_status": pledge.status.value,
        "note": note,
        "evidence": None,
        "actor": None,
    }
    return event_body(pledge, NoticeType.STATUS_CHANGED, at, fields)


TEST_NOTE = (
    "Sent by pledgewatch webhooks test to check this webhook: the commitment is a sample, "
    "and nothing is due."
)


def test_body(at: datetime) -> dict[str, Any]:
    """Return the body of a `commitment.test` notice: a sample commitment, marked as a test."""
    sample = Pledge(
        id="pledgewatch-test",
        title="Sample commitment for a webhook test",
        description="A sample commitment: no such pledge is stored or watched.",
        parties=("pledgewatch",),
        tags=("test",),
        timezone="UTC",
    )
    return event_body(sample, NoticeType.TEST, at, {"test": True, "note": TEST_NOTE})


def event_body(
    pledge: Pledge, type_: NoticeType, at: datetime, fields: dict[str, Any]
) -> dict[str, Any]:
    """Return the envelope every event shares: type, timestamp, data.commitment."""
    zone = zone_of(pledge)
    return {
        "type": type_.value,
        "timestamp": isoformat(at, zone),
        "version": PAYLOAD_VERSION,
        "data": {
            "commitment": commitment_document(pledge),
            "scheduled_for": isoformat(at, zone),
            **fields,
        },
    }
