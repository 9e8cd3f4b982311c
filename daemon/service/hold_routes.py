"""The write API's holds: acknowledge a commitment, snooze it, silence a tag and lift the silence.

The routes join the write API's router (`api.router`), behind its bearer token,
and run the same store operations as `pledgewatch ack`, `snooze` and
`silence`. An `until` is read by the command line's rule (`model.holds`): a
duration such as `3d`, or an ISO date or time, one without an offset read in
the pledge's zone for a snooze and in PLEDGEWATCH_TIMEZONE for a silence.

| answer | when |
| --- | --- |
| 200 | done: the commitment (ack, snooze), or the silence and how many pledges it holds |
| 404 | no commitment has that id |
| 409 | it would change nothing (`refusals.NothingToDo`): already so, or nothing to end |
| 422 | the body is not valid; `detail` names the field (`until` unreadable or past) |
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Path
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, Engine

from daemon.clock import Clock
from daemon.model import documents, holds
from daemon.model.schedule import Policy
from daemon.service import api as write_api
from daemon.store import connector, pledges, refusals
from daemon.store import holds as store_holds

logger = logging.getLogger("daemon.service.api")

Text = write_api.Text
Tag = Annotated[str, Path(min_length=1, max_length=200, pattern=write_api.NO_NUL)]


class Ack(BaseModel):
    """Stop the overdue repeats, as `pledgewatch ack` does."""

    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(None, description="Why")


class Snooze(BaseModel):
    """Hold every notice of one commitment until `until`, or end the snooze (`end: true`)."""

    model_config = ConfigDict(extra="forbid")

    until: Text | None = Field(
        None, description="3d, 12h or an ISO date or time; without an offset, in the pledge's zone"
    )
    end: bool = Field(False, description="End the snooze now (instead of `until`)")
    note: Text | None = Field(None, description="Why")

    @model_validator(mode="after")
    def _until_or_end(self) -> Snooze:
        if (self.until is None) == (not self.end):
            raise ValueError("give `until` or `end: true` (not both)")
        return self


class SilenceBody(BaseModel):
    """Hold the notices of every commitment with `tag` until `until`."""

    model_config = ConfigDict(extra="forbid")

    tag: Text = Field(min_length=1, max_length=200)
    until: Text = Field(
        description="3d, 12h or an ISO date or time; without an offset, in PLEDGEWATCH_TIMEZONE"
    )
    note: Text | None = Field(None, description="Why")


def add(
    api: APIRouter,
    engine: Engine,
    *,
    clock: Clock,
    policy: Callable[[], Policy],
    zone: ZoneInfo,
    actor: str,
    detail: Callable[[str], dict[str, Any]],
    answers: Callable[..., dict[int | str, dict[str, Any]]],
) -> None:
    """Add the hold routes to `api`, the write API's router.

    `detail` answers with a commitment; `answers(*codes)` documents the refusals.
    """

    @api.post(
        "/commitments/{commitment_id}/ack",
        summary="Stop a commitment's overdue repeats until its next status change",
        responses=answers(401, 403, 404, 409),
    )
    def ack(commitment_id: write_api.CommitmentId, body: Ack | None = None) -> dict[str, Any]:
        note = body.note if body else None
        with _refused(commitment_id), connector.write(engine) as conn:
            store_holds.acknowledge(
                conn, commitment_id, now=clock(), policy=policy(), actor=actor, note=note
            )
        _log("api_acknowledged", commitment=commitment_id)
        return detail(commitment_id)

    @api.post(
        "/commitments/{commitment_id}/snooze",
        summary="Hold a commitment's notices until then, or end its snooze",
        responses=answers(401, 403, 404, 409),
    )
    def snooze(commitment_id: write_api.CommitmentId, body: Snooze) -> dict[str, Any]:
        now = clock()
        with _refused(commitment_id), connector.write(engine) as conn:
            until = None
            if body.until is not None:
                until = _end(body.until, _zone_of(conn, commitment_id), now)
            store_holds.snooze(
                conn, commitment_id, until, now=now, policy=policy(), actor=actor, note=body.note
            )
        _log("api_snoozed", commitment=commitment_id, until=documents.isoformat(until))
        return detail(commitment_id)

    @api.post(
        "/silences",
        summary="Hold the notices of every commitment with a tag until then",
        responses=answers(401, 403, 409),
    )
    def silence(body: SilenceBody) -> dict[str, Any]:
        now = clock()
        until = _end(body.until, zone, now)
        with _refused(None), connector.write(engine) as conn:
            count = store_holds.silence(
                conn, body.tag, until, now=now, policy=policy(), actor=actor, note=body.note
            )
        _log("api_silenced", tag=body.tag, until=documents.isoformat(until))
        return {"tag": body.tag, "until": documents.isoformat(until, zone), "pledges": count}

    @api.delete(
        "/silences/{tag}",
        summary="Lift the silence on a tag",
        responses=answers(401, 403, 409),
    )
    def lift(tag: Tag) -> dict[str, Any]:
        with _refused(None), connector.write(engine) as conn:
            count = store_holds.silence(
                conn, tag, None, now=clock(), policy=policy(), actor=actor, note=None
            )
        _log("api_silence_lifted", tag=tag)
        return {"tag": tag, "until": None, "pledges": count}


def _zone_of(conn: Connection, commitment_id: str) -> tzinfo:
    return documents.zone_of(pledges.get(conn, commitment_id).pledge)


def _end(text: str, zone: tzinfo, now: datetime) -> datetime:
    """Return the end of a hold `until` names, or answer 422 naming the field."""
    try:
        return holds.hold_end(text, zone=zone, now=now)
    except holds.UntilError as exc:
        raise RequestValidationError(
            [{"loc": ["body", "until"], "msg": str(exc), "type": "value_error"}]
        ) from None


@contextmanager
def _refused(commitment_id: str | None) -> Iterator[None]:
    """Turn the store's refusals into answers: no such commitment or name 404, nothing to do 409."""
    try:
        yield
    except pledges.NotFound:
        raise HTTPException(404, f"no commitment with id {commitment_id!r}") from None
    except refusals.UnknownName as exc:
        raise HTTPException(404, str(exc)) from None
    except refusals.NothingToDo as exc:
        raise HTTPException(409, str(exc)) from None


def _log(action: str, **fields: Any) -> None:
    logger.info(action.removeprefix("api_").replace("_", " "), extra={"action": action, **fields})
