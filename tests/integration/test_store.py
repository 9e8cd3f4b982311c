"""The store against real databases: the same contract on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, Row, func, select

from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Pledge
from daemon.model.schedule import NoticeType, Policy
from daemon.model.statuses import Status
from daemon.settings import CONSOLE, WebhookSettings
from daemon.store import claims, connector, imports, lifecycle, outbox, pledges, waiting
from daemon.store.schema import Delivery, Event, StatusChange

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
POLICY = Policy(reminder_offsets=(timedelta(days=7),), overdue_repeat=timedelta(days=7))
MOSCOW = ZoneInfo("Europe/Moscow")


def _pledge(pledge_id: str = "syria-draft-constitution", **changes: object) -> Pledge:
    window = read_deadline("by August", reference=NOW.astimezone(MOSCOW), tz=MOSCOW)
    values: dict[str, object] = {
        "id": pledge_id,
        "title": "Draft constitution",
        "window": window,
        "tags": ("syria",),
    }
    values.update(changes)
    return Pledge(**values)  # type: ignore[arg-type]


def _claim(
    conn: Connection,
    now: datetime,
    token: str,
    lease: datetime,
    *,
    limit: int = 10,
    room: dict[str, int] | None = None,
    skip_ids: tuple[str, ...] = (),
) -> list[Row]:
    return claims.claim_deliveries(
        conn,
        now,
        token=token,
        lease_until=lease,
        room=room if room is not None else {CONSOLE: 10},
        limit=limit,
        skip_ids=skip_ids,
    )


def _count(engine: Engine, column: object) -> int:
    with connector.read(engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(column)))  # type: ignore[arg-type]


class TestUpsert:
    def test_it_creates_then_reports_an_identical_import_as_unchanged(self, engine: Engine) -> None:
        with connector.write(engine) as conn:
            first = imports.upsert(
                conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t"
            )
        with connector.write(engine) as conn:
            second = imports.upsert(
                conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t"
            )
        assert (first, second) == ("created", "unchanged")
        assert _count(engine, StatusChange) == 1

    def test_it_plans_the_first_notice_at_the_first_reminder(self, engine: Engine) -> None:
        with connector.write(engine) as conn:
            imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")
            stored = pledges.get(conn, "syria-draft-constitution")
        # 7 days before 2016-08-01T00:00 Moscow (UTC+3).
        assert stored.next_notice_at == datetime(2016, 7, 24, 21, 0, tzinfo=UTC)

    def test_it_keeps_a_recorded_status_when_the_file_sets_none(self, engine: Engine) -> None:
        with connector.write(engine) as conn:
            imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")
            lifecycle.set_status(
                conn, "syria-draft-constitution", Status.STALLED, now=NOW, policy=POLICY, actor="t"
            )
        with connector.write(engine) as conn:
            outcome = imports.upsert(
                conn,
                _pledge(title="Draft constitution for Syria"),
                status_given=False,
                now=NOW,
                policy=POLICY,
                actor="t",
            )
            stored = pledges.get(conn, "syria-draft-constitution")
        assert outcome == "updated"
        assert stored.pledge.status is Status.STALLED
        assert stored.pledge.title == "Draft constitution for Syria"

    def test_a_status_set_by_the_file_is_a_recorded_and_notified_transition(
        self, engine: Engine
    ) -> None:
        with connector.write(engine) as conn:
            imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")
        with connector.write(engine) as conn:
            imports.upsert(
                conn,
                _pledge(status=Status.KEPT),
                status_given=True,
                now=NOW,
                policy=POLICY,
                actor="t",
            )
            history = pledges.history(conn, "syria-draft-constitution")
            stored = pledges.get(conn, "syria-draft-constitution")
            types = list(conn.scalars(select(Event.type)))
        assert [h["new_status"] for h in history] == ["open", "kept"]
        assert types == [NoticeType.STATUS_CHANGED.value]
        assert stored.next_notice_at is None  # a kept pledge gets no deadline notices


class TestSetStatus:
    def test_it_records_history_and_writes_an_event_left_for_the_daemon_to_fan_out(
        self, engine: Engine
    ) -> None:
        with connector.write(engine) as conn:
            imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")
            old = lifecycle.set_status(
                conn,
                "syria-draft-constitution",
                Status.BROKEN,
                now=NOW,
                policy=POLICY,
                actor="cli:test",
                note="missed",
                evidence="https://example.org/report",
            )
        with connector.read(engine) as conn:
            event = conn.execute(select(Event)).one()
            last = pledges.history(conn, "syria-draft-constitution")[-1]
        assert old is Status.OPEN
        assert event.fanned_out_at is None
        assert event.body["data"]["old_status"] == "open"
        assert event.body["data"]["new_status"] == "broken"
        assert (last["note"], last["evidence"], last["actor"]) == (
            "missed",
            "https://example.org/report",
            "cli:test",
        )

    def test_an_unknown_id_raises_not_found(self, engine: Engine) -> None:
        with pytest.raises(pledges.NotFound), connector.write(engine) as conn:
            lifecycle.set_status(conn, "nope", Status.KEPT, now=NOW, policy=POLICY, actor="t")


class TestOutbox:
    def _seed(self, engine: Engine) -> None:
        with connector.write(engine) as conn:
            imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")

    def test_planning_the_same_notice_twice_writes_it_once(self, engine: Engine) -> None:
        self._seed(engine)
        hooks = {"ops": WebhookSettings(url="https://example.org/hook")}
        at = datetime(2016, 7, 31, 21, 0, tzinfo=UTC)
        with connector.write(engine) as conn:
            first = outbox.enqueue(
                conn,
                "syria-draft-constitution",
                NoticeType.DUE,
                at,
                {},
                ["syria"],
                now=NOW,
                webhooks=hooks,
            )
        with connector.write(engine) as conn:
            second = outbox.enqueue(
                conn,
                "syria-draft-constitution",
                NoticeType.DUE,
                at,
                {},
                ["syria"],
                now=NOW,
                webhooks=hooks,
            )
        assert first is not None and second is None
        assert _count(engine, Event) == 1
        assert _count(engine, Delivery) == 1

    def test_fan_out_follows_each_webhooks_events_and_tags(self, engine: Engine) -> None:
        self._seed(engine)
        hooks = {
            "all": WebhookSettings(url="https://example.org/a"),
            "overdue-only": WebhookSettings(
                url="https://example.org/b", events=("commitment.overdue",)
            ),
            "syria": WebhookSettings(url="https://example.org/c", tags=("syria", "iran")),
            "ukraine": WebhookSettings(url="https://example.org/d", tags=("ukraine",)),
        }
        with connector.write(engine) as conn:
            outbox.enqueue(
                conn,
                "syria-draft-constitution",
                NoticeType.DUE,
                NOW,
                {},
                ["syria"],
                now=NOW,
                webhooks=hooks,
            )
            names = sorted(conn.scalars(select(Delivery.webhook)))
        assert names == ["all", "syria"]

    def test_with_no_webhook_configured_the_console_takes_every_event(self, engine: Engine) -> None:
        self._seed(engine)
        with connector.write(engine) as conn:
            outbox.enqueue(
                conn, "syria-draft-constitution", NoticeType.DUE, NOW, {}, [], now=NOW, webhooks={}
            )
            names = list(conn.scalars(select(Delivery.webhook)))
        assert names == ["console"]

    def _enqueued(self, engine: Engine, webhooks: list[str], *, events: int) -> None:
        """Store the seed, then `events` overdue notices an hour apart, each to every webhook."""
        self._seed(engine)
        hooks = {name: WebhookSettings(url=f"https://example.org/{name}") for name in webhooks}
        found = [
            outbox.NewEvent(
                "syria-draft-constitution", NoticeType.OVERDUE, NOW + timedelta(hours=i), {}, []
            )
            for i in range(events)
        ]
        with connector.write(engine) as conn:
            outbox.enqueue_all(conn, found, now=NOW, webhooks=hooks)

    def test_a_claim_takes_each_webhooks_room_oldest_first_and_others_only_when_asked(
        self, engine: Engine
    ) -> None:
        self._enqueued(engine, ["busy", "quiet", "removed"], events=3)
        later = NOW + timedelta(minutes=1)
        lease = later + timedelta(seconds=45)
        with connector.write(engine) as conn:
            # "quiet" has no room: none of its three is read; "busy" gives two.
            taken = _claim(conn, later, "a", lease, limit=3, room={"busy": 2, "quiet": 0})
        with connector.write(engine) as conn:
            # "removed" is no longer configured: only a claim asking for others takes it.
            known = ["busy", "quiet"]
            rest = claims.claim_deliveries(
                conn, later, token="b", lease_until=lease, room={"quiet": 5}, limit=10
            )
            orphans = claims.claim_deliveries(
                conn, later, token="c", lease_until=lease, room={}, limit=10, others=known
            )
        assert [row.webhook for row in taken] == ["busy", "busy"]
        assert [row.webhook for row in rest] == ["quiet"] * 3
        assert [row.webhook for row in orphans] == ["removed"] * 3
        assert {row.token for row in taken} == {"a"}
        with connector.read(engine) as conn:
            left = waiting.next_attempt_at(conn, webhooks=["busy"])
        assert left == NOW  # the third of "busy", due since it was written

    def test_a_claim_reads_webhooks_in_the_order_given_and_stops_once_the_limit_is_found(
        self, engine: Engine
    ) -> None:
        self._enqueued(engine, ["a", "b"], events=3)
        later = NOW + timedelta(minutes=1)
        lease = later + timedelta(seconds=45)
        with connector.write(engine) as conn:
            first = _claim(conn, later, "x", lease, limit=4, room={"b": 3, "a": 3})
        with connector.read(engine) as conn:
            left = waiting.earliest_due(conn, ["a", "b"])
        # "b" first and whole, then only what the limit leaves of "a".
        assert sorted(row.webhook for row in first) == ["a", "b", "b", "b"]
        assert left == {"a": NOW, "b": lease}

    def test_earliest_due_answers_for_every_webhook_in_one_statement(self, engine: Engine) -> None:
        self._enqueued(engine, ["a", "b"], events=1)
        later = NOW + timedelta(minutes=1)
        with connector.write(engine) as conn:
            # "a"'s one delivery is leased: it falls due again when its lease runs out.
            _claim(conn, later, "x", later + timedelta(seconds=45), limit=1, room={"a": 1})
        names = ["a", "b", "none", *(f"idle-{i}" for i in range(97))]
        with connector.read(engine) as conn:
            found = waiting.earliest_due(conn, names)
            assert waiting.earliest_due(conn, []) == {}
        assert found == {
            "a": later + timedelta(seconds=45),
            "b": NOW,
            "none": None,
            **{f"idle-{i}": None for i in range(97)},
        }

    def test_a_lease_hides_a_delivery_until_it_runs_out_and_a_stale_worker_cannot_record(
        self, engine: Engine
    ) -> None:
        self._seed(engine)
        with connector.write(engine) as conn:
            outbox.enqueue(
                conn,
                "syria-draft-constitution",
                NoticeType.DUE,
                NOW,
                {"x": 1},
                [],
                now=NOW,
                webhooks={},
            )
        lease = NOW + timedelta(seconds=45)
        with connector.write(engine) as conn:
            first = _claim(conn, NOW, "a", lease)
        with connector.write(engine) as conn:
            during = _claim(conn, NOW + timedelta(seconds=10), "b", lease)
        later = lease + timedelta(seconds=1)
        with connector.write(engine) as conn:
            after = _claim(conn, later, "b", later + timedelta(seconds=45))
        result = outbox.Result("delivered", None, 204, None, 1.0)
        with connector.write(engine) as conn:
            stale = outbox.record(conn, first[0].id, token="a", now=later, result=result)
            holder = outbox.record(conn, first[0].id, token="b", now=later, result=result)
        assert len(first) == 1 and first[0].body == {"x": 1}
        assert during == []
        assert [r.id for r in after] == [first[0].id]
        assert (stale, holder) == (False, True)
        with connector.read(engine) as conn:
            listed = outbox.listing(conn)
            attempts = outbox.attempts_of(conn, first[0].id)
        assert listed[0]["state"] == "delivered" and listed[0]["attempts"] == 1
        assert len(attempts) == 1 and attempts[0]["status"] == 204


@pytest.mark.postgres
def test_two_replicas_claiming_at_once_never_get_the_same_delivery(postgres_url: str) -> None:
    """SKIP LOCKED: a second claimer skips the rows the first holds instead of waiting."""
    engine = connector.make_engine(postgres_url)
    with connector.write(engine) as conn:
        imports.upsert(conn, _pledge(), status_given=False, now=NOW, policy=POLICY, actor="t")
        for i in range(6):
            outbox.enqueue(
                conn,
                "syria-draft-constitution",
                NoticeType.OVERDUE,
                NOW + timedelta(seconds=i),
                {},
                [],
                now=NOW,
                webhooks={},
            )
    later = NOW + timedelta(minutes=1)
    lease = later + timedelta(seconds=45)
    with connector.write(engine) as first_conn:
        first = _claim(first_conn, later, "a", lease, limit=4)
        # The first transaction is still open: its rows are locked, not yet leased to others.
        with connector.write(engine) as second_conn:
            second = _claim(second_conn, later, "b", lease, limit=4)
    assert len(first) == 4 and len(second) == 2
    assert not {r.id for r in first} & {r.id for r in second}
    engine.dispose()
