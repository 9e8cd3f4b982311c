"""Figures that read every pledge, kept between reads: /metrics' pledges by status, /health's holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, create_engine

from daemon.model.deadlines import read_deadline
from daemon.model.pledge import Pledge
from daemon.service import checks
from daemon.service.metrics import Metrics
from daemon.settings import Settings
from daemon.store import archive, connector, holds, imports

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Generation:
    """A generation token the test moves by hand, as the daemon's change watch would."""

    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        return self.value


def _add(engine: Engine, pledge_id: str) -> None:
    window = read_deadline("2026-12-01", reference=NOW, tz=ZoneInfo("UTC"))
    with connector.write(engine) as conn:
        pledge = Pledge(id=pledge_id, title=pledge_id, window=window)
        imports.upsert(
            conn, pledge, status_given=False, now=NOW, policy=Settings().policy, actor="t"
        )


def _snooze(engine: Engine, pledge_id: str, until: datetime) -> None:
    with connector.write(engine) as conn:
        holds.snooze(
            conn, pledge_id, until, now=NOW, policy=Settings().policy, actor="t", note=None
        )


def _open(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("pledgewatch_pledges", {"status": "open"})


def _snoozed(found: list[checks.Check]) -> object:
    return next(c.observed_value for c in found if c.name == "pledges:snoozed")


class TestPledgesByStatus:
    def test_they_are_counted_again_only_when_the_generation_changes(self, engine: Engine) -> None:
        generation = Generation()
        metrics = Metrics()
        metrics.watch_tables(engine, lambda: NOW, generation=generation)
        _add(engine, "a")
        assert _open(metrics) == 1

        _add(engine, "b")
        assert _open(metrics) == 1  # the same generation: the last count stands
        generation.value += 1
        assert _open(metrics) == 2

    def test_without_a_generation_every_scrape_counts(self, engine: Engine) -> None:
        metrics = Metrics()
        metrics.watch_tables(engine, lambda: NOW)
        _add(engine, "a")
        assert _open(metrics) == 1
        _add(engine, "b")
        assert _open(metrics) == 2

    def test_an_archived_pledge_is_not_counted(self, engine: Engine) -> None:
        metrics = Metrics()
        metrics.watch_tables(engine, lambda: NOW)
        _add(engine, "a")
        _add(engine, "b")
        with connector.write(engine) as conn:
            archive.archive(conn, "a", now=NOW, actor="t", note=None)
        assert _open(metrics) == 1
        assert metrics.registry.get_sample_value("pledgewatch_pledges", {"status": "kept"}) == 0


class TestHolds:
    def test_they_are_read_again_after_a_change_or_once_the_first_hold_ends(
        self, engine: Engine
    ) -> None:
        generation = Generation()
        holds = checks.Holds(engine, generation)
        _add(engine, "a")
        _add(engine, "b")
        _snooze(engine, "a", NOW + timedelta(hours=1))
        assert _snoozed(holds.check(NOW)) == 1

        _snooze(engine, "b", NOW + timedelta(hours=3))
        assert _snoozed(holds.check(NOW)) == 1  # the same generation, no hold ended yet
        # The first hold counted has ended: read again, without a change signal.
        assert _snoozed(holds.check(NOW + timedelta(hours=2))) == 1
        assert _snoozed(holds.check(NOW + timedelta(hours=4))) == 0

        _snooze(engine, "a", NOW + timedelta(days=2))
        generation.value += 1
        assert _snoozed(holds.check(NOW + timedelta(hours=4))) == 1

    def test_a_database_that_does_not_answer_fails_the_check(self, tmp_path: Path) -> None:
        # A path that cannot be opened: every connection fails.
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'pledgewatch.db'}")
        try:
            found = checks.Holds(engine, Generation()).check(NOW)
        finally:
            engine.dispose()
        assert [(c.name, c.status) for c in found] == [("pledges:held", "fail")]
