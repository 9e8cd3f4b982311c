"""The write API of the real `pledgewatch run` process, with a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import process
from tests.support.receiver import Receiver

TOKEN = "pw-api-token-" + "7c1e9a0f3b5d"  # a value no other output would contain by chance
AUTH = {"Authorization": f"Bearer {TOKEN}"}

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


@pytest.fixture
def hook_path() -> str:
    """A path of the shared receiver that belongs to this test alone."""
    return f"/hook/{uuid.uuid4().hex}"


def _settings(
    database_url: str, receiver: Receiver, hook_path: str, **extra: str
) -> dict[str, str]:
    return {
        "PLEDGEWATCH_DATABASE_URL": database_url,
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
        **extra,
    }


@pytest.fixture
def settings(sqlite_url: str, receiver: Receiver, hook_path: str) -> dict[str, str]:
    """SQLite with the API token set."""
    return _settings(sqlite_url, receiver, hook_path, PLEDGEWATCH_API_TOKEN=TOKEN)


@pytest.fixture
def daemon(settings: dict[str, str], tmp_path: Path) -> Iterator[process.Daemon]:
    """The daemon with one stored pledge, `draft-constitution` (open, due in a year)."""
    _import(settings, tmp_path)
    running = process.start(settings, tmp_path / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()
    assert TOKEN not in running.output()


@pytest.fixture(scope="module")
def untouched(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[process.Daemon]:
    """One daemon shared by the tests that must change nothing (each checks that it did not)."""
    folder = tmp_path_factory.mktemp("untouched")
    database = f"sqlite:///{folder / 'pledgewatch.db'}"
    hook = f"/hook/{uuid.uuid4().hex}"
    settings = _settings(database, receiver, hook, PLEDGEWATCH_API_TOKEN=TOKEN)
    _import(settings, folder)
    running = process.start(settings, folder / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()
    assert TOKEN not in running.output()
    assert receiver.at(hook) == []


def _import(settings: dict[str, str], folder: Path) -> None:
    path = folder / "pledges.yaml"
    far = (datetime.now(UTC) + timedelta(days=365)).date().isoformat()
    document = {
        "source": {"title": "Test desk", "publisher": "pledgewatch tests"},
        "timezone": "UTC",
        "commitments": [
            {"id": "draft-constitution", "title": "Draft constitution", "deadline": far}
        ],
    }
    path.write_text(yaml.safe_dump(document))
    result = process.cli("import", str(path), settings=settings)
    assert result.returncode == 0, result.stderr


def _state(url: str) -> Any:
    """Everything a write could change: the commitments, one's history, the outbox."""
    listing = httpx.get(f"{url}/api/commitments", timeout=10).json()
    detail = httpx.get(f"{url}/api/commitments/draft-constitution", timeout=10).json()
    deliveries = httpx.get(f"{url}/api/deliveries", timeout=10).json()
    return listing, detail["history"], deliveries


def _sent_changes(url: str) -> list[dict[str, Any]]:
    deliveries = httpx.get(f"{url}/api/deliveries", timeout=10).json()
    return [d for d in deliveries if d["type"] == "commitment.status_changed"]


def _wait_sent(url: str, count: int, timeout: float = 15.0) -> None:
    """Wait (bounded) until `count` status-change deliveries exist and none is pending.

    The daemon fans a change out and sends it after the write has answered: the
    outbox is part of the state compared, so it must have settled first.
    """
    deadline = time.monotonic() + timeout
    while True:
        sent = _sent_changes(url)
        if len(sent) >= count and all(d["state"] != "pending" for d in sent):
            return
        assert time.monotonic() < deadline, f"status change not sent in {timeout}s: {sent}"
        time.sleep(0.05)


def _post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=headers or {}, timeout=10)


def _notice(receiver: Receiver, hook_path: str, daemon: process.Daemon) -> dict[str, Any]:
    """Wait (bounded) for the first notice on `hook_path`; say what the daemon logged if none."""
    try:
        request = receiver.wait_for(hook_path, timeout=30)[0]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{daemon.output()}") from None
    assert TOKEN not in request.body.decode()
    return dict(request.json())


def _fields(response: httpx.Response) -> set[str]:
    """The names in the locations of a 422's errors (`body` and the like included)."""
    assert response.status_code == 422, response.text
    return {str(part) for error in response.json()["detail"] for part in error["loc"]}


class TestAccess:
    def test_without_a_token_configured_every_write_is_refused_and_nothing_changes(
        self, sqlite_url: str, receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = _settings(sqlite_url, receiver, hook_path)
        _import(settings, tmp_path)
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            before = _state(running.url)
            for headers in ({}, AUTH):
                refused = [
                    _post(
                        running.url,
                        "/api/commitments/draft-constitution/status",
                        {"status": "kept"},
                        headers,
                    ),
                    _post(
                        running.url, "/api/commitments", {"id": "new-one", "title": "New"}, headers
                    ),
                    _post(running.url, "/api/commitments/draft-constitution/archive", {}, headers),
                ]
                for response in refused:
                    assert response.status_code == 403, response.text
                    assert "PLEDGEWATCH_API_TOKEN" in response.json()["detail"]
            assert _state(running.url) == before
        finally:
            assert running.stop() == 0, running.output()

    @pytest.mark.parametrize(
        "authorization",
        [None, "Bearer wrong-token", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer"],
        ids=["none", "wrong", "longer", "basic-scheme", "no-scheme", "empty"],
    )
    def test_a_missing_or_wrong_token_is_refused_with_401_and_nothing_changes(
        self, untouched: process.Daemon, authorization: str | None
    ) -> None:
        headers = {"Authorization": authorization} if authorization else {}
        before = _state(untouched.url)
        refused = [
            _post(
                untouched.url,
                "/api/commitments/draft-constitution/status",
                {"status": "kept"},
                headers,
            ),
            _post(untouched.url, "/api/commitments", {"id": "new-one", "title": "New"}, headers),
            _post(untouched.url, "/api/commitments/draft-constitution/archive", None, headers),
            _post(
                untouched.url,
                "/api/commitments/draft-constitution/archive",
                {"undo": True},
                headers,
            ),
            # The token is checked before the body is read: a bad body is not described.
            httpx.post(
                f"{untouched.url}/api/commitments",
                content=b"{not json",
                headers={**headers, "content-type": "application/json"},
                timeout=10,
            ),
        ]
        for response in refused:
            assert response.status_code == 401, response.text
            assert response.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in response.text
        assert _state(untouched.url) == before

    def test_check_config_masks_the_token(self, settings: dict[str, str]) -> None:
        assert process.cli("migrate", settings=settings).returncode == 0
        result = process.cli("check-config", "--json", settings=settings)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["settings"]["api_token"] == "********"
        assert TOKEN not in result.stdout + result.stderr


class TestSchema:
    def test_the_schema_is_served_but_no_docs_page_that_loads_from_a_cdn(
        self, untouched: process.Daemon
    ) -> None:
        """Swagger UI and ReDoc pages load their code from a CDN: none is served."""
        for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
            response = httpx.get(f"{untouched.url}{path}", timeout=10)
            assert response.status_code == 404, f"{path}: {response.status_code}"
        response = httpx.get(f"{untouched.url}/openapi.json", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        schema = response.json()
        assert schema["info"]["title"] == "pledgewatch"
        assert "/api/commitments/{commitment_id}/status" in schema["paths"]
        answers = schema["paths"]["/api/commitments/{commitment_id}/archive"]["post"]
        assert {"200", "401", "403", "404", "409"} <= set(answers["responses"])


class TestStatus:
    def test_the_right_token_changes_the_status_records_it_and_notifies(
        self, daemon: process.Daemon, receiver: Receiver, hook_path: str
    ) -> None:
        change = {
            "status": "kept",
            "note": "signed on 3 May",
            "evidence": "https://example.org/news/1",
        }
        response = _post(daemon.url, "/api/commitments/draft-constitution/status", change, AUTH)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "kept"

        detail = httpx.get(f"{daemon.url}/api/commitments/draft-constitution", timeout=10).json()
        last = detail["history"][-1]
        assert (last["old_status"], last["new_status"], last["actor"]) == ("open", "kept", "api")
        assert (last["note"], last["evidence"]) == (change["note"], change["evidence"])

        body = _notice(receiver, hook_path, daemon)
        assert body["type"] == "commitment.status_changed"
        assert body["data"]["commitment"]["id"] == "draft-constitution"
        assert (body["data"]["old_status"], body["data"]["new_status"]) == ("open", "kept")
        assert (body["data"]["note"], body["data"]["evidence"]) == (
            change["note"],
            change["evidence"],
        )
        assert "action=api_status_set commitment=draft-constitution" in daemon.output()

    def test_leaving_a_closed_outcome_needs_a_note_and_the_same_status_is_refused(
        self, daemon: process.Daemon
    ) -> None:
        path = "/api/commitments/draft-constitution/status"
        sent = len(_sent_changes(daemon.url))
        assert _post(daemon.url, path, {"status": "broken"}, AUTH).status_code == 200
        _wait_sent(daemon.url, sent + 1)
        before = _state(daemon.url)
        same = _post(daemon.url, path, {"status": "broken", "note": "again"}, AUTH)
        assert same.status_code == 409, same.text
        assert "already broken" in same.json()["detail"]
        without_note = _post(daemon.url, path, {"status": "open"}, AUTH)
        assert without_note.status_code == 409, without_note.text
        assert "needs a note" in without_note.json()["detail"]
        assert _state(daemon.url) == before
        reopened = _post(daemon.url, path, {"status": "open", "note": "talks resumed"}, AUTH)
        assert reopened.status_code == 200, reopened.text
        assert reopened.json()["status"] == "open"

    def test_an_unknown_id_is_404_and_a_malformed_one_422(self, untouched: process.Daemon) -> None:
        before = _state(untouched.url)
        unknown = _post(
            untouched.url, "/api/commitments/no-such-pledge/status", {"status": "kept"}, AUTH
        )
        assert unknown.status_code == 404, unknown.text
        assert "no-such-pledge" in unknown.json()["detail"]
        malformed = _post(
            untouched.url, "/api/commitments/-dash-first/status", {"status": "kept"}, AUTH
        )
        assert "commitment_id" in _fields(malformed)
        assert _state(untouched.url) == before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "finished"}, "status"),
            ({}, "status"),
            ({"status": "kept", "evidence": "not a url"}, "evidence"),
            ({"status": "kept", "evidence": "ftp://example.org/file"}, "evidence"),
            ({"status": "kept", "note": "a\u0000b"}, "note"),
            ({"status": "kept", "by": "someone"}, "by"),
            ({"status": "kept", "note": 7}, "note"),
        ],
        ids=[
            "unknown-status",
            "no-status",
            "evidence-text",
            "evidence-ftp",
            "nul",
            "extra",
            "note-type",
        ],
    )
    def test_a_bad_status_body_is_422_naming_the_field_and_changes_nothing(
        self, untouched: process.Daemon, body: dict[str, Any], field: str
    ) -> None:
        before = _state(untouched.url)
        response = _post(untouched.url, "/api/commitments/draft-constitution/status", body, AUTH)
        assert field in _fields(response)
        assert _state(untouched.url) == before

    @pytest.mark.parametrize(
        ("evidence", "problem"),
        [
            ("notaurl", "not an absolute http(s) URL (such as https://example.org/report)"),
            ("https://example.org/a b", "contains a space or a control character"),
        ],
        ids=["text", "space"],
    )
    def test_bad_evidence_is_refused_in_the_words_of_set_status(
        self, untouched: process.Daemon, evidence: str, problem: str
    ) -> None:
        before = _state(untouched.url)
        body = {"status": "kept", "evidence": evidence}
        response = _post(untouched.url, "/api/commitments/draft-constitution/status", body, AUTH)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert (error["loc"], error["msg"]) == (["body", "evidence"], f"Value error, {problem}")
        assert _state(untouched.url) == before

    def test_a_body_that_is_not_json_is_422(self, untouched: process.Daemon) -> None:
        before = _state(untouched.url)
        for content in (b"{", b"", b"[1, 2]", b'"kept"'):
            response = httpx.post(
                f"{untouched.url}/api/commitments/draft-constitution/status",
                content=content,
                headers={**AUTH, "content-type": "application/json"},
                timeout=10,
            )
            assert response.status_code == 422, (content, response.text)
        assert _state(untouched.url) == before


class TestArchive:
    def test_the_right_token_archives_then_brings_back_and_each_again_is_409(
        self, daemon: process.Daemon
    ) -> None:
        path = "/api/commitments/draft-constitution"
        before = httpx.get(f"{daemon.url}{path}", timeout=10).json()
        archived = _post(daemon.url, f"{path}/archive", {"note": "overtaken"}, AUTH)
        assert archived.status_code == 200, archived.text
        assert archived.json()["archived_at"] is not None
        assert archived.json()["next_notice_at"] is None
        last = archived.json()["history"][-1]
        assert (last["actor"], last["note"]) == ("api", "archived: overtaken")
        assert httpx.get(f"{daemon.url}/api/commitments", timeout=10).json() == []
        listed = httpx.get(f"{daemon.url}/api/commitments?archived=true", timeout=10).json()
        assert [c["id"] for c in listed] == ["draft-constitution"]

        again = _post(daemon.url, f"{path}/archive", None, AUTH)
        assert again.status_code == 409, again.text
        assert "draft-constitution: already archived" in again.json()["detail"]

        back = _post(daemon.url, f"{path}/archive", {"undo": True, "note": "back"}, AUTH)
        assert back.status_code == 200, back.text
        assert back.json()["archived_at"] is None
        assert back.json()["next_notice_at"] == before["next_notice_at"]
        assert back.json()["history"][-1]["note"] == "unarchived: back"
        assert _post(daemon.url, f"{path}/archive", {"undo": True}, AUTH).status_code == 409
        assert "action=api_commitment_archived commitment=draft-constitution" in daemon.output()

    def test_an_unknown_id_is_404_and_a_bad_body_422(self, untouched: process.Daemon) -> None:
        before = _state(untouched.url)
        missing = _post(untouched.url, "/api/commitments/nope/archive", None, AUTH)
        assert missing.status_code == 404, missing.text
        assert missing.json()["detail"] == "no commitment with id 'nope'"
        path = "/api/commitments/draft-constitution/archive"
        assert "note" in _fields(_post(untouched.url, path, {"note": 3}, AUTH))
        assert _state(untouched.url) == before


class TestUpsert:
    def test_a_new_commitment_is_created_then_updated_and_listed(
        self, daemon: process.Daemon
    ) -> None:
        body = {
            "id": "lift-sanctions",
            "title": "Lift sanctions",
            "parties": ["Russia"],
            "kind": "conditional",
            "conditions": [{"requires": "draft-constitution", "status": "kept"}],
            "deadline": "within 6 months",
            "deadline_from": "conditions",
            "tags": ["sanctions"],
            "source": {"title": "Joint statement", "published": "2016-03-25"},
            "timezone": "Europe/Moscow",
        }
        created = _post(daemon.url, "/api/commitments", body, AUTH)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == "/api/commitments/lift-sanctions"
        assert created.json()["blocked"] is True
        assert created.json()["history"][0]["actor"] == "api"

        listed = httpx.get(f"{daemon.url}/api/commitments", timeout=10).json()
        assert [c["id"] for c in listed] == ["draft-constitution", "lift-sanctions"]
        mine = listed[1]
        assert (mine["title"], mine["parties"], mine["tags"]) == (
            "Lift sanctions",
            ["Russia"],
            ["sanctions"],
        )
        assert mine["source"]["published"] == "2016-03-25"

        again = _post(daemon.url, "/api/commitments", body, AUTH)
        assert again.status_code == 200, again.text
        renamed = _post(
            daemon.url, "/api/commitments", {**body, "title": "Lift all sanctions"}, AUTH
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["title"] == "Lift all sanctions"
        assert "action=api_commitment_upserted commitment=lift-sanctions outcome=created" in (
            daemon.output()
        )

    def test_a_created_commitment_is_planned_and_notified(
        self, daemon: process.Daemon, receiver: Receiver, hook_path: str
    ) -> None:
        due = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
        body = {"id": "publish-report", "title": "Publish the report", "deadline": due}
        assert _post(daemon.url, "/api/commitments", body, AUTH).status_code == 201
        body = _notice(receiver, hook_path, daemon)
        assert body["type"] == "commitment.due"
        assert body["data"]["commitment"]["id"] == "publish-report"

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"id": "x"}, "title"),
            ({"id": "bad id", "title": "X"}, "id"),
            ({"id": "x", "title": "X", "deadline": "whenever it suits"}, "deadline"),
            ({"id": "x", "title": "X", "deadline": 2016}, "deadline"),
            ({"id": "x", "title": "X", "kind": "someday"}, "kind"),
            ({"id": "x", "title": "X", "reminders": ["soon"]}, "reminders"),
            ({"id": "x", "title": "X", "timezone": "Mars/Olympus"}, "timezone"),
            ({"id": "x", "title": "X", "source": {"published": "2016-02-30"}}, "published"),
            ({"id": "x", "title": "X", "source": {"url": "not a url"}}, "url"),
            ({"id": "x", "title": "X", "colour": "red"}, "colour"),
            ({"id": "x", "title": "X", "kind": "conditional"}, "conditions"),
            (
                {
                    "id": "x",
                    "title": "X",
                    "kind": "conditional",
                    "conditions": [{"requires": "nope"}],
                },
                "conditions",
            ),
            ({"id": "x", "title": "X", "kind": "recurring"}, "every"),
            ({"id": "x", "title": "X\u0000"}, "title"),
        ],
        ids=[
            "no-title",
            "bad-id",
            "unreadable-deadline",
            "number-deadline",
            "unknown-kind",
            "bad-reminder",
            "unknown-zone",
            "impossible-date",
            "bad-source-url",
            "extra-field",
            "conditional-without-conditions",
            "unknown-condition",
            "recurring-without-every",
            "nul",
        ],
    )
    def test_a_bad_commitment_is_422_naming_the_field_and_changes_nothing(
        self, untouched: process.Daemon, body: dict[str, Any], field: str
    ) -> None:
        before = _state(untouched.url)
        response = _post(untouched.url, "/api/commitments", body, AUTH)
        assert field in _fields(response)
        assert _state(untouched.url) == before


@pytest.mark.postgres
def test_on_postgresql_a_status_change_is_notified_and_a_nul_id_refused(
    postgres_url: str, receiver: Receiver, hook_path: str, tmp_path: Path
) -> None:
    settings = _settings(postgres_url, receiver, hook_path, PLEDGEWATCH_API_TOKEN=TOKEN)
    _import(settings, tmp_path)
    running = process.start(settings, tmp_path / "daemon.log")
    try:
        response = _post(
            running.url, "/api/commitments/draft-constitution/status", {"status": "stalled"}, AUTH
        )
        assert response.status_code == 200, response.text
        body = _notice(receiver, hook_path, running)
        assert (body["type"], body["data"]["new_status"]) == (
            "commitment.status_changed",
            "stalled",
        )
        # PostgreSQL cannot hold NUL in text: such an id is refused before any query.
        refused = [
            _post(running.url, "/api/commitments/a%00b/status", {"status": "kept"}, AUTH),
            httpx.get(f"{running.url}/api/commitments/a%00b", timeout=10),
        ]
        for answer in refused:
            assert "commitment_id" in _fields(answer)
    finally:
        assert running.stop() == 0, running.output()
