"""The planner: claim a due pledge, ask the model what it is owed, write the outbox.

Each step handles one unit in one transaction and returns True when it should
be called again at once. A pledge that cannot be planned is pushed an hour
ahead with its error kept, so one bad row never stalls the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from daemon.clock import Clock
from daemon.model import documents, schedule
from daemon.settings import Settings
from daemon.store import claims, connector, outbox, pledges

logger = logging.getLogger(__name__)

POISON_BACKOFF = timedelta(hours=1)
LOST_RACE_PAUSE = timedelta(milliseconds=100)


class Planner:
    """Turns due pledges into events and deliveries."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        clock: Clock,
        *,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._engine = engine
        self.settings = settings
        self._clock = clock
        self._on_enqueued = on_enqueued
        self.stopping = False
        self.planned = 0

    def drain(self) -> datetime | None:
        """Plan everything due now; return the next instant a pledge falls due."""
        while not self.stopping:
            now = self._clock()
            # Look first in a read transaction: writers are only serialised when there is work.
            with connector.read(self._engine) as conn:
                next_at, unfanned = claims.peek(conn)
            if next_at is not None and next_at <= now:
                if not self.plan_one(now):
                    return now + LOST_RACE_PAUSE  # another replica holds it: look again shortly
            elif unfanned:
                self.fan_out_one(now)
            else:
                return next_at
        return None

    def plan_one(self, now: datetime) -> bool:
        """Plan one due pledge; return False when none is due.

        1. Claim the pledge whose next notice is the most overdue.
        2. Ask the model what is owed in (planned_through, now] under the catch-up policy.
        3. Write each notice with one delivery per matching webhook (insert-or-ignore).
        4. Advance planned_through and next_notice_at, in the same transaction.
        """
        policy = self.settings.policy
        claimed: str | None = None
        written: list[schedule.Planned] = []
        try:
            with connector.write(self._engine) as conn:
                row = claims.claim_due_pledge(conn, now)
                if row is None:
                    return False
                claimed = row.id
                pledge = pledges.get(conn, row.id).pledge
                owed = schedule.plan(pledge, policy, row.planned_through, now)
                for planned in owed.send:
                    notice = planned.notice
                    body = documents.notice_body(
                        pledge, notice, missed=planned.missed, late=planned.late
                    )
                    event = outbox.enqueue(
                        conn,
                        pledge.id,
                        notice.type,
                        notice.at,
                        body,
                        pledge.tags,
                        now=now,
                        webhooks=self.settings.webhooks,
                    )
                    if event is not None:
                        written.append(planned)
                pledges.advance(
                    conn,
                    pledge.id,
                    planned_through=owed.through,
                    # The next notice, or the end of a snooze or silence holding it.
                    next_notice_at=schedule.wake_at(pledge, policy, owed.through),
                )
        except (OperationalError, InterfaceError):
            raise  # the database is away, not the pledge at fault: the drain retries shortly
        except Exception as exc:
            if claimed is None:
                raise
            self._defer(claimed, now, f"{type(exc).__name__}: {exc}")
            return True
        for planned in written:
            logger.info(
                "notice planned",
                extra={
                    "action": "notice_planned",
                    "commitment": pledge.id,
                    "type": planned.notice.type.value,
                    "scheduled_for": planned.notice.at,
                    "late": planned.late or None,
                    "missed": planned.missed or None,
                },
            )
        if owed.skipped:
            logger.warning(
                "missed notices skipped by the catch-up policy",
                extra={
                    "action": "catch_up_skipped",
                    "commitment": pledge.id,
                    "policy": policy.catch_up,
                    "count": owed.skipped,
                },
            )
        if written:
            self.planned += len(written)
            self._on_enqueued()
        return True

    def fan_out_one(self, now: datetime) -> bool:
        """Give one event written outside the daemon (a status change) its deliveries."""
        with connector.write(self._engine) as conn:
            row = claims.claim_unfanned_event(conn)
            if row is None:
                return False
            outbox.fan_out(
                conn, row.id, row.type, row.tags, now=now, webhooks=self.settings.webhooks
            )
        self._on_enqueued()
        return True

    def _defer(self, pledge_id: str, now: datetime, error: str) -> None:
        # A fresh transaction: the failed one was rolled back with everything it wrote.
        with connector.write(self._engine) as conn:
            pledges.defer(conn, pledge_id, until=now + POISON_BACKOFF, error=error)
        logger.error(
            "pledge could not be planned; retrying in an hour",
            extra={"action": "pledge_plan_failed", "commitment": pledge_id, "error": error},
        )
