"""daemon/store/archive.py against real databases: an archived pledge is kept, planned for by nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select

from daemon import seeds
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.store import archive, connector, cursors, lifecycle, pledges, refusals
from daemon.store.schema import Commitment, Event, StatusChange

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=3)
POLICY = Policy(reminder_offsets=(timedelta(days=7),), overdue_repeat=timedelta(days=7))
COMMITMENTS: list[dict[str, Any]] = [
    {"id": "draft", "title": "A draft text", "deadline": "by September", "tags": ["talks"]},
    {"id": "watch", "title": "The truce holds", "kind": "ongoing", "check_in": "7d"},
    {
        "id": "sanctions",
        "title": "Sanctions lifted",
        "kind": "conditional",
        "deadline": "within 3 months",
        "deadline_from": "conditions",
        "conditions": [{"requires": "draft"}],
    },
]


def _import(engine: Engine, commitments: list[dict[str, Any]], now: datetime = NOW) -> None:
    document = {"source": {"published": "2016-03-25"}, "commitments": commitments}
    found = seeds.parse("archive.yaml", document, default_zone=ZoneInfo("Europe/Moscow"), now=now)
    with connector.write(engine) as conn:
        seeds.apply(conn, found, now=now, policy=POLICY, actor="t")


@pytest.fixture
def stored(engine: Engine) -> Engine:
    """The engine, holding COMMITMENTS."""
    _import(engine, COMMITMENTS)
    return engine


def _archive(engine: Engine, pledge_id: str, *, undo: bool = False, now: datetime = NOW) -> None:
    with connector.write(engine) as conn:
        if undo:
            archive.unarchive(conn, pledge_id, now=now, policy=POLICY, actor="t", note="back")
        else:
            archive.archive(conn, pledge_id, now=now, actor="t", note="dropped")


def _next(engine: Engine, pledge_id: str) -> datetime | None:
    with connector.read(engine) as conn:
        return pledges.get(conn, pledge_id).next_notice_at


def _events(engine: Engine, pledge_id: str) -> int:
    with connector.read(engine) as conn:
        stmt = select(func.count()).select_from(Event).where(Event.commitment_id == pledge_id)
        return int(conn.scalar(stmt) or 0)


def test_archiving_clears_the_next_notice_and_records_it_in_the_history(stored: Engine) -> None:
    assert _next(stored, "draft") is not None
    _archive(stored, "draft")
    with connector.read(stored) as conn:
        found = pledges.get(conn, "draft")
        detail = pledges.describe(conn, found, POLICY, NOW)
    assert found.next_notice_at is None and found.pledge.archived
    assert datetime.fromisoformat(detail["archived_at"]) == NOW
    assert detail["next_notices"] == [] and detail["next_notice_at"] is None
    last = detail["history"][-1]
    assert (last["old_status"], last["new_status"], last["actor"], last["note"]) == (
        "open",
        "open",
        "t",
        "archived: dropped",
    )


def test_archived_pledges_are_left_out_of_listings_unless_asked_for(stored: Engine) -> None:
    _archive(stored, "watch")
    with connector.read(stored) as conn:
        watched = [s.pledge.id for s in pledges.list_all(conn)]
        archived = [s.pledge.id for s in pledges.list_all(conn, archived=True)]
        both = [s.pledge.id for s in pledges.list_all(conn, archived=None)]
        count, _ = pledges.summary(conn)
        coming = pledges.upcoming(conn, POLICY, NOW, NOW + timedelta(days=400))
    assert watched == ["draft", "sanctions"]
    assert archived == ["watch"]
    assert both == ["draft", "sanctions", "watch"]
    assert count == 2
    assert coming and "watch" not in {pledge.id for pledge, _ in coming}


def test_archiving_twice_or_bringing_back_one_not_archived_is_refused_writing_nothing(
    stored: Engine,
) -> None:
    _archive(stored, "draft")

    def history() -> int:
        with connector.read(stored) as conn:
            return int(conn.scalar(select(func.count()).select_from(StatusChange)) or 0)

    before = history()
    with pytest.raises(refusals.NothingToDo, match="draft: already archived"):
        _archive(stored, "draft", now=LATER)
    with pytest.raises(refusals.NothingToDo, match="watch: not archived"):
        _archive(stored, "watch", undo=True)
    with pytest.raises(pledges.NotFound):
        _archive(stored, "nope")
    assert history() == before


def test_bringing_one_back_starts_its_notices_again_from_then(stored: Engine) -> None:
    _archive(stored, "watch")
    back = NOW + timedelta(days=40)  # two check-ins fell due while archived
    _archive(stored, "watch", undo=True, now=back)
    with connector.read(stored) as conn:
        found = pledges.get(conn, "watch")
    assert not found.pledge.archived and found.archived_at is None
    assert found.planned_through == back
    assert found.next_notice_at is not None and found.next_notice_at > back


def test_a_reimport_and_a_replan_plan_nothing_for_an_archived_pledge(stored: Engine) -> None:
    _archive(stored, "draft")
    _import(stored, [{**COMMITMENTS[0], "title": "A new draft", "deadline": "by May"}])
    with connector.write(stored) as conn:
        moved, _ = cursors.replan(conn, POLICY, Policy(), now=NOW)
        found = pledges.get(conn, "draft")
    assert moved == 0
    assert found.pledge.title == "A new draft" and found.pledge.archived
    assert found.next_notice_at is None


def test_a_status_set_on_an_archived_pledge_is_recorded_and_heard_by_those_waiting_only(
    stored: Engine,
) -> None:
    _archive(stored, "draft")
    with connector.write(stored) as conn:
        lifecycle.set_status(conn, "draft", Status.KEPT, now=NOW, policy=POLICY, actor="t")
    assert _events(stored, "draft") == 0
    assert _events(stored, "sanctions") == 1  # commitment.condition_met
    with connector.read(stored) as conn:
        assert pledges.get(conn, "draft").pledge.status is Status.KEPT
        waiting = pledges.get(conn, "sanctions")
    assert not waiting.pledge.blocked and waiting.next_notice_at is not None


def test_an_archived_dependent_hears_nothing_but_its_deadline_starts(stored: Engine) -> None:
    _archive(stored, "sanctions")
    with connector.write(stored) as conn:
        lifecycle.set_status(conn, "draft", Status.KEPT, now=NOW, policy=POLICY, actor="t")
    assert _events(stored, "sanctions") == 0
    with connector.read(stored) as conn:
        row = conn.execute(select(Commitment.__table__).where(Commitment.id == "sanctions")).one()
    assert row.next_notice_at is None and row.deadline_earliest is not None
