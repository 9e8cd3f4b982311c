"""The commands that write one pledge from the command line: add, edit and archive.

`add` and `edit` build a one-commitment seed document from their flags and
run it through the code every import runs (`seeds.parse`, `seeds.apply`):
what they accept, and the pledge they store, is what `import` would. A
refusal names the flag, mapped from the seed field the error names.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from daemon.cli import common
from daemon.clock import system_clock

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from daemon import seeds
    from daemon.settings import Settings

app = common.app

NAME = "command line"  # what seed errors call the document the flags make
# The flag of each seed field (as its errors name it); a list flag is given once per item.
FLAGS = {
    "id": "--id",
    "title": "--title",
    "kind": "--kind",
    "deadline": "--deadline",
    "parties": "--party",
    "tags": "--tag",
    "description": "--description",
    "reminders": "--reminders",
    "check_in": "--check-in",
    "every": "--every",
    "cron": "--cron",
    "conditions": "--requires",
    "deadline_from": "--deadline-from",
    "timezone": "--timezone",
    "source.published": "--published",
    "source.title": "--source-title",
    "source.publisher": "--source-publisher",
    "source.url": "--source-url",
}
_EMPTY = "; '' clears it (edit)"

Title = Annotated[str | None, typer.Option("--title", help="What was pledged.")]
Kind = Annotated[
    str | None,
    typer.Option("--kind", help="deliverable (default), ongoing, recurring or conditional."),
]
Deadline = Annotated[
    str | None,
    typer.Option("--deadline", help="A date, instant or phrase ('by August', 'Q3 2016')" + _EMPTY),
]
Party = Annotated[
    list[str] | None,
    typer.Option("--party", metavar="PARTY", help="Who pledged (repeatable; replaces them all)."),
]
Tag = Annotated[
    list[str] | None,
    typer.Option("--tag", metavar="TAG", help="A tag (repeatable; replaces them all)."),
]
Description = Annotated[str | None, typer.Option("--description", help="More about it" + _EMPTY)]
Reminders = Annotated[
    str | None,
    typer.Option(
        "--reminders",
        help="Offsets before the deadline, e.g. 30d,7d; '' for none, 'default' for the operator's.",
    ),
]
CheckIn = Annotated[
    str | None, typer.Option("--check-in", help="Ongoing: check in this often, e.g. 14d.")
]
Every = Annotated[str | None, typer.Option("--every", help="Recurring: an interval, e.g. 3mo.")]
Cron = Annotated[str | None, typer.Option("--cron", help="Recurring: a crontab line.")]
Requires = Annotated[
    list[str] | None,
    typer.Option(
        "--requires",
        metavar="OTHER[:STATUS]",
        help="Wait until OTHER is STATUS (default kept); repeatable; replaces them all.",
    ),
]
DeadlineFrom = Annotated[
    str | None,
    typer.Option(
        "--deadline-from", help="'conditions': the deadline counts from when they are met."
    ),
]
Timezone = Annotated[
    str | None, typer.Option("--timezone", help="IANA zone; default PLEDGEWATCH_TIMEZONE.")
]
Published = Annotated[
    str | None,
    typer.Option("--published", help="The source's date (YYYY-MM-DD); phrases count from it."),
]
SourceTitle = Annotated[str | None, typer.Option("--source-title", help="The source's title.")]
SourcePublisher = Annotated[
    str | None, typer.Option("--source-publisher", help="Who published the source.")
]
SourceUrl = Annotated[str | None, typer.Option("--source-url", help="The source's address.")]


def _changes(**given: Any) -> dict[str, Any]:
    """Return the seed fields the flags given change (those left out are None), by field name.

    '' clears an optional field; list flags replace the whole list (`--tag ''` empties it).
    """
    changes: dict[str, Any] = {}
    for field, value in given.items():
        key = field.replace("source_", "source.") if field != "published" else "source.published"
        if value is None:
            continue
        if field in ("parties", "tags"):
            changes[key] = [v for v in value if v]
        elif field == "conditions":
            changes[key] = [_condition(v) for v in value if v]
        elif field == "reminders":
            changes[key] = (
                None if value == "default" else [r.strip() for r in value.split(",") if r.strip()]
            )
        else:
            changes[key] = value or None
    return changes


def _condition(text: str) -> dict[str, str]:
    """Read `OTHER[:STATUS]` as a seed condition."""
    requires, _, status = text.partition(":")
    return {"requires": requires, "status": status} if status else {"requires": requires}


def _refusal(commitment_id: str, exc: seeds.SeedError) -> str:
    """Return a seed error as the command line says it: the flag, then why."""
    field = exc.field or ""
    parts = field.split(".")
    flag = next(
        (FLAGS[k] for k in (".".join(parts[:n]) for n in range(len(parts), 0, -1)) if k in FLAGS),
        None,
    )
    if flag is None:
        return str(exc)
    return f"{commitment_id}: {flag}: {exc.reason}"


def _written(
    conn: Connection, settings: Settings, seed: seeds.Seed, now: datetime
) -> dict[str, int]:
    """Write one seed as `import` would, in the caller's transaction; return its counts."""
    from daemon import seeds

    return seeds.apply(conn, [seed], now=now, policy=settings.policy, actor=common.actor())


def _report(
    engine: Engine, settings: Settings, commitment_id: str, what: str, as_json: bool
) -> None:
    """Print the pledge written: `ID: what, next notice ...`, or its object with --json."""
    from daemon.model import documents

    stored, detail = common.described(engine, settings, commitment_id)
    if as_json:
        common.print_json(detail)
        return
    following = detail["next_notice_at"]
    zone = documents.zone_of(stored.pledge)
    shown = common.instant_text(following, zone) if following else "none"
    typer.echo(f"{commitment_id}: {what}; next notice {shown}")


def _field_options(
    kind: Kind = None,
    deadline: Deadline = None,
    parties: Party = None,
    tags: Tag = None,
    description: Description = None,
    reminders: Reminders = None,
    check_in: CheckIn = None,
    every: Every = None,
    cron: Cron = None,
    conditions: Requires = None,
    deadline_from: DeadlineFrom = None,
    timezone: Timezone = None,
    published: Published = None,
    source_title: SourceTitle = None,
    source_publisher: SourcePublisher = None,
    source_url: SourceUrl = None,
) -> None:
    """The options `add` and `edit` both take, declared once (`_taking_field_options`)."""


def _taking_field_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` the options of `_field_options` before its last one; it gets them as `**fields`.

    Typer reads a command's options from its signature: the shared ones are put in it here.
    """
    own = inspect.signature(command, eval_str=True).parameters.values()
    *head, last = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    shared = inspect.signature(_field_options, eval_str=True).parameters.values()
    command.__signature__ = inspect.Signature([*head, *shared, last])  # type: ignore[attr-defined]
    return command


@app.command()
@_taking_field_options
def add(
    ctx: typer.Context,
    commitment_id: Annotated[str, typer.Option("--id", help="The new pledge's id.")],
    title: Annotated[str, typer.Option("--title", help="What was pledged.")],
    as_json: common.JsonFlag = False,
    **fields: Any,
) -> None:
    """Add one pledge, checked as an import checks it; an id already stored is refused."""
    from daemon import seeds
    from daemon.seeds import edits
    from daemon.store import connector, imports

    changes = _changes(id=commitment_id, title=title, **fields)
    settings = common.load_settings(ctx)
    now = system_clock()
    document = edits.with_changes({}, changes)
    try:
        (seed,) = seeds.parse(NAME, document, default_zone=settings.zone, now=now)
    except seeds.SeedError as exc:
        common.fail(_refusal(commitment_id, exc), common.EXIT_INPUT)
    engine = common.open_engine(settings, create=True)
    try:
        with connector.write(engine) as conn:
            if imports.existing_ids(conn, [commitment_id]):
                common.fail(
                    f"{commitment_id}: a commitment with this id exists already; "
                    "use `pledgewatch edit` to change it",
                    common.EXIT_INPUT,
                )
            _written(conn, settings, seed, now)
    except seeds.SeedError as exc:
        common.fail(_refusal(commitment_id, exc), common.EXIT_INPUT)
    _report(engine, settings, commitment_id, "added", as_json)


@app.command()
@_taking_field_options
def edit(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    title: Title = None,
    as_json: common.JsonFlag = False,
    **fields: Any,
) -> None:
    """Change the given fields of a stored pledge, checked as an import checks them.

    Its status stays as it is (that is `set-status`); its deadline is read
    again only when --deadline, --timezone or --published is given.
    """
    from daemon import seeds
    from daemon.seeds import edits
    from daemon.store import connector, pledges

    changes = _changes(title=title, **fields)
    if not changes:
        common.fail(
            "give at least one field to change (see `pledgewatch edit --help`)", common.EXIT_INPUT
        )
    settings = common.load_settings(ctx)
    now = system_clock()
    engine = common.open_engine(settings)
    try:
        with common.existing(commitment_id), connector.write(engine) as conn:
            stored = pledges.get(conn, commitment_id)
            seed = edits.edited(
                stored.pledge, changes, name=NAME, default_zone=settings.zone, now=now
            )
            counts = _written(conn, settings, seed, now)
    except seeds.SeedError as exc:
        common.fail(_refusal(commitment_id, exc), common.EXIT_INPUT)
    if counts["unchanged"]:
        common.fail(f"{commitment_id}: already so; nothing changed", common.EXIT_INPUT)
    _report(engine, settings, commitment_id, "edited", as_json)


@app.command()
def archive(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    undo: Annotated[
        bool, typer.Option("--undo", help="Bring it back: its notices start again from now.")
    ] = False,
    note: common.Note = None,
    as_json: common.JsonFlag = False,
) -> None:
    """Archive a pledge: kept with its history, but no more notices, and left out of listings."""
    from daemon.store import archive as store_archive
    from daemon.store import connector

    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    now, actor = system_clock(), common.actor()
    with common.existing(commitment_id), common.refused(), connector.write(engine) as conn:
        if undo:
            store_archive.unarchive(
                conn, commitment_id, now=now, policy=settings.policy, actor=actor, note=note
            )
        else:
            store_archive.archive(conn, commitment_id, now=now, actor=actor, note=note)
    _report(engine, settings, commitment_id, "unarchived" if undo else "archived", as_json)
