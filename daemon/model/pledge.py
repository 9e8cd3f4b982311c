"""The pledge as a plain value: what the store hands to the model and back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from daemon.model.deadlines import Window
from daemon.model.recurrence import Recurrence
from daemon.model.statuses import Kind, Status


@dataclass(frozen=True)
class Source:
    """Where a pledge was reported: publisher, title, address and date."""

    title: str | None = None
    publisher: str | None = None
    url: str | None = None
    published: date | None = None


@dataclass(frozen=True)
class Condition:
    """This pledge waits until commitment `requires` reaches `status`."""

    requires: str
    status: Status = Status.KEPT


@dataclass(frozen=True)
class Pending:
    """A deadline counted from the moment the pledge's conditions are met ("within 6 months of it")."""

    phrase: str
    timezone: str


@dataclass(frozen=True)
class Extracted:
    """Where `pledgewatch extract` found a pledge: the sentence, its span, who, how sure, why."""

    sentence: str
    span: tuple[int, int]  # [start, end) in the article's cleaned text
    parties: tuple[str, ...] = ()
    confidence: float = 0.0
    cue: str = ""


@dataclass(frozen=True)
class Pledge:
    """A commitment as the model sees it; no database identity, no I/O."""

    id: str
    title: str
    status: Status = Status.OPEN
    kind: Kind = Kind.DELIVERABLE
    description: str | None = None
    parties: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source: Source = field(default_factory=Source)
    window: Window | None = None
    reminders: tuple[timedelta, ...] | None = None  # None: the operator's default offsets
    conditions: tuple[Condition, ...] = ()
    recurrence: Recurrence | None = None  # check-ins (ongoing and recurring pledges)
    pending: Pending | None = None  # a deadline that starts when the conditions are met
    # The zone its file was read in (else PLEDGEWATCH_TIMEZONE); None when stored before
    # pledges kept one. Its instants are shown there when no deadline or check-in names one.
    timezone: str | None = None
    extracted: Extracted | None = None  # the sentence `pledgewatch extract` proposed it from
    # Set by the store: some condition is not met yet, so no deadline clock runs.
    blocked: bool = False
    # Overdue repeats stop once acknowledged, until the next status change.
    acknowledged: bool = False
    # Snoozed (this pledge) or silenced (one of its tags) until then: notices wait.
    held_until: datetime | None = None
    # Archived by the operator: kept, but owed no notice until brought back.
    archived: bool = False
