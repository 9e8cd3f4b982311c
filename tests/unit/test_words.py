"""Durations, windows and countdowns in words (daemon.model.words)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.model import deadlines, words
from daemon.model.pledge import Pending, Pledge
from daemon.model.statuses import Status

MOSCOW = ZoneInfo("Europe/Moscow")
SAID = datetime(2016, 3, 25, tzinfo=MOSCOW)
AUGUST = deadlines.read_deadline("by August", reference=SAID, tz=MOSCOW)
NOON = deadlines.read_deadline("2016-08-01T12:00:00+03:00", reference=SAID, tz=MOSCOW)
DASH = "\N{EN DASH}"


def _pledge(window: deadlines.Window | None = AUGUST, **fields: object) -> Pledge:
    return Pledge(id="p", title="t", window=window, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(days=7), "7 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=36), "1 day 12 hours"),
        (timedelta(minutes=90), "1 hour 30 minutes"),
        (timedelta(days=1, hours=1, minutes=1, seconds=1), "1 day 1 hour"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(days=1500), "1,500 days"),
        (timedelta(days=-14), "14 days"),
        (timedelta(0), "0 seconds"),
    ],
    ids=str,
)
def test_a_duration_reads_in_its_two_largest_units(duration: timedelta, expected: str) -> None:
    assert words.in_words(duration) == expected


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(days=12, hours=5), "12 days"),
        (timedelta(days=59), "59 days"),
        (timedelta(days=60), "2 months"),
        (timedelta(days=95), "3 months"),
        (timedelta(days=729), "24 months"),
        (timedelta(days=730), "2 years"),
        (timedelta(days=3900), "10 years"),
        (timedelta(hours=5, minutes=20), "5 hours"),
        (timedelta(seconds=1), "1 second"),
    ],
    ids=str,
)
def test_a_rough_duration_reads_in_one_unit(duration: timedelta, expected: str) -> None:
    assert words.roughly(duration) == expected


class TestCountdown:
    @pytest.mark.parametrize(
        ("now", "state", "text"),
        [
            (datetime(2016, 7, 30, tzinfo=MOSCOW), "upcoming", "opens in 2 days"),
            (datetime(2016, 8, 20, tzinfo=MOSCOW), "due", "due in 12 days"),
            (datetime(2016, 12, 5, tzinfo=MOSCOW), "overdue", "overdue for 3 months"),
            (datetime(2026, 12, 1, tzinfo=MOSCOW), "overdue", "overdue for 10 years"),
        ],
        ids=["before", "inside", "after", "long-after"],
    )
    def test_a_window_counts_down_to_its_opening_then_its_close(
        self, now: datetime, state: str, text: str
    ) -> None:
        assert words.countdown(_pledge(), now) == words.Countdown(state, text)

    def test_an_exact_instant_is_due_not_opening(self) -> None:
        now = datetime(2016, 7, 20, 12, tzinfo=MOSCOW)
        assert words.countdown(_pledge(NOON), now).text == "due in 12 days"
        assert words.countdown(_pledge(NOON), NOON.earliest).text == "due now"

    def test_a_closed_pledge_shows_its_outcome(self) -> None:
        got = words.countdown(_pledge(status=Status.PARTIALLY_KEPT), SAID)
        assert got == words.Countdown("closed", "partially kept")

    def test_no_window_means_no_deadline(self) -> None:
        assert words.countdown(_pledge(None), SAID).text == "no deadline"
        pending = _pledge(None, pending=Pending("within 6 months", "UTC"))
        assert words.countdown(pending, SAID).text == "starts when its conditions are met"
        assert words.countdown(_pledge(None, blocked=True), SAID).text == "waits on its conditions"

    @given(st.datetimes(timezones=st.just(UTC)))
    def test_every_countdown_is_one_of_the_known_forms(self, now: datetime) -> None:
        got = words.countdown(_pledge(), now)
        expected = {
            "upcoming": r"opens in [\d,]+ \w+",
            "due": r"due (in [\d,]+ \w+|now)",
            "overdue": r"overdue for [\d,]+ \w+",
        }[got.state]
        assert re.fullmatch(expected, got.text), got
        assert (got.state == "overdue") == (now >= AUGUST.latest)


def test_a_window_reads_in_its_own_zone() -> None:
    assert words.window_in_words(AUGUST) == f"by August (1 Aug {DASH} 31 Aug 2016, Europe/Moscow)"
    assert words.window_in_words(NOON) == "1 Aug 2016 12:00, Europe/Moscow"


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("https://example.org/a?b=c", "https://example.org/a?b=c"),
        ("http://example.org", "http://example.org"),
        ("javascript:alert(1)", None),
        ("[x](javascript:alert(1))", None),
        ("https://exa mple.org", None),
        ("ftp://example.org", None),
        (None, None),
    ],
)
def test_only_web_addresses_become_links(value: str | None, link: str | None) -> None:
    assert words.web_url(value) == link
