"""daemon/model/durations.py: reading and writing `30d`, `1h30m`, `0`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.model import durations
from daemon.model.durations import DurationError


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("30s", timedelta(seconds=30)),
            ("5m", timedelta(minutes=5)),
            ("12h", timedelta(hours=12)),
            ("30d", timedelta(days=30)),
            ("2w", timedelta(weeks=2)),
            ("1h30m", timedelta(hours=1, minutes=30)),
            ("1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
            ("1h 30m", timedelta(hours=1, minutes=30)),
            ("  7D ", timedelta(days=7)),
            ("90s", timedelta(seconds=90)),
            ("0", timedelta(0)),
            (" 0 ", timedelta(0)),
            ("0s", timedelta(0)),
        ],
        ids=lambda value: repr(value) if isinstance(value, str) else "",
    )
    def test_it_reads_what_operators_type(self, text: str, expected: timedelta) -> None:
        assert durations.parse_duration(text) == expected

    @pytest.mark.parametrize(
        "text",
        ["", "   ", "soon", "30", "00", "1.5h", "-1d", "d", "30x", "1h30", "30 days", "1y"],
    )
    def test_it_refuses_anything_else_and_names_the_text(self, text: str) -> None:
        with pytest.raises(DurationError) as caught:
            durations.parse_duration(text)
        assert repr(text) in str(caught.value)

    def test_it_refuses_a_duration_too_long_for_a_timedelta_as_a_duration_error(self) -> None:
        with pytest.raises(DurationError):
            durations.parse_duration("1000000000d")


class TestParseDurations:
    def test_it_reads_a_comma_list_in_order(self) -> None:
        assert durations.parse_durations("30d,7d,1d") == (
            timedelta(days=30),
            timedelta(days=7),
            timedelta(days=1),
        )

    def test_it_reads_empty_text_as_no_durations(self) -> None:
        assert durations.parse_durations("") == ()

    def test_it_skips_blank_items_and_spaces(self) -> None:
        assert durations.parse_durations(" 30d , ,1d ") == (timedelta(days=30), timedelta(days=1))

    def test_it_refuses_a_list_with_one_bad_item(self) -> None:
        with pytest.raises(DurationError, match="'nope'"):
            durations.parse_durations("30d,nope")


class TestFormatDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (timedelta(0), "0"),
            (timedelta(seconds=30), "30s"),
            (timedelta(seconds=90), "1m30s"),
            (timedelta(hours=1, minutes=30), "1h30m"),
            (timedelta(days=1, hours=2), "1d2h"),
            (timedelta(weeks=1), "7d"),
            (timedelta(days=30), "30d"),
            (timedelta(days=1, seconds=1), "1d1s"),
            (timedelta(seconds=-90), "-1m30s"),
        ],
        ids=str,
    )
    def test_it_writes_the_shortest_spelling(self, value: timedelta, expected: str) -> None:
        assert durations.format_duration(value) == expected

    def test_it_drops_fractions_of_a_second(self) -> None:
        assert durations.format_duration(timedelta(seconds=5, microseconds=999_999)) == "5s"


whole_seconds = st.integers(min_value=0, max_value=10_000 * 86_400).map(
    lambda seconds: timedelta(seconds=seconds)
)
spelled = st.lists(
    st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from("smhdw")),
    min_size=1,
    max_size=5,
).map(lambda parts: "".join(f"{n}{unit}" for n, unit in parts))


class TestRoundTrip:
    @settings(max_examples=200)
    @given(whole_seconds)
    def test_parsing_what_it_formats_gives_the_same_duration(self, value: timedelta) -> None:
        assert durations.parse_duration(durations.format_duration(value)) == value

    @settings(max_examples=200)
    @given(spelled)
    def test_any_spelling_formats_to_a_canonical_one_that_reads_back_the_same(
        self, text: str
    ) -> None:
        value = durations.parse_duration(text)
        canonical = durations.format_duration(value)
        assert durations.parse_duration(canonical) == value
        assert durations.format_duration(durations.parse_duration(canonical)) == canonical
