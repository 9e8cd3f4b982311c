"""`pledgewatch webhooks test` and `deliveries show` run as real processes, with a real receiver."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.acceptance.test_cli import EXIT_INPUT, _stored
from tests.support import process
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

pytestmark = [pytest.mark.receiver]


@pytest.fixture
def hook_path() -> str:
    """A path of the shared receiver that belongs to this test alone."""
    return f"/hook/{uuid.uuid4().hex}"


def _hook(receiver: Receiver, hook_path: str, **extra: str) -> dict[str, str]:
    return {
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
        "PLEDGEWATCH_WEBHOOKS__DESK__SECRET": SECRET,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        **extra,
    }


class TestWebhooksTest:
    def test_it_sends_one_signed_test_notice_and_prints_the_answer(
        self, tmp_path: Path, receiver: Receiver, hook_path: str
    ) -> None:
        settings = _stored(tmp_path, [{"id": "p", "title": "A pledge"}])
        # The EVENTS filter does not apply to a test notice.
        settings |= _hook(receiver, hook_path, PLEDGEWATCH_WEBHOOKS__DESK__EVENTS="commitment.due")
        receiver.answer[hook_path] = 200
        receiver.raw[hook_path] = ([(b"content-type", b"text/plain"), (b"x-other", b"no")], b"ok!")
        result = process.cli("webhooks", "test", "DESK", settings=settings)
        assert result.returncode == 0, result.stderr
        [request] = receiver.at(hook_path)
        body = Webhook(SECRET).verify(request.body, request.headers)
        assert body["type"] == "commitment.test"
        assert body["data"]["test"] is True
        assert body["data"]["commitment"]["id"] == "pledgewatch-test"
        lines = result.stdout.splitlines()
        assert lines[0].startswith("webhook desk: HTTP 200 in ")
        assert f"(webhook-id {request.headers['webhook-id']})" in lines[0]
        assert "  content-type: text/plain" in lines
        assert "  server: uvicorn" in lines
        assert not any("x-other" in line for line in lines)  # a few headers only
        assert lines[-1] == "ok!"
        # Not written to the outbox.
        assert json.loads(process.cli("deliveries", "--json", settings=settings).stdout) == []

    def test_the_json_answer_cuts_the_body_at_1_kb(
        self, receiver: Receiver, hook_path: str
    ) -> None:
        receiver.raw[hook_path] = ([], b"x" * 5000)
        receiver.answer[hook_path] = 202
        result = process.cli(
            "webhooks", "test", "desk", "--json", settings=_hook(receiver, hook_path)
        )
        assert result.returncode == 0, result.stderr
        answer = json.loads(result.stdout)
        assert (answer["ok"], answer["status"], answer["error"]) == (True, 202, None)
        assert answer["body"] == "x" * 1024
        assert answer["duration_ms"] >= 0
        assert answer["delivery_id"] == receiver.at(hook_path)[0].headers["webhook-id"]

    def test_an_answer_other_than_2xx_exits_1(self, receiver: Receiver, hook_path: str) -> None:
        receiver.answer[hook_path] = 503
        result = process.cli("webhooks", "test", "desk", settings=_hook(receiver, hook_path))
        assert result.returncode == 1
        assert result.stdout.startswith("webhook desk: HTTP 503 in ")

    def test_a_refused_target_exits_1_saying_why(self, receiver: Receiver, hook_path: str) -> None:
        settings = _hook(receiver, hook_path, PLEDGEWATCH_ALLOW_PRIVATE_TARGETS="false")
        result = process.cli("webhooks", "test", "desk", "--json", settings=settings)
        assert result.returncode == 1
        answer = json.loads(result.stdout)
        assert answer["status"] is None
        assert answer["error"].startswith("refused: 127.0.0.1")
        assert receiver.at(hook_path) == []

    def test_an_unknown_name_exits_2_listing_the_configured_ones(
        self, receiver: Receiver, hook_path: str
    ) -> None:
        settings = _hook(receiver, hook_path, PLEDGEWATCH_WEBHOOKS__ALERTS__URL=receiver.url)
        result = process.cli("webhooks", "test", "chat", settings=settings)
        assert result.returncode == EXIT_INPUT
        assert "webhook 'chat' is unknown (configured: alerts, desk)" in result.stderr
        assert receiver.at(hook_path) == []


@pytest.mark.daemon
class TestDeliveriesShow:
    def test_it_prints_the_delivery_and_every_attempt(
        self, tmp_path: Path, receiver: Receiver, hook_path: str
    ) -> None:
        settings = _stored(
            tmp_path,
            [{"id": "late", "title": "Late pledge", "deadline": "2020-01-01"}],
            timezone="Europe/Moscow",
        )
        settings |= _hook(
            receiver,
            hook_path,
            PLEDGEWATCH_REMINDER_OFFSETS="0",
            PLEDGEWATCH_RETRY_SCHEDULE="1s,1s,1h",
        )
        receiver.answer[hook_path] = 503
        daemon = process.start(settings, tmp_path / "daemon.log")
        try:
            receiver.wait_for(hook_path, count=2, timeout=30)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                [listed] = json.loads(process.cli("deliveries", "--json", settings=settings).stdout)
                if listed["attempts"] >= 2:
                    break
                time.sleep(0.2)
        finally:
            assert daemon.stop() == 0, daemon.output()
        [listed] = json.loads(process.cli("deliveries", "--json", settings=settings).stdout)
        shown = process.cli("deliveries", "show", listed["id"], "--json", settings=settings)
        assert shown.returncode == 0, shown.stderr
        document = json.loads(shown.stdout)
        assert {k: v for k, v in document.items() if k != "history"} == listed
        assert [a["status"] for a in document["history"]] == [503] * listed["attempts"]
        assert all(a["duration_ms"] >= 0 for a in document["history"])
        table = process.cli("deliveries", "show", listed["id"], settings=settings).stdout
        lines = table.splitlines()
        assert lines[0] == f"{listed['id']}: commitment.overdue for late to desk"
        assert "  state      pending" in lines
        assert lines[6].split() == ["WHEN", "STATUS", "MS", "ERROR"]
        first = lines[7].split()
        assert first[0].endswith("+03:00")  # the pledge's zone
        assert first[1:3] == ["503", first[2]] and first[3:] == ["HTTP", "503"]

    def test_an_unknown_id_exits_2_and_the_listing_still_works(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, [{"id": "p", "title": "A pledge"}])
        result = process.cli("deliveries", "show", "msg_nope", settings=settings)
        assert result.returncode == EXIT_INPUT
        assert "no delivery with id 'msg_nope'" in result.stderr
        for command in (["deliveries"], ["deliveries", "--state", "dead", "--limit", "5"]):
            listed = process.cli(*command, settings=settings)
            assert (listed.returncode, listed.stdout) == (0, "(none)\n")
