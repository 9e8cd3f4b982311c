"""What every command uses: the Typer app, exit codes, settings and engine, printing and times.

Only light modules are imported here: the store, SQLAlchemy and the settings are
imported inside the functions that need them, so `pledgewatch version` and
`--help` load none of them.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from daemon.clock import system_clock
from daemon.model.durations import DurationError, parse_duration

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.settings import Settings

EXIT_RUNTIME = 1
EXIT_INPUT = 2
EXIT_CONFIG = 78
LONGEST_HOLD = timedelta(days=3653)  # snooze and silence: ten years at most

# The order `pledgewatch --help` lists the commands in; a command not named here comes
# after these, in the order it was defined.
HELP_ORDER = (
    "run",
    "migrate",
    "extract",
    "import",
    "list",
    "show",
    "set-status",
    "ack",
    "snooze",
    "silence",
    "upcoming",
    "deliveries",
    "replay",
    "enable-webhook",
    "check-config",
    "version",
)


class _Commands(TyperGroup):
    """The command group, listing its commands in HELP_ORDER whatever module defines them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        known = [name for name in HELP_ORDER if name in names]
        return known + [name for name in names if name not in HELP_ORDER]


app = typer.Typer(
    name="pledgewatch",
    help="Watch public pledges and post notices to webhooks when they fall due, pass or change.",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CommitmentId = Annotated[str, typer.Argument(metavar="ID")]
# The options of the commands that hold notices back; `hold_end` reads --until.
Until = Annotated[str | None, typer.Option("--until", help="3d, 12h or a date; the hold's end.")]
Note = Annotated[str | None, typer.Option("--note", help="Why.")]


@app.callback()
def _global(
    ctx: typer.Context,
    env_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--env-file",
            metavar="PATH",
            help="Read settings from this file (repeatable; later files win).",
        ),
    ] = None,
) -> None:
    ctx.obj = tuple(env_file or ())


def fail(message: str, code: int) -> NoReturn:
    """Print `pledgewatch: MESSAGE` on standard error and exit with `code`."""
    typer.echo(f"pledgewatch: {message}", err=True)
    raise typer.Exit(code)


def load_settings(ctx: typer.Context) -> Settings:
    """Return the settings from the environment and the --env-file files, or exit 78."""
    from daemon.settings import ConfigError, load_settings

    try:
        return load_settings(ctx.obj or ())
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EXIT_CONFIG)


def database_url(settings: Settings) -> str:
    """Return the database URL the settings name, with a SQLite file's path made absolute."""
    from daemon.store import connector

    return connector.absolute_url(settings.effective_database_url())


def missing_database(url: str) -> str | None:
    """Return why the database at `url` cannot be used without creating it, else None.

    Only a SQLite file can be missing: a PostgreSQL database answers or not.
    """
    from daemon.store import connector

    file = connector.sqlite_file(url)
    if file is None or file.exists():
        return None
    return (
        f"the database {file} does not exist: set PLEDGEWATCH_DATABASE_URL to use another, "
        "or create it with `pledgewatch migrate`"
    )


def open_engine(settings: Settings, *, create: bool = False, migrate: bool = True) -> Engine:
    """Return an engine on a migrated database, or exit saying what is wrong.

    Only a command that writes passes `create`: any other exits 78 when the
    SQLite file is not there, instead of reading an empty one it made.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from daemon.settings import mask_database_url
    from daemon.store import connector

    url = database_url(settings)
    missing = None if create else missing_database(url)
    if missing:
        fail(f"configuration error: {missing}", EXIT_CONFIG)
    try:
        engine = connector.make_engine(url)
        if migrate:
            connector.migrate(engine)
    except connector.DatabaseUnavailable as exc:
        fail(f"cannot use the database {mask_database_url(url)}: {exc}", EXIT_RUNTIME)
    except (SQLAlchemyError, OSError) as exc:
        reason = connector.describe_error(exc)
        fail(f"cannot use the database {mask_database_url(url)} ({reason})", EXIT_RUNTIME)

    return engine


@contextmanager
def existing(commitment_id: str) -> Iterator[None]:
    """Turn "no such commitment" from the store into exit 2 naming the id."""
    from daemon.store import pledges

    try:
        yield
    except pledges.NotFound:
        fail(f"no commitment with id {commitment_id!r}", EXIT_INPUT)


def actor() -> str:
    """Return who a change made from the command line is recorded as."""
    return f"cli:{getpass.getuser()}"


def print_json(value: Any) -> None:
    """Print `value` as indented JSON."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print `rows` under `header` in aligned columns, or `(none)` when there are none."""
    if not rows:
        typer.echo("(none)")
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo(
            "  ".join(
                str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)
            ).rstrip()
        )


def window_text(pledge: Any) -> str:
    """Return a pledge's deadline window as its phrase, its bounds in its zone, and the zone."""
    from daemon.model import documents

    window = pledge.window
    if window is None:
        return "-"
    zone = documents.zone_of(pledge)
    start = window.earliest.astimezone(zone)
    end = window.latest.astimezone(zone)
    return f"{window.phrase} [{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}) {window.timezone}"


def read_until(text: str, settings: Settings) -> datetime:
    """Read --until: a duration from now (3d, 12h) or a date or time (naive: in TIMEZONE).

    It must lie ahead, and at most ten years ahead.
    """
    now = system_clock()
    try:
        value = now + parse_duration(text)
    except (DurationError, OverflowError):
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            fail(
                f"--until: {text!r} is neither a duration (3d, 12h) nor a date (2026-12-01T09:00)",
                EXIT_INPUT,
            )
        if value.tzinfo is None:
            value = value.replace(tzinfo=settings.zone)
    if not now < value <= now + LONGEST_HOLD:
        fail(f"--until: {text!r} must lie ahead, and at most ten years ahead", EXIT_INPUT)
    return value.astimezone(UTC)


def hold_end(until: str | None, end: bool, settings: Settings) -> datetime | None:
    """Read `--until WHEN` or `--end` (exactly one): the end of a hold, or None to end it now."""
    if (until is None) == (not end):
        fail("give --until WHEN or --end", EXIT_INPUT)
    return read_until(until, settings) if until else None
