"""The operator's `pledgewatch` commands run as real processes: list filters, holds, deliveries show, webhooks test."""

from __future__ import annotations

import getpass
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from daemon import __version__
from tests.acceptance.test_cli import EXIT_CONFIG, EXIT_INPUT, _stored
from tests.support import process

PLEDGES: list[dict[str, object]] = [
    {
        "id": "alpha",
        "title": "Build the bridge",
        "parties": ["City Council"],
        "tags": ["infra"],
        "deadline": "2020-01-01",
    },
    {
        "id": "beta",
        "title": "Open the portal",
        "description": "A web portal for citizens",
        "kind": "ongoing",
        "tags": ["digital"],
    },
    {
        "id": "gamma",
        "title": "Fix the roads",
        "status": "kept",
        "tags": ["infra"],
        "deadline": "2020-01-01",
    },
    {"id": "delta", "title": "Far ahead", "parties": ["Ministry"], "deadline": "2099-01-10"},
]


def _ids(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return [c["id"] for c in json.loads(result.stdout)]


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Settings on a database holding PLEDGES."""
    return _stored(tmp_path_factory.mktemp("list"), PLEDGES)


class TestListFilters:
    @pytest.mark.parametrize(
        ("options", "expected"),
        [
            ([], ["alpha", "beta", "delta", "gamma"]),
            (["--tag", "infra"], ["alpha", "gamma"]),
            (["--tag", "infra", "--status", "kept"], ["gamma"]),
            (["--status", "kept,open", "--tag", "infra"], ["alpha", "gamma"]),
            (["--status", "kept", "--status", "open", "--kind", "ongoing"], ["beta"]),
            (["--party", "city council"], ["alpha"]),
            (["--overdue"], ["alpha"]),
            (["--due-within", "30d"], []),
            (["--due-within", "30000d"], ["delta"]),
            (["--search", "CITIZENS"], ["beta"]),
            (["--search", "ministry"], ["delta"]),
            (["--search", "the", "--overdue"], ["alpha"]),
        ],
        ids=lambda value: " ".join(value) if isinstance(value, list) else "",
    )
    def test_the_filters_combine(
        self, listed: dict[str, str], options: list[str], expected: list[str]
    ) -> None:
        assert _ids(process.cli("list", *options, "--json", settings=listed)) == expected

    def test_the_table_lists_the_same(self, listed: dict[str, str]) -> None:
        result = process.cli("list", "--tag", "infra", "--overdue", settings=listed)
        assert result.returncode == 0, result.stderr
        assert [line.split()[0] for line in result.stdout.splitlines()] == ["ID", "alpha"]

    @pytest.mark.parametrize(
        ("options", "said"),
        [
            (["--status", "open,bogus"], "unknown status 'bogus' (one of: open, in_progress"),
            (["--kind", "weekly"], "unknown kind 'weekly' (one of: deliverable, ongoing"),
            (["--due-within", "soon"], "--due-within: 'soon' is not a duration"),
        ],
    )
    def test_a_wrong_value_exits_2_naming_it(
        self, listed: dict[str, str], options: list[str], said: str
    ) -> None:
        result = process.cli("list", *options, settings=listed)
        assert result.returncode == EXIT_INPUT
        assert said in result.stderr
        assert result.stdout == ""


class TestGlobalOptions:
    @pytest.mark.parametrize(
        "command", [[], ["list"], ["set-status"], ["deliveries"], ["silence"], ["version"]]
    )
    def test_h_is_help(self, command: list[str]) -> None:
        short = process.cli(*command, "-h", settings={})
        assert short.returncode == 0, short.stderr
        assert short.stdout == process.cli(*command, "--help", settings={}).stdout
        assert "Usage: pledgewatch" in short.stdout

    def test_version_option(self) -> None:
        result = process.cli("--version", settings={})
        assert (result.returncode, result.stdout) == (0, f"{__version__}\n")

    @pytest.mark.parametrize("command", ["list", "set-status"])
    def test_help_lists_the_statuses(self, command: str) -> None:
        # Rich wraps the help in a box: read its words only.
        words = process.cli(command, "--help", settings={}).stdout.replace("│", " ").split()
        listed = "open, in_progress, stalled, kept, partially_kept, broken, withdrawn"
        assert listed in " ".join(words)

    def test_env_file_after_the_command_is_read_and_later_files_win(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, PLEDGES[:1])
        good = tmp_path / "good.env"
        good.write_text(f"PLEDGEWATCH_DATABASE_URL={settings['PLEDGEWATCH_DATABASE_URL']}\n")
        missing = tmp_path / "missing.env"
        missing.write_text(f"PLEDGEWATCH_DATABASE_URL=sqlite:///{tmp_path / 'none.db'}\n")
        after = process.cli("list", "--json", "--env-file", str(good), settings={}, cwd=tmp_path)
        assert _ids(after) == ["alpha"]
        both = process.cli(
            "--env-file", str(good), "list", "--env-file", str(missing), settings={}, cwd=tmp_path
        )
        assert both.returncode == EXIT_CONFIG
        assert "none.db" in both.stderr
        reverse = process.cli(
            "--env-file", str(missing), "list", "--json", "--env-file", str(good), settings={}
        )
        assert _ids(reverse) == ["alpha"]

    def test_the_environment_beats_an_env_file_given_after_the_command(
        self, tmp_path: Path
    ) -> None:
        settings = _stored(tmp_path, PLEDGES[:1])
        missing = tmp_path / "missing.env"
        missing.write_text(f"PLEDGEWATCH_DATABASE_URL=sqlite:///{tmp_path / 'none.db'}\n")
        result = process.cli("list", "--json", "--env-file", str(missing), settings=settings)
        assert _ids(result) == ["alpha"]


class TestUpcomingFilters:
    def _found(self, listed: dict[str, str], *options: str) -> list[tuple[str, str]]:
        result = process.cli("upcoming", "--within", "40000d", *options, "--json", settings=listed)
        assert result.returncode == 0, result.stderr
        return [(n["commitment_id"], n["type"]) for n in json.loads(result.stdout)]

    def test_pledge_type_and_limit_combine(self, listed: dict[str, str]) -> None:
        assert self._found(listed, "--pledge", "delta", "--type", "due") == [
            ("delta", "commitment.due")
        ]
        assert self._found(listed, "--pledge", "delta", "--type", "commitment.due") == [
            ("delta", "commitment.due")
        ]
        reminders = self._found(listed, "--type", "reminder", "--limit", "2")
        assert reminders == [("delta", "commitment.reminder")] * 2

    def test_limit_keeps_the_first_in_time_order(self, listed: dict[str, str]) -> None:
        every = process.cli("upcoming", "--within", "400d", "--json", settings=listed)
        first = process.cli(
            "upcoming", "--within", "400d", "--limit", "3", "--json", settings=listed
        )
        assert json.loads(first.stdout) == json.loads(every.stdout)[:3]

    def test_an_unknown_type_exits_2_listing_the_valid_ones(self, listed: dict[str, str]) -> None:
        result = process.cli("upcoming", "--type", "nag", settings=listed)
        assert result.returncode == EXIT_INPUT
        assert "unknown notice type 'nag' (one of: reminder, due, overdue" in result.stderr

    def test_an_unknown_pledge_exits_2_naming_it(self, listed: dict[str, str]) -> None:
        result = process.cli("upcoming", "--pledge", "nope", settings=listed)
        assert result.returncode == EXIT_INPUT
        assert "no commitment with id 'nope'" in result.stderr


YEAR = datetime.now(UTC).year + 2  # holds end at most ten years ahead


class TestHolds:
    def test_it_lists_the_running_snoozes_and_silences(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, PLEDGES)
        settings["PLEDGEWATCH_TIMEZONE"] = "Europe/Moscow"
        empty = process.cli("holds", settings=settings)
        assert empty.stdout == "snoozed pledges:\n(none)\nsilenced tags:\n(none)\n"
        for command in (
            ["snooze", "alpha", "--until", f"{YEAR}-01-01T10:00", "--note", "council meets"],
            ["snooze", "delta", "--until", f"{YEAR}-02-01T10:00"],
            ["silence", "--tag", "infra", "--until", f"{YEAR}-03-01T10:00", "--note", "quiet"],
        ):
            assert process.cli(*command, settings=settings).returncode == 0
        shown = process.cli("holds", settings=settings)
        assert shown.returncode == 0, shown.stderr
        lines = [re.split(r"  +", line) for line in shown.stdout.splitlines()]
        by = f"cli:{getpass.getuser()}"
        assert lines == [
            ["snoozed pledges:"],
            ["ID", "UNTIL", "BY", "NOTE"],
            ["alpha", f"{YEAR}-01-01T10:00:00+00:00", by, "council meets"],
            ["delta", f"{YEAR}-02-01T10:00:00+00:00", by, "-"],
            ["silenced tags:"],
            ["TAG", "UNTIL", "PLEDGES", "BY", "NOTE"],
            ["infra", f"{YEAR}-03-01T10:00:00+03:00", "2", by, "quiet"],
        ]
        document = json.loads(process.cli("holds", "--json", settings=settings).stdout)
        assert document["silences"] == [
            {
                "tag": "infra",
                "until": f"{YEAR}-03-01T10:00:00+03:00",
                "note": "quiet",
                "actor": by,
                "pledges": 2,
            }
        ]
        assert [s["commitment_id"] for s in document["snoozes"]] == ["alpha", "delta"]

    def test_a_snooze_given_as_a_duration_on_a_pledge_in_another_zone_keeps_its_note(
        self, tmp_path: Path
    ) -> None:
        settings = _stored(
            tmp_path, [{"id": "moscow", "title": "Moscow"}], timezone="Europe/Moscow"
        )
        held = process.cli("snooze", "moscow", "--until", "3d", "--note", "why", settings=settings)
        assert held.returncode == 0, held.stderr
        listed = json.loads(process.cli("holds", "--json", settings=settings).stdout)
        [snooze] = listed["snoozes"]
        assert (snooze["note"], snooze["actor"]) == ("why", f"cli:{getpass.getuser()}")

    def test_an_ended_hold_is_not_listed(self, tmp_path: Path) -> None:
        settings = _stored(tmp_path, PLEDGES)
        process.cli("snooze", "alpha", "--until", "3d", settings=settings)
        process.cli("snooze", "alpha", "--end", settings=settings)
        listed = json.loads(process.cli("holds", "--json", settings=settings).stdout)
        assert listed == {"snoozes": [], "silences": []}
