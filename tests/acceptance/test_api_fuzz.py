"""Fuzzing the real daemon's HTTP API from its own /openapi.json (schemathesis).

Bounded and derandomised, so a run is short and repeats exactly: with the
token, no operation answers 5xx and answers match the schema; without it,
every write is refused and the database does not change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from daemon import seeds
from tests.support import process

TOKEN = "pw-fuzz-token-" + "3e8d51c0a9b7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = 30  # per operation and mode: enough to find the shapes that break, short on CI
STORED = ("draft-constitution", "lift-sanctions")

pytestmark = [pytest.mark.daemon]

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases on every run
    database=None,  # nothing remembered between runs either
    deadline=None,  # the machine is shared and loaded: never judge by time
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[process.Daemon]:
    """The daemon on SQLite with the token set and two stored pledges, one waiting on the other."""
    folder = tmp_path_factory.mktemp("fuzz")
    config = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{folder / 'pledgewatch.db'}",
        "PLEDGEWATCH_API_TOKEN": TOKEN,
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }
    far = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    seed = folder / "pledges.yaml"
    seed.write_text(
        yaml.safe_dump(
            {
                "timezone": "UTC",
                "commitments": [
                    {"id": STORED[0], "title": "Draft constitution", "deadline": far},
                    {
                        "id": STORED[1],
                        "title": "Lift sanctions",
                        "kind": "conditional",
                        "conditions": [{"requires": STORED[0]}],
                    },
                ],
            }
        )
    )
    result = process.cli("import", str(seed), settings=config)
    assert result.returncode == 0, result.stderr
    daemon = process.start(config, folder / "daemon.log")
    yield daemon
    assert daemon.stop() == 0, daemon.output()
    assert TOKEN not in daemon.output()


@pytest.fixture(scope="module")
def api_schema(running: process.Daemon) -> Any:
    """The schema the daemon serves, read from it as a client would."""
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")

    @schema.hook
    def map_path_parameters(context: Any, path_parameters: Any) -> Any:
        # Random ids are almost never stored: aim a share of the cases at pledges that
        # are, so transitions and reads of real rows are fuzzed too. Only ids valid
        # already: an invalid one is the point of a negative case.
        found = (path_parameters or {}).get("commitment_id")
        if (
            isinstance(found, str)
            and re.fullmatch(seeds.ID_PATTERN, found)
            and found[0] in "abcdefgh"
        ):
            return {**path_parameters, "commitment_id": STORED[len(found) % len(STORED)]}
        return path_parameters

    return schema


def test_no_operation_answers_a_server_error_or_off_schema(api_schema: Any) -> None:
    """Every operation, with valid and with invalid input, with the token."""
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,
    ]
    # One @given per operation and mode (as schema.parametrize() would make them), run here:
    # the schema exists only once the daemon of this module runs.
    for found in api_schema.get_all_operations():
        operation = found.ok()
        for mode in GenerationMode:

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers(case: Any) -> None:
                case.call_and_validate(headers=AUTH, checks=checks)

            try:
                answers()
            except Unsatisfiable:
                # No invalid input exists (no parameters, or a path string that takes
                # anything): nothing to send in this mode.
                if mode is GenerationMode.POSITIVE:
                    raise


def _state(url: str) -> Any:
    """Everything a write could change: the commitments, their histories, the outbox."""
    listing = httpx.get(f"{url}/api/commitments", timeout=10).json()
    histories = [
        httpx.get(f"{url}/api/commitments/{c['id']}", timeout=10).json()["history"] for c in listing
    ]
    deliveries = httpx.get(f"{url}/api/deliveries", params={"limit": 1000}, timeout=10).json()
    return listing, histories, deliveries


def test_without_the_token_every_write_is_refused_and_nothing_changes(
    running: process.Daemon, api_schema: Any
) -> None:
    writes = api_schema.include(method="POST")
    cases = writes.as_strategy(GenerationMode.POSITIVE) | writes.as_strategy(
        GenerationMode.NEGATIVE
    )
    before = _state(running.url)

    @settings(FUZZ, max_examples=2 * EXAMPLES)  # both modes share this one run
    @given(case=cases)
    def refused(case: Any) -> None:
        # Whatever Authorization header was generated goes: none, then a wrong one.
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
        }
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            response = case.call(headers=headers)
            assert response.status_code == 401, (case.path, response.status_code, response.text)

    refused()
    assert _state(running.url) == before
