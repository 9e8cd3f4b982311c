"""The planner: claim due pledges, ask the model what each is owed, write the outbox.

Each step handles a batch of due pledges in one transaction and returns True
when it should be called again at once. A pledge that cannot be planned is
pushed an hour ahead with its error kept, so one bad row never stalls the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from daemon.clock import Clock
from daemon.model import documents, schedule
from daemon.service import metrics
from daemon.settings import Settings
from daemon.store import claims, connector, cursors, outbox, pledges

logger = logging.getLogger(__name__)

POISON_BACKOFF = timedelta(hours=1)
LOST_RACE_PAUSE = timedelta(milliseconds=100)
BATCH = 100  # due pledges claimed and planned in one transaction


@dataclass(frozen=True)
class _Outcome:
    """What planning one pledge wrote, reported once its transaction has committed."""

    pledge_id: str
    skipped: int
    written: list[schedule.Planned]


class Planner:
    """Turns due pledges into events and deliveries."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        *,
        on_enqueued: Callable[[], None] = lambda: None,
        instruments: metrics.Metrics | None = None,
    ) -> None:
        self._engine = engine
        self.settings = settings
        self._clock = clock
        self._on_enqueued = on_enqueued
        self.stopping = False
        # When the last unit of work began (monotonic): the watchdog's sign of progress
        # inside a long run, such as a catch-up after downtime.
        self.progressed_at: float | None = None
        self._metrics = instruments or metrics.Metrics()

    def drain(self) -> datetime | None:
        """Plan everything due now; return the next instant a pledge falls due."""
        while not self.stopping:
            now = self._clock()
            self.progressed_at = time.monotonic()
            # Look first in a read transaction: writers are only serialised when there is work.
            with connector.read(self._engine) as conn:
                next_at, unfanned = claims.peek(conn)
            if next_at is not None and next_at <= now:
                if not self.plan_due(now):
                    return now + LOST_RACE_PAUSE  # another replica holds them: look again shortly
            elif unfanned:
                self.fan_out_one(now)
            else:
                return next_at
        return None

    def plan_due(self, now: datetime) -> bool:
        """Plan up to BATCH due pledges in one transaction; return False when none is due.

        A burst (many pledges due at one instant, a catch-up after downtime) then
        costs one claim and one commit per batch, not per pledge. When one pledge
        of the batch fails, the whole batch is rolled back and planned again one
        pledge per transaction, so the bad one alone is deferred.
        """
        done: list[_Outcome] = []
        claimed = 0
        try:
            with connector.write(self._engine) as conn:
                rows = claims.claim_due_pledges(conn, now, limit=BATCH)
                claimed = len(rows)
                done = self._plan(conn, pledges.from_rows(conn, rows), now)
        except Exception as exc:
            # The database away is not a pledge at fault: the drain retries shortly.
            if claimed == 0 or connector.is_unavailable(exc):
                raise
            for _ in range(claimed):
                if not self.plan_one(now):
                    break
            return True
        if not done:
            return False
        self._report(done)
        return True

    def plan_one(self, now: datetime) -> bool:
        """Plan one due pledge in a transaction of its own; return False when none is due.

        1. Claim the pledge whose next notice is the most overdue.
        2. Ask the model what is owed in (planned_through, now] under the catch-up policy.
        3. Write each notice with one delivery per matching webhook (insert-or-ignore).
        4. Advance planned_through and next_notice_at, in the same transaction.
        """
        claimed: str | None = None
        try:
            with connector.write(self._engine) as conn:
                rows = claims.claim_due_pledges(conn, now, limit=1)
                if not rows:
                    return False
                claimed = rows[0].id
                done = self._plan(conn, pledges.from_rows(conn, rows), now)
        except Exception as exc:
            if claimed is None or connector.is_unavailable(exc):
                raise  # the database away is not the pledge at fault: the drain retries shortly
            self._defer(claimed, now, f"{type(exc).__name__}: {exc}")
            return True
        self._report(done)
        return True

    def _plan(
        self, conn: Connection, claimed: list[pledges.Stored], now: datetime
    ) -> list[_Outcome]:
        """Steps 2 to 4 of `plan_one` for claimed pledges, in the caller's transaction.

        The model decides for each pledge alone; the writes go out as one
        statement each for all of them: events, deliveries, cursors.
        """
        policy = self.settings.policy
        owed = [schedule.plan(s.pledge, policy, s.planned_through, now) for s in claimed]
        events = [
            outbox.NewEvent(
                s.pledge.id,
                planned.notice.type,
                planned.notice.at,
                documents.notice_body(
                    s.pledge, planned.notice, missed=planned.missed, late=planned.late
                ),
                s.pledge.tags,
            )
            for s, plan in zip(claimed, owed, strict=True)
            for planned in plan.send
        ]
        ids = outbox.enqueue_all(conn, events, now=now, webhooks=self.settings.webhooks)
        cursors.advance(
            conn,
            [
                # The next notice, or the end of a snooze or silence holding it.
                (s.pledge.id, plan.through, schedule.wake_at(s.pledge, policy, plan.through))
                for s, plan in zip(claimed, owed, strict=True)
            ],
        )
        done, start = [], 0
        for s, plan in zip(claimed, owed, strict=True):
            new = ids[start : start + len(plan.send)]
            start += len(plan.send)
            # Only what was new: an event already written (a replica's) is not counted twice.
            written = [p for p, event_id in zip(plan.send, new, strict=True) if event_id]
            done.append(_Outcome(s.pledge.id, plan.skipped, written))
        return done

    def _report(self, done: list[_Outcome]) -> None:
        """Log and count what committed transactions wrote; wake the dispatcher once."""
        policy = self.settings.policy
        for outcome in done:
            for planned in outcome.written:
                logger.info(
                    "notice planned",
                    extra={
                        "action": "notice_planned",
                        "commitment": outcome.pledge_id,
                        "type": planned.notice.type.value,
                        "scheduled_for": planned.notice.at,
                        "late": planned.late or None,
                        "missed": planned.missed or None,
                    },
                )
            self._metrics.planned(outcome.written, outcome.skipped)
            if outcome.skipped:
                logger.warning(
                    "missed notices skipped by the catch-up policy",
                    extra={
                        "action": "catch_up_skipped",
                        "commitment": outcome.pledge_id,
                        "policy": policy.catch_up,
                        "count": outcome.skipped,
                    },
                )
        if any(outcome.written for outcome in done):
            self._on_enqueued()

    def fan_out_one(self, now: datetime) -> bool:
        """Give one event written outside the daemon (a status change) its deliveries."""
        with connector.write(self._engine) as conn:
            row = claims.claim_unfanned_event(conn)
            if row is None:
                return False
            outbox.fan_out(
                conn, row.id, row.type, row.tags, now=now, webhooks=self.settings.webhooks
            )
        self._metrics.fanned_out(row.type)
        self._on_enqueued()
        return True

    def _defer(self, pledge_id: str, now: datetime, error: str) -> None:
        # A fresh transaction: the failed one was rolled back with everything it wrote.
        with connector.write(self._engine) as conn:
            cursors.defer(conn, pledge_id, until=now + POISON_BACKOFF, error=error)
        logger.error(
            "pledge could not be planned; retrying in an hour",
            extra={"action": "pledge_plan_failed", "commitment": pledge_id, "error": error},
        )
