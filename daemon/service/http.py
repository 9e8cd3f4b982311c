"""The HTTP face: liveness, readiness, health and the read API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import SecretStr
from sqlalchemy import Engine

from daemon import __version__
from daemon.clock import Clock
from daemon.model import documents
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.service import api, checks, metrics
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
    zone: ZoneInfo | None = None,
    instruments: metrics.Metrics | None = None,
) -> FastAPI:
    """Return the app; `alive` and `health` come from the running daemon.

    The write API refuses every write while `api_token` is None; `zone` is the
    default zone (else UTC) of the commitments it is sent. `instruments`, when
    given, are served at /metrics.
    """
    app = FastAPI(title="pledgewatch", version=__version__)

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

    @app.get("/api/commitments", summary="Every commitment, as webhooks carry it")
    def list_commitments(status: Status | None = None) -> list[dict[str, Any]]:
        with connector.read(engine) as conn:
            return [documents.commitment_document(s.pledge) for s in pledges.list_all(conn, status)]

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
    app.include_router(api.router(engine, clock=clock, policy=policy, token=api_token, zone=zone))

    return app
