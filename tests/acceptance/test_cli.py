"""The `pledgewatch` commands run as real processes, in a folder of their own."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support import process

EXIT_INPUT = 2
EXIT_CONFIG = 78


def _stored(
    tmp_path: Path, commitments: list[dict[str, object]], **document: object
) -> dict[str, str]:
    """Return settings on a SQLite file in `tmp_path` holding `commitments` (imported).

    `document` adds to the seed file's top level (the zone is UTC unless it says otherwise).
    """
    settings = {"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'pledgewatch.db'}"}
    seed = tmp_path / "seed.yaml"
    seed.write_text(yaml.safe_dump({"timezone": "UTC", **document, "commitments": commitments}))
    result = process.cli("import", str(seed), settings=settings)
    assert result.returncode == 0, result.stderr
    return settings


def _written(settings: dict[str, str], pledge_id: str) -> tuple[object, object]:
    """What a refused command must leave alone: a pledge's history and the outbox."""
    shown = process.cli("show", pledge_id, "--json", settings=settings)
    listed = process.cli("deliveries", "--json", settings=settings)
    return json.loads(shown.stdout)["history"], json.loads(listed.stdout)


def _rows(settings: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a command on pledges, holds or webhooks writes, read from the file."""
    path = settings["PLEDGEWATCH_DATABASE_URL"].removeprefix("sqlite:///")
    tables = ("commitments", "status_history", "silences", "webhook_states", "events")
    with closing(sqlite3.connect(path)) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}


class TestNoDatabaseYet:
    """In a folder with no database, only the commands that write create one."""

    @pytest.mark.parametrize(
        "command",
        [
            ["list"],
            ["list", "--json"],
            ["show", "some-pledge"],
            ["upcoming"],
            ["deliveries", "--json"],
            ["set-status", "some-pledge", "kept"],
            ["edit", "some-pledge", "--title", "Some"],
            ["archive", "some-pledge"],
            ["archive", "some-pledge", "--undo"],
            ["ack", "some-pledge"],
            ["snooze", "some-pledge", "--end"],
            ["silence", "--tag", "some-tag", "--end"],
            ["replay", "--dead"],
            ["enable-webhook", "desk"],
        ],
        ids=" ".join,
    )
    def test_a_command_that_only_reads_exits_78_naming_the_file_and_creates_nothing(
        self, tmp_path: Path, command: list[str]
    ) -> None:
        result = process.cli(*command, settings={}, cwd=tmp_path)
        assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
        assert str(tmp_path / "var" / "pledgewatch.db") in result.stderr
        assert "PLEDGEWATCH_DATABASE_URL" in result.stderr
        assert "pledgewatch migrate" in result.stderr
        assert result.stdout == ""
        assert list(tmp_path.iterdir()) == []

    def test_a_relative_database_url_is_named_by_its_absolute_path(self, tmp_path: Path) -> None:
        settings = {"PLEDGEWATCH_DATABASE_URL": "sqlite:///data/watch.db"}
        result = process.cli("list", settings=settings, cwd=tmp_path)
        assert result.returncode == EXIT_CONFIG
        assert str(tmp_path / "data" / "watch.db") in result.stderr
        assert list(tmp_path.iterdir()) == []

    def test_check_config_shows_the_absolute_path_and_exits_78_creating_nothing(
        self, tmp_path: Path
    ) -> None:
        result = process.cli("check-config", "--json", settings={}, cwd=tmp_path)
        assert result.returncode == EXIT_CONFIG, result.stderr
        report = json.loads(result.stdout)
        database = tmp_path / "var" / "pledgewatch.db"
        assert report["settings"]["database_url"] == f"sqlite:///{database}"
        check = report["checks"]["database:file"]
        assert check["status"] == "fail"
        assert str(database) in check["output"] and "pledgewatch migrate" in check["output"]
        assert list(tmp_path.iterdir()) == []

    def test_migrate_creates_it_and_then_the_reading_commands_use_it(self, tmp_path: Path) -> None:
        migrated = process.cli("migrate", settings={}, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert (tmp_path / "var" / "pledgewatch.db").is_file()
        listed = process.cli("list", settings={}, cwd=tmp_path)
        assert (listed.returncode, listed.stdout) == (0, "(none)\n")
        checked = process.cli("check-config", settings={}, cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f'"database_url": "sqlite:///{tmp_path / "var" / "pledgewatch.db"}"' in (
            checked.stdout
        )

    def test_import_creates_it(self, tmp_path: Path) -> None:
        seed = tmp_path / "seed.yaml"
        seed.write_text("commitments: [{id: one, title: One}]\n")
        result = process.cli("import", str(seed), settings={}, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        listed = process.cli("list", "--json", settings={}, cwd=tmp_path)
        assert [c["id"] for c in json.loads(listed.stdout)] == ["one"]

    def test_a_postgresql_password_stays_masked_in_check_config(self, tmp_path: Path) -> None:
        settings = {"PLEDGEWATCH_DATABASE_URL": "postgresql://watch:hunter2@127.0.0.1:1/pledges"}
        result = process.cli("check-config", settings=settings, cwd=tmp_path)
        assert "127.0.0.1:1/pledges" in result.stdout
        assert "hunter2" not in result.stdout + result.stderr


class TestCheckConfigWebhookTargets:
    """`check-config` judges each webhook's host with the guard every send goes through."""

    URL = "http://localhost:9/hooks/T0001B0001abcdefgh?token=hunter2"

    def settings(self, tmp_path: Path, **values: str) -> dict[str, str]:
        settings = {
            "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'pledgewatch.db'}",
            "PLEDGEWATCH_WEBHOOKS__LOCAL__URL": self.URL,
            **values,
        }
        assert process.cli("migrate", settings=settings).returncode == 0
        return settings

    def test_a_webhook_on_loopback_exits_78_naming_it_with_its_token_masked(
        self, tmp_path: Path
    ) -> None:
        result = process.cli("check-config", settings=self.settings(tmp_path))
        assert result.returncode == EXIT_CONFIG, result.stdout + result.stderr
        line = next(x for x in result.stdout.splitlines() if x.startswith("webhook:local:"))
        assert line.startswith("webhook:local:target: fail (webhook local (http://localhost:9/")
        assert "not a public address" in line and "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS" in line
        assert "hunter2" not in result.stdout + result.stderr
        assert "T0001B0001abcdefgh" not in result.stdout + result.stderr

    def test_the_json_report_carries_the_same_check(self, tmp_path: Path) -> None:
        result = process.cli("check-config", "--json", settings=self.settings(tmp_path))
        assert result.returncode == EXIT_CONFIG
        check = json.loads(result.stdout)["checks"]["webhook:local:target"]
        assert check["status"] == "fail" and "localhost resolves to" in check["output"]

    @pytest.mark.parametrize(
        "allowed",
        [
            {"PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true"},
            {"PLEDGEWATCH_ALLOWED_TARGETS": "127.0.0.0/8,::1/128"},
        ],
        ids=["allow-private", "allowed-targets"],
    )
    def test_a_webhook_the_settings_allow_passes(
        self, tmp_path: Path, allowed: dict[str, str]
    ) -> None:
        result = process.cli("check-config", settings=self.settings(tmp_path, **allowed))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "webhook:local:target: pass" in result.stdout.splitlines()

    def test_a_host_that_does_not_resolve_warns_and_passes(self, tmp_path: Path) -> None:
        """DNS may be down for a while; the dispatcher retries such a send."""
        settings = self.settings(
            tmp_path, PLEDGEWATCH_WEBHOOKS__LOCAL__URL="https://hooks.nowhere.invalid/x"
        )
        result = process.cli("check-config", settings=settings)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "webhook:local:target: warn (" in result.stdout


def _json(*args: str, settings: dict[str, str]) -> object:
    result = process.cli(*args, "--json", settings=settings)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class TestNoticesAsTheyWillGoOut:
    """`show` and `upcoming` list notices as the daemon will send them, holds considered."""

    def commitments(self) -> list[dict[str, object]]:
        # Reminders 30d, 7d and 1d before: the 7-day one falls inside the hold below.
        deadline = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
        return [{"id": "draft", "title": "Draft", "deadline": deadline, "tags": ["syria"]}]

    def assert_nothing_inside_the_hold(self, notices: list[dict[str, object]], held: str) -> None:
        end = datetime.fromisoformat(held)
        now = datetime.now(UTC)
        instants = [datetime.fromisoformat(str(n["at"])) for n in notices]
        assert instants and not any(now < at < end for at in instants), (held, notices)

    @pytest.mark.parametrize("hold", ["snooze", "silence"])
    def test_a_held_notice_is_listed_at_the_end_of_the_hold_not_inside_it(
        self, tmp_path: Path, hold: str
    ) -> None:
        settings = _stored(tmp_path, self.commitments(), timezone="Europe/Moscow")
        target = ["draft"] if hold == "snooze" else ["--tag", "syria"]
        held = process.cli(hold, *target, "--until", "15d", settings=settings)
        assert held.returncode == 0, held.stderr
        detail = _json("show", "draft", settings=settings)
        assert isinstance(detail, dict)
        notices = detail["next_notices"]
        self.assert_nothing_inside_the_hold(notices, detail["held_until"])
        assert detail["next_notice_at"] == notices[0]["at"] == detail["held_until"]
        # The 7-day reminder, kept back, goes out late at the end of the hold.
        assert notices[0]["type"] == "commitment.reminder" and notices[0]["offset"] == "7d"
        assert notices[0]["late"] is True and notices[0]["scheduled_for"] < notices[0]["at"]
        coming = _json("upcoming", "--within", "30d", settings=settings)
        assert isinstance(coming, list)
        self.assert_nothing_inside_the_hold(coming, detail["held_until"])
        assert [n["at"] for n in coming] == [n["at"] for n in notices[: len(coming)]]

    def test_next_notice_at_is_the_first_listed_notice_when_nothing_is_held(
        self, tmp_path: Path
    ) -> None:
        settings = _stored(tmp_path, self.commitments(), timezone="Europe/Moscow")
        detail = _json("show", "draft", settings=settings)
        assert isinstance(detail, dict)
        assert detail["next_notice_at"] == detail["next_notices"][0]["at"]
        assert "late" not in detail["next_notices"][0]


class TestInstantsInTables:
    """Every instant a table shows is in its pledge's zone, to the second."""

    INSTANT = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(?:[+-]\d\d:\d\d|Z)")

    def instants(self, text: str) -> list[str]:
        return self.INSTANT.findall(text)

    def test_list_upcoming_and_show_write_moscow_pledges_in_moscow_time_to_the_second(
        self, tmp_path: Path
    ) -> None:
        deadline = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
        settings = _stored(
            tmp_path,
            [
                {"id": "draft", "title": "Draft", "deadline": deadline},
                # Check-ins counted from the import instant, which has microseconds.
                {"id": "watch", "title": "Watch", "kind": "ongoing", "check_in": "1d"},
                {
                    "id": "lift",
                    "title": "Lift",
                    "kind": "conditional",
                    "conditions": [{"requires": "draft"}],
                },
            ],
            timezone="Europe/Moscow",
        )
        for pledge_id in ("lift", "draft"):
            held = process.cli("snooze", pledge_id, "--until", "3d", settings=settings)
            assert held.returncode == 0, held.stderr
        outputs = [
            process.cli("list", settings=settings),
            process.cli("upcoming", settings=settings),
        ]
        outputs += [process.cli("show", i, settings=settings) for i in ("draft", "watch", "lift")]
        for result in outputs:
            assert result.returncode == 0, result.stderr
            found = self.instants(result.stdout)
            assert found, result.stdout
            assert all(re.fullmatch(r"[\d-]+T\d\d:\d\d:\d\d\+03:00", i) for i in found), (
                result.stdout
            )


class TestUntilWithoutAnOffset:
    """A naive --until is read in the pledge's zone (snooze) or PLEDGEWATCH_TIMEZONE (silence)."""

    def settings(self, tmp_path: Path) -> dict[str, str]:
        commitments = [{"id": "lift", "title": "Lift", "tags": ["sanctions"]}]
        return _stored(tmp_path, commitments, timezone="Europe/Moscow")

    def day(self) -> str:
        return (datetime.now(UTC) + timedelta(days=20)).date().isoformat()

    def test_snooze_reads_it_in_the_pledges_zone_and_echoes_it_with_its_offset(
        self, tmp_path: Path
    ) -> None:
        settings = self.settings(tmp_path)
        result = process.cli("snooze", "lift", "--until", f"{self.day()}T10:00", settings=settings)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"lift: snoozed until {self.day()}T10:00:00+03:00\n"
        detail = _json("show", "lift", settings=settings)
        assert isinstance(detail, dict)
        assert detail["held_until"] == f"{self.day()}T10:00:00+03:00"

    def test_silence_reads_it_in_the_operators_zone_and_echoes_it_with_its_offset(
        self, tmp_path: Path
    ) -> None:
        settings = {**self.settings(tmp_path), "PLEDGEWATCH_TIMEZONE": "Asia/Tokyo"}
        until = f"{self.day()}T10:00"
        result = process.cli("silence", "--tag", "sanctions", "--until", until, settings=settings)
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"tag sanctions: silenced until {until}:00+09:00 (1 pledge)\n"
        detail = _json("show", "lift", settings=settings)
        assert isinstance(detail, dict)
        assert detail["held_until"] == f"{self.day()}T04:00:00+03:00"  # 10:00 in Tokyo

    def test_a_duration_is_echoed_to_the_second_in_the_pledges_zone(self, tmp_path: Path) -> None:
        result = process.cli("snooze", "lift", "--until", "3d", settings=self.settings(tmp_path))
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(r"lift: snoozed until [\d-]+T\d\d:\d\d:\d\d\+03:00\n", result.stdout)

    @pytest.mark.parametrize(
        ("command", "zone"),
        [(["snooze", "lift"], "the pledge's time zone"), (["silence"], "PLEDGEWATCH_TIMEZONE")],
        ids=["snooze", "silence"],
    )
    def test_help_says_in_which_zone(self, command: list[str], zone: str) -> None:
        result = process.cli(*command, "--help", settings={"COLUMNS": "200"})
        assert result.returncode == 0, result.stderr
        assert f"Without an offset, read in {zone}." in result.stdout


class TestSetStatusEvidence:
    """`--evidence` is checked by the rule the API applies, before anything is written."""

    @pytest.mark.parametrize(
        ("evidence", "problem"),
        [
            ("notaurl", "not an absolute http(s) URL (such as https://example.org/report)"),
            ("ftp://example.org/file", "not an http(s) URL: it starts with 'ftp:'"),
            ("https://example.org/a b", "contains a space or a control character"),
        ],
        ids=["text", "ftp", "space"],
    )
    def test_evidence_that_is_not_an_http_url_exits_2_naming_the_option_and_writes_nothing(
        self, tmp_path: Path, evidence: str, problem: str
    ) -> None:
        settings = _stored(tmp_path, [{"id": "x", "title": "X"}])
        before = _written(settings, "x")
        result = process.cli("set-status", "x", "kept", "--evidence", evidence, settings=settings)
        assert (result.returncode, result.stdout) == (EXIT_INPUT, ""), result.stderr
        assert result.stderr == f"pledgewatch: --evidence {evidence!r}: {problem}\n"
        assert _written(settings, "x") == before

    def test_an_http_url_is_recorded_as_given(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, [{"id": "x", "title": "X"}])
        url = "https://example.org/minutes?id=12#vote"
        result = process.cli("set-status", "x", "kept", "--evidence", url, settings=settings)
        assert (result.returncode, result.stdout) == (0, "x: open -> kept\n"), result.stderr
        history, _ = _written(settings, "x")
        assert history[-1]["evidence"] == url  # type: ignore[index]


# An instant a month ahead, as --until takes it (naive: in TIMEZONE, UTC here) and as it is said.
AHEAD = (datetime.now(UTC) + timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
UNTIL, SAID = AHEAD.strftime("%Y-%m-%dT%H:%M"), AHEAD.isoformat()


HELD: list[dict[str, object]] = [
    {"id": "x", "title": "Overdue", "deadline": "2016-08-01", "tags": ["syria"]},
    {"id": "b", "title": "Broken", "deadline": "2016-08-01", "status": "broken"},
    {"id": "w", "title": "Ceasefire holds", "kind": "ongoing"},
]


class TestNothingToDo:
    """A command that would change nothing exits 2 saying why, and writes nothing."""

    @pytest.mark.parametrize(
        ("before", "command", "message"),
        [
            (
                [["ack", "x"]],
                ["ack", "x"],
                "x: already acknowledged; overdue repeats stay stopped until its status changes",
            ),
            (
                [],
                ["ack", "b"],
                (
                    "b: broken is a closed outcome, which gets no overdue notices: "
                    "there are no repeats to stop"
                ),
            ),
            (
                [],
                ["ack", "w"],
                (
                    "w: no deadline, so no overdue notices: there are no repeats to stop "
                    "(snooze holds its check-ins)"
                ),
            ),
            ([], ["snooze", "x", "--end"], "x: not snoozed, so there is no snooze to end"),
            (
                [["snooze", "x", "--until", UNTIL]],
                ["snooze", "x", "--until", UNTIL],
                f"x: already snoozed until {SAID}",
            ),
            (
                [],
                ["silence", "--tag", "nosuchtag", "--until", "3d"],
                "tag nosuchtag: no pledge has this tag",
            ),
            (
                [],
                ["silence", "--tag", "syria", "--end"],
                "tag syria: not silenced, so there is no silence to lift",
            ),
            (
                [["silence", "--tag", "syria", "--until", UNTIL]],
                ["silence", "--tag", "syria", "--until", UNTIL],
                f"tag syria: already silenced until {SAID}",
            ),
            (
                [],
                ["enable-webhook", "nosuch"],
                "webhook 'nosuch' is unknown (configured: desk, ops)",
            ),
            (
                [],
                ["enable-webhook", "desk"],
                "webhook 'desk' is not disabled, so there is nothing to enable",
            ),
            ([], ["set-status", "x", "open"], "x: the pledge is already open"),
        ],
        ids=[
            "ack-twice",
            "ack-closed",
            "ack-no-deadline",
            "snooze-end-not-snoozed",
            "snooze-same-end",
            "silence-unknown-tag",
            "silence-end-not-silenced",
            "silence-same-end",
            "enable-unknown-webhook",
            "enable-webhook-not-disabled",
            "set-status-same",
        ],
    )
    def test_it_exits_2_saying_why_and_writes_nothing(
        self, tmp_path: Path, before: list[list[str]], command: list[str], message: str
    ) -> None:
        settings = {
            **_stored(tmp_path, HELD),
            "PLEDGEWATCH_WEBHOOKS__DESK__URL": "https://hooks.example.org/desk",
            "PLEDGEWATCH_WEBHOOKS__OPS__URL": "https://hooks.example.org/ops",
        }
        for setup in before:
            assert process.cli(*setup, settings=settings).returncode == 0
        written = _rows(settings)
        result = process.cli(*command, settings=settings)
        assert (result.returncode, result.stdout) == (EXIT_INPUT, ""), result.stderr
        assert result.stderr == f"pledgewatch: {message}\n"
        assert _rows(settings) == written

    def test_a_new_end_for_a_running_snooze_or_silence_is_an_update(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, HELD)
        later = (AHEAD + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        for command in (["snooze", "x", "--until"], ["silence", "--tag", "syria", "--until"]):
            for until in (UNTIL, later):
                result = process.cli(*command, until, settings=settings)
                assert result.returncode == 0, result.stderr
        history, _ = _written(settings, "x")
        assert [h["note"] for h in history][-2:] == [  # type: ignore[index]
            f"tag syria silenced until {SAID}",
            f"tag syria silenced until {(AHEAD + timedelta(days=1)).isoformat()}",
        ]
