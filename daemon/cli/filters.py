"""The options that choose what `list` and `upcoming` show: which commitments, which notices."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli import common
from daemon.model import filters
from daemon.model.durations import DurationError, parse_duration
from daemon.model.schedule import NoticeType
from daemon.model.statuses import Kind, Status, parse_status

STATUSES = ", ".join(s.value for s in Status)
KINDS = ", ".join(k.value for k in Kind)

Statuses = Annotated[
    list[str] | None,
    typer.Option(
        "--status",
        metavar="STATUS",
        help=f"Only these statuses (repeatable, or a comma list): {STATUSES}.",
    ),
]
Kinds = Annotated[
    list[str] | None,
    typer.Option("--kind", metavar="KIND", help=f"Only these kinds (repeatable): {KINDS}."),
]
Tags = Annotated[
    list[str] | None, typer.Option("--tag", metavar="TAG", help="Only with this tag (repeatable).")
]
Parties = Annotated[
    list[str] | None,
    typer.Option("--party", metavar="PARTY", help="Only with this party (repeatable)."),
]
Overdue = Annotated[
    bool, typer.Option("--overdue", help="Only open ones whose deadline window has closed.")
]
DueWithin = Annotated[
    str | None,
    typer.Option(
        "--due-within",
        metavar="DURATION",
        help="Only those whose deadline window is open now or opens within this (30d, 12h).",
    ),
]
Search = Annotated[
    str | None,
    typer.Option(
        "--search",
        metavar="TEXT",
        help="Only those with TEXT in their id, title, description or parties (any case).",
    ),
]

OnePledge = Annotated[
    str | None, typer.Option("--pledge", metavar="ID", help="Only this commitment's notices.")
]
NoticeTypeOption = Annotated[
    str | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        help="Only notices of this type: reminder, due, overdue, check_in (commitment. optional).",
    ),
]
Limit = Annotated[
    int | None, typer.Option("--limit", min=1, metavar="N", help="At most N, the first ones.")
]


def notice_type(text: str | None) -> NoticeType | None:
    """Return the notice type --type names, with or without `commitment.`; else exit 2 listing them."""
    if text is None:
        return None
    for type_ in NoticeType:
        if text in (type_.value, type_.value.removeprefix("commitment.")):
            return type_
    valid = ", ".join(t.value.removeprefix("commitment.") for t in NoticeType)
    common.fail(f"--type: unknown notice type {text!r} (one of: {valid})", common.EXIT_INPUT)


def wanted(
    *,
    statuses: list[str] | None,
    kinds: list[str] | None,
    tags: list[str] | None,
    parties: list[str] | None,
    overdue: bool,
    due_within: str | None,
    search: str | None,
) -> filters.Wanted:
    """Return what the options ask for, or exit 2 naming the option that is wrong."""
    try:
        chosen = [parse_status(s) for s in _split(statuses)]
    except ValueError as exc:
        common.fail(str(exc), common.EXIT_INPUT)
    try:
        kinds_chosen = [Kind(k) for k in _split(kinds)]
    except ValueError:
        unknown = next(k for k in _split(kinds) if k not in {k.value for k in Kind})
        common.fail(f"unknown kind {unknown!r} (one of: {KINDS})", common.EXIT_INPUT)
    within = None
    if due_within is not None:
        try:
            within = parse_duration(due_within)
        except DurationError as exc:
            common.fail(f"--due-within: {exc}", common.EXIT_INPUT)
    return filters.Wanted(
        statuses=frozenset(chosen),
        kinds=frozenset(kinds_chosen),
        tags=tuple(tags or ()),
        parties=tuple(parties or ()),
        overdue=overdue,
        due_within=within,
        search=search or None,
    )


def _split(values: list[str] | None) -> list[str]:
    """Return the values of a repeatable option, each one also read as a comma list."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]
