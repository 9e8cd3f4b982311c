"""The `extract` command: seed entries proposed from a news article, for a person to review."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from daemon.cli import common

if TYPE_CHECKING:
    from daemon.extract import proposals, writing

app = common.app

COUNTED = 0.5  # below this confidence the header counts a proposal as doubtful


@app.command()
def extract(
    path: Annotated[
        str, typer.Argument(metavar="FILE|-", help="Plain text or HTML; - reads stdin.")
    ],
    published: Annotated[
        str | None,
        typer.Option("--published", help="The article's date, YYYY-MM-DD; phrases count from it."),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA zone the pledges were made in.")
    ] = None,
    source_url: Annotated[
        str | None, typer.Option("--source-url", help="The article's address.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", metavar="FILE", help="Write here, not to stdout.")
    ] = None,
    merge: Annotated[
        Path | None,
        typer.Option("--merge", metavar="FILE", help="Leave out what this seed file holds."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
) -> None:
    """Propose seed entries from a news article, to review before `import`."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from daemon.extract import proposals, text, writing

    name = "standard input" if path == "-" else path
    if published is None:
        common.fail(
            f"{name}: --published is required: the date the article appeared (YYYY-MM-DD), "
            "which deadline phrases such as 'by August' count from",
            common.EXIT_INPUT,
        )
    try:
        day = date.fromisoformat(published)
    except ValueError:
        common.fail(
            f"{name}: --published {published!r} is not a date (YYYY-MM-DD)", common.EXIT_INPUT
        )
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        common.fail(f"{name}: --timezone {timezone!r} is not a known time zone", common.EXIT_INPUT)
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        article = text.read_article(data)
    except OSError as exc:
        common.fail(f"{name}: cannot read it ({exc.strerror or exc})", common.EXIT_INPUT)
    except text.ArticleError as exc:
        common.fail(f"{name}: {exc}", common.EXIT_INPUT)
    # One proposal at a time from the text to the output: memory does not grow with it.
    found: Iterable[proposals.Proposal] = proposals.propose(article.text, day, zone)
    if merge is not None:
        found = writing.merge(found, _known(merge))
    source = writing.Source(article.title, source_url, day, timezone, name)
    write = writing.write_json if as_json else writing.write_yaml
    if out is None:
        write(found, source, sys.stdout, counted=COUNTED)
        return
    try:
        with out.open("w", encoding="utf-8") as stream:
            written, doubtful = write(found, source, stream, counted=COUNTED)
    except OSError as exc:
        common.fail(f"{out}: cannot write it ({exc.strerror or exc})", common.EXIT_RUNTIME)
    typer.echo(f"proposed {written} commitments ({doubtful} doubtful) from {name} in {out}")


def _known(path: Path) -> writing.Known:
    """Return what the seed file given to --merge holds, or exit 2 naming it."""
    import yaml

    from daemon.extract import writing

    try:
        return writing.known(yaml.safe_load(path.read_text(encoding="utf-8")))
    except OSError as exc:
        common.fail(f"{path}: cannot read it ({exc.strerror or exc})", common.EXIT_INPUT)
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        common.fail(f"{path}: {exc}", common.EXIT_INPUT)
