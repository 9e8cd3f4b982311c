"""The `pledgewatch` command line (also `python -m daemon`).

Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input data, 78 configuration error.

Each command imports what it uses (the store, SQLAlchemy, the seed reader, the
daemon): `pledgewatch version` or `--help` loads none of it, and no command
pays for the others.
"""

from __future__ import annotations

import gc
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from daemon import __version__
from daemon.clock import system_clock
from daemon.model import lifecycle
from daemon.model.durations import DurationError, format_duration, parse_duration
from daemon.model.statuses import parse_status

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from daemon.settings import Settings

EXIT_RUNTIME = 1
EXIT_INPUT = 2
EXIT_CONFIG = 78
LONGEST_HOLD = timedelta(days=3653)  # snooze and silence: ten years at most

app = typer.Typer(
    name="pledgewatch",
    help="Watch public pledges and post notices to webhooks when they fall due, pass or change.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"pledgewatch: {message}", err=True)
    raise typer.Exit(code)


def _settings(ctx: typer.Context) -> Settings:
    from daemon.settings import ConfigError, load_settings

    try:
        return load_settings(ctx.obj or ())
    except ConfigError as exc:
        _fail(f"configuration error: {exc}", EXIT_CONFIG)


def _engine(settings: Settings, *, migrate: bool = True) -> Engine:
    """Return an engine on a migrated database, or exit 1 saying what is wrong."""
    from sqlalchemy.exc import SQLAlchemyError

    from daemon.settings import mask_database_url
    from daemon.store import connector

    url = settings.effective_database_url()
    try:
        engine = connector.make_engine(url)
        if migrate:
            connector.migrate(engine)
    except connector.DatabaseUnavailable as exc:
        _fail(f"cannot use the database {mask_database_url(url)}: {exc}", EXIT_RUNTIME)
    except (SQLAlchemyError, OSError) as exc:
        reason = connector.describe_error(exc)
        _fail(f"cannot use the database {mask_database_url(url)} ({reason})", EXIT_RUNTIME)

    return engine


@contextmanager
def _existing(commitment_id: str) -> Iterator[None]:
    """Turn "no such commitment" from the store into exit 2 naming the id."""
    from daemon.store import pledges

    try:
        yield
    except pledges.NotFound:
        _fail(f"no commitment with id {commitment_id!r}", EXIT_INPUT)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


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


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the daemon in the foreground (systemd Type=notify)."""
    # Starting makes most of the objects the daemon will ever hold, and a collection
    # meanwhile walks them all to find next to nothing (a tenth of the start-up time).
    # `daemon.run` collects once, and turns the collector back on, when it is ready.
    gc.disable()
    from daemon.service import daemon, logs

    settings = _settings(ctx)
    logs.configure(settings.log_level, settings.log_format)
    try:
        # The same env files again on SIGHUP.
        code = daemon.run(settings, env_files=ctx.obj or ())
    except daemon.StartupError as exc:
        _fail(str(exc), EXIT_RUNTIME)
    raise typer.Exit(code)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the database migrations up to head."""
    from daemon.store import connector

    engine = _engine(_settings(ctx))
    typer.echo(f"database at revision {connector.current_revision(engine)}")


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="YAML or JSON files, or folders of them.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, write nothing.")
    ] = False,
) -> None:
    """Import commitments: one transaction, upsert by id."""
    from daemon import seeds

    settings = _settings(ctx)
    now = system_clock()
    try:
        with seeds.bulk():
            loaded = seeds.load(paths, default_zone=settings.zone, now=now)
    except seeds.SeedError as exc:
        _fail(str(exc), EXIT_INPUT)
    engine = _engine(settings)
    actor = f"import:{getpass.getuser()}"
    try:
        with seeds.bulk(), engine.connect() as conn:
            conn.execution_options(pledgewatch_write=True)
            transaction = conn.begin()
            try:
                counts = seeds.apply(conn, loaded, now=now, policy=settings.policy, actor=actor)
            except BaseException:
                transaction.rollback()
                raise
            if dry_run:
                transaction.rollback()
            else:
                transaction.commit()
    except seeds.SeedError as exc:
        _fail(str(exc), EXIT_INPUT)
    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    typer.echo(f"{'would import' if dry_run else 'imported'} {len(loaded)} commitments: {summary}")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="Only commitments with this status.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List commitments with their next notice and deadline window."""
    from daemon.model import documents
    from daemon.store import connector, pledges

    try:
        wanted = parse_status(status) if status else None
    except ValueError as exc:
        _fail(str(exc), EXIT_INPUT)
    engine = _engine(_settings(ctx))
    with connector.read(engine) as conn:
        found = pledges.list_all(conn, wanted)
    if as_json:
        _print_json([documents.commitment_document(s.pledge) for s in found])
        return
    rows = [
        (
            s.pledge.id,
            s.pledge.status.value,
            documents.isoformat(s.next_notice_at, documents.zone_of(s.pledge)) or "-",
            _window_text(s.pledge),
            s.pledge.title,
        )
        for s in found
    ]
    _table(("ID", "STATUS", "NEXT NOTICE", "DEADLINE", "TITLE"), rows)


def _window_text(pledge: Any) -> str:
    from daemon.model import documents

    window = pledge.window
    if window is None:
        return "-"
    zone = documents.zone_of(pledge)
    start = window.earliest.astimezone(zone)
    end = window.latest.astimezone(zone)
    return f"{window.phrase} [{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}) {window.timezone}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
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


@app.command()
def show(
    ctx: typer.Context,
    commitment_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """Show one commitment with its history, conditions and next notices."""
    from daemon.store import connector, pledges

    settings = _settings(ctx)
    engine = _engine(settings)
    with connector.read(engine) as conn:
        with _existing(commitment_id):
            stored = pledges.get(conn, commitment_id)
        detail = pledges.describe(conn, stored, settings.policy, system_clock())
    if as_json:
        _print_json(detail)
        return
    source = detail["source"]
    lines = [
        f"{detail['id']}: {detail['title']}",
        f"  status     {detail['status']}  ({detail['kind']})",
        f"  parties    {', '.join(detail['parties']) or '-'}",
        f"  tags       {', '.join(detail['tags']) or '-'}",
        f"  deadline   {_window_text(stored.pledge)}",
        f"  source     {source['publisher'] or '-'}, {source['title'] or '-'} ({source['published'] or 'undated'})",
    ]
    if detail["description"]:
        lines.append(f"  about      {detail['description']}")
    for condition in detail["conditions"]:
        lines.append(f"  condition  waits for {condition['requires']} to be {condition['status']}")
    if detail["check_ins"]:
        rule = detail["check_ins"]["cron"] or detail["check_ins"]["every"] or "the default interval"
        lines.append(f"  check-ins  {rule}, from {detail['check_ins']['since']}")
    if detail["blocked"]:
        lines.append("  waiting    a condition is not met yet: no deadline clock runs")
    if detail["acknowledged"]:
        lines.append("  acked      overdue repeats stopped until the next status change")
    if detail["held_until"]:
        lines.append(f"  held until {detail['held_until']} (snoozed or silenced)")
    if detail["plan_error"]:
        lines.append(f"  error      {detail['plan_error']}")
    lines.append("  next notices:" if detail["next_notices"] else "  next notices: none")
    lines += [
        f"    {n['at']}  {n['type']}" + (f" ({n['offset']} before)" if "offset" in n else "")
        for n in detail["next_notices"]
    ]
    lines.append("  history:")
    for h in detail["history"]:
        extra = "".join(f"  {k}: {h[k]}" for k in ("note", "evidence") if h[k])
        lines.append(
            f"    {h['at']}  {h['old_status'] or '-'} -> {h['new_status']}  by {h['actor'] or '-'}{extra}"
        )
    typer.echo("\n".join(lines))


@app.command("set-status")
def set_status(
    ctx: typer.Context,
    commitment_id: Annotated[str, typer.Argument(metavar="ID")],
    status: Annotated[str, typer.Argument(metavar="STATUS")],
    note: Annotated[str | None, typer.Option("--note", help="Why the status changed.")] = None,
    evidence: Annotated[
        str | None, typer.Option("--evidence", help="A URL backing the change.")
    ] = None,
) -> None:
    """Record a status change; it is notified like any other event."""
    from daemon.store import connector
    from daemon.store import lifecycle as store_lifecycle

    try:
        new = parse_status(status)
    except ValueError as exc:
        _fail(str(exc), EXIT_INPUT)
    settings = _settings(ctx)
    engine = _engine(settings)
    try:
        with _existing(commitment_id), connector.write(engine) as conn:
            old = store_lifecycle.set_status(
                conn,
                commitment_id,
                new,
                now=system_clock(),
                policy=settings.policy,
                actor=_actor(),
                note=note,
                evidence=evidence,
            )
    except lifecycle.TransitionError as exc:
        _fail(f"{commitment_id}: {exc}", EXIT_INPUT)
    typer.echo(f"{commitment_id}: {old.value} -> {new.value}")


def _when(text: str, settings: Settings) -> datetime:
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
            _fail(
                f"--until: {text!r} is neither a duration (3d, 12h) nor a date (2026-12-01T09:00)",
                EXIT_INPUT,
            )
        if value.tzinfo is None:
            value = value.replace(tzinfo=settings.zone)
    if not now < value <= now + LONGEST_HOLD:
        _fail(f"--until: {text!r} must lie ahead, and at most ten years ahead", EXIT_INPUT)
    return value.astimezone(UTC)


def _hold_end(until: str | None, end: bool, settings: Settings) -> datetime | None:
    """Read `--until WHEN` or `--end` (exactly one): the end of a hold, or None to end it now."""
    if (until is None) == (not end):
        _fail("give --until WHEN or --end", EXIT_INPUT)
    return _when(until, settings) if until else None


@app.command()
def ack(
    ctx: typer.Context,
    commitment_id: Annotated[str, typer.Argument(metavar="ID")],
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Stop a pledge's overdue repeats until its next status change."""
    from daemon.store import connector, holds

    settings = _settings(ctx)
    engine = _engine(settings)
    with _existing(commitment_id), connector.write(engine) as conn:
        holds.acknowledge(
            conn,
            commitment_id,
            now=system_clock(),
            policy=settings.policy,
            actor=_actor(),
            note=note,
        )
    typer.echo(f"{commitment_id}: acknowledged; overdue repeats stop until its status changes")


@app.command()
def snooze(
    ctx: typer.Context,
    commitment_id: Annotated[str, typer.Argument(metavar="ID")],
    until: Annotated[
        str | None, typer.Option("--until", help="3d, 12h or a date; the hold's end.")
    ] = None,
    end: Annotated[bool, typer.Option("--end", help="End the snooze now.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Hold every notice of one pledge until then; what is still relevant is sent at the end."""
    from daemon.store import connector, holds

    settings = _settings(ctx)
    when = _hold_end(until, end, settings)
    engine = _engine(settings)
    with _existing(commitment_id), connector.write(engine) as conn:
        holds.snooze(
            conn,
            commitment_id,
            when,
            now=system_clock(),
            policy=settings.policy,
            actor=_actor(),
            note=note,
        )
    typer.echo(
        f"{commitment_id}: " + (f"snoozed until {when.isoformat()}" if when else "snooze ended")
    )


@app.command()
def silence(
    ctx: typer.Context,
    tag: Annotated[str, typer.Option("--tag", help="Every pledge with this tag.")],
    until: Annotated[
        str | None, typer.Option("--until", help="3d, 12h or a date; the hold's end.")
    ] = None,
    end: Annotated[bool, typer.Option("--end", help="Lift the silence now.")] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Hold the notices of every pledge with a tag until then."""
    from daemon.store import connector, holds

    settings = _settings(ctx)
    when = _hold_end(until, end, settings)
    engine = _engine(settings)
    with connector.write(engine) as conn:
        count = holds.silence(
            conn, tag, when, now=system_clock(), policy=settings.policy, actor=_actor(), note=note
        )
    held = f"silenced until {when.isoformat()}" if when else "silence lifted"
    typer.echo(f"tag {tag}: {held} ({count} pledge{'s' if count != 1 else ''})")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


@app.command()
def upcoming(
    ctx: typer.Context,
    within: Annotated[str, typer.Option("--within", help="How far ahead, e.g. 30d, 12h.")] = "30d",
    as_json: JsonFlag = False,
) -> None:
    """List the notices that will fire, in time order."""
    from daemon.model import documents
    from daemon.store import connector, pledges

    try:
        horizon = parse_duration(within)
    except DurationError as exc:
        _fail(f"--within: {exc}", EXIT_INPUT)
    settings = _settings(ctx)
    engine = _engine(settings)
    now = system_clock()
    until = now + horizon
    with connector.read(engine) as conn:
        coming = pledges.upcoming(conn, settings.policy, now, until)
    found = [
        {
            "at": documents.isoformat(notice.at, documents.zone_of(pledge)),
            "type": notice.type.value,
            "commitment_id": pledge.id,
            "title": pledge.title,
            "offset": format_duration(notice.offset) if notice.offset else None,
        }
        for pledge, notice in coming
    ]
    if as_json:
        _print_json(found)
        return
    _table(
        ("WHEN", "TYPE", "ID", "TITLE"),
        [(n["at"], n["type"], n["commitment_id"], n["title"]) for n in found],
    )


@app.command()
def deliveries(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, delivered or dead.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many, newest first.")
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List the outbox: one row per notice and webhook."""
    from daemon.store import connector, outbox

    if state is not None and state not in outbox.STATES:
        _fail(f"unknown state {state!r} (one of: {', '.join(outbox.STATES)})", EXIT_INPUT)
    engine = _engine(_settings(ctx))
    with connector.read(engine) as conn:
        found = outbox.listing(conn, state, limit)
    if as_json:
        _print_json(found)
        return
    _table(
        ("ID", "STATE", "TRIES", "WEBHOOK", "TYPE", "COMMITMENT", "LAST"),
        [
            (
                d["id"],
                d["state"],
                str(d["attempts"]),
                d["webhook"],
                d["type"],
                d["commitment_id"],
                d["last_error"] or (str(d["last_status"]) if d["last_status"] else "-"),
            )
            for d in found
        ],
    )


@app.command()
def replay(
    ctx: typer.Context,
    delivery_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="A delivery id.")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery.")] = False,
) -> None:
    """Send a delivery again (same webhook-id, the retry schedule starts over)."""
    from daemon.store import connector, outbox

    if (delivery_id is None) == (not dead):
        _fail("give a delivery ID or --dead (not both)", EXIT_INPUT)
    engine = _engine(_settings(ctx))
    now = system_clock()
    with connector.write(engine) as conn:
        if dead:
            count = outbox.replay_dead(conn, now=now)
        else:
            assert delivery_id is not None
            state = outbox.state_of(conn, delivery_id)
            if state is None:
                _fail(f"no delivery with id {delivery_id!r}", EXIT_INPUT)
            if state == "pending":
                _fail(f"delivery {delivery_id} is still pending: it will be sent", EXIT_INPUT)
            count = int(outbox.replay(conn, delivery_id, now=now))
        connector.signal_change(conn)
    typer.echo(f"{count} deliver{'y' if count == 1 else 'ies'} queued again")


@app.command("enable-webhook")
def enable_webhook(
    ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")]
) -> None:
    """Enable a webhook disabled after a 410 Gone; its waiting deliveries are sent."""
    from daemon.store import connector, webhooks

    settings = _settings(ctx)
    engine = _engine(settings)
    with connector.write(engine) as conn:
        changed = webhooks.enable(conn, name.lower(), now=system_clock())
        connector.signal_change(conn)
    if not changed:
        _fail(f"webhook {name!r} is not disabled", EXIT_INPUT)
    typer.echo(f"webhook {name.lower()} enabled")


@app.command("check-config")
def check_config(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Validate the environment and print the effective settings, secrets masked."""
    from daemon.service import checks

    settings = _settings(ctx)
    engine = _engine(settings, migrate=False)
    found = [checks.database(engine)]
    if found[0].status != "fail":
        found.append(checks.migrations(engine))
    report = {"settings": settings.masked(), "checks": {c.name: c.document() for c in found}}
    if as_json:
        _print_json(report)
    else:
        typer.echo(json.dumps(report["settings"], indent=2))
        for check in found:
            typer.echo(
                f"{check.name}: {check.status}" + (f" ({check.output})" if check.output else "")
            )
    if found[0].status == "fail":
        raise typer.Exit(EXIT_RUNTIME)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Entry point of the `pledgewatch` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
