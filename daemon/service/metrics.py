"""Prometheus metrics: counters bumped where the work happens, gauges read from the tables.

Each `Metrics` owns a registry of its own, never the process-wide default, so
several daemons or apps in one process never clash. The planner, the
dispatcher and the drains report to it as they work; the outbox backlog,
pledges by status and disabled webhooks are read from the database at scrape
time, so every replica shows the same, current figures. Counting the pledges
by status reads every pledge: with a `generation` to tell whether the tables
may have changed since, a scrape reuses the last count.

Labels are bounded: webhook names come from the settings, notice types,
outcomes and statuses are enums. No URL or secret ever becomes a label.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Row, func, select

from daemon import __version__
from daemon.clock import Clock
from daemon.delivery import retry
from daemon.model.schedule import NoticeType, Planned
from daemon.model.statuses import Status
from daemon.settings import CONSOLE
from daemon.store import connector, waiting, webhooks
from daemon.store.schema import Commitment

logger = logging.getLogger(__name__)

# The `_created` series would double every counter and histogram; no alert reads them.
disable_created_metrics()

# From a notice's instant to its 2xx: milliseconds when all is well, hours or a
# day when a receiver was down or the daemon caught up after downtime.
LATENCY_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    *(300, 1800, 3600, 21600, 86400),
)
# One POST: bounded by the webhook's timeout (15 s by default).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# What one attempt made of its delivery (the `outcome` label).
OUTCOMES = ("delivered", "failed", "dead", "disabled", "lease_lost")


def outcome_label(decision: retry.Decision | None) -> str:
    """Return the `outcome` label of one attempt; `decision` is None when its lease was lost.

    * delivered: the receiver answered 2xx (or the console printed it).
    * failed: it did not, and the delivery waits for its next retry.
    * dead: no retry is left, or waiting cannot help (a refused target).
    * disabled: the receiver answered 410 Gone; the webhook is disabled.
    * lease_lost: the attempt outlived its lease and another worker took it over.
    """
    if decision is None:
        return "lease_lost"
    if decision.disable_webhook:
        return "disabled"
    if decision.state == "pending":
        return "failed"
    return decision.state


class Metrics:
    """The instruments of one daemon, on a registry of its own.

    Usage::

        metrics = Metrics(["desk"])
        metrics.watch_tables(engine, clock)  # the gauges read at scrape time
        body, content_type = metrics.render(request.headers.get("accept"))
    """

    def __init__(self, webhook_names: Sequence[str] = ()) -> None:
        self.registry = CollectorRegistry()
        self.webhook_names: tuple[str, ...] = ()
        reg = self.registry
        self.notices_planned = Counter(
            "pledgewatch_notices_planned",
            "Notices written to the outbox by this process, by event type "
            "(scheduled notices, and status changes given their deliveries).",
            ["type"],
            registry=reg,
        )
        self.notices_skipped = Counter(
            "pledgewatch_notices_skipped",
            "Missed notices dropped by the catch-up policy `none` (each is logged).",
            registry=reg,
        )
        self.notices_folded = Counter(
            "pledgewatch_notices_folded",
            "Missed notices folded into a later one by the catch-up policy `latest`.",
            registry=reg,
        )
        self.deliveries = Counter(
            "pledgewatch_deliveries",
            "Delivery attempts by webhook and outcome "
            "(delivered, failed, dead, disabled, lease_lost).",
            ["webhook", "outcome"],
            registry=reg,
        )
        self.delivery_latency = Histogram(
            "pledgewatch_delivery_latency_seconds",
            "From a notice's scheduled instant to the receiver's 2xx.",
            ["webhook"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.request_duration = Histogram(
            "pledgewatch_delivery_request_duration_seconds",
            "How long one webhook request took, whatever its outcome.",
            ["webhook"],
            buckets=REQUEST_BUCKETS,
            registry=reg,
        )
        self.tick_duration = Histogram(
            "pledgewatch_tick_duration_seconds",
            "How long one run of a drain took (plan: pledges to the outbox; send: the outbox to webhooks).",
            ["drain"],
            buckets=TICK_BUCKETS,
            registry=reg,
        )
        self.last_tick = Gauge(
            "pledgewatch_last_tick_timestamp_seconds",
            "When a drain last finished a run, in Unix seconds.",
            ["drain"],
            registry=reg,
        )
        Info("pledgewatch_build", "The running version.", registry=reg).info(
            {"version": __version__}
        )
        # Every series exists from the start at 0, so rate() and alerts see the first event.
        for type_ in NoticeType:
            self.notices_planned.labels(type_.value)
        self.set_webhooks(webhook_names)

    def set_webhooks(self, names: Sequence[str]) -> None:
        """Follow the configured webhooks (at start and on reload): new ones start at 0, gone ones go."""
        for name in set(self.webhook_names) - set(names):
            for outcome in OUTCOMES:
                self.deliveries.remove(name, outcome)
            self.delivery_latency.remove(name)
            self.request_duration.remove(name)
        for name in names:
            for outcome in OUTCOMES:
                self.deliveries.labels(name, outcome)
            self.delivery_latency.labels(name)
            self.request_duration.labels(name)
        self.webhook_names = tuple(names)

    def watch_tables(
        self, engine: Engine, clock: Clock, generation: Callable[[], Hashable] | None = None
    ) -> None:
        """Add the gauges read from the database at each scrape (see `TableCollector`)."""
        self.registry.register(
            TableCollector(
                engine,
                clock,
                lambda: [n for n in self.webhook_names if n != CONSOLE],
                generation=generation,
            )
        )

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """Return the exposition the `Accept` header asks for (Prometheus text by default)."""
        encode, content_type = choose_encoder(accept or "")
        return encode(self.registry), content_type

    def planned(self, written: Sequence[Planned], skipped: int) -> None:
        """Count the notices one planning step wrote, and those it skipped."""
        for planned in written:
            self.notices_planned.labels(planned.notice.type.value).inc()
            self.notices_folded.inc(planned.missed)
        self.notices_skipped.inc(skipped)

    def fanned_out(self, type_: str) -> None:
        """Count an event written outside the daemon (a status change) given its deliveries."""
        self.notices_planned.labels(type_).inc()

    def attempted(
        self, row: Row, outcome: retry.Outcome, decision: retry.Decision | None, now: datetime
    ) -> None:
        """Count one attempt; on delivery, observe the latency from the notice's instant."""
        self.deliveries.labels(row.webhook, outcome_label(decision)).inc()
        self.request_duration.labels(row.webhook).observe(outcome.duration_ms / 1000)
        if decision is not None and decision.state == "delivered":
            # Never negative: a clock step back must not land below the first bucket.
            late = max((now - row.scheduled_for).total_seconds(), 0.0)
            self.delivery_latency.labels(row.webhook).observe(late)

    def ticked(self, drain: str, seconds: float, now: datetime) -> None:
        """Record one finished run of a drain."""
        self.tick_duration.labels(drain).observe(seconds)
        self.last_tick.labels(drain).set(now.timestamp())


@dataclass(frozen=True)
class _Tables:
    """What one scrape read from the database."""

    pending: int
    oldest_seconds: float
    statuses: dict[str, int]
    disabled: frozenset[str]


class TableCollector(Collector):
    """Gauges read from the tables at scrape time; a database error never fails the scrape.

    When the database does not answer, `pledgewatch_database_up` is 0, the
    error counter grows and the table gauges are left out (absent, not a
    misleading 0); everything counted in memory is still exported.

    The pledges by status are counted again only when `generation()` (when
    given) returns a token other than at the last count: counting reads every
    pledge, the rest are index reads.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        webhook_names: Callable[[], Sequence[str]],
        *,
        generation: Callable[[], Hashable] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._webhooks = webhook_names  # the configured ones, as of this scrape
        self._generation = generation
        self._statuses: tuple[Hashable, dict[str, int]] | None = None  # (token, counts)

        self._lock = threading.Lock()
        self._errors = 0

    def describe(self) -> Iterator[Metric]:
        """Name the families without reading the database (checked at registration)."""
        yield from self._families(up=False, errors=0, tables=None)

    def collect(self) -> Iterator[Metric]:
        """Read the tables once and return every family."""
        try:
            tables = self._read()
        except Exception as exc:
            with self._lock:
                self._errors += 1
            logger.warning(
                "metrics: database not read",
                extra={"action": "metrics_database_failed", "error": connector.describe_error(exc)},
            )
            tables = None
        with self._lock:
            errors = self._errors
        yield from self._families(up=tables is not None, errors=errors, tables=tables)

    def _read(self) -> _Tables:
        now = self._clock()
        token = self._generation() if self._generation is not None else None
        kept = self._statuses
        with connector.read(self._engine) as conn:
            disabled = webhooks.disabled(conn)
            backlog = waiting.backlog(conn, now, held=list(disabled))
            if token is not None and kept is not None and kept[0] == token:
                statuses = kept[1]
            else:
                by_status = conn.execute(
                    select(Commitment.status, func.count()).group_by(Commitment.status)
                ).all()
                # Archived pledges are not counted: the few there are, read on their index.
                archived = conn.execute(
                    select(Commitment.status, func.count())
                    .where(Commitment.archived_at.is_not(None))
                    .group_by(Commitment.status)
                ).all()
                statuses = {status: count for status, count in by_status}
                for status, count in archived:
                    # Never below 0, should a change commit between the two reads.
                    statuses[status] = max(statuses.get(status, 0) - count, 0)
                if token is not None:
                    self._statuses = (token, statuses)
        return _Tables(
            pending=backlog["pending"],
            oldest_seconds=backlog["most_overdue_seconds"],
            statuses=statuses,
            disabled=frozenset(disabled),
        )

    def _families(self, *, up: bool, errors: int, tables: _Tables | None) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "pledgewatch_database_up",
            "1 when the last scrape read the database, 0 when it did not answer.",
            value=1 if up else 0,
        )
        yield CounterMetricFamily(
            "pledgewatch_scrape_errors",
            "Scrapes whose database reads failed (the table gauges were left out).",
            value=errors,
        )
        pending = GaugeMetricFamily(
            "pledgewatch_outbox_pending", "Deliveries pending: due, waiting for a retry, or held."
        )
        oldest = GaugeMetricFamily(
            "pledgewatch_outbox_oldest_pending_age_seconds",
            "How long the most overdue pending delivery has been due without an attempt "
            "(0 when none is; waits for a retry and disabled webhooks do not count).",
        )
        pledges = GaugeMetricFamily(
            "pledgewatch_pledges",
            "Commitments by stored status (archived ones left out).",
            labels=["status"],
        )
        disabled = GaugeMetricFamily(
            "pledgewatch_webhooks_disabled",
            "Configured webhooks disabled after a 410 Gone.",
        )
        each = GaugeMetricFamily(
            "pledgewatch_webhook_disabled",
            "1 when this configured webhook is disabled after a 410 Gone "
            "(`pledgewatch enable-webhook NAME`), else 0.",
            labels=["webhook"],
        )
        if tables is not None:
            pending.add_metric([], tables.pending)
            oldest.add_metric([], tables.oldest_seconds)
            # Every status, 0 where none: a series that appears late breaks rate() and alerts.
            for status in Status:
                pledges.add_metric([status.value], tables.statuses.get(status.value, 0))
            configured = self._webhooks()
            disabled.add_metric([], sum(1 for name in configured if name in tables.disabled))
            for name in configured:
                each.add_metric([name], 1 if name in tables.disabled else 0)
        yield from (pending, oldest, pledges, disabled, each)
