"""What the calendar feed reads from the store, on SQLite and PostgreSQL: pages, filters, change stamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from daemon.model import ics
from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.store import archive, connector, imports, lifecycle, pledges
from daemon.store import feed as feed_store

NOW = datetime(2016, 3, 25, 9, 0, tzinfo=UTC)
POLICY = Policy()
MOSCOW = ZoneInfo("Europe/Moscow")
WINDOW = read_deadline("by August", reference=NOW, tz=MOSCOW)


def _store(engine: Engine, *found: Pledge, now: datetime = NOW) -> None:
    with connector.write(engine) as conn:
        for pledge in found:
            imports.upsert(conn, pledge, status_given=True, now=now, policy=POLICY, actor="t")


def _sequence(engine: Engine, pledge_id: str) -> int:
    with connector.read(engine) as conn:
        entry = feed_store.one(conn, pledge_id)
    return ics.sequence(entry.created_at, entry.updated_at)


def test_pages_hold_the_pledges_with_a_window_in_id_order(engine: Engine) -> None:
    ids = ["b.2", "a-1", "c_3", "a.1", "A0", "b-10"]
    _store(engine, *(Pledge(id=i, title=i, window=WINDOW) for i in ids))
    _store(engine, Pledge(id="no-window", title="ongoing"))
    with connector.read(engine) as conn:
        whole = [e.pledge.id for e in feed_store.page(conn, after=None)]
        paged: list[str] = []
        after = None
        while found := feed_store.page(conn, after=after, limit=2):
            paged += [e.pledge.id for e in found]
            after = found[-1].pledge.id
    assert sorted(whole) == sorted(ids)
    assert paged == whole  # the database's own order, the same page by page


def test_an_archived_pledge_is_left_out_of_the_feed(engine: Engine) -> None:
    _store(engine, *(Pledge(id=i, title=i, window=WINDOW) for i in ("kept", "gone")))
    with connector.write(engine) as conn:
        archive.archive(conn, "gone", now=NOW, actor="t", note=None)
    with connector.read(engine) as conn:
        assert [e.pledge.id for e in feed_store.page(conn, after=None)] == ["kept"]


def test_a_status_filter_keeps_the_pledges_in_those_statuses(engine: Engine) -> None:
    _store(
        engine,
        Pledge(id="open", title="o", window=WINDOW),
        Pledge(id="kept", title="k", window=WINDOW, status=Status.KEPT),
        Pledge(id="broken", title="b", window=WINDOW, status=Status.BROKEN),
    )
    with connector.read(engine) as conn:
        closed = feed_store.page(conn, after=None, statuses={Status.KEPT, Status.BROKEN})
    assert sorted(e.pledge.id for e in closed) == ["broken", "kept"]


def test_the_sequence_grows_with_a_changed_title_window_or_status_and_not_otherwise(
    engine: Engine,
) -> None:
    pledge = Pledge(id="syria-draft-constitution", title="Draft constitution", window=WINDOW)
    _store(engine, pledge)
    seen = [_sequence(engine, pledge.id)]
    _store(engine, pledge, now=NOW + timedelta(seconds=5))  # re-imported unchanged
    assert _sequence(engine, pledge.id) == seen[-1]
    _store(
        engine, Pledge(pledge.id, "Draft constitution, v2", window=WINDOW), now=NOW + timedelta(1)
    )
    seen.append(_sequence(engine, pledge.id))
    later = read_deadline("Q4 2016", reference=NOW, tz=MOSCOW)
    _store(
        engine, Pledge(pledge.id, "Draft constitution, v2", window=later), now=NOW + timedelta(2)
    )
    seen.append(_sequence(engine, pledge.id))
    with connector.write(engine) as conn:
        lifecycle.set_status(
            conn, pledge.id, Status.KEPT, now=NOW + timedelta(3), policy=POLICY, actor="t"
        )
    seen.append(_sequence(engine, pledge.id))
    assert seen == sorted(set(seen)) and seen[0] == 0


def test_the_version_moves_with_every_change_the_feed_could_show(engine: Engine) -> None:
    with connector.read(engine) as conn:
        assert feed_store.version(conn) == (0, None)
    _store(engine, Pledge(id="a", title="a", window=WINDOW), Pledge(id="b", title="b"))
    with connector.read(engine) as conn:
        first = feed_store.version(conn)
    assert first == (1, NOW)
    with connector.write(engine) as conn:
        lifecycle.set_status(
            conn, "a", Status.KEPT, now=NOW + timedelta(1), policy=POLICY, actor="t"
        )
    with connector.read(engine) as conn:
        assert feed_store.version(conn) == (1, NOW + timedelta(1))


def test_one_reads_any_stored_pledge_and_refuses_an_unknown_id(engine: Engine) -> None:
    _store(engine, Pledge(id="b", title="no window yet"))
    with connector.read(engine) as conn:
        assert feed_store.one(conn, "b").pledge.window is None
        with pytest.raises(pledges.NotFound):
            feed_store.one(conn, "nope")


TAGS = ["syria", "human_rights", "humanXrights", "50%", "é", 'say "no"', "back\\slash"]


@pytest.mark.parametrize(
    ("tag", "narrowed"),
    [
        ("syria", True),
        ("human_rights", True),
        ("50%", True),
        ("é", False),
        ('say "no"', False),
        ("back\\slash", False),
    ],
)
def test_a_tag_filter_never_leaves_out_a_pledge_with_the_tag(
    engine: Engine, tag: str, narrowed: bool
) -> None:
    """Plain ASCII tags are looked for in the database; others are left to the caller."""
    _store(
        engine, *(Pledge(id=f"p{i}", title=t, window=WINDOW, tags=(t,)) for i, t in enumerate(TAGS))
    )
    _store(engine, Pledge(id="other", title="other", window=WINDOW, tags=("ukraine", "minsk")))
    with connector.read(engine) as conn:
        found = {e.pledge.id for e in feed_store.page(conn, after=None, tags={tag})}
    assert f"p{TAGS.index(tag)}" in found
    assert ("other" not in found) is narrowed
