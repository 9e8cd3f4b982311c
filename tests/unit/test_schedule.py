"""daemon/model/schedule.py: which notice a pledge is owed, and when."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.model import deadlines, schedule
from daemon.model.deadlines import Precision, Window
from daemon.model.pledge import Pledge
from daemon.model.schedule import Due, Notice, NoticeType, Policy
from daemon.model.statuses import CLOSED, Status

MOSCOW = ZoneInfo("Europe/Moscow")
BY_AUGUST = deadlines.read_deadline(
    "by August", reference=datetime(2016, 3, 25, tzinfo=MOSCOW), tz=MOSCOW
)
OPENS = datetime(2016, 7, 31, 21, tzinfo=UTC)  # 2016-08-01T00:00+03:00
CLOSES = datetime(2016, 8, 31, 21, tzinfo=UTC)  # 2016-09-01T00:00+03:00
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
POLICY = Policy()  # reminders 30d, 7d, 1d; overdue every 7d
NO_REPEATS = Policy(overdue_repeat=timedelta(0))
MOMENT = datetime(2016, 8, 1, 12, tzinfo=UTC)


def pledge(window: Window | None = BY_AUGUST, **changes: object) -> Pledge:
    return Pledge(
        id="syria-draft-constitution",
        title="Draft constitution for Syria",
        window=window,
        **changes,
    )  # type: ignore[arg-type]


def instant(at: datetime) -> Window:
    return Window(at.isoformat(), at, at, Precision.INSTANT, "UTC")


def reminder(offset: timedelta) -> Notice:
    return Notice(NoticeType.REMINDER, OPENS - offset, offset=offset)


def overdue(k: int, first: datetime = CLOSES, repeat: timedelta = WEEK) -> Notice:
    return Notice(NoticeType.OVERDUE, first + k * repeat, repeat=k)


def test_the_pledge_window_is_the_one_the_tests_assume() -> None:
    assert (BY_AUGUST.earliest, BY_AUGUST.latest) == (OPENS, CLOSES)


class TestTimeline:
    def test_it_reminds_before_the_opening_then_is_due_then_overdue_every_repeat(self) -> None:
        assert schedule.upcoming(pledge(), POLICY, None, CLOSES + 2 * WEEK) == [
            reminder(30 * DAY),
            reminder(7 * DAY),
            reminder(DAY),
            Notice(NoticeType.DUE, OPENS),
            overdue(0),
            overdue(1),
            overdue(2),
        ]

    def test_it_orders_reminders_by_time_whatever_order_the_offsets_come_in(self) -> None:
        policy = Policy(reminder_offsets=(DAY, 30 * DAY, 7 * DAY))
        notices = schedule.upcoming(pledge(), policy, None, OPENS - timedelta(seconds=1))
        assert notices == [reminder(30 * DAY), reminder(7 * DAY), reminder(DAY)]

    def test_it_gives_a_date_a_one_day_window_due_at_midnight_and_overdue_the_next(self) -> None:
        day = deadlines.read_deadline("2016-08-01", reference=MOMENT, tz=MOSCOW)
        notices = schedule.upcoming(pledge(day, reminders=()), POLICY, None, OPENS + DAY + WEEK)
        assert notices == [
            Notice(NoticeType.DUE, OPENS),
            overdue(0, first=OPENS + DAY),
            overdue(1, first=OPENS + DAY),
        ]

    def test_it_starts_from_the_first_reminder_when_nothing_was_sent(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, None) == reminder(30 * DAY)

    def test_it_returns_the_notice_strictly_after_the_given_instant(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, OPENS - 7 * DAY) == reminder(DAY)
        assert schedule.next_notice(
            pledge(), POLICY, OPENS - 7 * DAY - timedelta(seconds=1)
        ) == reminder(7 * DAY)

    def test_it_is_due_when_the_window_opens(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, OPENS - DAY) == Notice(NoticeType.DUE, OPENS)

    def test_it_is_overdue_when_the_window_closes(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, OPENS) == overdue(0)

    def test_it_repeats_overdue_on_the_repeat_after_the_given_instant(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, CLOSES + 10 * DAY) == overdue(2)
        assert schedule.next_notice(pledge(), POLICY, CLOSES + WEEK) == overdue(2)

    def test_it_keeps_repeating_for_a_pledge_left_open_for_years(self) -> None:
        assert schedule.next_notice(pledge(), POLICY, CLOSES + 3650 * DAY) == overdue(522)

    def test_it_sends_one_overdue_notice_when_repeats_are_off(self) -> None:
        assert schedule.next_notice(pledge(), NO_REPEATS, OPENS) == Notice(
            NoticeType.OVERDUE, CLOSES
        )
        assert schedule.next_notice(pledge(), NO_REPEATS, CLOSES) is None

    def test_it_lists_at_most_the_limit(self) -> None:
        notices = schedule.upcoming(pledge(), POLICY, None, CLOSES + 520 * WEEK, limit=5)
        assert [n.type for n in notices] == [NoticeType.REMINDER] * 3 + [
            NoticeType.DUE,
            NoticeType.OVERDUE,
        ]

    def test_it_lists_nothing_past_the_until_instant(self) -> None:
        assert schedule.upcoming(pledge(), POLICY, OPENS, CLOSES - timedelta(seconds=1)) == []

    def test_it_counts_reminders_in_exact_durations_even_across_dst(self) -> None:
        """A reminder is a duration before the opening, so across DST it leaves local midnight."""
        berlin = ZoneInfo("Europe/Berlin")
        by_april = deadlines.read_deadline(
            "by April", reference=datetime(2016, 3, 1, tzinfo=berlin), tz=berlin
        )
        (week_before,) = schedule.upcoming(
            pledge(by_april, reminders=(WEEK,)), POLICY, None, by_april.earliest - DAY
        )
        assert week_before.at == datetime(2016, 3, 24, 22, tzinfo=UTC)
        assert week_before.at.astimezone(berlin).isoformat() == "2016-03-24T23:00:00+01:00"


class TestExactInstant:
    def test_it_is_due_at_the_instant_and_overdue_one_repeat_later(self) -> None:
        notices = schedule.upcoming(
            pledge(instant(MOMENT), reminders=()), POLICY, None, MOMENT + 2 * WEEK
        )
        assert notices == [
            Notice(NoticeType.DUE, MOMENT),
            overdue(0, first=MOMENT + WEEK),
            overdue(1, first=MOMENT + WEEK),
        ]

    def test_it_is_overdue_once_after_a_grace_when_repeats_are_off(self) -> None:
        exact = pledge(instant(MOMENT), reminders=())
        assert schedule.ONCE_OVERDUE_AFTER == DAY
        assert schedule.next_notice(exact, NO_REPEATS, MOMENT) == Notice(
            NoticeType.OVERDUE, MOMENT + DAY
        )
        assert schedule.next_notice(exact, NO_REPEATS, MOMENT + DAY) is None

    def test_it_reminds_before_an_instant_too(self) -> None:
        exact = pledge(instant(MOMENT), reminders=(DAY,))
        assert schedule.next_notice(exact, POLICY, None) == Notice(
            NoticeType.REMINDER, MOMENT - DAY, offset=DAY
        )


class TestCollisions:
    def test_a_reminder_on_the_opening_gives_way_to_due(self) -> None:
        notices = schedule.upcoming(pledge(reminders=(timedelta(0), DAY)), POLICY, None, OPENS)
        assert notices == [reminder(DAY), Notice(NoticeType.DUE, OPENS)]

    def test_two_spellings_of_one_offset_give_one_reminder(self) -> None:
        notices = schedule.upcoming(
            pledge(reminders=(WEEK, timedelta(hours=168))), POLICY, None, OPENS
        )
        assert notices == [reminder(WEEK), Notice(NoticeType.DUE, OPENS)]

    def test_it_ignores_offsets_that_would_remind_after_the_opening(self) -> None:
        notices = schedule.upcoming(pledge(reminders=(-DAY,)), POLICY, None, CLOSES)
        assert notices == [Notice(NoticeType.DUE, OPENS), overdue(0)]


class TestStatuses:
    @pytest.mark.parametrize("status", sorted(CLOSED))
    def test_a_closed_pledge_gets_no_notices(self, status: Status) -> None:
        closed = pledge(status=status)
        assert schedule.next_notice(closed, POLICY, None) is None
        assert schedule.next_notice(closed, POLICY, CLOSES + WEEK) is None
        assert schedule.due_at(closed, POLICY, None, CLOSES + 10 * WEEK) is None
        assert schedule.upcoming(closed, POLICY, None, CLOSES + 10 * WEEK) == []

    @pytest.mark.parametrize("status", [s for s in Status if s not in CLOSED])
    def test_a_pledge_still_being_worked_on_gets_notices(self, status: Status) -> None:
        assert schedule.next_notice(pledge(status=status), POLICY, OPENS) == overdue(0)

    def test_a_pledge_without_a_deadline_gets_no_notices(self) -> None:
        assert schedule.next_notice(pledge(None), POLICY, None) is None
        assert schedule.due_at(pledge(None), POLICY, None, CLOSES) is None

    def test_an_archived_pledge_gets_no_notices_nor_check_ins(self) -> None:
        from daemon.model.recurrence import Recurrence

        check_ins = Recurrence(since=OPENS - 10 * WEEK, timezone="UTC", every="14d")
        archived = pledge(archived=True, recurrence=check_ins)
        assert schedule.next_notice(replace(archived, archived=False), POLICY, None) is not None
        assert schedule.next_notice(archived, POLICY, None) is None
        assert schedule.due_at(archived, POLICY, None, CLOSES + 10 * WEEK) is None
        assert schedule.wake_at(archived, POLICY, None) is None
        assert schedule.plan(archived, POLICY, None, CLOSES + 10 * WEEK).send == ()


class TestPerPledgeReminders:
    def test_the_pledges_own_offsets_replace_the_policys(self) -> None:
        notices = schedule.upcoming(pledge(reminders=(2 * DAY,)), POLICY, None, OPENS)
        assert notices == [reminder(2 * DAY), Notice(NoticeType.DUE, OPENS)]

    def test_an_empty_list_of_offsets_means_no_reminders(self) -> None:
        assert schedule.next_notice(pledge(reminders=()), POLICY, None) == Notice(
            NoticeType.DUE, OPENS
        )

    def test_no_list_of_offsets_means_the_policys(self) -> None:
        policy = Policy(reminder_offsets=(3 * DAY,))
        assert schedule.next_notice(pledge(reminders=None), policy, None) == reminder(3 * DAY)


class TestDueAt:
    def test_nothing_is_due_before_the_first_reminder(self) -> None:
        assert (
            schedule.due_at(pledge(), POLICY, None, OPENS - 30 * DAY - timedelta(seconds=1)) is None
        )

    def test_a_notice_is_due_at_its_own_instant(self) -> None:
        due = schedule.due_at(pledge(), POLICY, OPENS - 30 * DAY, OPENS - 7 * DAY)
        assert due == Due(reminder(7 * DAY), 1)
        assert due.missed == 0

    def test_it_returns_the_latest_notice_and_counts_those_it_stands_for(self) -> None:
        due = schedule.due_at(pledge(), POLICY, None, OPENS + timedelta(hours=1))
        assert due == Due(Notice(NoticeType.DUE, OPENS), 4)
        assert due.missed == 3

    def test_it_counts_only_what_fell_after_the_given_instant(self) -> None:
        assert schedule.due_at(pledge(), POLICY, OPENS - 30 * DAY, OPENS) == Due(
            Notice(NoticeType.DUE, OPENS), 3
        )

    def test_nothing_is_due_inside_the_window(self) -> None:
        assert schedule.due_at(pledge(), POLICY, OPENS, CLOSES - timedelta(seconds=1)) is None

    def test_nothing_is_due_twice(self) -> None:
        assert schedule.due_at(pledge(), POLICY, CLOSES + WEEK, CLOSES + WEEK) is None

    def test_it_counts_repeats_between_two_repeats(self) -> None:
        due = schedule.due_at(
            pledge(), POLICY, CLOSES + 3 * WEEK, CLOSES + 5 * WEEK + timedelta(seconds=1)
        )
        assert due == Due(overdue(5), 2)

    def test_it_counts_ten_years_of_weekly_overdue_notices(self) -> None:
        # 2016-08-31 to 2026-08-31 is 3652 days (two 29 Februaries): 521 whole weeks.
        due = schedule.due_at(pledge(), POLICY, OPENS, datetime(2026, 8, 31, 21, tzinfo=UTC))
        assert due == Due(overdue(521), 522)
        assert due.notice.at == CLOSES + 3647 * DAY
        assert due.missed == 521

    def test_it_counts_missed_repeats_arithmetically_not_one_by_one(self) -> None:
        """Eighty-six billion one-second repeats: walking them would never finish."""
        policy = Policy(overdue_repeat=timedelta(seconds=1))
        due = schedule.due_at(pledge(), policy, OPENS, CLOSES + 1_000_000 * DAY)
        assert due == Due(overdue(86_400_000_000, repeat=timedelta(seconds=1)), 86_400_000_001)

    def test_an_exact_instant_with_repeats_off_is_overdue_once(self) -> None:
        exact = pledge(instant(MOMENT), reminders=())
        due = schedule.due_at(exact, NO_REPEATS, MOMENT, MOMENT + 52 * WEEK)
        assert due == Due(Notice(NoticeType.OVERDUE, MOMENT + DAY), 1)


# Hypothesis strategies: windows around 2000-2030, of zero length or up to 400 days.
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - st.datetimes takes naive bounds
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
lengths = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400)),
)
offsets = st.lists(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60)), max_size=4
).map(tuple)
repeats = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=30)),
)


@st.composite
def cases(
    draw: st.DrawFn, repeat: st.SearchStrategy[timedelta] = repeats
) -> tuple[Pledge, Policy, datetime | None]:
    earliest = draw(instants)
    window = Window("generated", earliest, earliest + draw(lengths), Precision.RANGE, "UTC")
    status = draw(st.sampled_from([Status.OPEN, Status.IN_PROGRESS, Status.STALLED]))
    subject = pledge(window, status=status, reminders=draw(st.none() | offsets))
    policy = Policy(reminder_offsets=draw(offsets), overdue_repeat=draw(repeat))
    shift = draw(
        st.none() | st.timedeltas(min_value=timedelta(days=-90), max_value=timedelta(days=600))
    )
    return subject, policy, None if shift is None else earliest + shift


class TestProperties:
    @settings(max_examples=200)
    @given(cases())
    def test_repeated_next_notice_gives_strictly_later_notices_in_stage_order(
        self, case: tuple[Pledge, Policy, datetime | None]
    ) -> None:
        subject, policy, cursor = case
        stages = [NoticeType.REMINDER, NoticeType.DUE, NoticeType.OVERDUE]
        previous: Notice | None = None
        for _ in range(40):
            notice = schedule.next_notice(subject, policy, cursor)
            if notice is None:
                break
            assert cursor is None or notice.at > cursor
            if previous is not None:
                assert stages.index(notice.type) >= stages.index(previous.type)
                if previous.type is NoticeType.OVERDUE:
                    assert notice.repeat == previous.repeat + 1
            previous, cursor = notice, notice.at

    @settings(max_examples=200)
    @given(cases(), st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
    def test_due_at_returns_a_notice_already_due_and_nothing_due_is_left_behind_it(
        self, case: tuple[Pledge, Policy, datetime | None], span: timedelta
    ) -> None:
        subject, policy, after = case
        assert subject.window is not None
        now = (after or subject.window.earliest) + span
        due = schedule.due_at(subject, policy, after, now)
        if due is None:
            following = schedule.next_notice(subject, policy, after)
        else:
            assert due.notice.at <= now
            assert after is None or due.notice.at > after
            assert due.count >= 1
            following = schedule.next_notice(subject, policy, due.notice.at)
        assert following is None or following.at > now

    @settings(max_examples=200)
    @given(
        cases(
            repeat=st.just(timedelta(0))
            | st.timedeltas(min_value=timedelta(hours=6), max_value=timedelta(days=30))
        ),
        st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
    )
    def test_due_at_counts_the_notices_upcoming_lists_in_the_span(
        self, case: tuple[Pledge, Policy, datetime | None], span: timedelta
    ) -> None:
        subject, policy, after = case
        assert subject.window is not None
        # Start near the window so the span crosses reminders, the opening and the repeats.
        start = after if after is not None else subject.window.earliest - timedelta(days=70)
        now = start + span
        listed = schedule.upcoming(subject, policy, after, now, limit=10_000)
        due = schedule.due_at(subject, policy, after, now)
        if not listed:
            assert due is None
        else:
            assert due == Due(listed[-1], len(listed))


class TestCatchUp:
    """What `plan` sends for a pledge whose notices fell due while the daemon was away."""

    AFTER_DOWNTIME = CLOSES + 3 * WEEK + DAY  # reminders, due, overdue and three repeats missed

    def test_on_time_a_single_notice_is_sent_and_not_late(self) -> None:
        owed = schedule.plan(
            pledge(), POLICY, reminder(7 * DAY).at, OPENS - DAY + timedelta(seconds=3)
        )
        assert owed == schedule.Plan((schedule.Planned(reminder(DAY)),), OPENS - DAY)

    def test_latest_sends_only_the_most_recent_marked_late_with_what_it_stands_for(self) -> None:
        owed = schedule.plan(pledge(), POLICY, None, self.AFTER_DOWNTIME)
        assert owed.send == (schedule.Planned(overdue(3), late=True, missed=7),)
        assert owed.through == overdue(3).at and owed.skipped == 0

    def test_a_single_notice_sent_long_after_its_instant_is_late(self) -> None:
        owed = schedule.plan(pledge(), POLICY, OPENS - DAY, OPENS + DAY)
        assert owed.send == (schedule.Planned(Notice(NoticeType.DUE, OPENS), late=True),)

    def test_all_sends_every_missed_notice_in_order_each_marked_late(self) -> None:
        owed = schedule.plan(pledge(), Policy(catch_up="all"), None, self.AFTER_DOWNTIME)
        assert [p.notice for p in owed.send] == schedule.upcoming(
            pledge(), POLICY, None, self.AFTER_DOWNTIME
        )
        assert len(owed.send) == 8 and all(p.late and p.missed == 0 for p in owed.send)
        assert owed.through == overdue(3).at

    def test_all_sends_at_most_a_bounded_batch_per_pass_and_resumes(self) -> None:
        hourly = Policy(catch_up="all", overdue_repeat=timedelta(hours=1))
        later = CLOSES + timedelta(days=30)
        first = schedule.plan(pledge(), hourly, None, later)
        second = schedule.plan(pledge(), hourly, first.through, later)
        assert len(first.send) == schedule.ALL_AT_ONCE
        assert second.send[0].notice.at > first.send[-1].notice.at

    def test_none_skips_missed_notices_and_counts_them(self) -> None:
        owed = schedule.plan(pledge(), Policy(catch_up="none"), None, self.AFTER_DOWNTIME)
        assert owed == schedule.Plan((), overdue(3).at, skipped=8)

    def test_none_still_sends_a_notice_within_the_grace(self) -> None:
        now = OPENS + timedelta(minutes=1)
        owed = schedule.plan(pledge(), Policy(catch_up="none"), None, now)
        assert owed.send == (schedule.Planned(Notice(NoticeType.DUE, OPENS)),)
        assert owed.skipped == 3  # the three reminders before it

    @given(
        st.sampled_from(schedule.CATCH_UP_POLICIES),
        st.lists(st.integers(min_value=0, max_value=60 * 24 * 120), min_size=1, max_size=12),
    )
    @settings(max_examples=200, deadline=None)
    def test_any_sequence_of_passes_never_sends_a_notice_twice_and_keeps_time_order(
        self, policy_name: str, minutes: list[int]
    ) -> None:
        """Ticks at arbitrary instants (any downtime between them): each notice at most once."""
        policy = Policy(catch_up=policy_name, overdue_repeat=timedelta(days=3))
        start = OPENS - 40 * DAY
        sent: list[Notice] = []
        skipped = 0
        through = None
        for now in sorted(start + timedelta(minutes=m) for m in minutes):
            owed = schedule.plan(pledge(), policy, through, now)
            sent += [p.notice for p in owed.send]
            skipped += owed.skipped
            through = owed.through
        instants = [n.at for n in sent]
        assert instants == sorted(set(instants))
        if policy_name == "all" and len(sent) < schedule.ALL_AT_ONCE:
            # Nothing lost: every notice up to the last tick was sent.
            last = sorted(start + timedelta(minutes=m) for m in minutes)[-1]
            assert sent == schedule.upcoming(pledge(), policy, None, last, limit=1000)


@st.composite
def any_pledge(draw: st.DrawFn) -> Pledge:
    """A pledge of any shape the schedule handles: deadline or not, check-ins or not."""
    from daemon.model.recurrence import Recurrence

    window = None
    if draw(st.booleans()):
        start = OPENS + timedelta(hours=draw(st.integers(-2000, 2000)))
        length = timedelta(hours=draw(st.sampled_from([0, 24, 24 * 31, 24 * 92])))
        window = Window("w", start, start + length, Precision.RANGE, "UTC")
    check_ins = None
    if draw(st.booleans()):
        every = draw(st.sampled_from(["1d", "2w", "1mo", "3mo"]))
        check_ins = Recurrence(since=OPENS - 60 * DAY, timezone="Europe/Moscow", every=every)
    offsets = draw(st.lists(st.integers(1, 24 * 40), max_size=3))
    return Pledge(
        id="p",
        title="P",
        window=window,
        recurrence=check_ins,
        reminders=tuple(timedelta(hours=h) for h in offsets),
        acknowledged=draw(st.booleans()),
    )


class TestCatchUpProperties:
    """For any pledge, any catch-up policy and any sequence of ticks (any downtime between)."""

    @given(
        any_pledge(),
        st.sampled_from(schedule.CATCH_UP_POLICIES),
        st.lists(st.integers(min_value=0, max_value=60 * 24 * 200), min_size=1, max_size=10),
    )
    @settings(max_examples=200, deadline=None)
    def test_notices_come_once_in_time_order_and_none_is_lost_except_as_the_policy_says(
        self, subject: Pledge, policy_name: str, minutes: list[int]
    ) -> None:
        policy = Policy(catch_up=policy_name, overdue_repeat=timedelta(days=3))
        start = OPENS - 100 * DAY
        ticks = sorted(start + timedelta(minutes=m) for m in minutes)
        sent: list[Notice] = []
        accounted = 0  # notices sent, or folded into a late one, or skipped and counted
        through = None
        for now in ticks:
            owed = schedule.plan(subject, policy, through, now)
            sent += [p.notice for p in owed.send]
            accounted += sum(1 + p.missed for p in owed.send) + owed.skipped
            through = owed.through
        instants = [n.at for n in sent]
        assert instants == sorted(set(instants))  # never twice, always in order
        assert all(at <= ticks[-1] for at in instants)  # never early
        expected = schedule.upcoming(subject, policy, None, ticks[-1], limit=100_000)
        assert set(instants) <= {n.at for n in expected}
        if policy_name != "all" or len(sent) < schedule.ALL_AT_ONCE:
            # Every notice owed by the last tick was sent, folded into one, or skipped
            # and counted: none vanished without a word.
            assert accounted == len(expected)


class TestOutgoing:
    """What `outgoing` lists: the notices as they will go out, holds and acknowledgement considered."""

    NOW = OPENS - 40 * DAY  # before the first reminder

    def test_without_a_hold_every_notice_goes_out_at_its_own_instant(self) -> None:
        found = schedule.outgoing(pledge(), POLICY, None, self.NOW, CLOSES + WEEK)
        assert [o.planned for o in found] == [
            schedule.Planned(n) for n in schedule.upcoming(pledge(), POLICY, None, CLOSES + WEEK)
        ]
        assert all(o.at == o.planned.notice.at for o in found)

    def test_a_hold_sends_nothing_inside_it_and_the_latest_late_at_its_end(self) -> None:
        end = OPENS + 2 * DAY  # the reminders and the opening fall inside it
        found = schedule.outgoing(pledge(held_until=end), POLICY, None, self.NOW, CLOSES + WEEK)
        assert found == [
            schedule.Outgoing(
                end, schedule.Planned(Notice(NoticeType.DUE, OPENS), late=True, missed=3)
            ),
            schedule.Outgoing(CLOSES, schedule.Planned(overdue(0))),
            schedule.Outgoing(CLOSES + WEEK, schedule.Planned(overdue(1))),
        ]

    def test_under_catch_up_none_what_is_past_the_grace_at_the_end_is_not_listed(self) -> None:
        end = OPENS + 2 * DAY
        found = schedule.outgoing(
            pledge(held_until=end), Policy(catch_up="none"), None, self.NOW, CLOSES
        )
        assert [(o.at, o.planned.notice.type) for o in found] == [(CLOSES, NoticeType.OVERDUE)]

    def test_an_acknowledged_pledge_lists_no_overdue_repeats(self) -> None:
        found = schedule.outgoing(
            pledge(acknowledged=True), POLICY, CLOSES, CLOSES + DAY, CLOSES + 10 * WEEK
        )
        assert found == []

    def test_a_hold_that_ends_after_the_horizon_lists_nothing(self) -> None:
        found = schedule.outgoing(pledge(held_until=CLOSES), POLICY, None, self.NOW, OPENS)
        assert found == []

    def test_a_hold_already_over_changes_nothing(self) -> None:
        held = schedule.outgoing(pledge(held_until=self.NOW), POLICY, None, self.NOW, CLOSES)
        assert held == schedule.outgoing(pledge(), POLICY, None, self.NOW, CLOSES)

    @given(
        any_pledge(),
        st.sampled_from(schedule.CATCH_UP_POLICIES),
        st.one_of(st.none(), st.integers(min_value=1, max_value=60 * 24 * 200)),
    )
    @settings(max_examples=200, deadline=None)
    def test_it_lists_what_a_planner_waking_when_told_sends_and_when(
        self, subject: Pledge, policy_name: str, hold_minutes: int | None
    ) -> None:
        policy = Policy(catch_up=policy_name, overdue_repeat=timedelta(days=3))
        now = OPENS - 100 * DAY
        until = now + 200 * DAY
        if hold_minutes is not None:
            subject = replace(subject, held_until=now + timedelta(minutes=hold_minutes))
        # The planner: wake at `wake_at`, send what `plan` says, advance.
        sent: list[schedule.Outgoing] = []
        through: datetime | None = now
        wake = schedule.wake_at(subject, policy, through)
        while wake is not None and wake <= until and len(sent) < 500:
            owed = schedule.plan(subject, policy, through, wake)
            sent += [schedule.Outgoing(wake, p) for p in owed.send]
            through = owed.through
            following = schedule.wake_at(subject, policy, through)
            wake = None if following is None else max(following, wake)
        listed = schedule.outgoing(subject, policy, now, now, until, limit=500)
        assert listed == sent[:500]
