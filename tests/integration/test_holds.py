"""daemon/store/holds.py against real databases: holds recorded, and those that would change nothing refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from daemon import seeds
from daemon.model.schedule import Policy
from daemon.store import connector, holds, pledges, refusals
from daemon.store.schema import Commitment, Silence, StatusChange

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
POLICY = Policy(reminder_offsets=(timedelta(days=7),), overdue_repeat=timedelta(days=7))
COMMITMENTS: list[dict[str, Any]] = [
    {"id": "draft", "title": "Draft constitution", "deadline": "by August", "tags": ["syria"]},
    {"id": "stalled", "title": "Talks", "deadline": "by August", "status": "stalled"},
    {"id": "broken", "title": "Truce", "deadline": "by August", "status": "broken"},
    {"id": "whenever", "title": "Whenever"},
    {"id": "watch", "title": "Ceasefire holds", "kind": "ongoing", "check_in": "14d"},
    {"id": "review", "title": "Review", "kind": "recurring", "every": "3mo"},
    {
        "id": "sanctions",
        "title": "Lift sanctions",
        "kind": "conditional",
        "conditions": [{"requires": "draft"}],
        "deadline": "within 6 months",
        "deadline_from": "conditions",
    },
]


@pytest.fixture
def stored(engine: Engine) -> Engine:
    """The engine, holding COMMITMENTS read as published on 25 March 2016 in Moscow."""
    document = {
        "source": {"published": "2016-03-25"},
        "timezone": "Europe/Moscow",
        "commitments": COMMITMENTS,
    }
    found = seeds.parse("holds.yaml", document, default_zone=ZoneInfo("UTC"), now=NOW)
    with connector.write(engine) as conn:
        seeds.apply(conn, found, now=NOW, policy=POLICY, actor="t")
    return engine


def _ack(engine: Engine, pledge_id: str, policy: Policy = POLICY) -> None:
    with connector.write(engine) as conn:
        holds.acknowledge(conn, pledge_id, now=NOW, policy=policy, actor="t", note=None)


def _snooze(engine: Engine, pledge_id: str, until: datetime | None) -> None:
    with connector.write(engine) as conn:
        holds.snooze(conn, pledge_id, until, now=NOW, policy=POLICY, actor="t", note=None)


def _silence(engine: Engine, tag: str, until: datetime | None) -> int:
    with connector.write(engine) as conn:
        return holds.silence(conn, tag, until, now=NOW, policy=POLICY, actor="t", note=None)


def _state(engine: Engine) -> tuple[object, ...]:
    """Everything a hold writes: the pledges' rows, the silences and the history."""
    with connector.read(engine) as conn:
        rows = conn.execute(select(Commitment.__table__).order_by(Commitment.id)).all()
        silences = conn.execute(select(Silence.__table__).order_by(Silence.tag)).all()
        history = conn.scalar(select(func.count()).select_from(StatusChange))
    return rows, silences, history


def _refused(engine: Engine, hold: Callable[[], object], message: str) -> None:
    """Assert that `hold` raises NothingToDo with `message` and writes nothing."""
    before = _state(engine)
    with pytest.raises(refusals.NothingToDo) as raised:
        hold()
    assert str(raised.value) == message
    assert _state(engine) == before


def _last_notes_of_free_draft(engine: Engine) -> list[str | None]:
    """The notes of `draft`'s last three history rows; no hold is left on it."""
    with connector.read(engine) as conn:
        assert pledges.get(conn, "draft").pledge.held_until is None
        return [h["note"] for h in pledges.history(conn, "draft")][-3:]


class TestAcknowledge:
    @pytest.mark.parametrize("pledge_id", ["draft", "stalled", "sanctions"])
    def test_a_pledge_not_closed_with_a_deadline_is_acknowledged_and_recorded(
        self, stored: Engine, pledge_id: str
    ) -> None:
        """A deadline that waits for its conditions counts: its repeats are stopped ahead."""
        _ack(stored, pledge_id)
        with connector.read(stored) as conn:
            assert pledges.get(conn, pledge_id).pledge.acknowledged
            assert pledges.history(conn, pledge_id)[-1]["note"] == "acknowledged"

    def test_a_second_ack_is_refused(self, stored: Engine) -> None:
        _ack(stored, "draft")
        _refused(
            stored,
            lambda: _ack(stored, "draft"),
            "draft: already acknowledged; overdue repeats stay stopped until its status changes",
        )

    def test_a_closed_pledge_is_refused(self, stored: Engine) -> None:
        _refused(
            stored,
            lambda: _ack(stored, "broken"),
            "broken: broken is a closed outcome, which gets no overdue notices: "
            "there are no repeats to stop",
        )

    @pytest.mark.parametrize(
        ("pledge_id", "hint"),
        [
            ("whenever", ""),
            ("watch", " (snooze holds its check-ins)"),
            ("review", " (snooze holds its check-ins)"),
        ],
    )
    def test_a_pledge_without_a_deadline_is_refused(
        self, stored: Engine, pledge_id: str, hint: str
    ) -> None:
        _refused(
            stored,
            lambda: _ack(stored, pledge_id),
            f"{pledge_id}: no deadline, so no overdue notices: there are no repeats to stop{hint}",
        )

    def test_with_overdue_repeats_off_it_is_refused(self, stored: Engine) -> None:
        no_repeats = Policy(reminder_offsets=(), overdue_repeat=timedelta(0))
        _refused(
            stored,
            lambda: _ack(stored, "draft", no_repeats),
            "draft: overdue repeats are off (PLEDGEWATCH_OVERDUE_REPEAT=0): there are none to stop",
        )


class TestSnooze:
    @pytest.mark.parametrize(
        ("earlier", "until", "message"),
        [
            (None, None, "draft: not snoozed, so there is no snooze to end"),
            (NOW, None, "draft: not snoozed, so there is no snooze to end"),
            (LATER, LATER, "draft: already snoozed until 2016-03-28T12:00:00+03:00"),
        ],
        ids=["end-never-snoozed", "end-snooze-over", "same-end"],
    )
    def test_a_snooze_that_would_change_nothing_is_refused(
        self, stored: Engine, earlier: datetime | None, until: datetime | None, message: str
    ) -> None:
        """`earlier`: the end of a snooze set the day before."""
        if earlier is not None:
            with connector.write(stored) as conn:
                day_before = NOW - timedelta(days=1)
                holds.snooze(
                    conn, "draft", earlier, now=day_before, policy=POLICY, actor="t", note=None
                )
        _refused(stored, lambda: _snooze(stored, "draft", until), message)

    def test_another_end_is_an_update_and_ending_it_is_recorded(self, stored: Engine) -> None:
        _snooze(stored, "draft", LATER)
        _snooze(stored, "draft", LATER + timedelta(days=1))
        _snooze(stored, "draft", None)
        assert _last_notes_of_free_draft(stored) == [
            "snoozed until 2016-03-28T12:00:00+03:00",
            "snoozed until 2016-03-29T12:00:00+03:00",
            "snooze ended",
        ]


class TestSilence:
    @pytest.mark.parametrize(
        ("tag", "earlier", "until", "message"),
        [
            ("nosuchtag", None, LATER, "tag nosuchtag: no pledge has this tag"),
            ("syria", None, None, "tag syria: not silenced, so there is no silence to lift"),
            (
                "nosuchtag",
                None,
                None,
                "tag nosuchtag: not silenced, so there is no silence to lift",
            ),
            ("syria", NOW, None, "tag syria: not silenced, so there is no silence to lift"),
            ("syria", LATER, LATER, "tag syria: already silenced until 2016-03-28T09:00:00+00:00"),
        ],
        ids=[
            "unknown-tag",
            "lift-never-silenced",
            "lift-unknown-tag",
            "lift-silence-over",
            "same-end",
        ],
    )
    def test_a_silence_that_would_change_nothing_is_refused(
        self,
        stored: Engine,
        tag: str,
        earlier: datetime | None,
        until: datetime | None,
        message: str,
    ) -> None:
        """`earlier`: the end of a silence set the day before."""
        if earlier is not None:
            with connector.write(stored) as conn:
                day_before = NOW - timedelta(days=1)
                holds.silence(
                    conn, tag, earlier, now=day_before, policy=POLICY, actor="t", note=None
                )
        _refused(stored, lambda: _silence(stored, tag, until), message)

    def test_another_end_is_an_update_and_lifting_it_is_recorded(self, stored: Engine) -> None:
        assert _silence(stored, "syria", LATER) == 1
        assert _silence(stored, "syria", LATER + timedelta(days=1)) == 1
        assert _silence(stored, "syria", None) == 1
        assert _last_notes_of_free_draft(stored) == [
            "tag syria silenced until 2016-03-28T12:00:00+03:00",
            "tag syria silenced until 2016-03-29T12:00:00+03:00",
            "silence on tag syria lifted",
        ]
