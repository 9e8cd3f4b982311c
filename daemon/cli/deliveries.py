"""The commands on the outbox and its webhooks: deliveries (and deliveries show), replay and enable-webhook."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli import common
from daemon.clock import system_clock

app = common.app


# A group so that `deliveries show ID` can sit beside the listing, which stays
# `deliveries [--state ...]`: the group's own callback runs it when no command follows.
deliveries_app = common.group("deliveries", invoke_without_command=True)


@deliveries_app.callback()
def deliveries(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="pending, delivered or dead.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many, newest first.")
    ] = 100,
    as_json: common.JsonFlag = False,
) -> None:
    """List the outbox: one row per notice and webhook."""
    from daemon.store import connector, outbox

    if ctx.invoked_subcommand is not None:
        return
    if state is not None and state not in outbox.STATES:
        common.fail(
            f"unknown state {state!r} (one of: {', '.join(outbox.STATES)})", common.EXIT_INPUT
        )
    engine = common.open_engine(common.load_settings(ctx))
    with connector.read(engine) as conn:
        found = outbox.listing(conn, state, limit)
    if as_json:
        common.print_json(found)
        return
    common.table(
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


@deliveries_app.command("show")
def show(
    ctx: typer.Context,
    delivery_id: Annotated[str, typer.Argument(metavar="DELIVERY_ID")],
    as_json: common.JsonFlag = False,
) -> None:
    """Show one delivery and every attempt at it (times in its pledge's zone)."""
    from daemon.model import documents
    from daemon.store import connector, outbox, pledges

    engine = common.open_engine(common.load_settings(ctx))
    with connector.read(engine) as conn:
        found = outbox.delivery(conn, delivery_id)
        if found is None:
            common.fail(f"no delivery with id {delivery_id!r}", common.EXIT_INPUT)
        attempts = outbox.attempts_of(conn, delivery_id)
        zone = documents.zone_of(pledges.get(conn, found["commitment_id"]).pledge)
    if as_json:
        common.print_json({**found, "history": attempts})
        return
    last = found["last_error"] or (str(found["last_status"]) if found["last_status"] else "-")
    typer.echo(
        "\n".join(
            [
                f"{found['id']}: {found['type']} for {found['commitment_id']} to {found['webhook']}",
                f"  state      {found['state']}",
                f"  event      {found['event_id']}",
                f"  next try   {common.instant_text(found['next_attempt_at'], zone)}",
                f"  last       {last}",
                f"  attempts   {found['attempts']}",
            ]
        )
    )
    common.table(
        ("WHEN", "STATUS", "MS", "ERROR"),
        [
            (
                common.instant_text(a["at"], zone),
                str(a["status"]) if a["status"] is not None else "-",
                f"{a['duration_ms']:.0f}",
                a["error"] or "-",
            )
            for a in attempts
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
        common.fail("give a delivery ID or --dead (not both)", common.EXIT_INPUT)
    engine = common.open_engine(common.load_settings(ctx))
    now = system_clock()
    with connector.write(engine) as conn:
        if dead:
            count = outbox.replay_dead(conn, now=now)
        else:
            assert delivery_id is not None
            state = outbox.state_of(conn, delivery_id)
            if state is None:
                common.fail(f"no delivery with id {delivery_id!r}", common.EXIT_INPUT)
            if state == "pending":
                common.fail(
                    f"delivery {delivery_id} is still pending: it will be sent", common.EXIT_INPUT
                )
            count = int(outbox.replay(conn, delivery_id, now=now))
        connector.signal_change(conn)
    typer.echo(f"{count} deliver{'y' if count == 1 else 'ies'} queued again")


@app.command("enable-webhook")
def enable_webhook(
    ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME")]
) -> None:
    """Enable a webhook disabled after a 410 Gone; its waiting deliveries are sent."""
    from daemon.store import connector, webhooks

    settings = common.load_settings(ctx)
    engine = common.open_engine(settings)
    with common.refused(), connector.write(engine) as conn:
        webhooks.enable(conn, name.lower(), now=system_clock(), configured=settings.webhooks)
        connector.signal_change(conn)
    typer.echo(f"webhook {name.lower()} enabled")
