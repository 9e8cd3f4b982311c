"""The commands on the configured webhooks: webhooks test."""

from __future__ import annotations

from typing import Annotated

import typer

from daemon.cli import common
from daemon.clock import system_clock

SHOWN_HEADERS = ("content-type", "content-length", "server", "retry-after", "location")
SHOWN_BODY = 1024  # bytes of the receiver's answer printed at most

webhooks_app = common.group(
    "webhooks",
    help="Work with the configured webhooks: send one a test notice.",
    no_args_is_help=True,
)


@webhooks_app.command("test")
def test(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    as_json: common.JsonFlag = False,
) -> None:
    """Send webhook NAME one signed commitment.test notice now and print its answer.

    The notice goes out at once, in the webhook's format, signed and through
    the same guard as every notice, whatever its EVENTS filter; it is not
    written to the outbox. Exit 0 on a 2xx answer, 1 otherwise.
    """
    from daemon.delivery import guard, posting
    from daemon.model import documents
    from daemon.store import outbox

    settings = common.load_settings(ctx)
    hook = settings.webhooks.get(name.lower())
    if hook is None:
        names = ", ".join(sorted(settings.webhooks)) or "none"
        common.fail(f"webhook {name!r} is unknown (configured: {names})", common.EXIT_INPUT)
    policy = guard.from_settings(settings.allow_private_targets, settings.allowed_targets)
    delivery_id = outbox.new_id("msg")
    with guard.client(policy, max_connections=1) as client:
        reply = posting.post(
            client,
            hook,
            documents.test_body(system_clock()),
            delivery_id=delivery_id,
            clock=system_clock,
            keep=SHOWN_BODY,
        )
    outcome = reply.outcome
    ok = outcome.ok and outcome.status_code is not None  # an answer, and one accepted
    headers = {k: reply.headers[k] for k in SHOWN_HEADERS if k in reply.headers}
    body = reply.body.decode("utf-8", errors="replace")
    if as_json:
        common.print_json(
            {
                "webhook": name.lower(),
                "delivery_id": delivery_id,
                "ok": ok,
                "status": outcome.status_code,
                "error": outcome.error,
                "duration_ms": round(outcome.duration_ms, 1),
                "headers": headers,
                "body": body,
            }
        )
    else:
        took = f"in {outcome.duration_ms:.0f} ms"
        answer = f"HTTP {outcome.status_code}" if outcome.status_code is not None else outcome.error
        typer.echo(f"webhook {name.lower()}: {answer} {took} (webhook-id {delivery_id})")
        for header, value in headers.items():
            typer.echo(f"  {header}: {value}")
        if body:
            typer.echo(body, nl=not body.endswith("\n"))
    if not ok:
        raise typer.Exit(common.EXIT_RUNTIME)
