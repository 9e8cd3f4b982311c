"""The HTTP face: liveness, readiness, health and the read API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from daemon import __version__
from daemon.clock import Clock
from daemon.model import documents
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.service import checks
from daemon.store import connector, outbox, pledges

HEALTH_TYPE = "application/health+json"


def create_app(
    engine: Engine,
    *,
    clock: Clock,
    policy: Callable[[], Policy],
    alive: Callable[[], bool],
    health: Callable[[], list[checks.Check]],
) -> FastAPI:
    """Return the app; `alive` and `health` come from the running daemon."""
    app = FastAPI(title="pledgewatch", version=__version__)

    @app.get("/livez", summary="200 while the process and its scheduler are alive")
    def livez() -> JSONResponse:
        ok = alive()
        return JSONResponse({"status": "pass" if ok else "fail"}, status_code=200 if ok else 503)

    @app.get("/readyz", summary="200 when the database answers and migrations are at head")
    def readyz() -> JSONResponse:
        found = [checks.database(engine)]
        if found[0].status != "fail":
            found.append(checks.migrations(engine))
        status = checks.overall(found)
        body = {"status": status, "checks": {c.name: [c.document()] for c in found}}
        return JSONResponse(body, status_code=503 if status == "fail" else 200)

    @app.get("/health", summary="The daemon's state as application/health+json")
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

    @app.get("/api/commitments/{commitment_id}", summary="One commitment with its history")
    def get_commitment(commitment_id: str) -> dict[str, Any]:
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

    return app
