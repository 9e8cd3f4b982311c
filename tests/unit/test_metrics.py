"""The metrics' own logic: outcome labels, what each hook counts, and a scrape without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from daemon import __version__
from daemon.delivery import retry
from daemon.model.schedule import Notice, NoticeType, Planned
from daemon.service import metrics

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _value(m: metrics.Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def _row(webhook: str = "desk", late: timedelta = timedelta(seconds=2)) -> SimpleNamespace:
    # The dispatcher's claimed row, reduced to the columns the hook reads.
    return SimpleNamespace(webhook=webhook, scheduled_for=NOW - late)


class TestOutcomeLabel:
    @pytest.mark.parametrize(
        ("decision", "label"),
        [
            (retry.Decision("delivered"), "delivered"),
            (retry.Decision("pending", NOW), "failed"),
            (retry.Decision("dead"), "dead"),
            (retry.Decision("pending", NOW, disable_webhook=True), "disabled"),
            (None, "lease_lost"),
        ],
        ids=["delivered", "retry", "dead", "gone", "lease-lost"],
    )
    def test_each_decision_has_its_outcome(
        self, decision: retry.Decision | None, label: str
    ) -> None:
        assert metrics.outcome_label(decision) == label
        assert label in metrics.OUTCOMES

    def test_every_decision_the_retry_policy_can_make_has_a_known_outcome(self) -> None:
        schedule = [timedelta(seconds=5)]
        outcomes = [
            retry.Outcome(200, None, 1.0),
            retry.Outcome(500, "HTTP 500", 1.0),
            retry.Outcome(410, "HTTP 410", 1.0),
            retry.Outcome(None, "refused", 0.0, permanent=True),
            retry.Outcome(None, "timed out", 1.0, timed_out=True),
        ]
        for attempts in (1, 2):
            for outcome in outcomes:
                decision = retry.decide(attempts, outcome, NOW, schedule, rand=lambda: 0.5)
                assert metrics.outcome_label(decision) in metrics.OUTCOMES


class TestHooks:
    def test_every_series_exists_at_zero_before_anything_happens(self) -> None:
        m = metrics.Metrics(["desk", "ops"])
        for type_ in NoticeType:
            assert _value(m, "pledgewatch_notices_planned_total", type=type_.value) == 0
        for webhook in ("desk", "ops"):
            for outcome in metrics.OUTCOMES:
                value = _value(m, "pledgewatch_deliveries_total", webhook=webhook, outcome=outcome)
                assert value == 0
            assert _value(m, "pledgewatch_delivery_latency_seconds_count", webhook=webhook) == 0
        assert _value(m, "pledgewatch_build_info", version=__version__) == 1

    def test_planned_notices_are_counted_by_type_with_the_ones_folded_and_skipped(self) -> None:
        m = metrics.Metrics()
        due = Planned(Notice(NoticeType.DUE, NOW))
        overdue = Planned(Notice(NoticeType.OVERDUE, NOW), late=True, missed=2)
        m.planned([due, overdue], skipped=3)
        m.planned([due], skipped=0)
        assert _value(m, "pledgewatch_notices_planned_total", type="commitment.due") == 2
        assert _value(m, "pledgewatch_notices_planned_total", type="commitment.overdue") == 1
        assert _value(m, "pledgewatch_notices_planned_total", type="commitment.reminder") == 0
        assert _value(m, "pledgewatch_notices_folded_total") == 2
        assert _value(m, "pledgewatch_notices_skipped_total") == 3

    def test_an_event_fanned_out_counts_as_planned(self) -> None:
        m = metrics.Metrics()
        m.fanned_out("commitment.status_changed")
        assert _value(m, "pledgewatch_notices_planned_total", type="commitment.status_changed") == 1

    def test_a_delivery_counts_its_outcome_and_its_latency_from_the_scheduled_instant(
        self,
    ) -> None:
        m = metrics.Metrics(["desk"])
        m.attempted(
            _row(late=timedelta(seconds=2)),
            retry.Outcome(200, None, 40.0),
            retry.Decision("delivered"),
            NOW,
        )
        assert _value(m, "pledgewatch_deliveries_total", webhook="desk", outcome="delivered") == 1
        assert _value(m, "pledgewatch_delivery_latency_seconds_count", webhook="desk") == 1
        assert _value(m, "pledgewatch_delivery_latency_seconds_sum", webhook="desk") == 2.0
        # 2 s lands in the 2.5 s bucket, not the 1 s one.
        assert (
            _value(m, "pledgewatch_delivery_latency_seconds_bucket", webhook="desk", le="1.0") == 0
        )
        assert (
            _value(m, "pledgewatch_delivery_latency_seconds_bucket", webhook="desk", le="2.5") == 1
        )
        assert (
            _value(m, "pledgewatch_delivery_request_duration_seconds_sum", webhook="desk") == 0.04
        )

    def test_a_failed_attempt_is_counted_and_timed_but_has_no_latency(self) -> None:
        m = metrics.Metrics(["desk"])
        m.attempted(
            _row(), retry.Outcome(503, "HTTP 503", 12.0), retry.Decision("pending", NOW), NOW
        )
        m.attempted(_row(), retry.Outcome(200, None, 5.0), None, NOW)  # lease lost
        assert _value(m, "pledgewatch_deliveries_total", webhook="desk", outcome="failed") == 1
        assert _value(m, "pledgewatch_deliveries_total", webhook="desk", outcome="lease_lost") == 1
        assert _value(m, "pledgewatch_delivery_latency_seconds_count", webhook="desk") == 0
        assert _value(m, "pledgewatch_delivery_request_duration_seconds_count", webhook="desk") == 2

    def test_a_clock_behind_the_scheduled_instant_observes_zero_not_a_negative_latency(
        self,
    ) -> None:
        m = metrics.Metrics(["desk"])
        m.attempted(
            _row(late=-timedelta(seconds=3)),
            retry.Outcome(204, None, 1.0),
            retry.Decision("delivered"),
            NOW,
        )
        assert _value(m, "pledgewatch_delivery_latency_seconds_sum", webhook="desk") == 0.0

    def test_a_tick_records_its_duration_and_when_it_ended(self) -> None:
        m = metrics.Metrics()
        m.ticked("plan", 0.02, NOW)
        m.ticked("plan", 0.03, NOW + timedelta(seconds=5))
        assert _value(m, "pledgewatch_tick_duration_seconds_count", drain="plan") == 2
        assert _value(m, "pledgewatch_tick_duration_seconds_sum", drain="plan") == pytest.approx(
            0.05
        )
        assert (
            _value(m, "pledgewatch_last_tick_timestamp_seconds", drain="plan")
            == (NOW + timedelta(seconds=5)).timestamp()
        )

    def test_two_instances_in_one_process_do_not_share_counts(self) -> None:
        first, second = metrics.Metrics(), metrics.Metrics()
        first.fanned_out("commitment.due")
        assert _value(second, "pledgewatch_notices_planned_total", type="commitment.due") == 0


class TestRender:
    def test_without_an_accept_header_it_is_the_prometheus_text_format(self) -> None:
        body, content_type = metrics.Metrics(["desk"]).render(None)
        assert content_type.startswith("text/plain")
        names = {family.name for family in text_string_to_metric_families(body.decode())}
        assert "pledgewatch_deliveries" in names
        assert not any(name.endswith("_created") for name in names)

    def test_openmetrics_is_served_when_asked_for(self) -> None:
        body, content_type = metrics.Metrics().render("application/openmetrics-text; version=1.0.0")
        assert content_type.startswith("application/openmetrics-text")
        assert body.rstrip().endswith(b"# EOF")


class TestDatabaseDown:
    def test_a_database_that_does_not_answer_is_reported_not_raised(self, tmp_path: Path) -> None:
        # A real engine on a path that cannot be opened: every connection fails.
        engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'pledgewatch.db'}")
        m = metrics.Metrics(["desk"])
        m.watch_tables(engine, lambda: NOW)
        m.fanned_out("commitment.due")
        for scrape in (1, 2):
            families = {
                f.name: f for f in text_string_to_metric_families(m.render(None)[0].decode())
            }
            assert families["pledgewatch_database_up"].samples[0].value == 0
            assert families["pledgewatch_scrape_errors"].samples[0].value == scrape
            # The table gauges are absent rather than a misleading 0 ...
            assert families["pledgewatch_outbox_pending"].samples == []
            assert families["pledgewatch_pledges"].samples == []
            # ... while what was counted in memory is still there.
            planned = families["pledgewatch_notices_planned"].samples
            assert any(s.labels == {"type": "commitment.due"} and s.value == 1 for s in planned)
        engine.dispose()


def test_webhooks_added_on_reload_start_at_zero_and_removed_ones_go() -> None:
    m = metrics.Metrics(["desk"])
    m.set_webhooks(["chat", "desk"])
    assert _value(m, "pledgewatch_deliveries_total", webhook="chat", outcome="delivered") == 0
    assert _value(m, "pledgewatch_delivery_latency_seconds_count", webhook="chat") == 0
    m.set_webhooks(["chat"])
    assert _value(m, "pledgewatch_deliveries_total", webhook="desk", outcome="delivered") is None
    assert _value(m, "pledgewatch_delivery_request_duration_seconds_count", webhook="desk") is None
    assert m.webhook_names == ("chat",)
