"""`cursors.replan`: new timing settings move next notices, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, update

from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.store import connector, cursors, imports
from daemon.store.schema import Commitment

NOW = datetime(2016, 7, 1, tzinfo=UTC)
OLD = Policy(reminder_offsets=(timedelta(days=7),), overdue_repeat=timedelta(days=7))
SENTINEL = datetime(2030, 1, 1, tzinfo=UTC)


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _add(engine: Engine, pledge_id: str, deadline: str, **changes: object) -> None:
    window = read_deadline(deadline, reference=NOW, tz=ZoneInfo("UTC"))
    pledge = Pledge(id=pledge_id, title=pledge_id, window=window, **changes)  # type: ignore[arg-type]
    with connector.write(engine) as conn:
        imports.upsert(
            conn, pledge, status_given="status" in changes, now=NOW, policy=OLD, actor="t"
        )


def _state(engine: Engine) -> dict[str, tuple[datetime | None, datetime | None]]:
    with connector.read(engine) as conn:
        rows = conn.execute(
            select(Commitment.id, Commitment.planned_through, Commitment.next_notice_at)
        )
        return {row.id: (row.planned_through, row.next_notice_at) for row in rows}


@pytest.fixture
def seeded(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Five pledges read two at a time, so the batches' seams are crossed."""
    monkeypatch.setattr(cursors, "REPLAN_BATCH", 2)
    _add(engine, "a-ahead", "2016-08-01")  # old reminder 07-25, still ahead
    _add(engine, "b-behind", "2016-07-03")  # old reminder 06-26: due, not yet planned
    _add(engine, "c-kept", "2016-08-01", status=Status.KEPT)
    _add(engine, "d-failed", "2016-08-01")
    _add(engine, "e-ahead", "2016-09-01")
    with connector.write(engine) as conn:
        conn.execute(
            update(Commitment).where(Commitment.id == "c-kept").values(next_notice_at=SENTINEL)
        )
        cursors.defer(conn, "d-failed", until=NOW + timedelta(hours=1), error="boom")
    return engine


def _replan(engine: Engine, new: Policy) -> int:
    """Every batch in a transaction of its own, as the daemon does."""
    moved, after = 0, ""
    while after is not None:
        with connector.write(engine) as conn:
            count, after = cursors.replan(conn, OLD, new, now=NOW, after=after)
        moved += count
    return moved


def test_a_reminder_added_ahead_becomes_the_next_notice(seeded: Engine) -> None:
    new = Policy(reminder_offsets=(timedelta(days=14), timedelta(days=7)))
    before = _state(seeded)
    assert _replan(seeded, new) == 3
    after = _state(seeded)
    assert after["a-ahead"] == (None, _day("2016-07-18"))
    assert after["e-ahead"] == (None, _day("2016-08-18"))
    # Owed under the old timing and not planned yet: the cursor stays, the planner
    # catches up from it (under the new timing, as after downtime).
    assert after["b-behind"] == (None, _day("2016-06-19"))
    assert after["c-kept"] == before["c-kept"]  # closed: never looked at
    assert after["d-failed"] == (None, NOW + timedelta(hours=1))  # keeps its retry time


def test_a_reminder_that_would_have_fallen_in_the_past_is_not_owed_late(seeded: Engine) -> None:
    """45 days before 08-01 is 06-17, before now: under the old timing nothing was owed then."""
    new = Policy(reminder_offsets=(timedelta(days=45), timedelta(days=7)))
    _replan(seeded, new)
    after = _state(seeded)
    assert after["a-ahead"] == (NOW, _day("2016-07-25"))  # starts from now: the 7 d reminder
    assert after["e-ahead"] == (None, _day("2016-07-18"))  # 45 d before 09-01: ahead
    assert after["b-behind"] == (None, _day("2016-05-19"))  # still owes 06-26: cursor kept


def test_the_same_timing_moves_nothing(seeded: Engine) -> None:
    before = _state(seeded)
    assert _replan(seeded, OLD) == 0
    assert _state(seeded) == before
