"""Deadline phrases as people write them, read into windows (docs/deadlines.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dateparser.utils
import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.model import deadlines
from daemon.model.deadlines import DeadlineError, Precision, Window

MOSCOW = ZoneInfo("Europe/Moscow")
NEW_YORK = ZoneInfo("America/New_York")
# The Kerry-Lavrov statement on Syria was published on this day, in Moscow.
PUBLISHED = datetime(2016, 3, 25, tzinfo=MOSCOW)
LATE_IN_YEAR = datetime(2016, 11, 20, tzinfo=MOSCOW)
NEW_YEAR = datetime(2016, 1, 15, tzinfo=MOSCOW)

DAY = Precision.DAY
WEEK = Precision.WEEK
PART = Precision.PART_OF_MONTH
MONTH = Precision.MONTH
QUARTER = Precision.QUARTER
SEASON = Precision.SEASON
HALF = Precision.HALF_YEAR
YEAR = Precision.YEAR


def read(phrase: Any, reference: datetime = PUBLISHED, tz: ZoneInfo = MOSCOW) -> Window:
    return deadlines.read_deadline(phrase, reference=reference, tz=tz)


def case(
    phrase: str, earliest: str, latest: str, precision: Precision, said: datetime = PUBLISHED
) -> Any:
    """One row: the local days [earliest, latest) that `phrase`, said on `said`, names."""
    label = phrase if said is PUBLISHED else f"{phrase} (said {said:%Y-%m-%d})"
    bounds = (date.fromisoformat(earliest), date.fromisoformat(latest))
    return pytest.param(phrase, said, *bounds, precision, id=label)


# Read in Moscow (UTC+3 all year, so every bound is 21:00 UTC the day before).
PHRASES = [
    # Months, and parts of months: early 1-10, mid 1-15 (the first half), late 21-end.
    case("by August", "2016-08-01", "2016-09-01", MONTH),
    case("by the end of August", "2016-08-01", "2016-09-01", MONTH),
    case("by the end of August 2016", "2016-08-01", "2016-09-01", MONTH),
    case("by March", "2016-03-01", "2016-04-01", MONTH),
    case("this August", "2016-08-01", "2016-09-01", MONTH),
    case("August of 2017", "2017-08-01", "2017-09-01", MONTH),
    case("by mid-August", "2016-08-01", "2016-08-16", PART),
    case("by the middle of August", "2016-08-01", "2016-08-16", PART),
    case("early August", "2016-08-01", "2016-08-11", PART),
    case("at the beginning of September", "2016-09-01", "2016-09-11", PART),
    case("in late August", "2016-08-21", "2016-09-01", PART),
    case("late February", "2017-02-21", "2017-03-01", PART),
    case("by early March", "2017-03-01", "2017-03-11", PART),
    case("by late March", "2016-03-21", "2016-04-01", PART),
    case("late December 2016", "2016-12-21", "2017-01-01", PART),
    case("by mid-Feb 2016", "2016-02-01", "2016-02-16", PART),
    # Explicit dates: the whole local day.
    case("by 1 September 2016", "2016-09-01", "2016-09-02", DAY),
    case("by September 1", "2016-09-01", "2016-09-02", DAY),
    case("September 1, 2016", "2016-09-01", "2016-09-02", DAY),
    case("by Sept. 1st", "2016-09-01", "2016-09-02", DAY),
    case("on the 1st of September, 2016", "2016-09-01", "2016-09-02", DAY),
    case("Thursday, 1 September 2016", "2016-09-01", "2016-09-02", DAY),
    case("by 25 March", "2016-03-25", "2016-03-26", DAY),
    case("by 24 March", "2017-03-24", "2017-03-25", DAY),
    case("by 29 February 2016", "2016-02-29", "2016-03-01", DAY),
    case("25.09.2016", "2016-09-25", "2016-09-26", DAY),
    case("9/25/2016", "2016-09-25", "2016-09-26", DAY),
    case("12/12/2016", "2016-12-12", "2016-12-13", DAY),
    case("2016/09/01", "2016-09-01", "2016-09-02", DAY),
    # Years: "the end of X" is X.
    case("end of the year", "2016-01-01", "2017-01-01", YEAR),
    case("by the end of the year", "2016-01-01", "2017-01-01", YEAR),
    case("by the end of this year", "2016-01-01", "2017-01-01", YEAR),
    case("by year-end", "2016-01-01", "2017-01-01", YEAR),
    case("by the end of 2017", "2017-01-01", "2018-01-01", YEAR),
    case("by the end of next year", "2017-01-01", "2018-01-01", YEAR),
    case("this year", "2016-01-01", "2017-01-01", YEAR),
    case("next year", "2017-01-01", "2018-01-01", YEAR),
    case("in 2017", "2017-01-01", "2018-01-01", YEAR),
    case("next month", "2016-04-01", "2016-05-01", MONTH),
    case("this month", "2016-03-01", "2016-04-01", MONTH),
    case("by the end of the month", "2016-03-01", "2016-04-01", MONTH),
    case("by the end of next month", "2016-04-01", "2016-05-01", MONTH),
    # In / within N: the day it lands on.
    case("in 3 days", "2016-03-28", "2016-03-29", DAY),
    case("within 2 weeks", "2016-04-08", "2016-04-09", DAY),
    case("within 12 months", "2017-03-25", "2017-03-26", DAY),
    case("in 6 months", "2016-09-25", "2016-09-26", DAY),
    case("within the next 3 months", "2016-06-25", "2016-06-26", DAY),
    case("in 1 year", "2017-03-25", "2017-03-26", DAY),
    case("within a year", "2017-03-25", "2017-03-26", DAY),
    case("in six months' time", "2016-09-25", "2016-09-26", DAY),
    case("within eighteen months", "2017-09-25", "2017-09-26", DAY),
    case("within twenty-four months", "2018-03-25", "2018-03-26", DAY),
    case("in thirty six days", "2016-04-30", "2016-05-01", DAY),
    case("within sixty days", "2016-05-24", "2016-05-25", DAY),
    # Quarters.
    case("Q1", "2016-01-01", "2016-04-01", QUARTER),
    case("Q3", "2016-07-01", "2016-10-01", QUARTER),
    case("by Q3", "2016-07-01", "2016-10-01", QUARTER),
    case("Q3 2016", "2016-07-01", "2016-10-01", QUARTER),
    case("Q4 2017", "2017-10-01", "2018-01-01", QUARTER),
    case("2016-Q2", "2016-04-01", "2016-07-01", QUARTER),
    case("the third quarter of 2016", "2016-07-01", "2016-10-01", QUARTER),
    case("by the third quarter", "2016-07-01", "2016-10-01", QUARTER),
    case("the fourth quarter of next year", "2017-10-01", "2018-01-01", QUARTER),
    case("in the 2nd quarter of this year", "2016-04-01", "2016-07-01", QUARTER),
    case("the last quarter of 2016", "2016-10-01", "2017-01-01", QUARTER),
    case("this quarter", "2016-01-01", "2016-04-01", QUARTER),
    case("next quarter", "2016-04-01", "2016-07-01", QUARTER),
    case("by the end of the quarter", "2016-01-01", "2016-04-01", QUARTER),
    # Seasons: meteorological, northern hemisphere; winter runs December to February.
    case("spring", "2016-03-01", "2016-06-01", SEASON),
    case("this summer", "2016-06-01", "2016-09-01", SEASON),
    case("by summer", "2016-06-01", "2016-09-01", SEASON),
    case("summer 2016", "2016-06-01", "2016-09-01", SEASON),
    case("summer of 2017", "2017-06-01", "2017-09-01", SEASON),
    case("by autumn", "2016-09-01", "2016-12-01", SEASON),
    case("fall 2016", "2016-09-01", "2016-12-01", SEASON),
    case("by the end of autumn", "2016-09-01", "2016-12-01", SEASON),
    case("winter", "2016-12-01", "2017-03-01", SEASON),
    case("this winter", "2016-12-01", "2017-03-01", SEASON),
    case("winter 2016", "2016-12-01", "2017-03-01", SEASON),
    case("winter 2016/17", "2016-12-01", "2017-03-01", SEASON),
    case("winter 2015-2016", "2015-12-01", "2016-03-01", SEASON),
    # Halves of a year; "mid-<year>", like "mid-<Month>", is the first half.
    case("first half of 2016", "2016-01-01", "2016-07-01", HALF),
    case("the second half of 2016", "2016-07-01", "2017-01-01", HALF),
    case("the second half of the year", "2016-07-01", "2017-01-01", HALF),
    case("by the first half of next year", "2017-01-01", "2017-07-01", HALF),
    case("H1 2016", "2016-01-01", "2016-07-01", HALF),
    case("H2", "2016-07-01", "2017-01-01", HALF),
    case("2016 H2", "2016-07-01", "2017-01-01", HALF),
    case("by mid-2017", "2017-01-01", "2017-07-01", HALF),
    # ISO 8601: dates, months, years, weeks (Monday to Monday) and week dates.
    case("2016-08-01", "2016-08-01", "2016-08-02", DAY),
    case("by 2016-08-01", "2016-08-01", "2016-08-02", DAY),
    case("20160801", "2016-08-01", "2016-08-02", DAY),
    case("2016-08", "2016-08-01", "2016-09-01", MONTH),
    case("2016", "2016-01-01", "2017-01-01", YEAR),
    case("2016-W31", "2016-08-01", "2016-08-08", WEEK),
    case("by 2016-W31", "2016-08-01", "2016-08-08", WEEK),
    case("2015-W53", "2015-12-28", "2016-01-04", WEEK),
    case("2016-W31-3", "2016-08-03", "2016-08-04", DAY),
    # Said late in the year: what has ended rolls to next year.
    case("by March", "2017-03-01", "2017-04-01", MONTH, LATE_IN_YEAR),
    case("Q1", "2017-01-01", "2017-04-01", QUARTER, LATE_IN_YEAR),
    case("by summer", "2017-06-01", "2017-09-01", SEASON, LATE_IN_YEAR),
    case("by 1 September", "2017-09-01", "2017-09-02", DAY, LATE_IN_YEAR),
    case("this winter", "2016-12-01", "2017-03-01", SEASON, LATE_IN_YEAR),
    case("by early December", "2016-12-01", "2016-12-11", PART, LATE_IN_YEAR),
    case("by mid-November", "2017-11-01", "2017-11-16", PART, LATE_IN_YEAR),
    case("next month", "2016-12-01", "2017-01-01", MONTH, LATE_IN_YEAR),
    case("next quarter", "2017-01-01", "2017-04-01", QUARTER, LATE_IN_YEAR),
    case("H2", "2016-07-01", "2017-01-01", HALF, LATE_IN_YEAR),
    # Said in January: the winter under way is this winter.
    case("this winter", "2015-12-01", "2016-03-01", SEASON, NEW_YEAR),
    case("by 29 February", "2016-02-29", "2016-03-01", DAY, NEW_YEAR),
]


@pytest.mark.parametrize(("phrase", "said", "earliest", "latest", "precision"), PHRASES)
def test_it_reads_each_phrase_as_its_window_of_local_days(
    phrase: str, said: datetime, earliest: date, latest: date, precision: Precision
) -> None:
    window = read(phrase, said)
    assert window.local(window.earliest) == datetime.combine(earliest, time(0), tzinfo=MOSCOW)
    assert window.local(window.latest) == datetime.combine(latest, time(0), tzinfo=MOSCOW)
    assert window.precision is precision
    assert window.phrase == phrase
    assert window.earliest.tzinfo is UTC


def test_the_phrase_table_has_at_least_sixty_rows() -> None:
    assert len(PHRASES) >= 60


def ny(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("said", "phrase", "earliest", "latest"),
    [
        (date(2016, 1, 10), "Q1 2016", ny(2016, 1, 1, 5), ny(2016, 4, 1, 4)),
        (date(2016, 1, 10), "by mid-March", ny(2016, 3, 1, 5), ny(2016, 3, 16, 4)),
        (date(2016, 1, 10), "2016-W10", ny(2016, 3, 7, 5), ny(2016, 3, 14, 4)),
        (date(2016, 1, 10), "by 13 March 2016", ny(2016, 3, 13, 5), ny(2016, 3, 14, 4)),
        (date(2016, 3, 25), "summer 2016", ny(2016, 6, 1, 4), ny(2016, 9, 1, 4)),
        (date(2016, 3, 25), "by autumn", ny(2016, 9, 1, 4), ny(2016, 12, 1, 5)),
        (date(2016, 3, 25), "H2 2016", ny(2016, 7, 1, 4), ny(2017, 1, 1, 5)),
        (date(2016, 10, 15), "next month", ny(2016, 11, 1, 4), ny(2016, 12, 1, 5)),
        (date(2016, 10, 15), "2016-W44", ny(2016, 10, 31, 4), ny(2016, 11, 7, 5)),
        (date(2016, 10, 15), "this winter", ny(2016, 12, 1, 5), ny(2017, 3, 1, 5)),
    ],
    ids=[
        "q1-spans-no-change-and-closes-after-spring-forward",
        "mid-march-closes-after-spring-forward",
        "iso-week-of-spring-forward-lasts-167-hours",
        "spring-forward-day-lasts-23-hours",
        "summer-lies-inside-daylight-time",
        "autumn-spans-fall-back",
        "second-half-spans-fall-back",
        "november-spans-fall-back",
        "iso-week-of-fall-back-lasts-169-hours",
        "winter-closes-before-the-next-spring-forward",
    ],
)
def test_new_york_windows_stay_at_local_midnight_across_dst(
    said: date, phrase: str, earliest: datetime, latest: datetime
) -> None:
    window = read(phrase, datetime.combine(said, time(12), tzinfo=NEW_YORK), NEW_YORK)
    assert (window.earliest, window.latest) == (earliest, latest)
    assert window.local(window.earliest).time() == window.local(window.latest).time() == time(0)


def test_in_two_hours_counts_elapsed_time_across_spring_forward() -> None:
    """01:30 EST plus two hours is 04:30 EDT: the clock skipped an hour."""
    window = read("in 2 hours", datetime(2016, 3, 13, 1, 30, tzinfo=NEW_YORK), NEW_YORK)
    assert window.is_instant
    assert window.earliest == ny(2016, 3, 13, 8) + timedelta(minutes=30)


class TestRefusals:
    @pytest.mark.parametrize(
        "phrase",
        [
            "soon",
            "by summer-ish",
            "next blue moon",
            "next summer",
            "next August",
            "tomorrow",
            "last quarter",
            "Q5",
            "H3 2016",
            "the fifth quarter",
            "by mid-Smarch",
            "early 2017",
            "by the end of",
            "1 Sep 16",
            "by 1 September 2016 at noon",
            "by 1 September 2016 2017",
            "31 June 2016",
            "31/02/2016",
            "2016-W53",
            "winter 2016/18",
            "by 29 February",
            "Friday, 1 September 2016",
        ],
    )
    def test_it_refuses_a_phrase_it_cannot_read_and_names_it(self, phrase: str) -> None:
        with pytest.raises(DeadlineError) as caught:
            read(phrase)
        assert repr(phrase) in str(caught.value)

    @pytest.mark.parametrize("phrase", ["by 2017", "before 2017", "until 2017", "till 2017"])
    def test_it_refuses_by_a_bare_year_and_offers_both_readings(self, phrase: str) -> None:
        """ "by 2017" may mean before 2017 starts or before it ends: nothing is guessed."""
        with pytest.raises(DeadlineError, match="'by the end of 2016', 'by the end of 2017'"):
            read(phrase)

    def test_it_refuses_a_numeric_date_that_reads_two_ways_and_shows_both(self) -> None:
        with pytest.raises(DeadlineError) as caught:
            read("1/9/2016")
        assert "'1/9/2016'" in str(caught.value)
        assert "2016-09-01 or 2016-01-09" in str(caught.value)

    def test_it_refuses_a_weekday_that_does_not_match_the_date(self) -> None:
        with pytest.raises(DeadlineError, match="is a Thursday"):
            read("by Friday 1 September 2016")

    def test_it_refuses_a_weekday_that_does_not_match_the_coming_date(self) -> None:
        """1 September 2017 is a Friday; the reader does not hunt for a Thursday year."""
        with pytest.raises(DeadlineError, match="is a Friday"):
            read("by Thursday 1 September", LATE_IN_YEAR)

    @pytest.mark.parametrize("phrase", ["this summer", "this spring", "this August"])
    def test_it_refuses_this_for_a_period_that_has_passed_this_year(self, phrase: str) -> None:
        """Said in November, "this summer" is last summer or a slip: name the year."""
        with pytest.raises(DeadlineError, match="name the year"):
            read(phrase, LATE_IN_YEAR)

    def test_it_refuses_29_february_when_the_coming_year_has_none(self) -> None:
        with pytest.raises(DeadlineError, match="2017 has no 29 February"):
            read("by 29 February")


def test_it_reads_explicit_dates_without_asking_the_machine_for_its_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_local_zone() -> None:
        raise AssertionError("the reader must not look at the machine's zone")

    monkeypatch.setattr(dateparser.utils, "get_localzone", no_local_zone)
    window = read("Sept. 1st, 2016")
    assert window.local(window.earliest) == datetime(2016, 9, 1, tzinfo=MOSCOW)


# Phrases that any reference can read ("this summer" said in October cannot).
ANY_DAY = [row.values[0] for row in PHRASES if row.values[0] not in ("this summer", "this August")]
ANY_DAY.remove("by 29 February")
# Phrases without a year: they name the coming period, one that has not ended.
COMING = ["by August", "by mid-August", "late August", "by September 1", "Q1", "by Q3"]
COMING += ["the third quarter", "summer", "by winter", "this winter", "H2", "by late March"]
ZONES = st.sampled_from([MOSCOW, NEW_YORK, ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Tokyo")])
REFERENCES = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2090, 12, 31),  # noqa: DTZ001 - hypothesis bounds are naive
    timezones=ZONES,
)


@settings(max_examples=200, deadline=None)
@given(phrase=st.sampled_from(ANY_DAY), reference=REFERENCES, tz=ZONES)
def test_every_window_read_is_end_exclusive_whole_local_days(
    phrase: str, reference: datetime, tz: ZoneInfo
) -> None:
    window = read(phrase, reference, tz)
    assert window.earliest < window.latest  # never empty: latest is the first instant after it
    assert window.local(window.earliest).time() == window.local(window.latest).time() == time(0)
    assert window.earliest.utcoffset() == window.latest.utcoffset() == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(phrase=st.sampled_from(COMING), reference=REFERENCES, tz=ZONES)
def test_a_period_named_without_a_year_is_the_coming_one(
    phrase: str, reference: datetime, tz: ZoneInfo
) -> None:
    """It has not ended on the reference day, and a year earlier it had."""
    window = read(phrase, reference, tz)
    today = reference.astimezone(tz).date()
    last_day = window.local(window.latest).date() - timedelta(days=1)
    assert last_day >= today
    assert last_day - relativedelta(years=1) < today


@st.composite
def restyled(draw: st.DrawFn, phrase: str) -> str:
    """`phrase` with each letter's case and each run of spaces redrawn."""
    letters = [c.upper() if draw(st.booleans()) else c.lower() for c in phrase]
    spaces = st.sampled_from([" ", "  ", "\t", " \n "])
    words = "".join(letters).split(" ")
    edges = st.sampled_from(["", " ", "\t "])
    return draw(edges) + "".join(w + draw(spaces) for w in words[:-1]) + words[-1] + draw(edges)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), row=st.sampled_from([row.values[:2] for row in PHRASES]))
def test_phrases_read_the_same_whatever_their_case_and_spacing(
    data: st.DataObject, row: tuple[str, datetime]
) -> None:
    phrase, said = row
    styled = data.draw(restyled(phrase))
    window, restyled_window = read(phrase, said), read(styled, said)
    assert (restyled_window.earliest, restyled_window.latest) == (window.earliest, window.latest)
    assert restyled_window.precision is window.precision
    assert restyled_window.phrase == styled.strip()


@pytest.mark.parametrize(
    "phrase",
    ["2016-08-01T12:00:00+03:00", "2016-08-01 12:00", "2016-08-01T09:30Z", "20160801T1200"],
)
def test_an_iso_instant_is_read_as_that_instant_not_as_a_phrase(phrase: str) -> None:
    window = read(phrase)
    assert window.precision is Precision.INSTANT and window.earliest == window.latest


@pytest.mark.parametrize("phrase", ["by August 12:00", "Q3 2016 at 10:30", "in 2:00 hours"])
def test_a_time_of_day_in_a_phrase_is_refused_not_read_as_the_phrase(phrase: str) -> None:
    with pytest.raises(DeadlineError, match="cannot read deadline"):
        read(phrase)
