"""The HTTP face: liveness, readiness, health, the read API and status pages, and the server that runs it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any
from zoneinfo import ZoneInfo

import uvicorn
import uvicorn.server
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from daemon import __version__
from daemon.clock import Clock
from daemon.model import documents
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.service import api, calendar, checks, metrics, pages
from daemon.store import connector, outbox, pledges

HEALTH_TYPE = "application/health+json"


class HealthResponse(JSONResponse):
    """JSON as application/health+json, so /openapi.json names the type /health answers with."""

    media_type = HEALTH_TYPE


def create_app(
    engine: Engine,
    *,
    clock: Clock,
    policy: Callable[[], Policy],
    alive: Callable[[], bool],
    health: Callable[[], list[checks.Check]],
    api_token: SecretStr | None = None,
    page_token: SecretStr | None = None,
    zone: ZoneInfo | None = None,
    instruments: metrics.Metrics | None = None,
) -> FastAPI:
    """Return the app; `alive` and `health` come from the running daemon.

    The write API refuses every write while `api_token` is None; `zone` is the
    default zone (else UTC) of the commitments it is sent. `instruments`, when
    given, are served at /metrics. The status pages need `page_token` when it is set.
    """
    # No /docs or /redoc: those pages have the browser fetch Swagger UI and ReDoc from a
    # CDN, and nothing the daemon serves may load from outside. /openapi.json stays.
    app = FastAPI(title="pledgewatch", version=__version__, docs_url=None, redoc_url=None)

    @app.get(
        "/livez",
        summary="200 while the process and its scheduler are alive",
        responses={503: {"description": "The scheduler has stopped"}},
    )
    def livez() -> JSONResponse:
        ok = alive()
        return JSONResponse({"status": "pass" if ok else "fail"}, status_code=200 if ok else 503)

    @app.get(
        "/readyz",
        summary="200 when the database answers and migrations are at head",
        responses={503: {"description": "The database does not answer or is behind"}},
    )
    def readyz() -> JSONResponse:
        found = [checks.database(engine)]
        if found[0].status != "fail":
            found.append(checks.migrations(engine))
        status = checks.overall(found)
        body = {"status": status, "checks": {c.name: [c.document()] for c in found}}
        return JSONResponse(body, status_code=503 if status == "fail" else 200)

    @app.get(
        "/health",
        summary="The daemon's state as application/health+json",
        response_class=HealthResponse,
        responses={503: {"description": "A check fails"}},
    )
    def health_report() -> JSONResponse:
        found = health()
        status = checks.overall(found)
        body = {
            "status": status,
            "version": "1",
            "releaseId": __version__,
            "serviceId": "pledgewatch",
            "checks": {c.name: [c.document()] for c in found},
        }
        return JSONResponse(
            body, status_code=503 if status == "fail" else 200, media_type=HEALTH_TYPE
        )

    @app.get(
        "/api/commitments",
        summary="Every commitment, as webhooks carry it; by id, a page at a time with `limit`; the archived ones with archived=true",
    )
    def list_commitments(
        request: Request,
        response: Response,
        status: Status | None = None,
        archived: bool = False,
        limit: int | None = Query(None, ge=1, le=1000, description="At most this many, by id"),
        after: str | None = Query(None, max_length=200, description="Those past this id"),
    ) -> list[dict[str, Any]]:
        with connector.read(engine) as conn:
            # Keyset on the primary key: each page is one index range, however deep.
            chunks = pledges.chunks(
                conn,
                statuses=[status] if status else (),
                size=limit or 500,
                after=after,
                archived=archived,
            )
            found = next(chunks, []) if limit else [s for chunk in chunks for s in chunk]
        if limit is not None and len(found) == limit:
            following = request.url.include_query_params(after=found[-1].pledge.id)
            response.headers["Link"] = f'<{following}>; rel="next"'
        return [documents.commitment_document(s.pledge) for s in found]

    @app.get(
        "/api/commitments/{commitment_id}",
        summary="One commitment with its history",
        responses={404: {"description": "No commitment has that id"}},
    )
    def get_commitment(commitment_id: api.CommitmentId) -> dict[str, Any]:
        with connector.read(engine) as conn:
            try:
                stored = pledges.get(conn, commitment_id)
            except pledges.NotFound:
                raise HTTPException(404, f"no commitment with id {commitment_id!r}") from None
            return pledges.describe(conn, stored, policy(), clock())

    @app.get("/api/deliveries", summary="The outbox, newest first")
    def list_deliveries(
        state: str | None = Query(None, pattern="^(pending|delivered|dead)$"),
        limit: int = Query(100, ge=1, le=1000),
    ) -> list[dict[str, Any]]:
        with connector.read(engine) as conn:
            return outbox.listing(conn, state, limit)

    if instruments is not None:

        @app.get("/metrics", include_in_schema=False)
        def metrics_text(request: Request) -> Response:
            # Prometheus asks for OpenMetrics in its Accept header; anything else gets the text format.
            body, content_type = instruments.render(request.headers.get("accept"))
            return Response(body, media_type=content_type)

    zone = zone or ZoneInfo("UTC")
    app.include_router(calendar.router(engine, clock=clock, policy=policy))
    app.include_router(api.router(engine, clock=clock, policy=policy, token=api_token, zone=zone))
    # The pages last: `/pledges/{id}` matches any last segment, so a route with a more
    # particular shape under /pledges/ must be included before it to be reached.
    app.include_router(pages.router(engine, clock=clock, policy=policy, token=page_token))

    @app.exception_handler(StarletteHTTPException)
    async def page_errors(request: Request, exc: StarletteHTTPException) -> Response:
        # An unknown address a person opens gets the HTML 404; the API's stay JSON.
        if exc.status_code == 404 and pages.is_page(request.url.path):
            return pages.not_found(f"Nothing lives at {request.url.path}.")
        return await http_exception_handler(request, exc)

    return app


class Server(uvicorn.Server):
    """uvicorn's server, whose loop sleeps until `exit` instead of waking ten times a second.

    uvicorn's main loop wakes every 0.1 s to look at `should_exit` and, once a
    second, to refresh the Date header; idle, those wake-ups were most of the
    daemon's CPU. Here `exit` wakes the loop, and the Date header is worked
    out when a request reads it (`_State`). Counting requests towards
    `limit_max_requests` and `callback_notify` are not supported.

    Usage::

        server = Server(uvicorn.Config(app, lifespan="off", log_config=None))
        threading.Thread(target=server.run, kwargs={"sockets": [sock]}).start()
        ...
        server.exit()  # from any thread
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.server_state = _State(date=config.date_header)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        """Wait until asked to exit (one tick first: it sets the default headers)."""
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        while not await self.on_tick(0):
            await self._wake.wait()
            self._wake.clear()

    def exit(self) -> None:
        """Ask the server to finish (safe from any thread); the loop wakes at once."""
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            # A loop already closed has finished anyway.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wake.set)


class _State(uvicorn.server.ServerState):
    """uvicorn's state shared by its connections; the Date default header is read fresh.

    Each request reads `default_headers` as it starts. uvicorn's loop sets them
    once a second; here the date in them follows the clock when read (cached for
    the second), so no loop needs to wake while nothing is asked.
    """

    def __init__(self, *, date: bool) -> None:
        self._date = date
        self._second = -1
        self._others: list[tuple[bytes, bytes]] = []
        self._headers: list[tuple[bytes, bytes]] = []
        super().__init__()

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers every response carries: the Date now, then the configured ones."""
        if not self._date:
            return self._others
        now = int(time.time())
        if now != self._second:
            date = formatdate(now, usegmt=True).encode()
            self._headers = [(b"date", date), *self._others]
            self._second = now
        return self._headers

    @default_headers.setter
    def default_headers(self, headers: list[tuple[bytes, bytes]]) -> None:
        # uvicorn sets them with a date of its own: keep the rest.
        self._others = [(name, value) for name, value in headers if name != b"date"]
        self._second = -1
