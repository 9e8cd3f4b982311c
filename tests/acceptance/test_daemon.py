"""The real `pledgewatch run` process, a real database and a real receiver on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from standardwebhooks.webhooks import Webhook

from tests.support import process
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


def _seed(folder: Path, commitments: list[dict[str, object]], name: str = "pledges.yaml") -> Path:
    path = folder / name
    document = {
        "source": {"title": "Test desk", "publisher": "pledgewatch tests"},
        "timezone": "UTC",
        "commitments": commitments,
    }
    path.write_text(yaml.safe_dump(document))
    return path


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.fixture
def hook_path() -> str:
    """A path of the shared receiver that belongs to this test alone."""
    return f"/hook/{uuid.uuid4().hex}"


def _settings(database_url: str, receiver: Receiver, hook_path: str) -> dict[str, str]:
    return {
        "PLEDGEWATCH_DATABASE_URL": database_url,
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
        "PLEDGEWATCH_WEBHOOKS__DESK__SECRET": SECRET,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }


@pytest.fixture
def settings(database_url: str, receiver: Receiver, hook_path: str) -> dict[str, str]:
    """The same test on every engine."""
    return _settings(database_url, receiver, hook_path)


@pytest.fixture
def sqlite_settings(sqlite_url: str, receiver: Receiver, hook_path: str) -> dict[str, str]:
    """For tests whose subject is not the engine (the command line, retries): SQLite only."""
    return _settings(sqlite_url, receiver, hook_path)


@pytest.fixture
def daemon(settings: dict[str, str], tmp_path: Path) -> Iterator[process.Daemon]:
    running = process.start(settings, tmp_path / "daemon.log")
    yield running
    code = running.stop()
    assert code == 0, running.output()


@pytest.fixture
def sqlite_daemon(sqlite_settings: dict[str, str], tmp_path: Path) -> Iterator[process.Daemon]:
    """The daemon on SQLite only, for tests whose subject is not the engine."""
    running = process.start(sqlite_settings, tmp_path / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()


def _wait_log(daemon: process.Daemon, text: str, timeout: float = 10) -> str:
    """Return the first log line containing `text`, waiting (bounded) for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in daemon.output().splitlines() if text in line]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}:\n{daemon.output()}")


def _import(settings: dict[str, str], path: Path) -> None:

    result = process.cli("import", str(path), settings=settings)
    assert result.returncode == 0, result.stderr


class TestNotices:
    def test_a_pledge_due_in_a_few_seconds_reaches_the_receiver_signed(
        self,
        settings: dict[str, str],
        daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        due = _at(3)
        _import(
            settings,
            _seed(
                tmp_path,
                [{"id": "draft-constitution", "title": "Draft constitution", "deadline": due}],
            ),
        )
        request = receiver.wait_for(hook_path, timeout=20)[0]
        verified = Webhook(SECRET).verify(request.body, request.headers)
        assert verified["type"] == "commitment.due"
        assert verified["data"]["commitment"]["id"] == "draft-constitution"
        assert verified["data"]["scheduled_for"] == datetime.fromisoformat(due).isoformat()
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["user-agent"].startswith("pledgewatch/")
        assert request.headers["content-type"] == "application/json"
        # Never before its instant.
        assert request.received_at >= datetime.fromisoformat(due).timestamp()
        # One log line per delivery, naming the delivery, the pledge, the type and the webhook.
        line = _wait_log(daemon, "action=notice_delivered")
        assert (
            f"delivery={request.headers['webhook-id']} commitment=draft-constitution "
            "type=commitment.due webhook=desk status=204"
        ) in line

    def test_json_logs_are_one_object_per_line_with_the_same_fields(
        self, sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = {**sqlite_settings, "PLEDGEWATCH_LOG_FORMAT": "json"}
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "deadline": _at(1)}]))
            request = receiver.wait_for(hook_path, timeout=20)[0]
            _wait_log(running, '"notice_delivered"')
        finally:
            assert running.stop() == 0
        lines = [json.loads(line) for line in running.output().splitlines() if line.strip()]
        delivered = [line for line in lines if line.get("action") == "notice_delivered"]
        assert len(delivered) == 1
        assert delivered[0]["delivery"] == request.headers["webhook-id"]
        assert (delivered[0]["commitment"], delivered[0]["type"]) == ("x", "commitment.due")
        assert delivered[0]["webhook"] == "desk" and delivered[0]["level"] == "INFO"
        assert all({"time", "level", "message", "action"} <= set(line) for line in lines)
        assert SECRET not in running.output()

    def test_the_webhook_carries_the_same_commitment_object_as_list_json(
        self,
        sqlite_settings: dict[str, str],
        sqlite_daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        settings = sqlite_settings
        _import(
            settings,
            _seed(
                tmp_path,
                [
                    {
                        "id": "framework",
                        "title": "Transition framework",
                        "deadline": _at(1),
                        "tags": ["syria"],
                    }
                ],
            ),
        )
        body = receiver.wait_for(hook_path, timeout=20)[0].json()
        listed = json.loads(process.cli("list", "--json", settings=settings).stdout)
        assert body["data"]["commitment"] == listed[0]

    def test_a_pledge_imported_while_running_is_planned_by_the_change_signal_not_the_safety_tick(
        self,
        settings: dict[str, str],
        daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        """Already due when imported: only the change signal can get it out well before the 60 s tick."""
        _import(
            settings,
            _seed(tmp_path, [{"id": "late-report", "title": "Report", "deadline": _at(0)}]),
        )
        request = receiver.wait_for(hook_path, timeout=5)[0]
        assert request.json()["type"] == "commitment.due"

    def test_a_status_change_from_the_command_line_is_notified(
        self,
        sqlite_settings: dict[str, str],
        sqlite_daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        settings = sqlite_settings
        _import(
            settings,
            _seed(tmp_path, [{"id": "review", "title": "Review of relations", "kind": "ongoing"}]),
        )
        result = process.cli(
            "set-status",
            "review",
            "in_progress",
            "--note",
            "first meeting held",
            "--evidence",
            "https://example.org/a",
            settings=settings,
        )
        assert result.returncode == 0, result.stderr
        body = receiver.wait_for(hook_path, timeout=5)[0].json()
        assert body["type"] == "commitment.status_changed"
        assert body["data"]["old_status"] == "open"
        assert body["data"]["new_status"] == "in_progress"
        assert body["data"]["note"] == "first meeting held"
        assert body["data"]["evidence"] == "https://example.org/a"

    def test_a_failing_webhook_is_retried_and_every_attempt_is_recorded(
        self, sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = sqlite_settings
        receiver.answer[hook_path] = 503
        settings = {**settings, "PLEDGEWATCH_RETRY_SCHEDULE": "1s,1s"}
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            _import(
                settings, _seed(tmp_path, [{"id": "flaky", "title": "Flaky", "deadline": _at(0)}])
            )
            requests = receiver.wait_for(hook_path, count=3, timeout=20)
            deliveries: list[dict[str, object]] = []
            for _ in range(100):  # the third answer is recorded just after it is sent
                deliveries = json.loads(
                    process.cli("deliveries", "--json", settings=settings).stdout
                )
                if deliveries and deliveries[0]["state"] == "dead":
                    break
        finally:
            assert running.stop() == 0
        assert len({r.headers["webhook-id"] for r in requests}) == 1  # the same id on every retry
        assert deliveries[0]["state"] == "dead"
        assert deliveries[0]["attempts"] == 3
        assert deliveries[0]["last_status"] == 503


class TestHttp:
    def test_health_answers_health_json_with_its_checks(self, daemon: process.Daemon) -> None:
        response = httpx.get(f"{daemon.url}/health")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/health+json")
        body = response.json()
        assert body["status"] in ("pass", "warn")
        assert {
            "scheduler:lastTick",
            "database:responseTime",
            "outbox:backlog",
            "outbox:oldestPending",
        } <= set(body["checks"])

    def test_a_failing_webhook_shows_in_health_and_no_secret_shows_anywhere(
        self, sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = sqlite_settings
        token = "tok-" + uuid.uuid4().hex
        header = "Bearer hdr-" + uuid.uuid4().hex
        receiver.answer[hook_path] = 500
        settings = {
            **settings,
            "PLEDGEWATCH_WEBHOOKS__DESK__URL": f"{receiver.url}{hook_path}?token={token}",
            "PLEDGEWATCH_WEBHOOKS__DESK__HEADERS": json.dumps({"Authorization": header}),
            "PLEDGEWATCH_RETRY_SCHEDULE": "1s,1s,1s,1h",
        }
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "deadline": _at(0)}]))
            requests = receiver.wait_for(hook_path, count=3, timeout=20)
            check: dict[str, object] = {}
            for _ in range(100):  # the third failure is recorded just after it is answered
                health = httpx.get(f"{running.url}/health")
                check = health.json()["checks"].get("webhook:desk", [{}])[0]
                if check.get("observedValue") == 3:
                    break
            outbox = process.cli("deliveries", "--json", settings=settings).stdout
            config = process.cli("check-config", "--json", settings=settings).stdout
        finally:
            assert running.stop() == 0
        assert requests[0].headers["authorization"] == header  # it was sent...
        assert check["status"] == "warn" and check["output"] == "HTTP 500"
        for text in (health.text, outbox, config, running.output()):
            for secret in (SECRET, token, header):  # ...and shown nowhere
                assert secret not in text

    def test_livez_and_readyz_answer(self, sqlite_daemon: process.Daemon) -> None:
        daemon = sqlite_daemon
        assert httpx.get(f"{daemon.url}/livez").status_code == 200
        ready = httpx.get(f"{daemon.url}/readyz")
        assert (
            ready.status_code == 200
            and ready.json()["checks"]["database:migrations"][0]["status"] == "pass"
        )

    def test_the_read_api_lists_commitments_and_deliveries(
        self,
        sqlite_settings: dict[str, str],
        sqlite_daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        settings = sqlite_settings
        daemon = sqlite_daemon
        _import(settings, _seed(tmp_path, [{"id": "one", "title": "One", "deadline": _at(0)}]))
        receiver.wait_for(hook_path, timeout=10)
        listed = httpx.get(f"{daemon.url}/api/commitments").json()
        one = httpx.get(f"{daemon.url}/api/commitments/one").json()
        missing = httpx.get(f"{daemon.url}/api/commitments/nope")
        outbox = httpx.get(f"{daemon.url}/api/deliveries").json()
        assert [c["id"] for c in listed] == ["one"]
        assert one["history"][0]["new_status"] == "open"
        assert missing.status_code == 404
        assert outbox[0]["commitment_id"] == "one" and outbox[0]["webhook"] == "desk"


class TestBadInput:
    def _dump(self, settings: dict[str, str]) -> str:
        return process.cli("list", "--json", settings=settings).stdout

    @pytest.mark.parametrize(
        ("content", "names"),
        [
            pytest.param(
                "commitments: [{id: a, title: [unclosed", ["bad.yaml", "YAML"], id="malformed-yaml"
            ),
            pytest.param(
                "commitments: [{id: a, title: A, status: finished}]",
                ["bad.yaml", "'a'", "'status'"],
                id="unknown-status",
            ),
            pytest.param(
                "timezone: Mars/Olympus\ncommitments: [{id: a, title: A}]",
                ["bad.yaml", "timezone", "Mars/Olympus"],
                id="unknown-timezone",
            ),
            pytest.param(
                "commitments: [{id: a, title: A, deadline: when pigs fly}]",
                ["bad.yaml", "'a'", "'deadline'", "when pigs fly"],
                id="unreadable-deadline",
            ),
            pytest.param(
                "commitments: [{id: a, title: A}, {id: a, title: B}]",
                ["bad.yaml", "'a'", "duplicate"],
                id="duplicate-id",
            ),
            pytest.param(
                "commitments: [{id: a, title: A, kind: conditional, conditions: [{requires: ghost}]}]",
                ["bad.yaml", "'a'", "'conditions'", "ghost"],
                id="missing-condition",
            ),
        ],
    )
    def test_a_bad_import_exits_2_names_the_place_and_changes_nothing(
        self, sqlite_settings: dict[str, str], tmp_path: Path, content: str, names: list[str]
    ) -> None:
        """One engine is enough here: rollback on both is shown by the store's own tests."""
        settings = sqlite_settings
        good = _seed(
            tmp_path,
            [{"id": "kept-one", "title": "Kept", "deadline": "2030-01-01"}],
            name="good.yaml",
        )
        _import(settings, good)
        before = self._dump(settings)
        bad = tmp_path / "bad" / "bad.yaml"
        bad.parent.mkdir()
        bad.write_text(content)
        # Together with a valid file: nothing of either is written.
        extra = _seed(bad.parent, [{"id": "new-one", "title": "New"}], name="another.yaml")
        result = process.cli("import", str(extra), str(bad), settings=settings)
        assert result.returncode == 2, result.stderr
        for name in names:
            assert name in result.stderr
        assert self._dump(settings) == before

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("PLEDGEWATCH_OVERDUE_REPEAT", "weekly"),
            ("PLEDGEWATCH_TIMEZONE", "Mars/Olympus"),
            ("PLEDGEWATCH_WEBHOOKS__DESK__SECRET", "hunter2-not-a-whsec"),
            ("PLEDGEWATCH_WEBHOOKS__DESK__URL", "ftp://example.org/x"),
            ("PLEDGEWATCH_WEBHOOKS__DESK__EVENTS", "commitment.exploded"),
            ("PLEDGEWATCH_WEBHOOKS__DESK__FORMAT", "telegram"),
        ],
    )
    @pytest.mark.parametrize("command", ["run", "check-config"])
    def test_a_bad_setting_exits_78_naming_the_variable_and_hiding_the_value(
        self, sqlite_settings: dict[str, str], variable: str, value: str, command: str
    ) -> None:
        bad = {**sqlite_settings, variable: value, "PLEDGEWATCH_HTTP_PORT": "0"}
        result = process.cli(command, settings=bad, timeout=30)
        assert result.returncode == 78, result.stderr
        assert variable in result.stderr
        if "SECRET" in variable:
            assert value not in result.stderr + result.stdout

    def test_a_missing_env_file_exits_78_naming_it(
        self, sqlite_settings: dict[str, str], tmp_path: Path
    ) -> None:
        missing = tmp_path / "nope.env"
        result = process.cli("--env-file", str(missing), "check-config", settings=sqlite_settings)
        assert result.returncode == 78
        assert str(missing) in result.stderr

    def test_settings_come_from_env_files_and_check_config_masks_secrets(
        self, sqlite_settings: dict[str, str], tmp_path: Path
    ) -> None:
        settings = sqlite_settings
        env = tmp_path / "pledgewatch.env"
        env.write_text(
            "PLEDGEWATCH_WEBHOOKS__CHAT__URL=https://hooks.example.org/services/T0001/B0001/abcdefghijklmnopqrstuvwx\n"
            f"PLEDGEWATCH_WEBHOOKS__CHAT__SECRET={SECRET}\n"
            "PLEDGEWATCH_OVERDUE_REPEAT=3d\n"
        )
        assert process.cli("migrate", settings=settings).returncode == 0
        result = process.cli("--env-file", str(env), "check-config", "--json", settings=settings)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["settings"]["overdue_repeat"] == "3d"
        assert "chat" in report["settings"]["webhooks"]
        assert SECRET not in result.stdout and "abcdefghijklmnopqrstuvwx" not in result.stdout


def test_a_second_daemon_on_the_same_sqlite_file_refuses_to_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    settings = {"PLEDGEWATCH_DATABASE_URL": sqlite_url}
    first = process.start(settings, tmp_path / "first.log")
    try:
        second = process.cli(
            "run",
            settings={**settings, "PLEDGEWATCH_HTTP_PORT": "0"},
            timeout=30,
        )
    finally:
        assert first.stop() == 0
    assert second.returncode == 1
    assert "another pledgewatch daemon is already running" in second.stderr


class TestDeadLettersAndGone:
    def _wait_state(self, settings: dict[str, str], state: str) -> list[dict[str, object]]:
        for _ in range(200):
            listed = json.loads(process.cli("deliveries", "--json", settings=settings).stdout)
            if listed and all(d["state"] == state for d in listed):
                return listed
        raise AssertionError(f"deliveries never all {state}: {listed}")

    def test_a_dead_delivery_is_listed_and_replay_sends_it_again_with_the_same_id(
        self, sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = sqlite_settings
        receiver.answer[hook_path] = 500
        settings = {**settings, "PLEDGEWATCH_RETRY_SCHEDULE": "1s"}
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "deadline": _at(0)}]))
            dead = self._wait_state(settings, "dead")
            listed = json.loads(
                process.cli("deliveries", "--state", "dead", "--json", settings=settings).stdout
            )
            receiver.answer[hook_path] = 204
            replayed = process.cli("replay", "--dead", settings=settings)
            delivered = self._wait_state(settings, "delivered")
        finally:
            assert running.stop() == 0
        assert [d["id"] for d in listed] == [dead[0]["id"]]
        assert listed[0]["last_error"] == "HTTP 500" and listed[0]["attempts"] == 2
        assert replayed.returncode == 0 and "1 delivery queued again" in replayed.stdout
        ids = [r.headers["webhook-id"] for r in receiver.at(hook_path)]
        assert ids == [dead[0]["id"]] * 3  # two failures, then the replay: one id throughout
        assert delivered[0]["id"] == dead[0]["id"]

    def test_a_410_disables_the_webhook_until_enabled_again(
        self, sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
    ) -> None:
        settings = sqlite_settings
        receiver.answer[hook_path] = 410
        running = process.start(settings, tmp_path / "daemon.log")
        try:
            _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "deadline": _at(0)}]))
            receiver.wait_for(hook_path, count=1, timeout=10)
            check: dict[str, object] = {}
            for _ in range(200):
                check = httpx.get(f"{running.url}/health").json()["checks"]["webhook:desk"][0]
                if "disabled" in str(check.get("output")):
                    break
                time.sleep(0.05)
            receiver.answer[hook_path] = 204
            enabled = process.cli("enable-webhook", "desk", settings=settings)
            delivered = self._wait_state(settings, "delivered")
            again = process.cli("enable-webhook", "desk", settings=settings)
        finally:
            assert running.stop() == 0
        assert check["status"] == "warn" and "410" in str(check["output"])
        assert enabled.returncode == 0
        ids = {r.headers["webhook-id"] for r in receiver.at(hook_path)}
        assert ids == {delivered[0]["id"]} and len(receiver.at(hook_path)) == 2
        assert again.returncode == 2 and "not disabled" in again.stderr

    def test_replay_refuses_an_unknown_or_pending_delivery(
        self, sqlite_settings: dict[str, str]
    ) -> None:
        assert process.cli("migrate", settings=sqlite_settings).returncode == 0
        unknown = process.cli("replay", "msg_nope", settings=sqlite_settings)
        neither = process.cli("replay", settings=sqlite_settings)
        assert unknown.returncode == 2 and "no delivery" in unknown.stderr
        assert neither.returncode == 2


def test_the_daemon_refuses_a_webhook_on_loopback_unless_allowed(
    sqlite_url: str, receiver: Receiver, hook_path: str, tmp_path: Path
) -> None:
    """The guard as the daemon runs it: no allow-list, so 127.0.0.1 is refused, dead at once."""
    settings = {
        "PLEDGEWATCH_DATABASE_URL": sqlite_url,
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }
    running = process.start(settings, tmp_path / "daemon.log")
    try:
        _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "deadline": _at(0)}]))
        listed: list[dict[str, object]] = []
        for _ in range(200):
            listed = json.loads(process.cli("deliveries", "--json", settings=settings).stdout)
            if listed and listed[0]["state"] == "dead":
                break
    finally:
        assert running.stop() == 0
    assert listed[0]["state"] == "dead" and listed[0]["attempts"] == 1
    assert "not a public address" in str(listed[0]["last_error"])
    assert receiver.at(hook_path) == []


def test_marking_the_minsk_pledge_kept_tells_the_sanctions_pledge_its_condition_is_met(
    sqlite_settings: dict[str, str], receiver: Receiver, hook_path: str, tmp_path: Path
) -> None:
    settings = {**sqlite_settings, "PLEDGEWATCH_WEBHOOKS__DESK__EVENTS": "commitment.condition_met"}
    seed = Path(__file__).resolve().parents[2] / "seeds" / "moscow-talks-2016.yaml"
    running = process.start(settings, tmp_path / "daemon.log")
    try:
        _import(settings, seed)
        result = process.cli(
            "set-status",
            "minsk-implemented",
            "kept",
            "--note",
            "all measures in place",
            settings=settings,
        )
        assert result.returncode == 0, result.stderr
        request = receiver.wait_for(hook_path, timeout=10)[0]
    finally:
        assert running.stop() == 0
    body = Webhook(SECRET).verify(request.body, request.headers)
    assert body["type"] == "commitment.condition_met"
    assert body["data"]["commitment"]["id"] == "lift-russia-sanctions"
    assert body["data"]["condition"]["requires"] == "minsk-implemented"
    # No deadline of its own: its instants are in the zone of its file, Europe/Moscow.
    assert body["timestamp"].endswith("+03:00") and body["data"]["scheduled_for"].endswith("+03:00")
    assert (
        len(receiver.at(hook_path)) == 1
    )  # the overdue notices of the seed went elsewhere: nowhere


def test_set_status_refuses_leaving_a_closed_outcome_without_a_note(
    sqlite_settings: dict[str, str], tmp_path: Path
) -> None:
    settings = sqlite_settings
    _import(settings, _seed(tmp_path, [{"id": "x", "title": "X", "status": "kept"}]))
    same = process.cli("set-status", "x", "kept", settings=settings)
    bare = process.cli("set-status", "x", "open", settings=settings)
    noted = process.cli("set-status", "x", "open", "--note", "kept too early", settings=settings)
    history = json.loads(process.cli("show", "x", "--json", settings=settings).stdout)["history"]
    assert same.returncode == 2 and "already kept" in same.stderr
    assert bare.returncode == 2 and "needs a note" in bare.stderr
    assert noted.returncode == 0
    assert [(h["old_status"], h["new_status"], h["note"]) for h in history][-1] == (
        "kept",
        "open",
        "kept too early",
    )


def test_ack_snooze_and_silence_are_shown_and_recorded(
    sqlite_settings: dict[str, str], tmp_path: Path
) -> None:
    settings = sqlite_settings
    _import(
        settings,
        _seed(tmp_path, [{"id": "x", "title": "X", "deadline": "2016-08-01", "tags": ["syria"]}]),
    )
    acked = process.cli("ack", "x", "--note", "seen it", settings=settings)
    snoozed = process.cli("snooze", "x", "--until", "3d", settings=settings)
    silenced = process.cli("silence", "--tag", "syria", "--until", "5d", settings=settings)
    too_far = process.cli("snooze", "x", "--until", "9999-12-31T23:59", settings=settings)
    past = process.cli("snooze", "x", "--until", "2000-01-01", settings=settings)
    shown = process.cli("show", "x", settings=settings)
    detail = json.loads(process.cli("show", "x", "--json", settings=settings).stdout)
    neither = process.cli("snooze", "x", settings=settings)
    unknown = process.cli("ack", "nope", settings=settings)
    assert (acked.returncode, snoozed.returncode, silenced.returncode) == (0, 0, 0), silenced.stderr
    assert "1 pledge" in silenced.stdout
    assert detail["acknowledged"] is True
    held = datetime.fromisoformat(detail["held_until"])
    # The later of the snooze (3 days) and the silence (5 days).
    assert timedelta(days=4) < held - datetime.now(UTC) <= timedelta(days=5)
    shown_held = held.isoformat(timespec="seconds")  # tables show instants to the second
    assert f"held until {shown_held}" in shown.stdout and "acked" in shown.stdout
    assert too_far.returncode == 2 and past.returncode == 2
    notes = [h["note"] for h in detail["history"]]
    assert "acknowledged: seen it" in notes
    assert any(n and n.startswith("snoozed until") for n in notes)
    assert any(n and n.startswith("tag syria silenced until") for n in notes)
    assert neither.returncode == 2 and unknown.returncode == 2


def test_an_import_beside_another_connection_leaves_no_write_ahead_log(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    settings = {"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{database}"}
    assert process.cli("migrate", settings=settings).returncode == 0
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    pledges = [{"id": f"w{i:04d}", "title": f"Pledge {i}", "deadline": later} for i in range(2000)]
    # Open, as the daemon's are: SQLite then leaves the log in place when the import closes.
    with contextlib.closing(sqlite3.connect(database)) as other:
        other.execute("SELECT count(*) FROM commitments").fetchone()
        imported = process.cli("import", str(_seed(tmp_path, pledges)), settings=settings)
        assert imported.returncode == 0, imported.stderr
        # The import checkpoints it itself, so no later process reads it all back.
        wal = database.with_name(database.name + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert other.execute("SELECT count(*) FROM commitments").fetchone() == (2000,)
