"""Seed files: YAML (or JSON) commitment lists, validated whole before anything is written.

A file names its source (publisher, title, date) and a time zone; deadline
phrases are read against the source's publication date, or the import instant
when the file gives none. Any error names the file, the commitment id and the
field, and nothing is written.
"""

from __future__ import annotations

import gc
import graphlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal, TypedDict
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection

from daemon.model import recurrence
from daemon.model.deadlines import DeadlineError, read_deadline
from daemon.model.durations import DurationError, parse_duration
from daemon.model.pledge import Condition, Pending, Pledge, Source
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import Policy
from daemon.model.statuses import Kind, Status
from daemon.store import imports, pledges

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


class _Fields(TypedDict):
    """A validated commitment's fields, as `_Commitment` holds them."""

    id: str
    title: str
    description: str | None
    parties: list[str]
    kind: Kind
    status: Status | None
    deadline: Any
    reminders: list[str] | None
    tags: list[str]
    conditions: list[_Condition]
    deadline_from: Literal["conditions"] | None
    check_in: str | None
    every: str | None
    cron: str | None


_FIELDS = frozenset(_Commitment.model_fields)
_PLAIN_ID = re.compile(ID_PATTERN.removeprefix("^").removesuffix("$"))  # for fullmatch
_KINDS = {kind.value: kind for kind in Kind}
_STATUSES = {status.value: status for status in Status}
_ABSENT: Any = object()


def _plain_text(value: Any, *, constrained: bool = False) -> bool:
    """True for a str that `_Commitment` takes as it is: no NUL; when `constrained`
    (a length or pattern applies), no lone surrogate either, which pydantic refuses there."""
    if type(value) is not str or "\0" in value:
        return False
    if constrained and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _plain_texts(value: Any) -> bool:
    """True for a list of str without NUL."""
    if type(value) is not list:
        return False
    for text in value:  # a loop: lists of a few short names, checked a million times
        if type(text) is not str or "\0" in text:
            return False
    return True


def _plain(item: Any) -> _Fields | None:
    """Return the fields of a commitment written the plain way, or None to ask pydantic.

    Plain: known keys; strings, lists of strings and enum values as they are
    read from YAML or JSON; no conditions. Such an item is valid, and these
    are the values `_Commitment` would give it; checking it here costs a
    fraction of pydantic's time per item, which decides the rate of a large
    import. Anything else (and every error) is left to pydantic, so what is
    accepted and what an error says do not depend on this shortcut.
    """
    if type(item) is not dict or not _FIELDS.issuperset(item):
        return None
    get = item.get
    key, title = get("id"), get("title")
    if type(key) is not str or len(key) > 200 or not _PLAIN_ID.fullmatch(key):
        return None
    if not title or not _plain_text(title, constrained=True):
        return None
    description = get("description")
    if description is not None and not _plain_text(description):
        return None
    parties, tags = get("parties", _ABSENT), get("tags", _ABSENT)
    parties = [] if parties is _ABSENT else parties
    tags = [] if tags is _ABSENT else tags
    if not _plain_texts(parties) or not _plain_texts(tags):
        return None
    kind = get("kind", "deliverable")
    kind = _KINDS.get(kind) if type(kind) is str else None
    status = get("status")
    if status is not None:
        status = _STATUSES.get(status) if type(status) is str else None
        if status is None:
            return None
    reminders = get("reminders")
    if reminders is not None:
        if type(reminders) is not list:
            return None
        reminders = _Commitment._strings(reminders)
    deadline_from = get("deadline_from")
    check_in, every, cron = get("check_in"), get("every"), get("cron")
    conditions = get("conditions", _ABSENT)
    if (
        kind is None
        or (conditions is not _ABSENT and conditions != [])
        or (deadline_from is not None and deadline_from != "conditions")
    ):
        return None
    for text in (deadline_from, check_in, every, cron):
        if text is not None and type(text) is not str:
            return None
    return {
        "id": key,
        "title": title,
        "description": description,
        "parties": parties,
        "kind": kind,
        "status": status,
        "deadline": get("deadline"),
        "reminders": reminders,
        "tags": tags,
        "conditions": [],
        "deadline_from": deadline_from,
        "check_in": check_in,
        "every": every,
        "cron": cron,
    }


@dataclass(frozen=True)
class Seed:
    """One validated commitment and where it came from."""

    pledge: Pledge
    status_given: bool
    file: str


@contextmanager
def bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large import is read and written.

    An import builds millions of small values that all live until it ends and
    hold no cycles; the collector would walk them again and again (a third of
    the time of reading a large file). Left on for a long-running process's
    small imports.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
            key = seed.pledge.id
            if key in seen:
                raise SeedError(
                    seed.file, f"duplicate id, also in {seen[key]}", commitment=key, field="id"
                )
            seen[key] = seed.file  # str(path)
            seeds.append(seed)
    return seeds


def _load_file(path: Path, *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    import yaml  # here, not above: the daemon and most commands never read a file

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else _read_yaml(text)
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


def _read_yaml(text: str) -> Any:
    """Return the YAML document in `text`, read by libyaml when PyYAML was built with it.

    libyaml reads a large file tens of times faster. The constructors (what a
    value becomes) are the same; on any error the pure-Python reader reads it
    again, so the error raised is the one it has always given.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader, in C
        except (yaml.YAMLError, ValueError):
            pass
    return yaml.safe_load(text)


def parse(name: str, raw: dict[str, Any], *, default_zone: ZoneInfo, now: datetime) -> list[Seed]:
    """Validate one seed document already read (a file's content, or an API body).

    `name` stands for the file in errors. Raises SeedError naming the commitment and field.

    The error raised is the first of pydantic's for the whole document (in
    document order) if it has any, else the first one found reading the
    commitments in order. Commitments are read as they are validated, so a
    large file's validated fields are never all held at once: the head by
    pydantic, each plain commitment by `_plain`, the others by pydantic one
    by one; at the first pydantic error the whole document is validated again
    by pydantic, for its own first error.
    """
    items = raw.get("commitments")
    if type(items) is list:
        try:
            document = _File.model_validate({**raw, "commitments": []})
        except ValidationError:
            pass
        else:
            found = _read_items(name, document, items, default_zone=default_zone, now=now)
            if found is not None:
                return found
    try:
        document = _File.model_validate(raw)
    except ValidationError as exc:
        raise _explain(name, raw, exc) from None
    zone, reference = _zone_and_reference(name, document, default_zone=default_zone, now=now)
    source = Source(**document.source.model_dump())
    return [_to_seed(name, _fields(c), source, zone, reference) for c in document.commitments]


def _read_items(
    name: str, document: _File, items: list[Any], *, default_zone: ZoneInfo, now: datetime
) -> list[Seed] | None:
    """Return the seeds of `items`, None at the first one pydantic refuses, or raise SeedError.

    A SeedError is raised only once every item has passed pydantic: its errors come first.
    """
    failed: SeedError | None = None
    try:
        zone, reference = _zone_and_reference(name, document, default_zone=default_zone, now=now)
    except SeedError as exc:
        failed = exc
    source = Source(**document.source.model_dump())
    found: list[Seed] = []
    for item in items:
        fields = _plain(item)
        if fields is None:
            try:
                fields = _fields(_Commitment.model_validate(item))
            except ValidationError:
                return None
        if failed is None:
            try:
                found.append(_to_seed(name, fields, source, zone, reference))
            except SeedError as exc:
                failed = exc
    if failed is not None:
        raise failed
    return found


def _zone_and_reference(
    name: str, document: _File, *, default_zone: ZoneInfo, now: datetime
) -> tuple[ZoneInfo, datetime]:
    """Return the file's zone and the instant its phrases are read against, or raise SeedError."""
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
    return zone, reference


def _fields(item: _Commitment) -> _Fields:
    return _Fields(**dict(item))


def _to_seed(name: str, item: _Fields, source: Source, zone: ZoneInfo, reference: datetime) -> Seed:
    key, deadline, conditions = item["id"], item["deadline"], item["conditions"]
    window, pending = None, None
    if item["deadline_from"] is not None and (not conditions or not isinstance(deadline, str)):
        raise SeedError(
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
            raise SeedError(name, str(exc), commitment=key, field="deadline") from None
    if item["deadline_from"] is not None:
        pending, window = Pending(str(deadline), zone.key), None
    reminders: tuple[timedelta, ...] | None = None
    if item["reminders"] is not None:
        try:
            reminders = tuple(parse_duration(r) for r in item["reminders"])
        except DurationError as exc:
            raise SeedError(name, str(exc), commitment=key, field="reminders") from None
    kind = item["kind"]
    if kind is Kind.CONDITIONAL and not conditions:
        raise SeedError(
            name,
            "a conditional commitment needs at least one condition",
            commitment=key,
            field="conditions",
        )
    check_ins = _recurrence(name, item, zone, reference)
    if conditions:
        requires = [c.requires for c in conditions]
        if key in requires:
            raise SeedError(
                name, "a commitment cannot depend on itself", commitment=key, field="conditions"
            )
        if len(set(requires)) != len(requires):
            raise SeedError(
                name, "names the same commitment twice", commitment=key, field="conditions"
            )
    status = item["status"]
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
        # Sorted, as the store reads them back: a re-import then compares equal.
        conditions=tuple(
            sorted((Condition(c.requires, c.status) for c in conditions), key=lambda c: c.requires)
        )
        if conditions
        else (),
    )
    return Seed(pledge, status_given=status is not None, file=name)


def _recurrence(name: str, item: _Fields, zone: ZoneInfo, reference: datetime) -> Recurrence | None:
    """Return the check-ins a commitment asks for, or raise SeedError naming the field."""
    kind, check_in, every, cron = item["kind"], item["check_in"], item["every"], item["cron"]
    if kind is Kind.DELIVERABLE and check_in is None and every is None and cron is None:
        return None  # the common case, decided without the checks below

    def refuse(field: str, message: str) -> SeedError:
        return SeedError(name, message, commitment=item["id"], field=field)

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
    missing = wanted - imports.existing_ids(conn, sorted(wanted))
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
    edges = pledges.condition_edges(conn)
    graph: dict[str, set[str]] = {}
    for waiting, required in edges:
        if waiting not in ids:
            graph.setdefault(waiting, set()).add(required)
    for seed in seeds:
        if seed.pledge.conditions:
            graph[seed.pledge.id] = {c.requires for c in seed.pledge.conditions}
    order = _condition_order(by_id, graph)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    stored = imports.existing_ids(conn, order)
    kept = imports.unchanged(
        conn, [(by_id[i].pledge, by_id[i].status_given) for i in order if i in stored]
    )
    # Who waits on whom, stored or in this import: an update may touch those waiting.
    waiting_on: dict[str, set[str]] = {}
    for waiting, required in [*edges, *((w, r) for w, found in graph.items() for r in found)]:
        waiting_on.setdefault(required, set()).add(waiting)
    touched: set[str] = set()  # rows an update changed after `kept` was read
    fresh: list[Pledge] = []  # new pledges in a row, written together

    def create() -> None:
        imports.create(conn, fresh, now=now, policy=policy, actor=actor)
        counts["created"] += len(fresh)
        fresh.clear()

    for seed in (by_id[i] for i in order):
        key = seed.pledge.id
        if key not in stored:
            fresh.append(seed.pledge)
            continue
        if key in kept and key not in touched:
            counts["unchanged"] += 1
            continue
        create()  # in condition order: what this one requires is written first
        outcome = imports.upsert(
            conn, seed.pledge, status_given=seed.status_given, now=now, policy=policy, actor=actor
        )
        counts[outcome] += 1
        if outcome == "updated":
            touched |= waiting_on.get(key, set())
    create()
    return counts


def _condition_order(by_id: dict[str, Seed], graph: dict[str, set[str]]) -> list[str]:
    """Return the ids of `by_id`, each after those it requires, or raise SeedError on a cycle.

    `graph` maps a pledge to those it requires. Pledges that neither require
    nor are required come first, in file order; the others are sorted.
    """
    linked = set(graph).union(*graph.values())
    order = [i for i in by_id if i not in linked]
    try:
        # Required commitments first, so every condition points at a row already written.
        order += [i for i in graphlib.TopologicalSorter(graph).static_order() if i in by_id]
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = next((i for i in cycle if i in by_id), cycle[0])
        raise SeedError(
            by_id[first].file if first in by_id else "(stored)",
            "conditions form a cycle: " + " -> ".join(cycle),
            commitment=first,
            field="conditions",
        ) from None
    return order
