"""daemon/delivery/formats.py: the bytes a webhook receives and the console's one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.delivery import formats
from daemon.model import deadlines, documents
from daemon.model.pledge import Pledge
from daemon.model.schedule import Notice, NoticeType

MOSCOW = ZoneInfo("Europe/Moscow")
BY_AUGUST = deadlines.read_deadline(
    "by August", reference=datetime(2016, 3, 25, tzinfo=MOSCOW), tz=MOSCOW
)
SYRIA = Pledge(
    id="syria-draft-constitution", title="Проект конституции для Сирии", window=BY_AUGUST
)
OPENS = datetime(2016, 7, 31, 21, tzinfo=UTC)


def reminder_body(missed: int = 0) -> dict[str, Any]:
    notice = Notice(NoticeType.REMINDER, OPENS - timedelta(days=7), offset=timedelta(days=7))
    return documents.notice_body(SYRIA, notice, missed=missed)


class TestRender:
    def test_json_is_the_body_as_compact_utf8(self) -> None:
        content, content_type = formats.render(
            "json", {"type": "commitment.due", "data": {"title": "Сирия", "n": [1, 2]}}
        )
        assert content_type == "application/json"
        assert content == '{"type":"commitment.due","data":{"title":"Сирия","n":[1,2]}}'.encode()

    def test_json_reads_back_as_the_same_body(self) -> None:
        body = reminder_body(missed=2)
        content, _ = formats.render("json", body)
        assert json.loads(content.decode("utf-8")) == body
        assert "Проект конституции".encode() in content

    def test_an_unknown_format_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="'slack'"):
            formats.render("slack", reminder_body())


class TestConsoleLine:
    def test_it_names_the_time_type_id_title_deadline_and_offset(self) -> None:
        assert formats.console_line(reminder_body()) == (
            "2016-07-25T00:00:00+03:00 commitment.reminder syria-draft-constitution: Проект конституции для Сирии"
            " deadline='by August' [2016-08-01T00:00:00+03:00 .. 2016-09-01T00:00:00+03:00) offset=7d"
        )

    def test_it_says_how_many_notices_were_missed(self) -> None:
        assert formats.console_line(reminder_body(missed=3)).endswith(" offset=7d missed=3")

    def test_it_shows_overdue_and_status_fields(self) -> None:
        overdue = documents.notice_body(
            SYRIA, Notice(NoticeType.OVERDUE, OPENS + timedelta(days=45), repeat=2)
        )
        assert "overdue_by=14d" in formats.console_line(overdue)
        changed = documents.status_body(
            SYRIA, OPENS, old_status="open", note=None, evidence=None, actor=None
        )
        line = formats.console_line(changed)
        assert "commitment.status_changed syria-draft-constitution" in line
        assert line.endswith("old_status=open new_status=open")

    def test_it_leaves_out_a_missing_deadline(self) -> None:
        bare = documents.notice_body(
            Pledge(id="bare", title="No deadline"), Notice(NoticeType.DUE, OPENS)
        )
        assert (
            formats.console_line(bare)
            == "2016-07-31T21:00:00+00:00 commitment.due bare: No deadline"
        )
