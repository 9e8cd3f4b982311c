"""The planner against real databases: what it writes for due pledges, and what it does with bad ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Condition, Pledge
from daemon.model.statuses import Status
from daemon.service.planner import POISON_BACKOFF, Planner
from daemon.settings import Settings
from daemon.store import connector, holds, imports, lifecycle, pledges
from daemon.store.schema import Commitment, Delivery, Event

IMPORTED = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings() -> Settings:
    return Settings(reminder_offsets="7d", overdue_repeat="7d")  # type: ignore[arg-type]


def _import(engine: Engine, settings: Settings, *ids: str) -> None:
    window = read_deadline("by August", reference=IMPORTED.astimezone(MOSCOW), tz=MOSCOW)
    with connector.write(engine) as conn:
        for pledge_id in ids:
            pledge = Pledge(id=pledge_id, title=pledge_id, window=window)
            imports.upsert(
                conn, pledge, status_given=False, now=IMPORTED, policy=settings.policy, actor="t"
            )


def _events(engine: Engine) -> list[tuple[str, str, datetime]]:
    with connector.read(engine) as conn:
        rows = conn.execute(select(Event.commitment_id, Event.type, Event.scheduled_for))
        return sorted((r[0], r[1], r[2]) for r in rows)


class TestPlanner:
    def test_it_writes_each_notice_at_its_instant_with_one_delivery_and_sleeps_until_the_next(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        reminder = datetime(2016, 7, 24, 21, 0, tzinfo=UTC)  # 7 days before 1 August, Moscow
        clock = Clock(reminder - timedelta(seconds=1))
        planner = Planner(engine, settings, clock)
        assert planner.drain() == reminder
        assert _events(engine) == []
        clock.now = reminder
        next_wake = planner.drain()
        assert _events(engine) == [("draft", "commitment.reminder", reminder)]
        assert next_wake == datetime(2016, 7, 31, 21, 0, tzinfo=UTC)  # the opening
        with connector.read(engine) as conn:
            assert [d.webhook for d in conn.execute(select(Delivery))] == ["console"]

    def test_after_downtime_it_sends_only_the_latest_missed_notice_marked_late(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        now = datetime(2016, 10, 1, 12, 0, tzinfo=UTC)
        Planner(engine, settings, Clock(now)).drain()
        with connector.read(engine) as conn:
            body = conn.execute(select(Event.body)).scalar_one()
        # reminder, due, overdue 1 Sep, then repeats 8, 15, 22, 29 Sep: seven, one sent.
        assert body["type"] == "commitment.overdue"
        assert body["data"]["scheduled_for"] == "2016-09-29T00:00:00+03:00"
        assert (body["data"]["late"], body["data"]["missed"], body["data"]["repeat"]) == (
            True,
            6,
            4,
        )

    def test_planning_again_at_the_same_instant_writes_nothing_new(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        now = datetime(2016, 8, 1, 0, 0, tzinfo=UTC)
        Planner(engine, settings, Clock(now)).drain()
        # As a second replica would after a crash between write and advance: rewind the cursor.
        with connector.write(engine) as conn:
            conn.execute(update(Commitment).values(planned_through=None, next_notice_at=IMPORTED))
        Planner(engine, settings, Clock(now)).drain()
        assert len(_events(engine)) == 1

    def test_a_pledge_that_cannot_be_planned_is_deferred_with_its_error_and_the_others_go_on(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "bad", "good")
        with connector.write(engine) as conn:
            conn.execute(
                update(Commitment)
                .where(Commitment.id == "bad")
                .values(deadline_timezone="Mars/Olympus")
            )
        now = datetime(2016, 8, 1, 0, 0, tzinfo=UTC)
        Planner(engine, settings, Clock(now)).drain()
        with connector.read(engine) as conn:
            bad = pledges.get(conn, "bad")
        assert [e[0] for e in _events(engine)] == ["good"]
        assert bad.plan_error is not None and "Mars/Olympus" in bad.plan_error
        assert bad.next_notice_at == now + POISON_BACKOFF

    def test_it_fans_out_a_status_change_written_by_the_command_line(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        with connector.write(engine) as conn:
            lifecycle.set_status(
                conn, "draft", Status.KEPT, now=IMPORTED, policy=settings.policy, actor="cli"
            )
        assert Planner(engine, settings, Clock(IMPORTED)).drain() is None  # kept: nothing more due
        with connector.read(engine) as conn:
            event = conn.execute(select(Event)).one()
            deliveries = list(conn.execute(select(Delivery.event_id)))
        assert event.fanned_out_at is not None
        assert [d.event_id for d in deliveries] == [event.id]


class TestWrites:
    def test_a_failure_midway_through_a_write_leaves_nothing_behind(
        self, engine: Engine, settings: Settings
    ) -> None:
        window = read_deadline("2016-08", reference=IMPORTED, tz=MOSCOW)
        orphan = Pledge(id="orphan", title="Orphan", window=window)
        with pytest.raises(pledges.NotFound), connector.write(engine) as conn:
            imports.upsert(
                conn, orphan, status_given=False, now=IMPORTED, policy=settings.policy, actor="t"
            )
            # Now fail inside the same transaction, after a row and its history were written.
            lifecycle.set_status(
                conn, "nope", Status.KEPT, now=IMPORTED, policy=settings.policy, actor="t"
            )
        with connector.read(engine) as conn:
            assert pledges.list_all(conn) == []
            assert pledges.history(conn, "orphan") == []


class TestConditions:
    def _seed(self, engine: Engine, settings: Settings) -> None:
        window = read_deadline("by August", reference=IMPORTED.astimezone(MOSCOW), tz=MOSCOW)
        minsk = Pledge(id="minsk", title="Minsk implemented")
        sanctions = Pledge(
            id="sanctions",
            title="Lift sanctions",
            window=window,
            tags=("sanctions",),
            conditions=(Condition("minsk", Status.KEPT),),
        )
        with connector.write(engine) as conn:
            for pledge in (minsk, sanctions):
                imports.upsert(
                    conn,
                    pledge,
                    status_given=False,
                    now=IMPORTED,
                    policy=settings.policy,
                    actor="t",
                )

    def test_an_unmet_condition_runs_no_clock(self, engine: Engine, settings: Settings) -> None:
        self._seed(engine, settings)
        with connector.read(engine) as conn:
            sanctions = pledges.get(conn, "sanctions")
        assert sanctions.pledge.blocked and sanctions.next_notice_at is None

    def test_meeting_it_notifies_the_dependent_and_starts_its_clock(
        self, engine: Engine, settings: Settings
    ) -> None:
        self._seed(engine, settings)
        with connector.write(engine) as conn:
            lifecycle.set_status(
                conn, "minsk", Status.KEPT, now=IMPORTED, policy=settings.policy, actor="t"
            )
        with connector.read(engine) as conn:
            sanctions = pledges.get(conn, "sanctions")
            bodies = {r.commitment_id: r.body for r in conn.execute(select(Event))}
        assert not sanctions.pledge.blocked
        assert sanctions.next_notice_at == datetime(2016, 7, 24, 21, 0, tzinfo=UTC)
        met = bodies["sanctions"]
        assert met["type"] == "commitment.condition_met"
        assert met["data"]["condition"] == {
            "requires": "minsk",
            "status": "kept",
            "required_status": "kept",
            "outcome": "met",
        }

    def test_a_required_pledge_closed_otherwise_fails_the_condition(
        self, engine: Engine, settings: Settings
    ) -> None:
        self._seed(engine, settings)
        with connector.write(engine) as conn:
            lifecycle.set_status(
                conn, "minsk", Status.BROKEN, now=IMPORTED, policy=settings.policy, actor="t"
            )
        with connector.read(engine) as conn:
            sanctions = pledges.get(conn, "sanctions")
            bodies = {r.commitment_id: r.body for r in conn.execute(select(Event))}
        failed = bodies["sanctions"]
        assert failed["type"] == "commitment.status_changed"
        assert failed["data"]["condition"]["outcome"] == "failed"
        assert failed["data"]["old_status"] == failed["data"]["new_status"] == "open"
        assert sanctions.pledge.blocked and sanctions.next_notice_at is None


class TestHolds:
    def test_acknowledging_stops_overdue_repeats_until_the_next_status_change(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        first_overdue = datetime(2016, 8, 31, 21, 0, tzinfo=UTC)
        Planner(engine, settings, Clock(first_overdue)).drain()
        with connector.write(engine) as conn:
            holds.acknowledge(
                conn, "draft", now=first_overdue, policy=settings.policy, actor="t", note="seen"
            )
            acked = pledges.get(conn, "draft")
        assert acked.pledge.acknowledged and acked.next_notice_at is None
        with connector.write(engine) as conn:
            lifecycle.set_status(
                conn, "draft", Status.STALLED, now=first_overdue, policy=settings.policy, actor="t"
            )
            resumed = pledges.get(conn, "draft")
        assert not resumed.pledge.acknowledged
        assert resumed.next_notice_at == first_overdue + timedelta(days=7)
        history = None
        with connector.read(engine) as conn:
            history = pledges.history(conn, "draft")
        assert "acknowledged: seen" in [h["note"] for h in history]

    def test_a_snooze_holds_notices_and_sends_what_is_still_relevant_at_its_end(
        self, engine: Engine, settings: Settings
    ) -> None:
        _import(engine, settings, "draft")
        reminder = datetime(2016, 7, 24, 21, 0, tzinfo=UTC)
        end = reminder + timedelta(days=10)  # past the opening on 31 July
        with connector.write(engine) as conn:
            holds.snooze(
                conn, "draft", end, now=IMPORTED, policy=settings.policy, actor="t", note="holiday"
            )
            assert pledges.get(conn, "draft").next_notice_at == end
        clock = Clock(reminder)
        Planner(engine, settings, clock).drain()
        assert _events(engine) == []  # held
        clock.now = end
        Planner(engine, settings, clock).drain()
        events = _events(engine)
        # The reminder is folded into the due notice, sent late at the end of the snooze.
        assert events == [("draft", "commitment.due", datetime(2016, 7, 31, 21, 0, tzinfo=UTC))]

    def test_a_silence_on_a_tag_holds_every_pledge_carrying_it(
        self, engine: Engine, settings: Settings
    ) -> None:
        window = read_deadline("2016-08", reference=IMPORTED, tz=MOSCOW)
        with connector.write(engine) as conn:
            for pledge_id, tags in (("quiet", ("syria",)), ("loud", ("ukraine",))):
                pledge = Pledge(id=pledge_id, title=pledge_id, window=window, tags=tags)
                imports.upsert(
                    conn,
                    pledge,
                    status_given=False,
                    now=IMPORTED,
                    policy=settings.policy,
                    actor="t",
                )
            count = holds.silence(
                conn,
                "syria",
                datetime(2016, 12, 1, tzinfo=UTC),
                now=IMPORTED,
                policy=settings.policy,
                actor="t",
                note=None,
            )
        Planner(engine, settings, Clock(datetime(2016, 8, 1, tzinfo=UTC))).drain()
        assert count == 1
        assert [e[0] for e in _events(engine)] == ["loud"]
        with connector.write(engine) as conn:
            holds.silence(
                conn, "syria", None, now=IMPORTED, policy=settings.policy, actor="t", note=None
            )
            quiet = pledges.get(conn, "quiet")
        assert quiet.pledge.held_until is None
        assert quiet.next_notice_at is not None and quiet.next_notice_at < datetime(
            2016, 9, 1, tzinfo=UTC
        )
