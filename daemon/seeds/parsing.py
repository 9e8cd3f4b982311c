"""A seed document read into Seeds: deadlines, reminders, conditions and check-ins checked.

Deadline phrases are read against the source's publication date, or the
import instant when the document gives none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from daemon.model import recurrence
from daemon.model.deadlines import DeadlineError, read_deadline
from daemon.model.durations import DurationError, parse_duration
from daemon.model.pledge import Condition, Extracted, Pending, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.statuses import Kind, Status
from daemon.seeds import fastpath, schema


@dataclass(frozen=True)
class Seed:
    """One validated commitment and where it came from."""

    pledge: Pledge
    status_given: bool
    file: str


def parse(name: str, raw: dict[str, Any], *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    """Validate one seed document already read (a file's content, or an API body).

    `name` stands for the file in errors. Raises SeedError naming the commitment and field.

    The error raised is the first of pydantic's for the whole document (in
    document order) if it has any, else the first one found reading the
    commitments in order. Commitments are read as they are validated, so a
    large file's validated fields are never all held at once: the head by
    pydantic, each plain commitment by `fastpath`, the others by pydantic one
    by one; at the first pydantic error the whole document is validated again
    by pydantic, for its own first error.
    """
    items = raw.get("commitments")
    if type(items) is list:
        try:
            document = schema.Document.model_validate({**raw, "commitments": []})
        except ValidationError:
            pass
        else:
            found = _read_items(name, document, items, default_zone=default_zone, now=now)
            if found is not None:
                return found
    try:
        document = schema.Document.model_validate(raw)
    except ValidationError as exc:
        raise schema.explain(name, raw, exc) from None
    zone, reference = _zone_and_reference(name, document, default_zone=default_zone, now=now)
    source = Source(**document.source.model_dump())
    return [
        _to_seed(name, schema.as_fields(c), source, zone, reference) for c in document.commitments
    ]


def _read_items(
    name: str, document: schema.Document, items: list[Any], *, default_zone: ZoneInfo, now: datetime
) -> list[Seed] | None:
    """Return the seeds of `items`, None at the first one pydantic refuses, or raise SeedError.

    A SeedError is raised only once every item has passed pydantic: its errors come first.
    """
    failed: schema.SeedError | None = None
    try:
        zone, reference = _zone_and_reference(name, document, default_zone=default_zone, now=now)
    except schema.SeedError as exc:
        failed = exc
    source = Source(**document.source.model_dump())
    found: list[Seed] = []
    for item in items:
        fields = fastpath.plain_fields(item)
        if fields is None:
            try:
                fields = schema.as_fields(schema.Commitment.model_validate(item))
            except ValidationError:
                return None
        if failed is None:
            try:
                found.append(_to_seed(name, fields, source, zone, reference))
            except schema.SeedError as exc:
                failed = exc
    if failed is not None:
        raise failed
    return found


def _zone_and_reference(
    name: str, document: schema.Document, *, default_zone: ZoneInfo, now: datetime
) -> tuple[ZoneInfo, datetime]:
    """Return the file's zone and the instant its phrases are read against, or raise SeedError."""
    zone = default_zone
    if document.timezone:
        try:
            zone = ZoneInfo(document.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise schema.SeedError(
                name, f"unknown time zone {document.timezone!r}", field="timezone"
            ) from None
    published = document.source.published
    reference = (
        datetime.combine(published, time(0), tzinfo=zone) if published else now.astimezone(zone)
    )
    return zone, reference


def _to_seed(
    name: str, item: schema.Fields, source: Source, zone: ZoneInfo, reference: datetime
) -> Seed:
    key, deadline, conditions = item["id"], item["deadline"], item["conditions"]
    window, pending = None, None
    if item["deadline_from"] is not None and (not conditions or not isinstance(deadline, str)):
        raise schema.SeedError(
            name,
            "deadline_from: conditions needs conditions and a deadline phrase such as 'within 6 months'",
            commitment=key,
            field="deadline_from",
        )
    if deadline is not None:
        try:
            # Read now even when it waits for the conditions: an unreadable phrase fails the import.
            window = read_deadline(deadline, reference=reference, tz=zone)
        except DeadlineError as exc:
            raise schema.SeedError(name, str(exc), commitment=key, field="deadline") from None
    if item["deadline_from"] is not None:
        pending, window = Pending(str(deadline), zone.key), None
    reminders: tuple[timedelta, ...] | None = None
    if item["reminders"] is not None:
        try:
            reminders = tuple(parse_duration(r) for r in item["reminders"])
        except DurationError as exc:
            raise schema.SeedError(name, str(exc), commitment=key, field="reminders") from None
    kind = item["kind"]
    if kind is Kind.CONDITIONAL and not conditions:
        raise schema.SeedError(
            name,
            "a conditional commitment needs at least one condition",
            commitment=key,
            field="conditions",
        )
    check_ins = _check_ins(name, item, zone, reference)
    if conditions:
        requires = [c.requires for c in conditions]
        if key in requires:
            raise schema.SeedError(
                name, "a commitment cannot depend on itself", commitment=key, field="conditions"
            )
        if len(set(requires)) != len(requires):
            raise schema.SeedError(
                name, "names the same commitment twice", commitment=key, field="conditions"
            )
    status = item["status"]
    found = item["extracted"]
    pledge = Pledge(
        id=key,
        title=item["title"],
        description=item["description"],
        kind=kind,
        status=status or Status.OPEN,
        parties=tuple(item["parties"]),
        tags=tuple(item["tags"]),
        source=source,
        window=window,
        reminders=reminders,
        recurrence=check_ins,
        pending=pending,
        timezone=zone.key,
        extracted=None
        if found is None
        else Extracted(
            sentence=found.sentence,
            span=(found.span[0], found.span[1]),
            parties=tuple(found.parties),
            confidence=found.confidence,
            cue=found.cue,
        ),
        # Sorted, as the store reads them back: a re-import then compares equal.
        conditions=tuple(
            sorted((Condition(c.requires, c.status) for c in conditions), key=lambda c: c.requires)
        )
        if conditions
        else (),
    )
    return Seed(pledge, status_given=status is not None, file=name)


def _check_ins(
    name: str, item: schema.Fields, zone: ZoneInfo, reference: datetime
) -> Recurrence | None:
    """Return the check-ins a commitment asks for, or raise SeedError naming the field."""
    kind, check_in, every, cron = item["kind"], item["check_in"], item["every"], item["cron"]
    if kind is Kind.DELIVERABLE and check_in is None and every is None and cron is None:
        return None  # the common case, decided without the checks below

    def refuse(field: str, message: str) -> schema.SeedError:
        return schema.SeedError(name, message, commitment=item["id"], field=field)

    if kind is not Kind.ONGOING and check_in is not None:
        raise refuse(
            "check_in", "only an ongoing commitment takes check_in (a recurring one: every or cron)"
        )
    if kind is not Kind.RECURRING and (every or cron):
        field = "every" if every else "cron"
        raise refuse(field, "only a recurring commitment takes every or cron")
    if kind is Kind.RECURRING and bool(every) == bool(cron):
        raise refuse(
            "every", "a recurring commitment needs either every (e.g. 3mo) or cron, not both"
        )
    if kind not in (Kind.ONGOING, Kind.RECURRING):
        return None
    if kind is Kind.ONGOING:
        every = check_in
    failed_field = "cron" if cron else ("check_in" if check_in else "every")
    try:
        if every is not None:
            recurrence.parse_every(every)
        if cron is not None:
            recurrence.check_cron(cron)
    except recurrence.RecurrenceError as exc:
        raise refuse(failed_field, str(exc)) from None
    found = Recurrence(since=reference, timezone=zone.key, every=every, cron=cron)
    try:
        recurrence.check(found, default_every="30d")
    except recurrence.RecurrenceError as exc:
        raise refuse(failed_field, str(exc)) from None
    return found
