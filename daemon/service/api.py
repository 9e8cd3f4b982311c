"""The write API: record a status change, create or update a commitment, archive one; holds (`hold_routes`).

Every route needs `Authorization: Bearer <PLEDGEWATCH_API_TOKEN>`. With no
token configured, every write is refused (403) and nothing is read or changed.

| answer | when |
| --- | --- |
| 200 | a status changed; a commitment updated (or already so), archived or brought back |
| 201 | a commitment created |
| 401 | no bearer token, or the wrong one (`WWW-Authenticate: Bearer`) |
| 403 | the write API is disabled (no token configured) |
| 404 | no commitment has that id |
| 409 | the status change is not allowed, another writer got there first, or already so |
| 422 | the body is not JSON or not valid; `detail` names the field |

A commitment body is one commitment of a seed file, validated by the same
code as `pledgewatch import`, with the `source` and `timezone` a file would give.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path, Request, Response, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from daemon import seeds
from daemon.clock import Clock
from daemon.model import lifecycle
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.seeds import schema as seed_schema
from daemon.store import archive as store_archive
from daemon.store import connector, pledges, refusals
from daemon.store import lifecycle as store_lifecycle

logger = logging.getLogger(__name__)

ACTOR = "api"  # who the history says made a change
BODY = "request body"  # what seed errors call the document they read
DISABLED = "the write API is disabled: set PLEDGEWATCH_API_TOKEN to enable it"
UNREADABLE = {"type": "json_invalid", "loc": ["body"], "msg": "the body is not JSON in UTF-8"}
NO_NUL = r"^[^\x00]*$"  # PostgreSQL cannot store NUL in text, so it is refused everywhere

# auto_error=False: the route class below answers 401 itself, before the body is read;
# declared on the router so /openapi.json describes the scheme.
bearer = HTTPBearer(auto_error=False, description="PLEDGEWATCH_API_TOKEN")

Text = Annotated[str, Field(pattern=NO_NUL)]
# The rule `pledgewatch set-status --evidence` applies too.
Evidence = Annotated[str, AfterValidator(lifecycle.check_evidence)]
CommitmentId = Annotated[str, Path(min_length=1, max_length=200, pattern=seeds.ID_PATTERN)]


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


class StatusChange(BaseModel):
    """A status to record, as `pledgewatch set-status` takes it."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    note: Text | None = Field(
        None, description="Why; needed to leave a closed outcome (kept, broken...)"
    )
    evidence: Evidence | None = Field(
        None, description="A page backing the change: an absolute http(s) URL, kept as given"
    )


class Archiving(BaseModel):
    """Archive a commitment, or bring it back (`undo`), as `pledgewatch archive` does.

    The body may be left out: it archives, with no note.
    """

    model_config = ConfigDict(extra="forbid")

    undo: bool = Field(False, description="Bring it back: its notices start again from now")
    note: Text | None = Field(None, description="Why; kept in its history")


class SourceBody(seed_schema.Source):
    """Where the pledge was reported; `published` dates phrases such as 'by August'."""

    title: Text | None = None
    publisher: Text | None = None
    url: HttpUrl | None = None


class ConditionBody(seed_schema.Condition):
    """Another commitment that must reach `status` first."""

    requires: str = Field(min_length=1, max_length=200, pattern=seeds.ID_PATTERN)


class DeadlineRange(BaseModel):
    """A deadline window given by its bounds (dates or instants)."""

    model_config = ConfigDict(extra="forbid")

    earliest: Text
    latest: Text
    phrase: Text | None = None


class CommitmentBody(seed_schema.Commitment):
    """One commitment as a seed file lists it, with the file's `source` and `timezone`.

    The fields are the seed file's own (inherited), so the API and `import`
    accept the same commitments.
    """

    source: SourceBody = SourceBody()
    timezone: Text | None = Field(None, description="IANA zone; default PLEDGEWATCH_TIMEZONE")
    deadline: Text | DeadlineRange | None = Field(
        None, description="A phrase ('by August', 'Q3 2016'), a date or instant, or a range"
    )
    conditions: list[ConditionBody] = Field(default_factory=list)


def _answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The refusals a route documents, for the OpenAPI schema."""
    said = {
        401: "No bearer token, or the wrong one",
        403: "The write API is disabled (PLEDGEWATCH_API_TOKEN unset)",
        404: "No commitment has that id",
        409: "The change is not allowed now",
    }
    return {code: {"model": Problem, "description": said[code]} for code in codes}


class AsciiJSON(JSONResponse):
    """JSON with everything outside ASCII escaped.

    A 422 echoes the input, which may hold lone surrogates that UTF-8 cannot encode.
    """

    def render(self, content: Any) -> bytes:
        text = json.dumps(jsonable_encoder(content), ensure_ascii=True, separators=(",", ":"))
        return text.encode("ascii")


def router(
    engine: Engine,
    *,
    clock: Clock,
    policy: Callable[[], Policy],
    token: SecretStr | None,
    zone: ZoneInfo,
) -> APIRouter:
    """Return the write routes; `token` None (or empty) refuses every write."""
    secret = token.get_secret_value().encode() if token else b""

    async def refusal(request: Request) -> Response | None:
        """Return the answer to a caller who may not write, or None."""
        if not secret:
            return AsciiJSON({"detail": DISABLED}, 403)
        given = await bearer(request)
        # Compared as bytes in constant time; header values arrive as latin-1 text.
        if given is None or not hmac.compare_digest(given.credentials.encode("latin-1"), secret):
            return AsciiJSON(
                {"detail": "a valid bearer token is needed (Authorization: Bearer <token>)"},
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        return None

    async def readable(request: Request) -> bool:
        """True unless the body is there but is not JSON that Python's parser can read.

        FastAPI answers 400 for a body it cannot decode (not UTF-8, nested too deep,
        an integer too long); to a client that is the same mistake as a syntax error.
        """
        body = await request.body()  # kept by Starlette: FastAPI reads the same bytes
        if not body:
            return True
        try:
            json.loads(body)
        except (ValueError, RecursionError):
            return False
        return True

    class Guarded(APIRoute):
        """A route that checks the token before anything else.

        FastAPI parses a JSON body before any dependency runs, so a dependency
        could not refuse an unauthorised caller before telling it the body is bad.
        """

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                refused = await refusal(request)
                if refused is not None:
                    return refused
                if not await readable(request):
                    return AsciiJSON({"detail": [UNREADABLE]}, 422)
                try:
                    return await handler(request)
                except RequestValidationError as exc:
                    return AsciiJSON({"detail": exc.errors()}, 422)

            return guarded

    api = APIRouter(prefix="/api", route_class=Guarded, dependencies=[Security(bearer)])

    def detail(commitment_id: str) -> dict[str, Any]:
        with connector.read(engine) as conn:
            return pledges.describe(conn, pledges.get(conn, commitment_id), policy(), clock())

    @api.post(
        "/commitments/{commitment_id}/status",
        summary="Record a status change; notified like any other",
        responses=_answers(401, 403, 404, 409),
    )
    def set_status(commitment_id: CommitmentId, change: StatusChange) -> dict[str, Any]:
        try:
            with connector.write(engine) as conn:
                old = store_lifecycle.set_status(
                    conn,
                    commitment_id,
                    change.status,
                    now=clock(),
                    policy=policy(),
                    actor=ACTOR,
                    note=change.note,
                    evidence=change.evidence,
                )
        except pledges.NotFound:
            raise HTTPException(404, f"no commitment with id {commitment_id!r}") from None
        except lifecycle.TransitionError as exc:
            raise HTTPException(409, f"{commitment_id}: {exc}") from None
        logger.info(
            "status set",
            extra={
                "action": "api_status_set",
                "commitment": commitment_id,
                "old_status": old.value,
                "new_status": change.status.value,
            },
        )
        return detail(commitment_id)

    @api.post(
        "/commitments/{commitment_id}/archive",
        summary="Archive a commitment (kept, no more notices, left out of listings), or undo it",
        responses=_answers(401, 403, 404, 409),
    )
    def archive(commitment_id: CommitmentId, body: Archiving | None = None) -> dict[str, Any]:
        undo, note = (body.undo, body.note) if body else (False, None)
        try:
            with connector.write(engine) as conn:
                if undo:
                    store_archive.unarchive(
                        conn, commitment_id, now=clock(), policy=policy(), actor=ACTOR, note=note
                    )
                else:
                    store_archive.archive(conn, commitment_id, now=clock(), actor=ACTOR, note=note)
        except pledges.NotFound:
            raise HTTPException(404, f"no commitment with id {commitment_id!r}") from None
        except refusals.NothingToDo as exc:
            raise HTTPException(409, str(exc)) from None
        action = "api_commitment_unarchived" if undo else "api_commitment_archived"
        logger.info(
            "commitment unarchived" if undo else "commitment archived",
            extra={"action": action, "commitment": commitment_id},
        )
        return detail(commitment_id)

    @api.post(
        "/commitments",
        summary="Create or update one commitment (upsert by id), as an import would",
        responses={
            201: {
                "description": "Created",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **_answers(401, 403, 409),
        },
    )
    def upsert(body: CommitmentBody, response: Response) -> dict[str, Any]:
        now = clock()
        fields = body.model_dump(mode="json", exclude_unset=True)
        document = {
            "source": fields.pop("source", {}),
            "timezone": fields.pop("timezone", None),
            "commitments": [fields],
        }
        try:
            found = seeds.parse(BODY, document, default_zone=zone, now=now)
            with connector.write(engine) as conn:
                counts = seeds.apply(conn, found, now=now, policy=policy(), actor=ACTOR)
        except seeds.SeedError as exc:
            where = exc.field.split(".") if exc.field else []
            raise RequestValidationError(
                [{"loc": ["body", *where], "msg": str(exc), "type": "value_error"}]
            ) from None
        except IntegrityError:
            # Two writers created the same id at once (PostgreSQL); the other won.
            raise HTTPException(409, f"{body.id}: changed by another writer; send again") from None
        outcome = next(what for what, n in counts.items() if n)
        if outcome == "created":
            response.status_code = 201
            response.headers["Location"] = f"/api/commitments/{body.id}"
        logger.info(
            "commitment upserted",
            extra={"action": "api_commitment_upserted", "commitment": body.id, "outcome": outcome},
        )
        return detail(body.id)

    from daemon.service import hold_routes  # it uses this module's types

    hold_routes.add(
        api,
        engine,
        clock=clock,
        policy=policy,
        zone=zone,
        actor=ACTOR,
        detail=detail,
        answers=_answers,
    )
    return api
