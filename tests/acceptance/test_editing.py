"""`pledgewatch add`, `edit` and `archive` run as real processes, each on a SQLite file of its own."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import process
from tests.support.receiver import Receiver

EXIT_INPUT = 2
SOURCE = {
    "title": "Joint statement",
    "publisher": "Desk",
    "url": "https://example.org/statement",
    "published": "2026-11-02",
}
# One pledge with every field a flag sets, as a seed file gives it and as `add` flags do.
BASE = {"id": "talks", "title": "Talks resume"}
SEED = {
    "id": "lift",
    "title": "Lift sanctions",
    "description": "All of them",
    "kind": "conditional",
    "parties": ["EU", "UK"],
    "tags": ["syria", "trade"],
    "deadline": "within 6 months",
    "deadline_from": "conditions",
    "conditions": [{"requires": "talks", "status": "in_progress"}],
    "reminders": ["30d", "7d"],
}
FLAGS = [
    "--id", "lift", "--title", "Lift sanctions", "--description", "All of them",
    "--kind", "conditional", "--party", "EU", "--party", "UK", "--tag", "syria", "--tag", "trade",
    "--deadline", "within 6 months", "--deadline-from", "conditions",
    "--requires", "talks:in_progress", "--reminders", "30d, 7d",
    "--timezone", "Europe/Moscow", "--published", "2026-11-02",
    "--source-title", "Joint statement", "--source-publisher", "Desk",
    "--source-url", "https://example.org/statement",
]  # fmt: skip


def _settings(folder: Path) -> dict[str, str]:
    folder.mkdir(exist_ok=True)
    return {"PLEDGEWATCH_DATABASE_URL": f"sqlite:///{folder / 'pledgewatch.db'}"}


def _import(settings: dict[str, str], folder: Path, commitments: list[dict[str, Any]]) -> None:
    seed = folder / f"seed-{uuid.uuid4().hex}.yaml"
    document = {"source": SOURCE, "timezone": "Europe/Moscow", "commitments": commitments}
    seed.write_text(yaml.safe_dump(document))
    result = process.cli("import", str(seed), settings=settings)
    assert result.returncode == 0, result.stderr


def _ok(*args: str, settings: dict[str, str]) -> str:
    result = process.cli(*args, settings=settings)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _json(*args: str, settings: dict[str, str]) -> Any:
    return json.loads(_ok(*args, "--json", settings=settings))


def _refused(*args: str, settings: dict[str, str]) -> str:
    """Run a command that must exit 2 writing nothing; return what it said."""
    before = _rows(settings)
    result = process.cli(*args, settings=settings)
    assert result.returncode == EXIT_INPUT, result.stdout + result.stderr
    assert result.stdout == ""
    assert _rows(settings) == before
    return result.stderr


def _rows(settings: dict[str, str]) -> dict[str, list[tuple[object, ...]]]:
    path = settings["PLEDGEWATCH_DATABASE_URL"].removeprefix("sqlite:///")
    tables = ("commitments", "conditions", "status_history", "events")
    with closing(sqlite3.connect(path)) as db:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}


def _day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


class TestAdd:
    def test_it_stores_what_an_import_of_the_same_seed_stores(self, tmp_path: Path) -> None:
        imported = _settings(tmp_path / "imported")
        _import(imported, tmp_path, [BASE, SEED])
        added = _settings(tmp_path / "added")
        _ok("add", "--id", "talks", "--title", "Talks resume", "--published", "2026-11-02",
            "--timezone", "Europe/Moscow", "--source-title", "Joint statement",
            "--source-publisher", "Desk", "--source-url", "https://example.org/statement",
            settings=added)  # fmt: skip
        printed = _json("add", *FLAGS, settings=added)
        for pledge_id in ("talks", "lift"):
            want = _json("show", pledge_id, settings=imported)
            got = _json("show", pledge_id, settings=added)
            assert [h["actor"] for h in got.pop("history")] == ["cli:" + _user()]
            assert [h["note"] for h in want.pop("history")] == ["imported"]
            assert got == want
        assert printed["id"] == "lift" and printed["conditions"] == SEED["conditions"]

    def test_it_prints_a_short_line_naming_the_next_notice(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        out = _ok("add", "--id", "a", "--title", "A", "--deadline", _day(40), settings=settings)
        assert out.startswith("a: added; next notice ") and out.strip()[-6:] == "+00:00"

    @pytest.mark.parametrize(
        ("flags", "flag"),
        [
            (["--deadline", "by Smarch"], "--deadline"),
            (["--reminders", "30d,soon"], "--reminders"),
            (["--kind", "someday"], "--kind"),
            (["--requires", "elsewhere"], "--requires"),
            (["--requires", "talks:finished"], "--requires"),
            (["--timezone", "Mars/Olympus"], "--timezone"),
            (["--published", "2026-13-01"], "--published"),
            (["--kind", "recurring"], "--every"),
            (["--check-in", "14d"], "--check-in"),
            (["--deadline-from", "conditions"], "--deadline-from"),
        ],
        ids=lambda v: v if isinstance(v, str) else " ".join(v),
    )
    def test_a_bad_value_is_refused_naming_the_flag_and_nothing_is_written(
        self, tmp_path: Path, flags: list[str], flag: str
    ) -> None:
        settings = _settings(tmp_path)
        _import(settings, tmp_path, [BASE])
        said = _refused("add", "--id", "new", "--title", "New", *flags, settings=settings)
        assert said.startswith(f"pledgewatch: new: {flag}: "), said

    def test_an_id_already_stored_is_refused_pointing_to_edit(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        _import(settings, tmp_path, [BASE])
        said = _refused("add", "--id", "talks", "--title", "Other", settings=settings)
        assert "talks: a commitment with this id exists already" in said
        assert "pledgewatch edit" in said


def _user() -> str:
    import getpass

    return getpass.getuser()


class TestEdit:
    def test_it_changes_the_title_and_the_deadline_and_the_notices_move(
        self, tmp_path: Path
    ) -> None:
        settings = _settings(tmp_path)
        _ok("add", "--id", "a", "--title", "A", "--deadline", _day(40), "--tag", "x",
            settings=settings)  # fmt: skip
        before = _json("show", "a", settings=settings)
        out = _ok("edit", "a", "--title", "A again", "--deadline", _day(60), settings=settings)
        assert out.startswith("a: edited; next notice ")
        after = _json("show", "a", settings=settings)
        assert after["title"] == "A again" and after["deadline"]["phrase"] == _day(60)
        assert after["next_notice_at"] > before["next_notice_at"]
        assert [n["at"] for n in after["next_notices"]] != [n["at"] for n in before["next_notices"]]
        # What was not given stays as it was.
        assert after["tags"] == ["x"] and after["status"] == "open"

    def test_a_relative_deadline_is_not_read_again_when_other_fields_change(
        self, tmp_path: Path
    ) -> None:
        settings = _settings(tmp_path)
        _ok("add", "--id", "a", "--title", "A", "--deadline", "in 3 days", settings=settings)
        before = _json("show", "a", settings=settings)
        _ok("edit", "a", "--tag", "later", "--reminders", "1d", settings=settings)
        after = _json("show", "a", settings=settings)
        assert after["deadline"] == before["deadline"]
        assert after["tags"] == ["later"] and after["reminders"] == ["1d"]

    def test_its_status_stays_and_a_bad_value_names_the_flag(self, tmp_path: Path) -> None:
        settings = _settings(tmp_path)
        _import(settings, tmp_path, [{**BASE, "status": "stalled"}])
        said = _refused("edit", "talks", "--deadline", "by Smarch", settings=settings)
        assert said.startswith("pledgewatch: talks: --deadline: cannot read deadline")
        _ok("edit", "talks", "--title", "Talks go on", settings=settings)
        assert _json("show", "talks", settings=settings)["status"] == "stalled"

    def test_an_unknown_id_nothing_given_or_nothing_changed_is_refused(
        self, tmp_path: Path
    ) -> None:
        settings = _settings(tmp_path)
        _import(settings, tmp_path, [BASE])
        said = _refused("edit", "nope", "--title", "X", settings=settings)
        assert said == "pledgewatch: no commitment with id 'nope'\n"
        assert "at least one field" in _refused("edit", "talks", settings=settings)
        said = _refused("edit", "talks", "--title", "Talks resume", settings=settings)
        assert "talks: already so" in said


class TestArchive:
    def stored(self, tmp_path: Path) -> dict[str, str]:
        settings = _settings(tmp_path)
        far = _day(20)
        _import(settings, tmp_path, [
            {"id": "keep", "title": "Keep", "deadline": far},
            {"id": "drop", "title": "Drop", "deadline": far},
            {"id": "after", "title": "After", "kind": "conditional",
             "conditions": [{"requires": "drop"}]},
        ])  # fmt: skip
        return settings

    def test_an_archived_pledge_is_kept_but_left_out_of_list_and_upcoming(
        self, tmp_path: Path
    ) -> None:
        settings = self.stored(tmp_path)
        out = _ok("archive", "drop", "--note", "overtaken", settings=settings)
        assert out == "drop: archived; next notice none\n"
        assert [c["id"] for c in _json("list", settings=settings)] == ["after", "keep"]
        assert [c["id"] for c in _json("list", "--archived", settings=settings)] == ["drop"]
        assert "drop" not in _ok("list", settings=settings)
        assert {n["commitment_id"] for n in _json("upcoming", settings=settings)} == {"keep"}
        detail = _json("show", "drop", settings=settings)
        assert detail["archived_at"] is not None and detail["next_notices"] == []
        last = detail["history"][-1]
        assert (last["new_status"], last["note"]) == ("open", "archived: overtaken")
        assert last["actor"] == "cli:" + _user()
        assert "  archived   " in _ok("show", "drop", settings=settings)
        # A pledge that waits on it keeps waiting.
        assert _json("show", "after", settings=settings)["blocked"] is True

    def test_archiving_twice_is_refused_and_undo_brings_its_notices_back(
        self, tmp_path: Path
    ) -> None:
        settings = self.stored(tmp_path)
        before = _json("show", "drop", settings=settings)["next_notice_at"]
        _ok("archive", "drop", settings=settings)
        said = _refused("archive", "drop", settings=settings)
        assert said.startswith("pledgewatch: drop: already archived (since ")
        out = _ok("archive", "drop", "--undo", settings=settings)
        assert out.startswith("drop: unarchived; next notice 20")
        assert _json("show", "drop", settings=settings)["next_notice_at"] == before
        assert "drop" in {n["commitment_id"] for n in _json("upcoming", settings=settings)}
        said = _refused("archive", "drop", "--undo", settings=settings)
        assert "drop: not archived" in said
        assert "no commitment with id 'nope'" in _refused("archive", "nope", settings=settings)

    @pytest.mark.daemon
    @pytest.mark.receiver
    def test_the_daemon_sends_nothing_for_an_archived_pledge(
        self, tmp_path: Path, receiver: Receiver
    ) -> None:
        hook = f"/hook/{uuid.uuid4().hex}"
        settings = {
            **_settings(tmp_path),
            "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook,
            "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
            "PLEDGEWATCH_REMINDER_OFFSETS": "0",
        }
        due = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
        _import(settings, tmp_path, [
            {"id": "keep", "title": "Keep", "deadline": due},
            {"id": "drop", "title": "Drop", "deadline": due},
        ])  # fmt: skip
        _ok("archive", "drop", settings=settings)
        daemon = process.start(settings, tmp_path / "daemon.log")
        try:
            # Both fall due at the same instant: the pass that sends one would send both.
            sent = receiver.wait_for(hook, timeout=30)
            _ok("deliveries", settings=settings)
        finally:
            assert daemon.stop() == 0, daemon.output()
        ids = {r.json()["data"]["commitment"]["id"] for r in receiver.at(hook)}
        assert sent and ids == {"keep"}
        assert {d["commitment_id"] for d in _json("deliveries", settings=settings)} == {"keep"}
