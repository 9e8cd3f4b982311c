"""daemon/model/documents.py: the commitment object and the event bodies receivers get."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.model import deadlines, documents
from daemon.model.pledge import Condition, Pending, Pledge, Source
from daemon.model.schedule import Notice, NoticeType
from daemon.model.statuses import Kind, Status

MOSCOW = ZoneInfo("Europe/Moscow")
BY_AUGUST = deadlines.read_deadline(
    "by August", reference=datetime(2016, 3, 25, tzinfo=MOSCOW), tz=MOSCOW
)
OPENS = datetime(2016, 7, 31, 21, tzinfo=UTC)
CLOSES = datetime(2016, 8, 31, 21, tzinfo=UTC)
WEEK = timedelta(days=7)

SYRIA = Pledge(
    id="syria-draft-constitution",
    title="Draft constitution for Syria",
    status=Status.IN_PROGRESS,
    kind=Kind.DELIVERABLE,
    description="Work out a framework for a political transition.",
    parties=("United States", "Russia"),
    tags=("syria",),
    source=Source(
        title="Kerry and Lavrov in Moscow",
        publisher="US Department of State",
        url="https://example.org/kerry-lavrov",
        published=date(2016, 3, 25),
    ),
    window=BY_AUGUST,
    reminders=(timedelta(days=30), timedelta(hours=36)),
    conditions=(Condition("ceasefire-holds"), Condition("talks-resume", Status.IN_PROGRESS)),
)
BARE = Pledge(id="bare", title="No deadline")


class TestCommitmentDocument:
    def test_it_shows_every_field_with_times_in_the_pledges_zone(self) -> None:
        assert documents.commitment_document(SYRIA) == {
            "id": "syria-draft-constitution",
            "title": "Draft constitution for Syria",
            "description": "Work out a framework for a political transition.",
            "kind": "deliverable",
            "status": "in_progress",
            "parties": ["United States", "Russia"],
            "tags": ["syria"],
            "source": {
                "title": "Kerry and Lavrov in Moscow",
                "publisher": "US Department of State",
                "url": "https://example.org/kerry-lavrov",
                "published": "2016-03-25",
            },
            "deadline": {
                "phrase": "by August",
                "earliest": "2016-08-01T00:00:00+03:00",
                "latest": "2016-09-01T00:00:00+03:00",
                "precision": "month",
                "timezone": "Europe/Moscow",
            },
            "reminders": ["30d", "1d12h"],
            "conditions": [
                {"requires": "ceasefire-holds", "status": "kept"},
                {"requires": "talks-resume", "status": "in_progress"},
            ],
            "check_ins": None,
            "deadline_after_conditions": None,
            "blocked": False,
            "acknowledged": False,
            "held_until": None,
        }

    def test_it_shows_a_pledge_without_deadline_source_or_own_reminders(self) -> None:
        document = documents.commitment_document(BARE)
        assert document["deadline"] is None
        assert document["reminders"] is None
        assert document["source"] == {
            "title": None,
            "publisher": None,
            "url": None,
            "published": None,
        }
        assert (
            document["status"],
            document["kind"],
            document["parties"],
            document["conditions"],
        ) == (
            "open",
            "deliverable",
            [],
            [],
        )

    def test_it_distinguishes_no_reminders_from_the_default_ones(self) -> None:
        silent = Pledge(id="silent", title="Silent", reminders=())
        assert documents.commitment_document(silent)["reminders"] == []


class TestIsoformat:
    def test_it_writes_an_instant_in_the_zone_given(self) -> None:
        assert documents.isoformat(OPENS, MOSCOW) == "2016-08-01T00:00:00+03:00"

    def test_it_writes_utc_when_no_zone_is_given(self) -> None:
        assert (
            documents.isoformat(datetime(2016, 8, 1, tzinfo=MOSCOW)) == "2016-07-31T21:00:00+00:00"
        )

    def test_it_writes_nothing_for_no_instant(self) -> None:
        assert documents.isoformat(None, MOSCOW) is None

    def test_a_pledge_is_shown_in_its_deadlines_zone_else_utc(self) -> None:
        assert documents.zone_of(SYRIA) == MOSCOW
        assert documents.zone_of(BARE) == ZoneInfo("UTC")

    def test_a_pledge_without_a_deadline_is_shown_in_the_zone_of_its_file(self) -> None:
        waiting = Pledge(id="lift", title="Lift", kind=Kind.CONDITIONAL, timezone="Europe/Moscow")
        assert documents.zone_of(waiting) == MOSCOW

    def test_a_deadline_waiting_for_its_conditions_gives_its_zone_before_the_files(self) -> None:
        pending = Pending("within 6 months", "Asia/Tokyo")
        later = Pledge(id="later", title="Later", pending=pending, timezone="Europe/Moscow")
        assert documents.zone_of(later) == ZoneInfo("Asia/Tokyo")

    def test_a_condition_met_body_of_a_pledge_without_a_deadline_carries_its_files_offset(
        self,
    ) -> None:
        waiting = Pledge(id="lift", title="Lift", kind=Kind.CONDITIONAL, timezone="Europe/Moscow")
        body = documents.condition_body(waiting, OPENS, Condition("minsk"), "kept")
        assert body["type"] == "commitment.condition_met"
        assert body["timestamp"] == body["data"]["scheduled_for"] == "2016-08-01T00:00:00+03:00"


class TestNoticeBody:
    def test_a_reminder_carries_its_offset(self) -> None:
        body = documents.notice_body(SYRIA, Notice(NoticeType.REMINDER, OPENS - WEEK, offset=WEEK))
        assert body["type"] == "commitment.reminder"
        assert body["timestamp"] == "2016-07-25T00:00:00+03:00"
        assert body["version"] == documents.PAYLOAD_VERSION == 1
        assert body["data"] == {
            "commitment": documents.commitment_document(SYRIA),
            "scheduled_for": "2016-07-25T00:00:00+03:00",
            "offset": "7d",
        }

    def test_due_carries_no_extra_fields(self) -> None:
        body = documents.notice_body(SYRIA, Notice(NoticeType.DUE, OPENS))
        assert body["type"] == "commitment.due"
        assert body["timestamp"] == "2016-08-01T00:00:00+03:00"
        assert set(body["data"]) == {"commitment", "scheduled_for"}

    def test_the_first_overdue_notice_is_overdue_by_nothing(self) -> None:
        body = documents.notice_body(SYRIA, Notice(NoticeType.OVERDUE, CLOSES))
        assert body["type"] == "commitment.overdue"
        assert body["timestamp"] == "2016-09-01T00:00:00+03:00"
        assert (body["data"]["overdue_by"], body["data"]["repeat"]) == ("0", 0)

    def test_a_repeated_overdue_notice_says_how_late_and_which_repeat(self) -> None:
        body = documents.notice_body(SYRIA, Notice(NoticeType.OVERDUE, CLOSES + 2 * WEEK, repeat=2))
        assert body["data"]["scheduled_for"] == "2016-09-15T00:00:00+03:00"
        assert (body["data"]["overdue_by"], body["data"]["repeat"]) == ("14d", 2)
        assert "offset" not in body["data"]

    @pytest.mark.parametrize(
        "notice",
        [
            Notice(NoticeType.REMINDER, OPENS - WEEK, offset=WEEK),
            Notice(NoticeType.DUE, OPENS),
            Notice(NoticeType.OVERDUE, CLOSES + WEEK, repeat=1),
        ],
        ids=["reminder", "due", "overdue"],
    )
    def test_a_notice_sent_on_time_is_not_marked_late(self, notice: Notice) -> None:
        data = documents.notice_body(SYRIA, notice)["data"]
        assert "late" not in data
        assert "missed" not in data

    def test_a_notice_standing_for_missed_ones_says_so(self) -> None:
        body = documents.notice_body(
            SYRIA, Notice(NoticeType.OVERDUE, CLOSES + 3 * WEEK, repeat=3), missed=4
        )
        assert (body["data"]["late"], body["data"]["missed"]) == (True, 4)

    def test_a_pledge_without_a_deadline_is_written_in_utc(self) -> None:
        body = documents.notice_body(BARE, Notice(NoticeType.DUE, OPENS))
        assert body["timestamp"] == "2016-07-31T21:00:00+00:00"
        assert body["data"]["commitment"]["deadline"] is None


class TestStatusBody:
    def test_it_carries_the_transition_and_who_made_it(self) -> None:
        kept = Pledge(
            id="syria-draft-constitution",
            title="Draft constitution for Syria",
            status=Status.KEPT,
            window=BY_AUGUST,
        )
        at = datetime(2016, 9, 2, 9, 30, tzinfo=UTC)
        body = documents.status_body(
            kept,
            at,
            old_status="in_progress",
            note="Published",
            evidence="https://example.org/draft",
            actor="cli",
        )
        assert body["type"] == "commitment.status_changed"
        assert body["timestamp"] == "2016-09-02T12:30:00+03:00"
        assert body["data"] == {
            "commitment": documents.commitment_document(kept),
            "scheduled_for": "2016-09-02T12:30:00+03:00",
            "old_status": "in_progress",
            "new_status": "kept",
            "note": "Published",
            "evidence": "https://example.org/draft",
            "actor": "cli",
        }

    def test_it_keeps_absent_details_as_nulls(self) -> None:
        body = documents.status_body(
            BARE, OPENS, old_status=None, note=None, evidence=None, actor=None
        )
        data = body["data"]
        assert (
            data["old_status"],
            data["new_status"],
            data["note"],
            data["evidence"],
            data["actor"],
        ) == (
            None,
            "open",
            None,
            None,
            None,
        )
