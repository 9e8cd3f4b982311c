"""The read-only status pages: the overview at `/`, one page per pledge, their stylesheet.

Server-rendered with the Jinja2 templates beside this module (autoescape
on); no script, and nothing loaded from elsewhere: the one stylesheet is
served at /static/pages.css, and every page carries a Content-Security-Policy
that allows nothing else. PLEDGEWATCH_PAGE_TOKEN, when set, guards them
(`access`). Unknown pages get an HTML 404 (`not_found`); the API's 404s stay
JSON.

| route | shows |
| --- | --- |
| `GET /` | pledges by status, open ones first; filters `q`, `tag`, `party`, `status`; `page` |
| `GET /pledges/{id}` | facts, history, conditions, next notices, deliveries |
| `GET /static/pages.css`, `/static/favicon.svg` | the stylesheet and the icon |
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import SecretStr
from sqlalchemy import Engine

from daemon import __version__
from daemon.clock import Clock
from daemon.model import documents, words
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.service.pages import access, views
from daemon.store import browse, connector, outbox, pledges

__all__ = [
    "CSP",
    "HEADERS",
    "MACHINE_PATHS",
    "PER_PAGE",
    "is_page",
    "not_found",
    "render",
    "router",
]

PER_PAGE = 50
MAX_PAGE = 10_000  # deeper than anyone reads; keeps OFFSET bounded
# Sent with every page: nothing but our own stylesheet and images may load, no script
# runs, no form posts elsewhere, no other site frames the page.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Paths that are not pages: their errors stay JSON, and the page token does not guard them.
MACHINE_PATHS = ("/api", "/health", "/livez", "/readyz", "/metrics", "/openapi.json")
CALENDAR_SUFFIX = ".ics"  # the calendar feed (service/calendar.py): machine-read too

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("daemon.service.pages", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The only files served under /static/, read once: name -> (content, media type).
_STATIC = {
    name: (resources.files(__name__).joinpath("static", name).read_bytes(), media_type)
    for name, media_type in (("pages.css", "text/css"), ("favicon.svg", "image/svg+xml"))
}


def is_page(path: str) -> bool:
    """Return whether `path` belongs to the pages (not the API, the calendar feed or the machine endpoints)."""
    if path.endswith(CALENDAR_SUFFIX):
        return False
    return not any(path == p or path.startswith(p + "/") for p in MACHINE_PATHS)


def render(
    name: str, status: int = 200, *, started: float | None = None, **context: Any
) -> HTMLResponse:
    """Return template `name` filled with `context`, with the pages' headers.

    `started` (a `time.perf_counter()` reading) adds a Server-Timing header:
    how long the page took to read and render, in milliseconds.
    """
    body = _templates.get_template(name).render(version=__version__, **context)
    answer = HTMLResponse(body, status_code=status, headers=HEADERS)
    if started is not None:
        answer.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return answer


def not_found(what: str) -> HTMLResponse:
    """Return the HTML 404 page, saying what was not found."""
    return render("error.html", 404, title="Not found", message=what)


def router(
    engine: Engine,
    *,
    clock: Clock,
    policy: Callable[[], Policy],
    token: SecretStr | None,
) -> APIRouter:
    """Return the pages' routes, reading through `engine` at `clock()`."""
    pages = APIRouter(include_in_schema=False)

    def refused(request: Request) -> Response | None:
        """Return the answer to a request that may not read the pages, else None."""
        if access.allowed(request, token):
            return None
        redirect = access.from_query(request, token)
        if redirect is not None:
            return redirect
        answer = render(
            "error.html",
            401,
            title="Token needed",
            message="These pages need the status page token: send it as a bearer "
            "token, or open this address with ?token=... once.",
        )
        answer.headers["WWW-Authenticate"] = "Bearer"
        return answer

    @pages.get("/")
    def overview(
        request: Request,
        q: str = "",
        tag: str = "",
        party: str = "",
        status: str = "",
        page: str = "1",
    ) -> Response:
        started = time.perf_counter()
        if (denied := refused(request)) is not None:
            return denied
        try:
            chosen = Status(status) if status else None
        except ValueError:
            valid = ", ".join(s.value for s in Status)
            return render(
                "error.html",
                400,
                title="Unknown status",
                message=f"status {status!r} is not one of: {valid}",
            )
        number = int(page) if page.isdigit() and 1 <= int(page) <= MAX_PAGE else 1
        filters = browse.Filters(
            tag=tag.strip() or None,
            party=party.strip() or None,
            status=chosen,
            text=q.strip() or None,
        )
        now = clock()
        with connector.read(engine) as conn:
            tally = browse.counts(conn, filters)
            totals = browse.by_status(tally)
            matching = sum(totals.values())
            last = max(1, -(-matching // PER_PAGE))
            number = min(number, last)  # past the end: the last page
            offset = (number - 1) * PER_PAGE
            found = browse.page(conn, filters, tally, offset=offset, limit=PER_PAGE)
            tags, parties = browse.tags_and_parties(conn)
            changes = browse.recent_changes(conn)
        return render(
            "overview.html",
            started=started,
            title="Pledges",
            now=f"{words.moment(now.astimezone(UTC))} UTC",
            filters=filters,
            filtered=filters != browse.Filters(),
            groups=views.groups(found, totals, now),
            totals=[(s.value, views.STATUS_WORDS[s], totals.get(s, 0)) for s in browse.ORDER],
            matching=matching,
            statuses=[(s.value, views.STATUS_WORDS[s]) for s in browse.ORDER],
            tags=tags,
            parties=parties,
            changes=views.history(changes, ZoneInfo("UTC"), now),
            number=number,
            last=last,
            newer=views.page_url(filters, number - 1) if number > 1 else None,
            older=views.page_url(filters, number + 1) if number < last else None,
        )

    @pages.get("/pledges/{pledge_id}")
    def pledge_page(request: Request, pledge_id: str) -> Response:
        started = time.perf_counter()
        if (denied := refused(request)) is not None:
            return denied
        now = clock()
        with connector.read(engine) as conn:
            try:
                stored = pledges.get(conn, pledge_id)
            except pledges.NotFound:
                return not_found(f"No pledge has the id “{pledge_id}”.")
            described = pledges.describe(conn, stored, policy(), now)
            waits_on, waited_by = browse.condition_tree(conn, pledge_id)
            sent = outbox.deliveries_of(conn, pledge_id)
        pledge = stored.pledge
        zone = documents.zone_of(pledge)
        return render(
            "pledge.html",
            started=started,
            title=pledge.title,
            now=f"{words.moment(now.astimezone(zone))} {now.astimezone(zone).tzname()}",
            pledge=pledge,
            countdown=words.countdown(pledge, now),
            facts=views.facts(stored, now),
            history=views.history(described["history"], zone, now),
            waits_on=waits_on,
            waited_by=waited_by,
            statuses=views.STATUS_WORDS,
            notices=views.notices(described["next_notices"], zone, now),
            deliveries=views.deliveries(sent, zone, now),
        )

    @pages.get("/static/{name}")
    def static(request: Request, name: str) -> Response:
        if (denied := refused(request)) is not None:
            return denied
        if name not in _STATIC:
            return not_found(f"Nothing lives at {request.url.path}.")
        content, media_type = _STATIC[name]
        headers = {**HEADERS, "Cache-Control": "max-age=3600"}
        return Response(content, media_type=media_type, headers=headers)

    return pages
