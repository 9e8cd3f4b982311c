"""daemon/model/deadlines.py: what a deadline value means as a window [earliest, latest)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon.model import deadlines
from daemon.model.deadlines import DeadlineError, Precision, Window

MOSCOW = ZoneInfo("Europe/Moscow")
# The Kerry-Lavrov statement on Syria was published on this day, in Moscow.
PUBLISHED = datetime(2016, 3, 25, tzinfo=MOSCOW)


def read(value: Any, reference: datetime = PUBLISHED, tz: ZoneInfo = MOSCOW) -> Window:
    return deadlines.read_deadline(value, reference=reference, tz=tz)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class TestExactValues:
    def test_it_reads_an_aware_datetime_as_an_instant(self) -> None:
        window = read(datetime(2016, 8, 1, 12, 0, tzinfo=UTC))
        assert (window.earliest, window.latest) == (utc(2016, 8, 1, 12), utc(2016, 8, 1, 12))
        assert window.precision is Precision.INSTANT
        assert window.is_instant

    def test_it_reads_a_naive_datetime_in_the_pledges_zone(self) -> None:
        window = read(datetime(2016, 8, 1, 12, 0))  # noqa: DTZ001 - naive on purpose
        assert window.earliest == utc(2016, 8, 1, 9)
        assert window.timezone == "Europe/Moscow"

    def test_it_reads_a_date_as_that_whole_local_day(self) -> None:
        window = read(date(2016, 8, 1))
        assert (window.earliest, window.latest) == (utc(2016, 7, 31, 21), utc(2016, 8, 1, 21))
        assert window.precision is Precision.DAY
        assert not window.is_instant
        assert window.phrase == "2016-08-01"

    def test_it_reads_an_iso_date_string_as_that_whole_local_day(self) -> None:
        window = read("2016-08-01")
        assert (window.earliest, window.latest) == (utc(2016, 7, 31, 21), utc(2016, 8, 1, 21))
        assert window.precision is Precision.DAY

    def test_it_reads_an_iso_month_as_that_whole_local_month(self) -> None:
        window = read("2016-08")
        assert (window.earliest, window.latest) == (utc(2016, 7, 31, 21), utc(2016, 8, 31, 21))
        assert window.precision is Precision.MONTH

    def test_it_reads_a_bare_year_as_that_whole_local_year(self) -> None:
        window = read("2016")
        assert (window.earliest, window.latest) == (utc(2015, 12, 31, 21), utc(2016, 12, 31, 21))
        assert window.precision is Precision.YEAR

    def test_it_reads_an_iso_datetime_with_an_offset_as_that_instant(self) -> None:
        window = read("2016-08-01T12:00:00+05:00")
        assert window.earliest == window.latest == utc(2016, 8, 1, 7)
        assert window.precision is Precision.INSTANT

    def test_it_reads_an_iso_datetime_without_an_offset_in_the_pledges_zone(self) -> None:
        window = read("2016-08-01T12:00")
        assert window.earliest == window.latest == utc(2016, 8, 1, 9)

    def test_it_keeps_the_text_it_read_as_the_phrase(self) -> None:
        assert read("  2016-08 ").phrase == "2016-08"

    def test_it_reads_an_iso_basic_date_as_that_whole_local_day(self) -> None:
        window = read("20160801")
        assert window.precision is Precision.DAY
        assert window.latest == utc(2016, 8, 1, 21)


class TestMonthPhrases:
    def test_it_reads_by_august_against_the_publication_date(self) -> None:
        window = read("by August")
        assert window.earliest.isoformat() == "2016-07-31T21:00:00+00:00"
        assert window.latest.isoformat() == "2016-08-31T21:00:00+00:00"
        assert window.local(window.earliest).isoformat() == "2016-08-01T00:00:00+03:00"
        assert window.local(window.latest).isoformat() == "2016-09-01T00:00:00+03:00"
        assert window.precision is Precision.MONTH
        assert window.phrase == "by August"
        assert window.timezone == "Europe/Moscow"

    def test_it_reads_by_march_said_in_april_as_next_years_march(self) -> None:
        window = read("by March", reference=datetime(2016, 4, 10, tzinfo=MOSCOW))
        assert window.local(window.earliest) == datetime(2017, 3, 1, tzinfo=MOSCOW)
        assert window.local(window.latest) == datetime(2017, 4, 1, tzinfo=MOSCOW)

    def test_it_reads_the_current_month_as_this_years(self) -> None:
        window = read("by March")
        assert window.local(window.earliest) == datetime(2016, 3, 1, tzinfo=MOSCOW)

    def test_it_decides_the_month_by_the_local_date_of_the_reference(self) -> None:
        """22:00 UTC on 31 March is already 1 April in Moscow, so March has passed."""
        window = read("by March", reference=utc(2016, 3, 31, 22))
        assert window.local(window.earliest) == datetime(2017, 3, 1, tzinfo=MOSCOW)

    def test_it_reads_by_august_2017_as_that_year_whatever_the_reference(self) -> None:
        window = read("by August 2017")
        assert window.local(window.earliest) == datetime(2017, 8, 1, tzinfo=MOSCOW)
        assert window.local(window.latest) == datetime(2017, 9, 1, tzinfo=MOSCOW)
        assert window.precision is Precision.MONTH

    @pytest.mark.parametrize(
        "phrase",
        ["BY AUGUST", "by   aug", "by Aug.", "before August", "until august"],
    )
    def test_it_reads_month_phrases_loosely(self, phrase: str) -> None:
        window = read(phrase)
        assert window.local(window.earliest) == datetime(2016, 8, 1, tzinfo=MOSCOW)
        assert window.phrase == phrase

    def test_it_reads_a_month_name_and_year(self) -> None:
        window = read("September 2016")
        assert window.local(window.earliest) == datetime(2016, 9, 1, tzinfo=MOSCOW)
        assert window.local(window.latest) == datetime(2016, 10, 1, tzinfo=MOSCOW)

    def test_it_reads_by_december_up_to_the_next_new_year(self) -> None:
        window = read("by December")
        assert window.local(window.latest) == datetime(2017, 1, 1, tzinfo=MOSCOW)


class TestRelativePhrases:
    def test_it_reads_in_3_days_as_the_day_it_lands_on(self) -> None:
        window = read("in 3 days")
        assert window.precision is Precision.DAY
        assert window.local(window.earliest) == datetime(2016, 3, 28, tzinfo=MOSCOW)
        assert window.local(window.latest) == datetime(2016, 3, 29, tzinfo=MOSCOW)

    def test_it_reads_in_40_seconds_as_an_instant(self) -> None:
        window = read("in 40 seconds", reference=utc(2016, 3, 25, 10, 0))
        assert window.is_instant
        assert window.earliest == utc(2016, 3, 25, 10, 0, 40)

    def test_it_reads_in_2_hours_as_an_instant(self) -> None:
        window = read("in 2 hours", reference=utc(2016, 3, 25, 10, 0))
        assert window.earliest == utc(2016, 3, 25, 12, 0)

    def test_it_reads_within_a_month_as_the_day_a_month_later(self) -> None:
        window = read("within 1 month")
        assert window.local(window.earliest) == datetime(2016, 4, 25, tzinfo=MOSCOW)

    def test_it_reads_in_one_week(self) -> None:
        window = read("in 1 week")
        assert window.local(window.earliest) == datetime(2016, 4, 1, tzinfo=MOSCOW)

    def test_it_reads_in_n_days_by_the_local_date_of_the_reference(self) -> None:
        """22:00 UTC on 25 March is already 26 March in Moscow."""
        window = read("in 1 day", reference=utc(2016, 3, 25, 22))
        assert window.local(window.earliest) == datetime(2016, 3, 27, tzinfo=MOSCOW)


class TestRanges:
    def test_it_reads_earliest_and_latest_as_a_range(self) -> None:
        window = read({"earliest": "2016-08-01", "latest": "2016-09-15"})
        assert window.precision is Precision.RANGE
        assert window.local(window.earliest) == datetime(2016, 8, 1, tzinfo=MOSCOW)
        # The latest bound is the first instant of the value it names.
        assert window.local(window.latest) == datetime(2016, 9, 15, tzinfo=MOSCOW)
        assert window.phrase == "2016-08-01 to 2016-09-15"

    def test_it_keeps_a_phrase_given_with_the_range(self) -> None:
        window = read({"earliest": "2016-08", "latest": "2016-10", "phrase": "late summer"})
        assert window.phrase == "late summer"
        assert window.local(window.latest) == datetime(2016, 10, 1, tzinfo=MOSCOW)

    def test_it_reads_dates_in_a_range(self) -> None:
        window = read({"earliest": date(2016, 8, 1), "latest": date(2016, 8, 2)})
        assert (window.earliest, window.latest) == (utc(2016, 7, 31, 21), utc(2016, 8, 1, 21))

    def test_it_refuses_a_range_that_ends_before_it_starts(self) -> None:
        with pytest.raises(DeadlineError, match="before earliest"):
            read({"earliest": "2016-09-01", "latest": "2016-08-01"})

    @pytest.mark.parametrize(
        "value",
        [
            {"earliest": "2016-08-01"},
            {"latest": "2016-08-01"},
            {"earliest": "2016", "latest": "2017", "by": "x"},
        ],
        ids=["no-latest", "no-earliest", "unknown-key"],
    )
    def test_it_refuses_a_range_without_exactly_its_keys(self, value: dict[str, str]) -> None:
        with pytest.raises(DeadlineError, match="earliest and latest"):
            read(value)


class TestUnreadable:
    @pytest.mark.parametrize(
        "phrase",
        [
            "soon",
            "by Smarch",
            "2016-13",
            "2016-00",
            "2016-02-30",
            "next week",
            "in a few days",
            "Q5 2016",  # "Q3 2016" is read now (docs/deadlines.md)
        ],
    )
    def test_it_refuses_a_phrase_it_cannot_read_and_names_it(self, phrase: str) -> None:
        with pytest.raises(DeadlineError) as caught:
            read(phrase)
        assert repr(phrase) in str(caught.value)

    @pytest.mark.parametrize("value", ["", "   ", 42, None, ["2016"]], ids=repr)
    def test_it_refuses_a_value_that_is_no_deadline_and_names_it(self, value: Any) -> None:
        with pytest.raises(DeadlineError) as caught:
            read(value)
        assert repr(value) in str(caught.value)

    @pytest.mark.parametrize(
        "phrase",
        ["9999", "0000", "December 9999", "by dec 9999", "in 99999 years", "in 9999999999 days"],
    )
    def test_it_refuses_a_deadline_beyond_the_calendar_as_a_deadline_error(
        self, phrase: str
    ) -> None:
        with pytest.raises(DeadlineError) as caught:
            read(phrase)
        assert repr(phrase) in str(caught.value)


class TestWindow:
    def test_it_refuses_naive_instants(self) -> None:
        naive = datetime(2016, 8, 1)  # noqa: DTZ001 - naive on purpose
        with pytest.raises(DeadlineError, match="timezone-aware"):
            Window("x", naive, naive, Precision.INSTANT, "UTC")

    def test_it_refuses_a_latest_before_its_earliest(self) -> None:
        with pytest.raises(DeadlineError, match="'x'"):
            Window("x", utc(2016, 8, 2), utc(2016, 8, 1), Precision.RANGE, "UTC")

    def test_it_shows_an_instant_in_its_own_zone(self) -> None:
        window = Window("x", utc(2016, 8, 1), utc(2016, 8, 2), Precision.DAY, "Asia/Tokyo")
        assert window.local(utc(2016, 8, 1)).isoformat() == "2016-08-01T09:00:00+09:00"


@pytest.mark.parametrize(
    ("zone", "reference", "phrase", "earliest", "latest"),
    [
        ("Europe/Berlin", date(2016, 3, 1), "by April", utc(2016, 3, 31, 22), utc(2016, 4, 30, 22)),
        ("Europe/Berlin", date(2016, 2, 1), "by March", utc(2016, 2, 29, 23), utc(2016, 3, 31, 22)),
        (
            "Europe/Berlin",
            date(2016, 6, 1),
            "by October",
            utc(2016, 9, 30, 22),
            utc(2016, 10, 31, 23),
        ),
        ("America/New_York", date(2016, 1, 15), "by March", utc(2016, 3, 1, 5), utc(2016, 4, 1, 4)),
        ("America/New_York", date(2016, 3, 1), "by April", utc(2016, 4, 1, 4), utc(2016, 5, 1, 4)),
        (
            "America/New_York",
            date(2016, 6, 1),
            "by November",
            utc(2016, 11, 1, 4),
            utc(2016, 12, 1, 5),
        ),
        (
            "Europe/Berlin",
            date(2016, 3, 1),
            "2016-03-27",
            utc(2016, 3, 26, 23),
            utc(2016, 3, 27, 22),
        ),
        (
            "America/New_York",
            date(2016, 3, 1),
            "2016-11-06",
            utc(2016, 11, 6, 4),
            utc(2016, 11, 7, 5),
        ),
    ],
    ids=[
        "berlin-by-april-opens-after-spring-forward",
        "berlin-by-march-spans-spring-forward",
        "berlin-by-october-spans-fall-back",
        "new-york-by-march-spans-spring-forward",
        "new-york-by-april-opens-after-spring-forward",
        "new-york-by-november-spans-fall-back",
        "berlin-spring-forward-day-lasts-23-hours",
        "new-york-fall-back-day-lasts-25-hours",
    ],
)
def test_window_bounds_stay_at_local_midnight_across_dst(
    zone: str, reference: date, phrase: str, earliest: datetime, latest: datetime
) -> None:
    tz = ZoneInfo(zone)
    window = read(phrase, reference=datetime.combine(reference, time(12), tzinfo=tz), tz=tz)
    assert (window.earliest, window.latest) == (earliest, latest)
    assert window.local(window.earliest).time() == time(0)
    assert window.local(window.latest).time() == time(0)
    assert window.earliest.utcoffset() == timedelta(0)  # stored in UTC
