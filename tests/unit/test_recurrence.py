"""daemon/model/recurrence.py and the check-in stream of the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from daemon.model import deadlines, recurrence, schedule
from daemon.model.pledge import Pledge
from daemon.model.recurrence import Recurrence
from daemon.model.schedule import Notice, NoticeType, Policy
from daemon.model.statuses import Kind, Status

MOSCOW = ZoneInfo("Europe/Moscow")
SINCE = datetime(2016, 3, 25, tzinfo=MOSCOW)


def review(**changes: object) -> Pledge:
    values: dict[str, object] = {
        "id": "review",
        "title": "Regular review",
        "kind": Kind.RECURRING,
        "recurrence": Recurrence(since=SINCE, timezone="Europe/Moscow", every="3mo"),
    }
    values.update(changes)
    return Pledge(**values)  # type: ignore[arg-type]


class TestOccurrences:
    def test_the_first_check_in_is_one_step_after_the_pledge_was_made(self) -> None:
        every = Recurrence(since=SINCE, timezone="Europe/Moscow", every="3mo")
        assert recurrence.next_after(every, "30d", None) == datetime(2016, 6, 25, tzinfo=MOSCOW)

    def test_calendar_steps_keep_the_day_of_the_month(self) -> None:
        every = Recurrence(since=SINCE, timezone="Europe/Moscow", every="3mo")
        after = datetime(2016, 6, 25, tzinfo=MOSCOW)
        assert recurrence.next_after(every, "30d", after) == datetime(2016, 9, 25, tzinfo=MOSCOW)

    def test_an_ongoing_pledge_without_its_own_interval_uses_the_default(self) -> None:
        plain = Recurrence(since=SINCE, timezone="Europe/Moscow")
        assert recurrence.next_after(plain, "30d", None) == SINCE + timedelta(days=30)

    def test_a_crontab_line_is_matched_in_the_pledges_zone(self) -> None:
        quarterly = Recurrence(since=SINCE, timezone="Europe/Moscow", cron="0 9 1 */3 *")
        assert recurrence.next_after(quarterly, "30d", None) == datetime(
            2016, 4, 1, 9, tzinfo=MOSCOW
        )

    def test_it_counts_the_occurrences_in_a_span(self) -> None:
        every = Recurrence(since=SINCE, timezone="Europe/Moscow", every="3mo")
        last, count = recurrence.between(every, "30d", None, datetime(2017, 3, 26, tzinfo=UTC))
        assert (last, count) == (datetime(2017, 3, 25, tzinfo=MOSCOW), 4)

    @pytest.mark.parametrize("text", ["3", "0d", "3 months", "1h", "mo", "-2w"])
    def test_an_unreadable_interval_is_refused(self, text: str) -> None:
        with pytest.raises(recurrence.RecurrenceError):
            recurrence.parse_every(text)

    @pytest.mark.parametrize("line", ["* * *", "61 * * * *", "0 9 32 * *", "every day"])
    def test_a_bad_crontab_line_is_refused(self, line: str) -> None:
        with pytest.raises(recurrence.RecurrenceError):
            recurrence.check_cron(line)


class TestCheckInsInTheSchedule:
    def test_a_recurring_pledge_gets_a_check_in_at_each_occurrence(self) -> None:
        notices = schedule.upcoming(review(), Policy(), None, datetime(2016, 12, 31, tzinfo=UTC))
        assert notices == [
            Notice(NoticeType.CHECK_IN, datetime(2016, 6, 25, tzinfo=MOSCOW)),
            Notice(NoticeType.CHECK_IN, datetime(2016, 9, 25, tzinfo=MOSCOW)),
            Notice(NoticeType.CHECK_IN, datetime(2016, 12, 25, tzinfo=MOSCOW)),
        ]

    @pytest.mark.parametrize("status", [Status.KEPT, Status.WITHDRAWN], ids=str)
    def test_a_closed_pledge_gets_no_more_check_ins(self, status: Status) -> None:
        assert schedule.next_notice(review(status=status), Policy(), None) is None

    def test_a_blocked_pledge_gets_no_check_ins(self) -> None:
        assert schedule.next_notice(review(blocked=True), Policy(), None) is None

    def test_after_downtime_only_the_latest_check_in_is_sent_with_the_count(self) -> None:
        owed = schedule.plan(review(), Policy(), None, datetime(2026, 11, 26, tzinfo=UTC))
        assert owed.send == (
            schedule.Planned(
                Notice(NoticeType.CHECK_IN, datetime(2026, 9, 25, tzinfo=MOSCOW)),
                late=True,
                missed=41,
            ),
        )


class TestCheck:
    def test_a_daily_schedule_is_accepted(self) -> None:
        recurrence.check(Recurrence(since=SINCE, cron="0 9 * * *"), "30d")

    @pytest.mark.parametrize(
        ("found", "reason"),
        [
            (Recurrence(since=SINCE, cron="*/30 * * * *"), "more often than once a day"),
            (Recurrence(since=SINCE, cron="0 0 30 2 *"), "never"),
            (Recurrence(since=SINCE, every="9000y"), "off the calendar"),
        ],
        ids=["half-hourly", "30-february", "beyond-year-9999"],
    )
    def test_schedules_people_cannot_use_are_refused(self, found: Recurrence, reason: str) -> None:
        with pytest.raises(recurrence.RecurrenceError, match=reason):
            recurrence.check(found, "30d")

    def test_a_check_in_on_the_instant_of_a_deadline_notice_is_not_counted_as_missed(self) -> None:
        window = deadlines.read_deadline("by August", reference=SINCE, tz=MOSCOW)
        monthly = Recurrence(
            since=datetime(2016, 3, 1, tzinfo=MOSCOW), timezone="Europe/Moscow", every="1mo"
        )
        pledge = review(kind=Kind.ONGOING, window=window, recurrence=monthly)
        policy = Policy(reminder_offsets=())
        owed = schedule.plan(pledge, policy, datetime(2016, 7, 31, 12, tzinfo=UTC), window.earliest)
        assert owed.send == (schedule.Planned(Notice(NoticeType.DUE, window.earliest)),)
