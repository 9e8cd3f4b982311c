"""The iCalendar text of pledges: dates, alarms, identity, escaping and folding, read back with icalendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest

from daemon.model import deadlines, ics
from daemon.model.pledge import Pledge, Source
from daemon.model.schedule import Policy
from daemon.model.statuses import Status

REFERENCE = datetime(2016, 3, 25, 12, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")
CREATED = datetime(2026, 1, 1, 9, tzinfo=UTC)
STAMP = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
POLICY = Policy(reminder_offsets=(timedelta(days=7), timedelta(days=30), timedelta(days=1)))


def _pledge(deadline: Any = "by August", zone: ZoneInfo = MOSCOW, **fields: Any) -> Pledge:
    window = deadlines.read_deadline(deadline, reference=REFERENCE, tz=zone)
    return Pledge(
        **{"id": "syria-draft-constitution", "title": "Draft constitution", "window": window}
        | fields
    )


def _text(pledge: Pledge, updated: datetime = CREATED, policy: Policy = POLICY) -> str:
    body = ics.event(pledge, created_at=CREATED, updated_at=updated, stamp=STAMP, policy=policy)
    return ics.head("pledgewatch", "0.1.0") + body + ics.TAIL


def _event(pledge: Pledge, **options: Any) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(_text(pledge, **options).encode())
    (event,) = calendar.walk("VEVENT")
    return event


def _raw_lines(data: bytes) -> list[bytes]:
    """Return the physical lines, checking each ends in CRLF, holds no other line end and fits 75 octets."""
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert b"\n" not in line and b"\r" not in line, line
        assert len(line) <= 75, line
        line.decode()  # no line breaks a UTF-8 sequence
    return lines


class TestDates:
    @pytest.mark.parametrize(
        ("deadline", "start", "end"),
        [
            ("2016-08-01", date(2016, 8, 1), date(2016, 8, 2)),
            ("2016-W31", date(2016, 8, 1), date(2016, 8, 8)),
            ("early August", date(2016, 8, 1), date(2016, 8, 11)),
            ("by August", date(2016, 8, 1), date(2016, 9, 1)),
            ("Q3 2016", date(2016, 7, 1), date(2016, 10, 1)),
            ("this summer", date(2016, 6, 1), date(2016, 9, 1)),
            ("first half of 2017", date(2017, 1, 1), date(2017, 7, 1)),
            ("2016", date(2016, 1, 1), date(2017, 1, 1)),
            (
                {"earliest": "2016-08-01", "latest": "2016-08-15"},
                date(2016, 8, 1),
                date(2016, 8, 15),
            ),
        ],
        ids=[
            "day",
            "week",
            "part_of_month",
            "month",
            "quarter",
            "season",
            "half_year",
            "year",
            "range",
        ],
    )
    def test_a_window_between_local_midnights_is_an_all_day_event(
        self, deadline: Any, start: date, end: date
    ) -> None:
        text = _text(_pledge(deadline))
        event = _event(_pledge(deadline))
        assert f"DTSTART;VALUE=DATE:{start:%Y%m%d}\r\n" in text
        assert f"DTEND;VALUE=DATE:{end:%Y%m%d}\r\n" in text
        assert (event.start, event.end) == (start, end)
        assert type(event.start) is date

    def test_a_month_across_a_dst_change_stays_all_day(self) -> None:
        event = _event(_pledge("by March", zone=ZoneInfo("America/New_York")))
        assert (event.start, event.end) == (date(2016, 3, 1), date(2016, 4, 1))

    def test_an_exact_instant_is_timed_in_utc_and_ends_where_it_starts(self) -> None:
        """RFC 5545 3.6.1: no DTEND, so the event ends at its start (DTEND must be later)."""
        text = _text(_pledge("2016-08-01T09:30"))
        assert "DTSTART:20160801T063000Z\r\n" in text
        assert "DTEND" not in text
        event = _event(_pledge("2016-08-01T09:30"))
        assert event.start == event.end == datetime(2016, 8, 1, 6, 30, tzinfo=UTC)

    def test_a_range_between_times_of_day_is_timed_in_utc(self) -> None:
        deadline = {"earliest": "2016-08-01T09:30", "latest": "2016-08-01T17:00"}
        text = _text(_pledge(deadline))
        assert "DTSTART:20160801T063000Z\r\nDTEND:20160801T140000Z\r\n" in text

    def test_a_midnight_instant_is_still_an_instant(self) -> None:
        event = _event(_pledge("2016-08-01T00:00"))
        assert event.start == datetime(2016, 7, 31, 21, tzinfo=UTC)

    def test_a_pledge_without_a_window_has_no_event(self) -> None:
        pledge = Pledge(id="minsk-implemented", title="Minsk implemented")
        assert (
            ics.event(pledge, created_at=CREATED, updated_at=CREATED, stamp=STAMP, policy=POLICY)
            == ""
        )


class TestAlarms:
    def test_the_operators_offsets_give_one_display_alarm_each_longest_first(self) -> None:
        alarms = _event(_pledge()).walk("VALARM")
        assert [a["TRIGGER"].dt for a in alarms] == [
            timedelta(days=-30),
            timedelta(days=-7),
            timedelta(days=-1),
        ]
        assert {str(a["ACTION"]) for a in alarms} == {"DISPLAY"}
        assert all("Draft constitution" in str(a["DESCRIPTION"]) for a in alarms)
        assert "TRIGGER:-P30D\r\n" in _text(_pledge())

    def test_a_pledges_own_reminders_replace_the_operators(self) -> None:
        pledge = _pledge(reminders=(timedelta(hours=36), timedelta(seconds=90), timedelta(0)))
        text = _text(pledge)
        assert "TRIGGER:-P1DT12H\r\n" in text and "TRIGGER:-PT1M30S\r\n" in text
        alarms = _event(pledge).walk("VALARM")
        assert [a["TRIGGER"].dt for a in alarms] == [-timedelta(hours=36), -timedelta(seconds=90)]

    def test_no_reminders_means_no_alarms(self) -> None:
        assert _event(_pledge(reminders=())).walk("VALARM") == []
        assert _event(_pledge(), policy=Policy(reminder_offsets=())).walk("VALARM") == []

    @pytest.mark.parametrize("status", [Status.KEPT, Status.BROKEN, Status.WITHDRAWN])
    def test_a_closed_pledge_keeps_its_event_with_its_status_and_rings_no_alarm(
        self, status: Status
    ) -> None:
        event = _event(_pledge(status=status))
        assert event.walk("VALARM") == []
        assert str(event["X-PLEDGEWATCH-STATUS"]) == status.value
        assert f"Status: {status.value}" in str(event["DESCRIPTION"])
        assert str(event["STATUS"]) == ("CANCELLED" if status is Status.WITHDRAWN else "CONFIRMED")

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (timedelta(days=30), "P30D"),
            (timedelta(days=-30), "-P30D"),
            (timedelta(hours=1, seconds=5), "PT1H0M5S"),
            (timedelta(minutes=90), "PT1H30M"),
            (timedelta(days=1, seconds=1), "P1DT1S"),
            (timedelta(0), "PT0S"),
        ],
    )
    def test_durations_follow_the_rfc_grammar(self, value: timedelta, text: str) -> None:
        assert ics.duration(value) == text
        assert icalendar.vDuration.from_ical(text) == value


class TestIdentity:
    @pytest.mark.parametrize("pledge_id", ["syria-draft-constitution", "v1.2_final-draft", "A.b"])
    def test_the_uid_is_the_id_at_pledgewatch_whatever_changes(self, pledge_id: str) -> None:
        first = _event(_pledge(id=pledge_id))
        later = _event(
            _pledge("Q3 2016", id=pledge_id, title="Renamed", status=Status.KEPT),
            updated=CREATED + timedelta(days=3),
        )
        assert str(first["UID"]) == str(later["UID"]) == f"{pledge_id}@pledgewatch"

    def test_the_sequence_grows_with_every_later_change(self) -> None:
        sequences = [
            int(_event(_pledge(), updated=CREATED + timedelta(seconds=s))["SEQUENCE"])
            for s in (0, 1, 90, 86400 * 400)
        ]
        assert sequences == sorted(set(sequences)) and sequences[0] == 0

    def test_dtstamp_is_the_stamp_and_last_modified_the_last_change(self) -> None:
        event = _event(_pledge(), updated=CREATED + timedelta(hours=5))
        assert event["DTSTAMP"].dt == STAMP
        assert event["LAST-MODIFIED"].dt == CREATED + timedelta(hours=5)
        assert event["CREATED"].dt == CREATED


class TestText:
    def test_commas_semicolons_backslashes_and_line_ends_are_escaped_and_read_back(self) -> None:
        title = r"Lift sanctions; review, then C:\report"
        description = "First line,\r\nsecond; line\rthird\nfourth\x07"
        pledge = _pledge(title=title, description=description, tags=("a,b", "c;d"))
        text = _text(pledge)
        assert r"SUMMARY:Lift sanctions\; review\, then C:\\report" + "\r\n" in text
        assert r"CATEGORIES:a\,b,c\;d" + "\r\n" in text
        event = _event(pledge)
        assert str(event["SUMMARY"]) == title
        assert str(event["DESCRIPTION"]).startswith("First line,\nsecond; line\nthird\nfourth\n")
        assert "\x07" not in text

    def test_the_description_names_phrase_parties_status_and_source(self) -> None:
        source = Source(
            title="Russia, US reach consensus on Syria",
            publisher="Free Press Journal",
            url="https://example.org/a?b=1;c",
            published=date(2016, 3, 25),
        )
        event = _event(_pledge(parties=("United States", "Russia"), source=source))
        said = str(event["DESCRIPTION"])
        assert "Deadline: by August (month, Europe/Moscow: 2016-08-01T00:00+03:00" in said
        assert "Parties: United States, Russia" in said
        assert "Status: open" in said
        assert (
            "Source: Free Press Journal, Russia, US reach consensus on Syria, 2016-03-25, "
            "https://example.org/a?b=1;c"
        ) in said
        assert str(event["URL"]) == "https://example.org/a?b=1;c"
        assert str(event["SUMMARY"]) == "Draft constitution"

    def test_a_source_address_that_is_not_http_is_no_url(self) -> None:
        event = _event(_pledge(source=Source(url="ftp://example.org/x")))
        assert "URL" not in event

    def test_long_lines_fold_at_75_octets_with_crlf_never_inside_a_character(self) -> None:
        title = "Überprüfung der Verfassung — " + "ΩΣ🙂 " * 40 + "x" * 200
        pledge = _pledge(id="a" * 200, title=title, description="é" * 500)
        data = _text(pledge).encode()
        lines = _raw_lines(data)
        assert any(line.startswith(b" ") for line in lines)
        event = _event(pledge)
        assert str(event["SUMMARY"]) == title
        assert str(event["UID"]) == "a" * 200 + "@pledgewatch"
        assert str(event["DESCRIPTION"]).startswith("é" * 500)

    def test_every_line_of_an_ordinary_calendar_ends_in_crlf_within_75_octets(self) -> None:
        source = Source(
            "A title, long enough to fold somewhere", "Publisher", "https://example.org/"
        )
        data = _text(_pledge(source=source, parties=("United States", "Russia"))).encode()
        lines = _raw_lines(data)
        assert lines[0] == b"BEGIN:VCALENDAR" and lines[-1] == b"END:VCALENDAR"

    @pytest.mark.parametrize("size", range(70, 82))
    def test_fold_keeps_every_octet_at_every_length(self, size: int) -> None:
        line = "DESCRIPTION:" + "é" * size
        folded = ics.fold(line).encode()
        _raw_lines(folded)
        assert folded.replace(b"\r\n ", b"")[:-2] == line.encode()

    def test_the_calendar_names_itself_and_its_version(self) -> None:
        calendar = icalendar.Calendar.from_ical(_text(_pledge()).encode())
        assert str(calendar["VERSION"]) == "2.0"
        assert str(calendar["PRODID"]) == "-//pledgewatch//pledgewatch 0.1.0//EN"
        assert str(calendar["CALSCALE"]) == "GREGORIAN"
        assert str(calendar["X-WR-CALNAME"]) == "pledgewatch"


def test_years_before_1000_keep_four_digits() -> None:
    text = _text(_pledge("0800-03-01", zone=ZoneInfo("UTC")))
    assert "DTSTART;VALUE=DATE:08000301\r\nDTEND;VALUE=DATE:08000302\r\n" in text
    assert ics.utc_text(datetime(800, 3, 1, 9, 5, 7, tzinfo=UTC)) == "08000301T090507Z"
