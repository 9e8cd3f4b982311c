"""One commitment as a seed document, changed field by field: what `add` and `edit` validate.

A change names a field of the seed document as its errors name it: a
commitment field (`title`, `deadline`, `conditions`...), `source.published`
(and the other `source.` fields) or `timezone`. The document is then read by
`parse`, the code every import runs, so a pledge added or edited from the
command line is checked exactly as one imported.

An edit starts from the document that would store the pledge as it is
(`document_of`, its status left out: an edit keeps it). Its deadline is read
again only when the change could move it (a new deadline, zone or publication
date); otherwise the stored window stays as it is, whatever instant a phrase
such as "in 3 days" would give today.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from daemon.model import documents
from daemon.model.deadlines import Precision
from daemon.model.durations import format_duration
from daemon.model.pledge import Pledge
from daemon.model.statuses import Kind
from daemon.seeds import parsing

SOURCE = "source."  # the prefix of the fields of a document's source
_CHECK_INS = ("check_in", "every", "cron")  # the fields that say how a pledge is checked in on
_REREAD = ("deadline", "timezone", "source.published")  # a change to these moves the deadline


def document_of(pledge: Pledge) -> dict[str, Any]:
    """Return the seed document that would store `pledge` as it is, its status left out."""
    item: dict[str, Any] = {
        "id": pledge.id,
        "title": pledge.title,
        "kind": pledge.kind.value,
        "parties": list(pledge.parties),
        "tags": list(pledge.tags),
        "conditions": [
            {"requires": c.requires, "status": c.status.value} for c in pledge.conditions
        ],
    }
    if pledge.description is not None:
        item["description"] = pledge.description
    if pledge.reminders is not None:
        item["reminders"] = [format_duration(offset) for offset in pledge.reminders]
    window = pledge.window
    if pledge.pending is not None:
        item |= {"deadline": pledge.pending.phrase, "deadline_from": "conditions"}
    elif window is not None and window.precision is Precision.RANGE:
        zone = ZoneInfo(window.timezone)
        item["deadline"] = {
            "earliest": documents.isoformat(window.earliest, zone),
            "latest": documents.isoformat(window.latest, zone),
            "phrase": window.phrase,
        }
    elif window is not None:
        item["deadline"] = window.phrase
    found = pledge.recurrence
    if found is not None:
        key = "check_in" if pledge.kind is Kind.ONGOING else ("cron" if found.cron else "every")
        item[key] = found.cron or found.every
    source = {k: v for k, v in documents.source_document(pledge.source).items() if v is not None}
    return {
        "source": source,
        "timezone": pledge.timezone or documents.zone_of(pledge).key,
        "commitments": [item],
    }


def with_changes(document: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Return a one-commitment `document` with `changes` made; a change to None removes the field.

    A new kind drops the check-in fields it is not given (they belong to the
    old kind); a new `every` drops `cron`, and the other way round.
    """
    source = dict(document.get("source") or {})
    items = document.get("commitments") or [{}]
    item = dict(items[0])
    if "kind" in changes and changes["kind"] != item.get("kind"):
        for key in _CHECK_INS:
            item.pop(key, None)
    for one, other in (("every", "cron"), ("cron", "every")):
        if changes.get(one) is not None and other not in changes:
            item.pop(other, None)
    found = {**document, "source": source, "commitments": [item]}
    for key, value in changes.items():
        if key == "timezone":
            found["timezone"] = value
            continue
        target, name = (source, key.removeprefix(SOURCE)) if key.startswith(SOURCE) else (item, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    return found


def edited(
    pledge: Pledge, changes: dict[str, Any], *, name: str, default_zone: ZoneInfo, now: datetime
) -> parsing.Seed:
    """Return the seed of `pledge` with `changes` made, validated as an import validates it.

    `name` stands for the document in errors. Raises SeedError naming the field.
    """
    document = with_changes(document_of(pledge), changes)
    (seed,) = parsing.parse(name, document, default_zone=default_zone, now=now)
    if any(key in changes for key in _REREAD) or pledge.window is None:
        return seed
    if seed.pledge.window is None:
        return seed  # the deadline now waits for the conditions (deadline_from)
    return replace(seed, pledge=replace(seed.pledge, window=pledge.window))
