"""The calendar feed: `GET /calendar.ics` (every deadline window) and `GET /pledges/{id}.ics`.

Subscribed to from a calendar client, each pledge with a deadline window is
one event (see `daemon.model.ics` for how fields map). Filters, each
repeatable or a comma list, any value matching:

* `?tag=syria,ukraine`: pledges with one of these tags;
* `?status=open,in_progress`: pledges in one of these statuses (default: all).

The feed is streamed a page of pledges at a time. Its weak `ETag` follows the
stored pledges, the filters and the reminder offsets, so a client asking with
`If-None-Match` gets 304 while nothing it would see has changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine

from daemon import __version__
from daemon.clock import Clock
from daemon.model import ics
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.service import api
from daemon.store import connector, pledges
from daemon.store import feed as feed_store

MEDIA_TYPE = "text/calendar; charset=utf-8"
FEED_NAME = "pledgewatch"
ICS = {200: {"content": {"text/calendar": {}}, "description": "An iCalendar (RFC 5545) file"}}

# Repeatable (`?tag=a&tag=b`); each may be a comma list too.
Values = Annotated[list[str], Query(default_factory=list)]


def router(engine: Engine, *, clock: Clock, policy: Callable[[], Policy]) -> APIRouter:
    """Return the calendar routes."""
    routes = APIRouter()

    @routes.get(
        "/calendar.ics",
        summary="Every deadline window as an iCalendar feed, to subscribe to",
        response_class=Response,
        responses={**ICS, 304: {"description": "Unchanged since the ETag given"}},
    )
    def calendar(request: Request, tag: Values, status: Values) -> Response:
        tags = frozenset(_split(tag))
        statuses = _statuses(status)
        with connector.read(engine) as conn:
            count, latest = feed_store.version(conn)
        current = policy()
        etag = _etag(
            "feed", count, latest, sorted(tags), sorted(statuses), current.reminder_offsets
        )
        headers = _headers(etag, latest, "pledgewatch.ics")
        if _fresh(request, etag):
            return Response(status_code=304, headers=headers)
        name = FEED_NAME + (": " + ", ".join(sorted(tags)) if tags else "")
        body = _stream(engine, ics.head(name, __version__), tags, statuses, clock(), current)
        return StreamingResponse(body, media_type=MEDIA_TYPE, headers=headers)

    @routes.get(
        "/pledges/{commitment_id}.ics",
        summary="One pledge's deadline window as an iCalendar file",
        response_class=Response,
        responses={**ICS, 304: {"description": "Unchanged"}, 404: {"model": api.Problem}},
    )
    def one(request: Request, commitment_id: api.CommitmentId) -> Response:
        with connector.read(engine) as conn:
            try:
                entry = feed_store.one(conn, commitment_id)
            except pledges.NotFound:
                raise HTTPException(404, f"no commitment with id {commitment_id!r}") from None
        current = policy()
        etag = _etag("one", entry.pledge.id, entry.updated_at, current.reminder_offsets)
        headers = _headers(etag, entry.updated_at, f"{commitment_id}.ics")
        if _fresh(request, etag):
            return Response(status_code=304, headers=headers)
        head = ics.head(f"{FEED_NAME}: {entry.pledge.title}", __version__)
        body = head + _event(entry, clock(), current) + ics.TAIL
        return Response(body.encode(), media_type=MEDIA_TYPE, headers=headers)

    return routes


def _stream(
    engine: Engine,
    head: str,
    tags: frozenset[str],
    statuses: frozenset[Status],
    now: datetime,
    policy: Policy,
) -> Iterator[bytes]:
    """Yield the calendar's bytes: its head, then a chunk of events per page read, then its end.

    Each page is read in a transaction of its own, so no transaction stays
    open while the client reads.
    """
    yield head.encode()
    after: str | None = None
    while True:
        with connector.read(engine) as conn:
            found = feed_store.page(conn, after=after, statuses=statuses, tags=tags)
        if not found:
            break
        after = found[-1].pledge.id
        events = (
            _event(e, now, policy) for e in found if not tags or not tags.isdisjoint(e.pledge.tags)
        )
        yield "".join(events).encode()
    yield ics.TAIL.encode()


def _event(entry: feed_store.Entry, now: datetime, policy: Policy) -> str:
    return ics.event(
        entry.pledge,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        stamp=now,
        policy=policy,
    )


def _split(values: list[str]) -> list[str]:
    """Return the values of a repeatable, comma-separated parameter, blanks dropped."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _statuses(values: list[str]) -> frozenset[Status]:
    """Return the statuses asked for; an unknown one is a 422 naming it."""
    found = set()
    for value in _split(values):
        try:
            found.add(Status(value))
        except ValueError:
            known = ", ".join(s.value for s in Status)
            raise RequestValidationError(
                [
                    {
                        "loc": ["query", "status"],
                        "msg": f"unknown status {value!r}; one of {known}",
                        "type": "value_error",
                        "input": value,
                    }
                ]
            ) from None
    return frozenset(found)


def _etag(*parts: object) -> str:
    """Return a weak ETag of what a calendar shows, except its DTSTAMP (now)."""
    digest = hashlib.sha256(repr((__version__, *parts)).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def _fresh(request: Request, etag: str) -> bool:
    """True when the client's If-None-Match names `etag` (compared weakly, as RFC 9110 asks)."""
    asked = request.headers.get("if-none-match")
    if not asked:
        return False
    tags = {t.strip().removeprefix("W/") for t in asked.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def _headers(etag: str, modified: datetime | None, filename: str) -> dict[str, str]:
    headers = {
        "ETag": etag,
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "no-cache",  # may be kept, but asked again (with If-None-Match)
    }
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified, usegmt=True)
    return headers
