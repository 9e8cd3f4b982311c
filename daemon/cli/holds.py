"""The commands that hold notices back: ack, snooze and silence; holds lists those running."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli import common
from daemon.clock import system_clock

app = common.app


@app.command()
def ack(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    note: common.Note = None,
) -> None:
    """Stop a pledge's overdue repeats until its next status change."""
    from daemon.store import connector, holds

    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    with common.existing(commitment_id), common.refused(), connector.write(engine) as conn:
        holds.acknowledge(
            conn,
            commitment_id,
            now=system_clock(),
            policy=settings.policy,
            actor=common.actor(),
            note=note,
        )
    typer.echo(f"{commitment_id}: acknowledged; overdue repeats stop until its status changes")


@app.command()
def snooze(
    ctx: typer.Context,
    commitment_id: common.CommitmentId,
    until: common.PledgeUntil = None,
    end: Annotated[bool, typer.Option("--end", help="End the snooze now.")] = False,
    note: common.Note = None,
) -> None:
    """Hold every notice of one pledge until then; what is still relevant is sent at the end."""
    from daemon.model import documents
    from daemon.store import connector, holds, pledges

    now = system_clock()
    settings = common.load_settings(ctx)
    given = common.hold_end(until, end, now)
    engine = common.open_engine(settings)
    with common.existing(commitment_id), common.refused(), connector.write(engine) as conn:
        zone = documents.zone_of(pledges.get(conn, commitment_id).pledge)
        when = common.hold_end_in(given, zone, now)
        holds.snooze(
            conn,
            commitment_id,
            when,
            now=now,
            policy=settings.policy,
            actor=common.actor(),
            note=note,
        )
    typer.echo(
        f"{commitment_id}: "
        + (f"snoozed until {common.instant_text(when, zone)}" if when else "snooze ended")
    )


@app.command()
def silence(
    ctx: typer.Context,
    tag: Annotated[str, typer.Option("--tag", help="Every pledge with this tag.")],
    until: common.TagUntil = None,
    end: Annotated[bool, typer.Option("--end", help="Lift the silence now.")] = False,
    note: common.Note = None,
) -> None:
    """Hold the notices of every pledge with a tag until then."""
    from daemon.store import connector, holds

    now = system_clock()
    settings = common.load_settings(ctx)
    when = common.hold_end_in(common.hold_end(until, end, now), settings.zone, now)
    engine = common.open_engine(settings)
    with common.refused(), connector.write(engine) as conn:
        count = holds.silence(
            conn,
            tag,
            when,
            now=now,
            policy=settings.policy,
            actor=common.actor(),
            note=note,
        )
    held = (
        f"silenced until {common.instant_text(when, settings.zone)}" if when else "silence lifted"
    )
    typer.echo(f"tag {tag}: {held} ({count} pledge{'s' if count != 1 else ''})")


@app.command("holds")
def holds_(ctx: typer.Context, as_json: common.JsonFlag = False) -> None:
    """List the snoozes and silences running now, with their ends, notes and authors."""
    from daemon.model import documents
    from daemon.store import connector, holds, pledges

    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    with connector.read(engine) as conn:
        snoozes, silences = holds.active(conn, system_clock())
        zones = {
            s["commitment_id"]: documents.zone_of(pledges.get(conn, s["commitment_id"]).pledge)
            for s in snoozes
        }
    if as_json:
        for snooze_ in snoozes:
            snooze_["until"] = documents.isoformat(
                snooze_["until"], zones[snooze_["commitment_id"]]
            )
        for silence_ in silences:
            silence_["until"] = documents.isoformat(silence_["until"], settings.zone)
        common.print_json({"snoozes": snoozes, "silences": silences})
        return
    typer.echo("snoozed pledges:")
    common.table(
        ("ID", "UNTIL", "BY", "NOTE"),
        [
            (
                s["commitment_id"],
                common.instant_text(s["until"], zones[s["commitment_id"]]),
                s["actor"] or "-",
                s["note"] or "-",
            )
            for s in snoozes
        ],
    )
    typer.echo("silenced tags:")
    common.table(
        ("TAG", "UNTIL", "PLEDGES", "BY", "NOTE"),
        [
            (
                s["tag"],
                common.instant_text(s["until"], settings.zone),
                str(s["pledges"]),
                s["actor"] or "-",
                s["note"] or "-",
            )
            for s in silences
        ],
    )
