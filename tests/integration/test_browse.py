"""The status pages' reads (store/browse.py, outbox.deliveries_of) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Condition, Pledge
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.settings import CONSOLE
from daemon.store import archive, browse, connector, imports, outbox
from daemon.store.schema import Delivery

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("UTC")
POLICY = Policy(reminder_offsets=(), overdue_repeat=timedelta(0))


def _store(engine: Engine, *pledges: Pledge) -> None:
    with connector.write(engine) as conn:
        for pledge in pledges:
            imports.upsert(conn, pledge, status_given=True, now=NOW, policy=POLICY, actor="t")


def _dated(pledge_id: str, day: str, **fields: object) -> Pledge:
    window = read_deadline(day, reference=NOW, tz=ZONE)
    return Pledge(id=pledge_id, title=f"Title {pledge_id}", window=window, **fields)  # type: ignore[arg-type]


@pytest.fixture
def stored(engine: Engine) -> Engine:
    """Seven pledges: open with and without deadlines, stalled, kept; tags, parties, words."""
    _store(
        engine,
        _dated("b-late", "2016-09-01", tags=("syria",), parties=("Russia",)),
        _dated("a-soon", "2016-05-01", tags=("syria", "talks"), parties=("United States",)),
        Pledge(id="c-none", title="No deadline 100%_done", tags=("minsk",)),
        Pledge(id="a-none", title="Also none", description="the word Geneva"),
        _dated("s-stalled", "2016-04-01", status=Status.STALLED, tags=("syria",)),
        _dated("k-kept", "2016-01-01", status=Status.KEPT),
        _dated("k-kept-2", "2016-02-01", status=Status.KEPT),
    )
    return engine


def _ids(engine: Engine, filters: browse.Filters, offset: int = 0, limit: int = 50) -> list[str]:
    with connector.read(engine) as conn:
        tally = browse.counts(conn, filters)
        found = browse.page(conn, filters, tally, offset=offset, limit=limit)
    return [s.pledge.id for s in found]


class TestOverview:
    def test_open_pledges_come_first_by_deadline_then_those_without_then_closed(
        self, stored: Engine
    ) -> None:
        expected = ["a-soon", "b-late", "a-none", "c-none", "s-stalled", "k-kept", "k-kept-2"]
        assert _ids(stored, browse.Filters()) == expected
        pages = [_ids(stored, browse.Filters(), offset, 3) for offset in (0, 3, 6)]
        assert [i for page in pages for i in page] == expected

    def test_counts_are_by_status_and_deadline(self, stored: Engine) -> None:
        with connector.read(stored) as conn:
            tally = browse.counts(conn, browse.Filters())
            assert browse.by_status(tally) == {Status.OPEN: 4, Status.STALLED: 1, Status.KEPT: 2}
            assert tally[Status.OPEN, False] == 2
            syria = browse.counts(conn, browse.Filters(tag="syria"))
            assert browse.by_status(syria) == {Status.OPEN: 2, Status.STALLED: 1}

    def test_an_archived_pledge_is_left_out_of_the_pages_and_their_counts(
        self, stored: Engine
    ) -> None:
        with connector.write(stored) as conn:
            archive.archive(conn, "b-late", now=NOW, actor="t", note=None)
            archive.archive(conn, "c-none", now=NOW, actor="t", note=None)
        assert _ids(stored, browse.Filters()) == [
            "a-soon",
            "a-none",
            "s-stalled",
            "k-kept",
            "k-kept-2",
        ]
        with connector.read(stored) as conn:
            tally = browse.counts(conn, browse.Filters())
            assert tally[Status.OPEN, True] == 1 and tally[Status.OPEN, False] == 1
            syria = browse.counts(conn, browse.Filters(tag="syria"))
            assert browse.by_status(syria) == {Status.OPEN: 1, Status.STALLED: 1}

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [
            (browse.Filters(tag="syria"), ["a-soon", "b-late", "s-stalled"]),
            (browse.Filters(tag="syri"), []),
            (browse.Filters(party="Russia"), ["b-late"]),
            (browse.Filters(status=Status.KEPT), ["k-kept", "k-kept-2"]),
            (browse.Filters(tag="syria", status=Status.OPEN), ["a-soon", "b-late"]),
            (browse.Filters(text="geneva"), ["a-none"]),
            (browse.Filters(text="100%_"), ["c-none"]),
            (browse.Filters(text="%"), ["c-none"]),
            (browse.Filters(text="A-SOON"), ["a-soon"]),
        ],
        ids=str,
    )
    def test_filters_narrow_the_list(
        self, stored: Engine, filters: browse.Filters, expected: list[str]
    ) -> None:
        assert _ids(stored, filters) == expected


def test_the_condition_tree_goes_both_ways_and_stops_at_a_cycle(engine: Engine) -> None:
    _store(
        engine,
        Pledge(id="root", title="Root"),
        Pledge(id="mid", title="Mid", conditions=(Condition("root"),)),
        Pledge(id="top", title="Top", conditions=(Condition("mid", Status.IN_PROGRESS),)),
        Pledge(id="loop", title="Loop", conditions=(Condition("top"),)),
    )
    with connector.write(engine) as conn:
        # A cycle the importer would refuse, written as the table may hold it anyway.
        imports.upsert(
            conn,
            Pledge(id="root", title="Root", conditions=(Condition("loop"),)),
            status_given=True,
            now=NOW,
            policy=POLICY,
            actor="t",
        )
    with connector.read(engine) as conn:
        waits_on, waited_by = browse.condition_tree(conn, "mid")
    assert [(n.id, n.needed) for n in waits_on] == [("root", Status.KEPT)]
    assert [n.id for n in waits_on[0].children] == ["loop"]
    assert [(n.id, n.needed) for n in waited_by] == [("top", Status.IN_PROGRESS)]
    assert [n.id for n in waited_by[0].children] == ["loop"]
    assert [n.id for n in waited_by[0].children[0].children] == ["root"]


def test_one_pledges_deliveries_come_with_their_attempts(engine: Engine) -> None:
    _store(engine, _dated("p", "2016-08-01"), _dated("other", "2016-08-01"))
    with connector.write(engine) as conn:
        for pledge_id in ("p", "other"):
            outbox.enqueue(conn, pledge_id, "commitment.due", NOW, {}, [], now=NOW, webhooks={})
        conn.execute(Delivery.__table__.update().values(claimed_by="tok"))
        delivery = conn.execute(Delivery.__table__.select().order_by(Delivery.id)).first()
        assert delivery is not None
        result = outbox.Result("dead", None, 500, "server error", 12.0)
        outbox.record(conn, delivery.id, token="tok", now=NOW, result=result)
    with connector.read(engine) as conn:
        found = {pledge_id: outbox.deliveries_of(conn, pledge_id) for pledge_id in ("p", "other")}
    assert all(len(rows) == 1 for rows in found.values())
    assert all(rows[0]["webhook"] == CONSOLE for rows in found.values())
    attempts = [a for rows in found.values() for a in rows[0]["attempts"]]
    assert attempts == [{"at": NOW, "status": 500, "error": "server error"}]
