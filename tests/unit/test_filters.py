"""daemon/model/filters.py and daemon/model/holds.py: which pledges a listing wants, when a hold ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.model import filters, holds
from daemon.model.deadlines import Precision, Window
from daemon.model.pledge import Pledge
from daemon.model.statuses import Kind, Status

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def _window(opens: datetime, closes: datetime) -> Window:
    return Window("soon", opens, closes, Precision.DAY, "UTC")


PAST = _window(NOW - timedelta(days=10), NOW - timedelta(days=9))
OPEN_NOW = _window(NOW - timedelta(days=1), NOW + timedelta(days=1))
IN_20_DAYS = _window(NOW + timedelta(days=20), NOW + timedelta(days=21))


class TestOverdue:
    @pytest.mark.parametrize("status", [Status.OPEN, Status.IN_PROGRESS, Status.STALLED])
    def test_an_open_pledge_whose_window_closed_is_overdue(self, status: Status) -> None:
        assert filters.is_overdue(Pledge("p", "t", status=status, window=PAST), NOW)

    @pytest.mark.parametrize("status", [Status.KEPT, Status.BROKEN, Status.WITHDRAWN])
    def test_a_closed_outcome_never_is(self, status: Status) -> None:
        assert not filters.is_overdue(Pledge("p", "t", status=status, window=PAST), NOW)

    def test_a_window_closing_exactly_now_has_closed(self) -> None:
        window = _window(NOW - timedelta(days=1), NOW)
        assert filters.is_overdue(Pledge("p", "t", window=window), NOW)

    @pytest.mark.parametrize("window", [OPEN_NOW, IN_20_DAYS, None])
    def test_an_open_or_future_window_or_none_is_not(self, window: Window | None) -> None:
        assert not filters.is_overdue(Pledge("p", "t", window=window), NOW)


class TestDueWithin:
    def test_a_window_open_now_is_due_within_any_time(self) -> None:
        assert filters.is_due_within(Pledge("p", "t", window=OPEN_NOW), NOW, timedelta(0))

    def test_a_window_opening_inside_the_duration_is_due_and_one_after_it_is_not(self) -> None:
        pledge = Pledge("p", "t", window=IN_20_DAYS)
        assert filters.is_due_within(pledge, NOW, timedelta(days=20))
        assert not filters.is_due_within(pledge, NOW, timedelta(days=19))

    @pytest.mark.parametrize("window", [PAST, None])
    def test_a_closed_window_or_none_is_not(self, window: Window | None) -> None:
        assert not filters.is_due_within(Pledge("p", "t", window=window), NOW, timedelta(days=99))


class TestWanted:
    PLEDGE = Pledge(
        "audit-report",
        "Publish the Audit",
        description="An independent review",
        kind=Kind.DELIVERABLE,
        parties=("Ministry of Finance",),
        tags=("budget",),
        window=PAST,
    )

    @pytest.mark.parametrize("text", ["AUDIT-R", "publish", "INDEPENDENT", "finance"])
    def test_search_looks_in_id_title_description_and_parties_ignoring_case(
        self, text: str
    ) -> None:
        assert filters.Wanted(search=text).matches(self.PLEDGE, NOW)

    def test_search_does_not_look_in_tags(self) -> None:
        assert not filters.Wanted(search="budget").matches(self.PLEDGE, NOW)

    def test_every_criterion_must_hold(self) -> None:
        wanted = filters.Wanted(
            statuses={Status.OPEN},
            kinds={Kind.DELIVERABLE},
            tags=("Budget", "other"),
            parties=("ministry of finance",),
            overdue=True,
            search="audit",
        )
        assert wanted.matches(self.PLEDGE, NOW)
        assert not filters.Wanted(tags=("other",)).matches(self.PLEDGE, NOW)
        assert not filters.Wanted(statuses={Status.KEPT}).matches(self.PLEDGE, NOW)
        assert not filters.Wanted(kinds={Kind.ONGOING}).matches(self.PLEDGE, NOW)
        assert not filters.Wanted(due_within=timedelta(days=30)).matches(self.PLEDGE, NOW)

    def test_nothing_asked_for_matches_everything(self) -> None:
        assert filters.Wanted().matches(Pledge("p", "t"), NOW)


class TestHoldEnd:
    def test_a_duration_counts_from_now(self) -> None:
        assert holds.hold_end("3d", zone=MOSCOW, now=NOW) == NOW + timedelta(days=3)

    def test_a_time_without_an_offset_is_read_in_the_zone(self) -> None:
        end = holds.hold_end("2026-06-05T10:00", zone=MOSCOW, now=NOW)
        assert end == datetime(2026, 6, 5, 7, tzinfo=UTC)
        assert end.tzinfo is UTC

    def test_a_time_with_an_offset_keeps_it(self) -> None:
        end = holds.hold_end("2026-06-05T10:00+02:00", zone=MOSCOW, now=NOW)
        assert end == datetime(2026, 6, 5, 8, tzinfo=UTC)

    @pytest.mark.parametrize("text", ["soon", "2026-05-01T00:00", "0", "3660d"])
    def test_unreadable_past_or_too_far_is_refused_naming_the_text(self, text: str) -> None:
        with pytest.raises(holds.UntilError, match=repr(text)):
            holds.hold_end(text, zone=MOSCOW, now=NOW)
