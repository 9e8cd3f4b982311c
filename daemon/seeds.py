"""Seed files: YAML (or JSON) commitment lists, validated whole before anything is written.

A file names its source (publisher, title, date) and a time zone; deadline
phrases are read against the source's publication date, or the import instant
when the file gives none. Any error names the file, the commitment id and the
field, and nothing is written.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection

from daemon.model import recurrence
from daemon.model.deadlines import DeadlineError, read_deadline
from daemon.model.durations import DurationError, parse_duration
from daemon.model.pledge import Condition, Pending, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import Policy
from daemon.model.statuses import Kind, Status
from daemon.store import pledges

SUFFIXES = (".yaml", ".yml", ".json")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # what a commitment id may be


class SeedError(Exception):
    """A seed file that cannot be imported; says where and why."""

    def __init__(
        self, file: str, message: str, *, commitment: str | None = None, field: str | None = None
    ) -> None:
        self.file, self.commitment, self.field = file, commitment, field
        where = file
        if commitment:
            where += f": commitment {commitment!r}"
        if field:
            where += f": field {field!r}"
        super().__init__(f"{where}: {message}")


def _no_nul(value: Any) -> Any:
    """Refuse NUL characters, which PostgreSQL cannot store in text."""
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(t, str) and "\0" in t for t in texts):
        raise ValueError("contains a NUL character")
    return value


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str | None = None
    publisher: str | None = None
    url: str | None = None
    published: date | None = None


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requires: str
    status: Status = Status.KEPT


class _Commitment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=200, pattern=ID_PATTERN)
    title: str = Field(min_length=1)
    description: str | None = None
    parties: list[str] = []
    kind: Kind = Kind.DELIVERABLE
    status: Status | None = None
    deadline: Any = None
    reminders: list[str] | None = None
    tags: list[str] = []
    conditions: list[_Condition] = []
    deadline_from: Literal["conditions"] | None = None  # the deadline counts from when they are met
    check_in: str | None = None  # ongoing: how often (default: PLEDGEWATCH_CHECK_IN)
    every: str | None = None  # recurring: an interval such as 3mo
    cron: str | None = None  # recurring: a crontab line

    @field_validator("reminders", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return [str(v) for v in value] if isinstance(value, list) else value

    _text = field_validator("title", "description", "parties", "tags")(_no_nul)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: _Source = _Source()
    timezone: str | None = None
    commitments: list[_Commitment]


@dataclass(frozen=True)
class Seed:
    """One validated commitment and where it came from."""

    pledge: Pledge
    status_given: bool
    file: str


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Return the seed files named, folders expanded (sorted), or raise SeedError."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise SeedError(str(path), "not a regular file or folder")
        else:
            raise SeedError(str(path), "no such file or folder")
    return found


def load(paths: Iterable[str | Path], *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    """Read and validate every file; raise SeedError at the first problem."""
    seeds: list[Seed] = []
    seen: dict[str, str] = {}
    for path in discover(paths):
        for seed in _load_file(path, default_zone=default_zone, now=now):
            if seed.pledge.id in seen:
                raise SeedError(
                    str(path),
                    f"duplicate id, also in {seen[seed.pledge.id]}",
                    commitment=seed.pledge.id,
                    field="id",
                )
            seen[seed.pledge.id] = str(path)
            seeds.append(seed)
    return seeds


def _load_file(path: Path, *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(name, f"cannot read: {exc}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SeedError(
            name, f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    except ValueError as exc:  # YAML dates that are not on the calendar (2016-02-30)
        raise SeedError(name, f"not a valid date: {exc}") from None
    if not isinstance(raw, dict):
        raise SeedError(name, "expected a mapping with a `commitments` list")
    return parse(name, raw, default_zone=default_zone, now=now)


def parse(name: str, raw: dict[str, Any], *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    """Validate one seed document already read (a file's content, or an API body).

    `name` stands for the file in errors. Raises SeedError naming the commitment and field.
    """
    try:
        document = _File.model_validate(raw)
    except ValidationError as exc:
        raise _explain(name, raw, exc) from None
    zone = default_zone
    if document.timezone:
        try:
            zone = ZoneInfo(document.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SeedError(
                name, f"unknown time zone {document.timezone!r}", field="timezone"
            ) from None
    published = document.source.published
    reference = (
        datetime.combine(published, time(0), tzinfo=zone) if published else now.astimezone(zone)
    )
    source = Source(**document.source.model_dump())
    return [_to_seed(name, c, source, zone, reference) for c in document.commitments]


def _to_seed(
    name: str, item: _Commitment, source: Source, zone: ZoneInfo, reference: datetime
) -> Seed:
    window, pending = None, None
    if item.deadline_from is not None and (
        not item.conditions or not isinstance(item.deadline, str)
    ):
        raise SeedError(
            name,
            "deadline_from: conditions needs conditions and a deadline phrase such as 'within 6 months'",
            commitment=item.id,
            field="deadline_from",
        )
    if item.deadline is not None:
        try:
            # Read now even when it waits for the conditions: an unreadable phrase fails the import.
            window = read_deadline(item.deadline, reference=reference, tz=zone)
        except DeadlineError as exc:
            raise SeedError(name, str(exc), commitment=item.id, field="deadline") from None
    if item.deadline_from is not None:
        pending, window = Pending(str(item.deadline), zone.key), None
    reminders: tuple[timedelta, ...] | None = None
    if item.reminders is not None:
        try:
            reminders = tuple(parse_duration(r) for r in item.reminders)
        except DurationError as exc:
            raise SeedError(name, str(exc), commitment=item.id, field="reminders") from None
    if item.kind is Kind.CONDITIONAL and not item.conditions:
        raise SeedError(
            name,
            "a conditional commitment needs at least one condition",
            commitment=item.id,
            field="conditions",
        )
    check_ins = _recurrence(name, item, zone, reference)
    requires = [c.requires for c in item.conditions]
    if item.id in requires:
        raise SeedError(
            name, "a commitment cannot depend on itself", commitment=item.id, field="conditions"
        )
    if len(set(requires)) != len(requires):
        raise SeedError(
            name, "names the same commitment twice", commitment=item.id, field="conditions"
        )
    pledge = Pledge(
        id=item.id,
        title=item.title,
        description=item.description,
        kind=item.kind,
        status=item.status or Status.OPEN,
        parties=tuple(item.parties),
        tags=tuple(item.tags),
        source=source,
        window=window,
        reminders=reminders,
        recurrence=check_ins,
        pending=pending,
        # Sorted, as the store reads them back: a re-import then compares equal.
        conditions=tuple(
            sorted(
                (Condition(c.requires, c.status) for c in item.conditions), key=lambda c: c.requires
            )
        ),
    )
    return Seed(pledge, status_given=item.status is not None, file=name)


def _recurrence(
    name: str, item: _Commitment, zone: ZoneInfo, reference: datetime
) -> Recurrence | None:
    """Return the check-ins a commitment asks for, or raise SeedError naming the field."""

    def refuse(field: str, message: str) -> SeedError:
        return SeedError(name, message, commitment=item.id, field=field)

    if item.kind is not Kind.ONGOING and item.check_in is not None:
        raise refuse(
            "check_in", "only an ongoing commitment takes check_in (a recurring one: every or cron)"
        )
    if item.kind is not Kind.RECURRING and (item.every or item.cron):
        field = "every" if item.every else "cron"
        raise refuse(field, "only a recurring commitment takes every or cron")
    if item.kind is Kind.RECURRING and bool(item.every) == bool(item.cron):
        raise refuse(
            "every", "a recurring commitment needs either every (e.g. 3mo) or cron, not both"
        )
    if item.kind not in (Kind.ONGOING, Kind.RECURRING):
        return None
    every = item.check_in if item.kind is Kind.ONGOING else item.every
    try:
        if every is not None:
            recurrence.parse_every(every)
        if item.cron is not None:
            recurrence.check_cron(item.cron)
    except recurrence.RecurrenceError as exc:
        raise refuse(
            "cron" if item.cron else ("check_in" if item.check_in else "every"), str(exc)
        ) from None
    found = Recurrence(since=reference, timezone=zone.key, every=every, cron=item.cron)
    try:
        recurrence.check(found, default_every="30d")
    except recurrence.RecurrenceError as exc:
        raise refuse(
            "cron" if item.cron else ("check_in" if item.check_in else "every"), str(exc)
        ) from None
    return found


def _explain(name: str, raw: dict[str, Any], exc: ValidationError) -> SeedError:
    """Turn pydantic's first error into one naming the commitment id and the field."""
    error = exc.errors(include_input=False, include_url=False)[0]
    loc = list(error["loc"])
    commitment = None
    if len(loc) >= 2 and loc[0] == "commitments" and isinstance(loc[1], int):
        items = raw.get("commitments") or []
        item = items[loc[1]] if loc[1] < len(items) else None
        commitment = (
            str(item.get("id")) if isinstance(item, dict) and item.get("id") else f"#{loc[1] + 1}"
        )
        loc = loc[2:]
    field = ".".join(str(part) for part in loc) or None
    message = str(error["msg"]).removeprefix("Value error, ")
    return SeedError(name, message, commitment=commitment, field=field)


def apply(
    conn: Connection, seeds: Sequence[Seed], *, now: datetime, policy: Policy, actor: str = "import"
) -> dict[str, int]:
    """Upsert every seed in the caller's transaction; return counts by outcome.

    Raises SeedError when a condition names a commitment that is neither in
    this import nor stored (the caller rolls back).
    """
    ids = {s.pledge.id for s in seeds}
    wanted = {c.requires for s in seeds for c in s.pledge.conditions} - ids
    missing = wanted - pledges.existing_ids(conn, sorted(wanted))
    for seed in seeds:
        for condition in seed.pledge.conditions:
            if condition.requires in missing:
                raise SeedError(
                    seed.file,
                    f"condition requires {condition.requires!r}, which is not in this import nor stored",
                    commitment=seed.pledge.id,
                    field="conditions",
                )
    by_id = {s.pledge.id: s for s in seeds}
    # The conditions as they will stand: this import's, and the stored ones of the rest.
    graph: dict[str, set[str]] = {}
    for waiting, required in pledges.condition_edges(conn):
        if waiting not in ids:
            graph.setdefault(waiting, set()).add(required)
    for seed in seeds:
        graph[seed.pledge.id] = {c.requires for c in seed.pledge.conditions}
    try:
        # Required commitments first, so every condition points at a row already written.
        order = [i for i in graphlib.TopologicalSorter(graph).static_order() if i in ids]
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = next((i for i in cycle if i in by_id), cycle[0])
        raise SeedError(
            by_id[first].file if first in by_id else "(stored)",
            "conditions form a cycle: " + " -> ".join(cycle),
            commitment=first,
            field="conditions",
        ) from None
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    stored = pledges.existing_ids(conn, order)
    fresh: list[Pledge] = []  # new pledges in a row, written together

    def create() -> None:
        pledges.create(conn, fresh, now=now, policy=policy, actor=actor)
        counts["created"] += len(fresh)
        fresh.clear()

    for seed in (by_id[i] for i in order):
        if seed.pledge.id not in stored:
            fresh.append(seed.pledge)
            continue
        create()  # in condition order: what this one requires is written first
        outcome = pledges.upsert(
            conn, seed.pledge, status_given=seed.status_given, now=now, policy=policy, actor=actor
        )
        counts[outcome] += 1
    create()
    return counts
