"""The commands that run and check the service: run, migrate, check-config and version."""

from __future__ import annotations

import gc
import json

import typer

from daemon import __version__
from daemon.cli import common

app = common.app


@app.command()
def run(ctx: typer.Context) -> None:
    """Run the daemon in the foreground (systemd Type=notify)."""
    # Starting makes most of the objects the daemon will ever hold, and a collection
    # meanwhile walks them all to find next to nothing (a tenth of the start-up time).
    # `daemon.run` collects once, and turns the collector back on, when it is ready.
    gc.disable()
    from daemon.service import daemon, logs

    settings = common.load_settings(ctx)
    logs.configure(settings.log_level, settings.log_format)
    try:
        # The same env files again on SIGHUP.
        code = daemon.run(settings, env_files=ctx.obj or ())
    except daemon.StartupError as exc:
        common.fail(str(exc), common.EXIT_RUNTIME)
    raise typer.Exit(code)


@app.command()
def migrate(ctx: typer.Context) -> None:
    """Apply the database migrations up to head."""
    from daemon.store import connector

    engine = common.open_engine(common.load_settings(ctx), create=True)
    typer.echo(f"database at revision {connector.current_revision(engine)}")


@app.command("check-config")
def check_config(ctx: typer.Context, as_json: common.JsonFlag = False) -> None:
    """Validate the environment and print the effective settings, secrets masked."""
    from daemon.service import checks
    from daemon.settings import mask_database_url

    settings = common.load_settings(ctx)
    url = common.database_url(settings)
    missing = common.missing_database(url)
    if missing:
        found = [checks.Check("database:file", "fail", output=missing)]
    else:
        engine = common.open_engine(settings, migrate=False)
        found = [checks.database(engine)]
        if found[0].status != "fail":
            found.append(checks.migrations(engine))
    targets = checks.webhook_targets(settings)
    # The path SQLite will open, whatever folder the command runs in.
    shown = {**settings.masked(), "database_url": mask_database_url(url)}
    report = {"settings": shown, "checks": {c.name: c.document() for c in found + targets}}
    if as_json:
        common.print_json(report)
    else:
        typer.echo(json.dumps(report["settings"], indent=2))
        for check in found + targets:
            typer.echo(
                f"{check.name}: {check.status}" + (f" ({check.output})" if check.output else "")
            )
    if missing or any(check.status == "fail" for check in targets):
        raise typer.Exit(common.EXIT_CONFIG)
    if found[0].status == "fail":
        raise typer.Exit(common.EXIT_RUNTIME)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)
