"""The write API's holds and the paged listing, against the real `pledgewatch run` process."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.acceptance.test_api import AUTH, TOKEN, _settings
from tests.support import process
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]

YEAR = datetime.now(UTC).year + 2  # a hold ends at most ten years ahead
IDS = [f"pledge-{n:02}" for n in range(7)]


@pytest.fixture
def daemon(sqlite_url: str, receiver: Receiver, tmp_path: Path) -> Iterator[process.Daemon]:
    """The daemon with IDS stored (tagged `even` or `odd`), Moscow time, the API token set."""
    hook = f"/hook/{uuid.uuid4().hex}"
    settings = _settings(
        sqlite_url,
        receiver,
        hook,
        PLEDGEWATCH_API_TOKEN=TOKEN,
        PLEDGEWATCH_TIMEZONE="Europe/Moscow",
    )
    seed = tmp_path / "pledges.yaml"
    far = f"{YEAR + 1}-06-01"
    commitments = [
        {"id": i, "title": i, "deadline": far, "tags": ["even" if n % 2 == 0 else "odd"]}
        for n, i in enumerate(IDS)
    ]
    seed.write_text(yaml.safe_dump({"timezone": "Asia/Tokyo", "commitments": commitments}))
    assert process.cli("import", str(seed), settings=settings).returncode == 0
    running = process.start(settings, tmp_path / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()


def _post(url: str, path: str, body: Any = None, auth: bool = True) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=AUTH if auth else {}, timeout=10)


def _history(url: str, pledge_id: str) -> list[dict[str, Any]]:
    return httpx.get(f"{url}/api/commitments/{pledge_id}", timeout=10).json()["history"]


class TestSnoozeAndAck:
    def test_snooze_reads_until_in_the_pledges_zone_then_ends(self, daemon: process.Daemon) -> None:
        url = daemon.url
        answer = _post(url, "/api/commitments/pledge-01/snooze", {"until": f"{YEAR}-01-05T10:00"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["held_until"] == f"{YEAR}-01-05T10:00:00+09:00"
        assert _history(url, "pledge-01")[-1]["actor"] == "api"
        again = _post(url, "/api/commitments/pledge-01/snooze", {"until": f"{YEAR}-01-05T10:00"})
        assert again.status_code == 409
        assert "already snoozed" in again.json()["detail"]
        ended = _post(url, "/api/commitments/pledge-01/snooze", {"end": True, "note": "done"})
        assert ended.status_code == 200, ended.text
        assert ended.json()["held_until"] is None
        assert _history(url, "pledge-01")[-1]["note"] == "snooze ended: done"
        nothing = _post(url, "/api/commitments/pledge-01/snooze", {"end": True})
        assert nothing.status_code == 409

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"until": "soon"}, "until"),
            ({"until": "2001-01-01T00:00"}, "until"),
            ({}, "body"),
            ({"until": "3d", "end": True}, "body"),
            ({"until": "3d", "colour": "red"}, "colour"),
        ],
    )
    def test_a_bad_snooze_is_422_naming_the_field_and_writes_nothing(
        self, daemon: process.Daemon, body: dict[str, Any], field: str
    ) -> None:
        before = _history(daemon.url, "pledge-02")
        answer = _post(daemon.url, "/api/commitments/pledge-02/snooze", body)
        assert answer.status_code == 422, answer.text
        assert field in {str(part) for error in answer.json()["detail"] for part in error["loc"]}
        assert _history(daemon.url, "pledge-02") == before

    def test_ack_stops_repeats_once_then_is_409(self, daemon: process.Daemon) -> None:
        answer = _post(daemon.url, "/api/commitments/pledge-03/ack", {"note": "seen"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["acknowledged"] is True
        assert _history(daemon.url, "pledge-03")[-1]["note"] == "acknowledged: seen"
        assert _post(daemon.url, "/api/commitments/pledge-03/ack").status_code == 409

    @pytest.mark.parametrize("action", ["ack", "snooze"])
    def test_an_unknown_commitment_is_404(self, daemon: process.Daemon, action: str) -> None:
        answer = _post(daemon.url, f"/api/commitments/nope/{action}", {"until": "3d"})
        if action == "ack":
            answer = _post(daemon.url, "/api/commitments/nope/ack")
        assert answer.status_code == 404
        assert answer.json() == {"detail": "no commitment with id 'nope'"}


class TestSilences:
    def test_silence_a_tag_in_the_operators_zone_then_lift_it(self, daemon: process.Daemon) -> None:
        url = daemon.url
        body = {"tag": "odd", "until": f"{YEAR}-03-01T10:00", "note": "quiet"}
        answer = _post(url, "/api/silences", body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "tag": "odd",
            "until": f"{YEAR}-03-01T10:00:00+03:00",
            "pledges": 3,
        }
        assert _post(url, "/api/silences", body).status_code == 409
        lifted = httpx.delete(f"{url}/api/silences/odd", headers=AUTH, timeout=10)
        assert lifted.status_code == 200, lifted.text
        assert lifted.json() == {"tag": "odd", "until": None, "pledges": 3}
        again = httpx.delete(f"{url}/api/silences/odd", headers=AUTH, timeout=10)
        assert again.status_code == 409
        assert "no silence to lift" in again.json()["detail"]

    def test_a_tag_no_pledge_has_is_409(self, daemon: process.Daemon) -> None:
        answer = _post(daemon.url, "/api/silences", {"tag": "none", "until": "3d"})
        assert answer.status_code == 409

    def test_a_bad_until_is_422_naming_it(self, daemon: process.Daemon) -> None:
        answer = _post(daemon.url, "/api/silences", {"tag": "odd", "until": "later"})
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["body", "until"]

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("POST", "/api/silences"),
            ("DELETE", "/api/silences/odd"),
            ("POST", "/api/commitments/pledge-01/ack"),
            ("POST", "/api/commitments/pledge-01/snooze"),
        ],
    )
    def test_every_hold_route_needs_the_token(
        self, daemon: process.Daemon, method: str, path: str
    ) -> None:
        answer = httpx.request(method, f"{daemon.url}{path}", json={"until": "3d"}, timeout=10)
        assert answer.status_code == 401


class TestPages:
    def test_limit_and_after_walk_the_commitments_by_id_with_a_next_link(
        self, daemon: process.Daemon
    ) -> None:
        url, seen = f"{daemon.url}/api/commitments?limit=3", []
        while url:
            answer = httpx.get(url, timeout=10)
            assert answer.status_code == 200, answer.text
            page = [c["id"] for c in answer.json()]
            assert len(page) <= 3
            seen.extend(page)
            found = re.fullmatch(r'<(.+)>; rel="next"', answer.headers.get("link", ""))
            url = found[1] if found else ""
        assert seen == IDS

    def test_after_alone_lists_the_rest_and_status_still_filters(
        self, daemon: process.Daemon
    ) -> None:
        rest = httpx.get(f"{daemon.url}/api/commitments?after=pledge-04", timeout=10)
        assert [c["id"] for c in rest.json()] == IDS[5:]
        assert "link" not in rest.headers
        page = httpx.get(f"{daemon.url}/api/commitments?status=kept&limit=2", timeout=10)
        assert page.json() == []

    def test_without_limit_the_body_is_the_whole_array_as_before(
        self, daemon: process.Daemon
    ) -> None:
        answer = httpx.get(f"{daemon.url}/api/commitments", timeout=10)
        assert [c["id"] for c in answer.json()] == IDS
        assert "link" not in answer.headers
