"""GET /metrics on the real daemon: a notice planned and delivered shows in every family."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from daemon import __version__
from tests.support import process
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STATUSES = ("open", "in_progress", "stalled", "kept", "partially_kept", "broken", "withdrawn")


@pytest.fixture
def hook_path() -> str:
    return f"/hook/{uuid.uuid4().hex}"


@pytest.fixture
def settings(sqlite_url: str, receiver: Receiver, hook_path: str) -> dict[str, str]:
    """SQLite only: the subject is the metrics, not the engine."""
    return {
        "PLEDGEWATCH_DATABASE_URL": sqlite_url,
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + hook_path,
        "PLEDGEWATCH_WEBHOOKS__DESK__SECRET": SECRET,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }


@pytest.fixture
def daemon(settings: dict[str, str], tmp_path: Path) -> Iterator[process.Daemon]:
    running = process.start(settings, tmp_path / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()


def _import(settings: dict[str, str], folder: Path, commitments: list[dict[str, object]]) -> None:
    path = folder / "pledges.yaml"
    document = {
        "source": {"title": "Test desk", "publisher": "pledgewatch tests"},
        "timezone": "UTC",
        "commitments": commitments,
    }
    path.write_text(yaml.safe_dump(document))
    result = process.cli("import", str(path), settings=settings)
    assert result.returncode == 0, result.stderr


def _at(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


class Scrape:
    """One /metrics answer, parsed."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.text = response.text
        self.samples: list[Sample] = [
            sample
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """Return the one sample named `name` with exactly these labels, or None."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else None


def _scrape(daemon: process.Daemon) -> Scrape:
    response = httpx.get(f"{daemon.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return Scrape(response)


def _scrape_until(
    daemon: process.Daemon, name: str, labels: dict[str, str], at_least: float
) -> Scrape:
    """Scrape (bounded) until a sample reaches `at_least`: the hook runs just after the record."""
    deadline = time.monotonic() + 20
    while True:
        scrape = _scrape(daemon)
        if (scrape.value(name, **labels) or 0) >= at_least or time.monotonic() > deadline:
            return scrape
        time.sleep(0.1)


def _held(daemon: process.Daemon) -> tuple[int, int]:
    """Return the pledges snoozed and the tags silenced, as /health reports them."""
    checks = httpx.get(f"{daemon.url}/health", timeout=10).json()["checks"]
    return (
        checks["pledges:snoozed"][0]["observedValue"],
        checks["tags:silenced"][0]["observedValue"],
    )


class TestMetrics:
    def test_a_delivered_notice_shows_in_the_counters_the_histograms_and_the_table_gauges(
        self,
        settings: dict[str, str],
        daemon: process.Daemon,
        receiver: Receiver,
        hook_path: str,
        tmp_path: Path,
    ) -> None:
        _import(
            settings,
            tmp_path,
            [
                {"id": "draft-constitution", "title": "Draft constitution", "deadline": _at(2)},
                # Nothing owed for a month: counted among the pledges, never planned here.
                {"id": "ceasefire", "title": "Ceasefire", "deadline": _at(30 * 86400)},
            ],
        )
        receiver.wait_for(hook_path, timeout=20)
        delivered = {"webhook": "desk", "outcome": "delivered"}
        scrape = _scrape_until(daemon, "pledgewatch_deliveries_total", delivered, 1)

        assert scrape.response.headers["content-type"].startswith("text/plain; version=")
        assert scrape.value("pledgewatch_deliveries_total", **delivered) == 1
        for outcome in ("failed", "dead", "disabled", "lease_lost"):
            assert (
                scrape.value("pledgewatch_deliveries_total", webhook="desk", outcome=outcome) == 0
            )
        assert scrape.value("pledgewatch_notices_planned_total", type="commitment.due") == 1
        assert scrape.value("pledgewatch_notices_planned_total", type="commitment.reminder") == 0
        assert scrape.value("pledgewatch_notices_skipped_total") == 0

        # From the notice's instant to the 2xx: one observation, seconds at most here.
        assert scrape.value("pledgewatch_delivery_latency_seconds_count", webhook="desk") == 1
        latency = scrape.value("pledgewatch_delivery_latency_seconds_sum", webhook="desk")
        assert latency is not None and 0 <= latency < 30
        assert (
            scrape.value("pledgewatch_delivery_request_duration_seconds_count", webhook="desk") == 1
        )

        # Read from the tables at scrape time.
        assert scrape.value("pledgewatch_database_up") == 1
        assert scrape.value("pledgewatch_scrape_errors_total") == 0
        assert scrape.value("pledgewatch_outbox_pending") == 0
        assert scrape.value("pledgewatch_outbox_oldest_pending_age_seconds") == 0
        for status in STATUSES:
            expected = 2 if status == "open" else 0
            assert scrape.value("pledgewatch_pledges", status=status) == expected, status
        assert scrape.value("pledgewatch_webhooks_disabled") == 0
        assert scrape.value("pledgewatch_webhook_disabled", webhook="desk") == 0

        # Both drains have run, and recently.
        for drain in ("plan", "send"):
            assert (scrape.value("pledgewatch_tick_duration_seconds_count", drain=drain) or 0) >= 1
            last = scrape.value("pledgewatch_last_tick_timestamp_seconds", drain=drain)
            assert last is not None and abs(time.time() - last) < 120
        assert scrape.value("pledgewatch_build_info", version=__version__) == 1

        # Bounded labels only: never the webhook's URL or its secret.
        assert receiver.url not in scrape.text and hook_path not in scrape.text
        assert SECRET not in scrape.text

    def test_a_status_change_and_a_snooze_show_in_the_next_scrape_and_health_report(
        self, settings: dict[str, str], daemon: process.Daemon, tmp_path: Path
    ) -> None:
        """The pledge counts are kept between reads: a change made meanwhile must still show."""
        _import(
            settings,
            tmp_path,
            # Tagged: a tag no pledge has cannot be silenced.
            [{"id": "ceasefire", "title": "Ceasefire", "deadline": _at(9e5), "tags": ["talks"]}],
        )
        assert (
            _scrape_until(daemon, "pledgewatch_pledges", {"status": "open"}, 1).value(
                "pledgewatch_pledges", status="open"
            )
            == 1
        )
        assert _held(daemon) == (0, 0)

        changed = process.cli("set-status", "ceasefire", "in_progress", settings=settings)
        snoozed = process.cli("snooze", "ceasefire", "--until", "3d", settings=settings)
        silenced = process.cli("silence", "--tag", "talks", "--until", "1d", settings=settings)
        assert (changed.returncode, snoozed.returncode, silenced.returncode) == (0, 0, 0)

        scrape = _scrape_until(daemon, "pledgewatch_pledges", {"status": "in_progress"}, 1)
        assert scrape.value("pledgewatch_pledges", status="in_progress") == 1
        assert scrape.value("pledgewatch_pledges", status="open") == 0
        deadline = time.monotonic() + 20
        while _held(daemon) != (1, 1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _held(daemon) == (1, 1)

    def test_prometheus_asking_for_openmetrics_gets_it_and_the_route_is_not_in_the_api_schema(
        self, daemon: process.Daemon
    ) -> None:
        response = httpx.get(
            f"{daemon.url}/metrics",
            headers={"accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/openmetrics-text")
        assert response.text.rstrip().endswith("# EOF")
        assert "pledgewatch_database_up 1" in response.text
        schema = httpx.get(f"{daemon.url}/openapi.json", timeout=10).json()
        assert "/metrics" not in schema["paths"]
