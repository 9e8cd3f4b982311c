"""What every command uses: the Typer app, exit codes, settings and engine, printing and times.

Only light modules are imported here: the store, SQLAlchemy and the settings are
imported inside the functions that need them, so `pledgewatch version` and
`--help` load none of them.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from daemon.clock import system_clock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.settings import Settings

EXIT_RUNTIME = 1
EXIT_INPUT = 2
EXIT_CONFIG = 78

# The order `pledgewatch --help` lists the commands in; a command not named here comes
# after these, in the order it was defined.
HELP_ORDER = (
    "run",
    "migrate",
    "extract",
    "import",
    "add",
    "edit",
    "list",
    "show",
    "set-status",
    "archive",
    "ack",
    "snooze",
    "silence",
    "holds",
    "upcoming",
    "deliveries",
    "replay",
    "enable-webhook",
    "webhooks",
    "check-config",
    "version",
)


_ENV_FILE_HELP = "Read settings from this file (repeatable; later files win)."


class _Commands(TyperGroup):
    """The command group, listing its commands in HELP_ORDER whatever module defines them.

    Every command, in groups too, also takes `--env-file` after its name
    (`_more_env_files`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_env_file(self.commands.values())

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        known = [name for name in HELP_ORDER if name in names]
        return known + [name for name in names if name not in HELP_ORDER]


def _add_env_file(commands: Iterable[click.Command]) -> None:
    """Give each of `commands`, and the commands of a group among them, the --env-file option."""
    option = _env_file_option()
    for command in commands:
        if isinstance(command, TyperGroup):
            _add_env_file(command.commands.values())
        if all(param.name != option.name for param in command.params):
            command.params.append(option)


def _env_file_option() -> click.Parameter:
    """Return --env-file as Typer builds it, for a command that does not name it among its own."""
    probe = typer.Typer()

    @probe.command()
    def _probe(
        more_env_files: Annotated[
            list[Path] | None,
            typer.Option(
                "--env-file", metavar="PATH", callback=_more_env_files, help=_ENV_FILE_HELP
            ),
        ] = None,
    ) -> None:
        """Never run."""

    option = typer.main.get_command(probe).params[0]
    option.expose_value = False  # the commands read ctx.obj, not a parameter of their own
    return option


def _more_env_files(ctx: typer.Context, value: list[Path] | None) -> None:
    """Add the --env-file files given after a command's name after those given before it."""
    if value:
        ctx.obj = (*(ctx.obj or ()), *value)


def _print_version(value: bool) -> None:
    if value:
        from daemon import __version__

        typer.echo(__version__)
        raise typer.Exit()


app = typer.Typer(
    name="pledgewatch",
    help="Watch public pledges and post notices to webhooks when they fall due, pass or change.",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def group(name: str, **options: Any) -> typer.Typer:
    """Return a new group of commands, `pledgewatch NAME COMMAND`, added to the app."""
    commands = typer.Typer(
        name=name, add_completion=False, pretty_exceptions_enable=False, **options
    )
    app.add_typer(commands)
    return commands


JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
CommitmentId = Annotated[str, typer.Argument(metavar="ID")]
# The options of the commands that hold notices back; `hold_end` reads --until.
_UNTIL = "3d, 12h or a date (2027-01-05T10:00); the hold's end. Without an offset, read in {}."
PledgeUntil = Annotated[
    str | None, typer.Option("--until", help=_UNTIL.format("the pledge's time zone"))
]
TagUntil = Annotated[
    str | None, typer.Option("--until", help=_UNTIL.format("PLEDGEWATCH_TIMEZONE"))
]
Note = Annotated[str | None, typer.Option("--note", help="Why.")]


@app.callback()
def _global(
    ctx: typer.Context,
    env_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--env-file",
            metavar="PATH",
            help=_ENV_FILE_HELP,
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
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


@contextmanager
def refused() -> Iterator[None]:
    """Turn a write the store declined (nothing to do, an unknown name) into exit 2 saying why."""
    from daemon.store import refusals

    try:
        yield
    except refusals.Refused as exc:
        fail(str(exc), EXIT_INPUT)


def described(engine: Engine, settings: Settings, commitment_id: str) -> tuple[Any, dict[str, Any]]:
    """Return a stored pledge and its object as `show --json` prints it; exit 2 when not stored."""
    from daemon.store import connector, pledges

    with connector.read(engine) as conn:
        with existing(commitment_id):
            stored = pledges.get(conn, commitment_id)
        return stored, pledges.describe(conn, stored, settings.policy, system_clock())


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


def instant_text(value: datetime | str | None, zone: tzinfo) -> str:
    """Return an instant as the tables of the command line show it, or `-` for none.

    The one rule for them all: ISO 8601 in the pledge's zone (`documents.zone_of`),
    with its offset, to the second. `value` may be the ISO text of a JSON document;
    the JSON output itself keeps its instants exact.
    """
    if value is None:
        return "-"
    from daemon.model import documents

    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return documents.shown(value, zone)


def window_text(pledge: Any) -> str:
    """Return a pledge's deadline window as its phrase, its bounds in its zone, and the zone."""
    from daemon.model import documents

    window = pledge.window
    if window is None:
        return "-"
    zone = documents.zone_of(pledge)
    start, end = instant_text(window.earliest, zone), instant_text(window.latest, zone)
    return f"{window.phrase} [{start} .. {end}) {window.timezone}"


def hold_end(until: str | None, end: bool, now: datetime) -> str | None:
    """Read `--until WHEN` or `--end` (exactly one): WHEN once it reads as an end, or None to end it now.

    `hold_end_in` then reads it in a zone (`holds.hold_end`, shared with the API).
    """
    from daemon.model import holds

    if (until is None) == (not end):
        fail("give --until WHEN or --end", EXIT_INPUT)
    if until is not None:
        try:
            holds.read_until(until, now)
        except holds.UntilError as exc:
            fail(f"--until: {exc}", EXIT_INPUT)
    return until


def hold_end_in(until: str | None, zone: tzinfo, now: datetime) -> datetime | None:
    """Return the end of a hold in UTC, one without an offset read in `zone`; None stays None.

    `snooze` reads it in the pledge's zone, `silence` (pledges of many zones) in
    PLEDGEWATCH_TIMEZONE; a duration counts from `now`, the command's one reading
    of the clock. It must lie ahead, and at most ten years ahead: else
    exit 2 naming the --until given.
    """
    from daemon.model import holds

    if until is None:
        return None
    try:
        return holds.hold_end(until, zone=zone, now=now)
    except holds.UntilError as exc:
        fail(f"--until: {exc}", EXIT_INPUT)
