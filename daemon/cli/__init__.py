"""The `pledgewatch` command line (also `python -m daemon`).

Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input data, 78 configuration error.

One module per group of commands (`pledges`, `editing`, `holds`, `deliveries`,
`webhooks`, `service`, `extract`), `filters` for the options that choose what
`list` and `upcoming` show, and `common` for what they all use: the Typer app,
exit codes, settings and engine, printing. Each command imports what it uses (the store, SQLAlchemy, the
seed reader, the daemon): `pledgewatch version` or `--help` loads none of it,
and no command pays for the others.
"""

from __future__ import annotations

import sys

# Importing a command module registers its commands on the app.
from daemon.cli import (  # noqa: F401
    common,
    deliveries,
    editing,
    extract,
    holds,
    pledges,
    service,
    webhooks,
)

__all__ = ["app", "main"]

app = common.app


def main() -> None:
    """Entry point of the `pledgewatch` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
