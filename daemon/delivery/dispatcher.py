"""The dispatcher: lease due deliveries, hand them to the senders, record every attempt.

The senders (`senders.SenderPool`) only send; the database is the drain's.
Each of its turns records every outcome that finished since the last and
leases what there is room for, in one transaction. A webhook's share is
`per_webhook` senders with up to `PREFETCH` leased deliveries each, queued at
the poster: a sender that finishes takes the next from the queue at once
instead of waiting for a turn, and under load one turn serves several
deliveries. How many is a webhook's pace: as many as its recent posts show
it can take within the lease (`_depth`), so a slow webhook's queue holds no
more than it will send. A webhook with its share leased is skipped by the
next claim, so a slow one cannot hold the others up.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import Connection, Engine, Row

from daemon.clock import Clock
from daemon.delivery import retry, senders
from daemon.settings import CONSOLE, Settings
from daemon.store import claims, connector, outbox, waiting, webhooks

logger = logging.getLogger(__name__)

PREFETCH = 32  # most deliveries leased per sender: one being sent, the rest waiting their turn
PACE_WEIGHT = 1 / 8  # the weight of each new post in a webhook's mean duration
CONSOLE_TIMEOUT = timedelta(seconds=15)  # the console's, for the lease
LEASE_SENDS = 2  # a lease covers this many sends' timeouts, plus the margin
OTHERS_EVERY = timedelta(minutes=1)  # see Dispatcher._others_at


@dataclass
class WebhookHealth:
    """What /health shows for one webhook; kept in memory by the daemon."""

    consecutive_failures: int = 0
    last_error: str | None = None
    last_success: datetime | None = None
    delivered: int = 0
    failed: int = 0


class Dispatcher:
    """Sends due deliveries through `poster` (`offload`, or `sending.Sending`), several at a time."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        poster: senders.Poster,
        clock: Clock,
        *,
        worker: str,
        workers: int = 8,
        per_webhook: int = 4,
        out: TextIO | None = None,
        on_done: Callable[[], None] = lambda: None,
        on_attempt: Callable[[Row, retry.Outcome, retry.Decision | None, datetime], None] = (
            lambda *_: None
        ),
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._worker = worker
        self._workers = workers
        self._per_webhook = per_webhook
        self._on_attempt = on_attempt  # counts each attempt (None: the lease was lost)
        self._senders = senders.SenderPool(
            settings,
            poster,
            clock,
            workers=workers,
            per_webhook=per_webhook,
            out=out,
            on_done=on_done,
        )
        self._turn_lock = threading.Lock()  # one turn at a time: the drain's, or close()'s
        # When to look for deliveries of webhooks not configured here (removed from
        # the settings): at start, after a reload, then when the next of them falls due
        # and at least every OTHERS_EVERY (a replay may have made one due). It reads
        # every due delivery, so not at each turn.
        self._others_at: datetime | None = clock()
        self._orphan_due: datetime | None = None  # when the next of them falls due
        self._pace: dict[str, float] = {}  # per webhook, a moving mean of its posts' seconds
        self.health: dict[str, WebhookHealth] = {}

    @property
    def settings(self) -> Settings:
        """The settings in force; replacing them (a reload) looks again for orphaned deliveries."""
        return self._senders.settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._senders.settings = settings
        self._others_at = self._clock()

    @property
    def stopping(self) -> bool:
        """True once the daemon stops: nothing more is claimed or sent."""
        return self._senders.stopping

    @stopping.setter
    def stopping(self, stopping: bool) -> None:
        self._senders.stopping = stopping

    @property
    def in_flight(self) -> int:
        """Return how many leased deliveries this process holds and has not recorded."""
        return self._senders.in_flight

    def send_due(self) -> datetime | None:
        """Record what finished, lease what there is room for; return the next due instant.

        Loops while sends keep finishing; returns None when every share is
        leased (a finishing send wakes the drain) or the next instant a
        delivery falls due.
        """
        while not self.stopping:
            finished = self._senders.take_finished()
            next_at, leased = self._turn(finished)
            if not leased and not self._senders.has_finished():
                return next_at
        return None

    def close(self, grace: float = 10.0) -> None:
        """Stop claiming; for up to `grace` seconds record sends as they finish, then close the poster.

        Deliveries leased but not yet sent are dropped here: the daemon hands
        their leases back (`outbox.release`) so they are sent at once elsewhere.
        """
        self._senders.close(grace, self._record_while_closing)

    def _record_while_closing(self, finished: list[senders.Finished], wait: float) -> None:
        try:
            self._turn(finished, wait=wait)
        except Exception:
            pass  # logged per delivery; their leases run out and they are sent again

    def _turn(
        self, finished: list[senders.Finished], wait: float = -1
    ) -> tuple[datetime | None, int]:
        """Record `finished` and lease up to the room left, in one transaction.

        Returns the next instant a delivery falls due when nothing was leased
        (None: a finishing send wakes the drain) and how many were leased.
        Waits up to `wait` seconds (-1: for as long as it takes) for a turn in
        progress elsewhere to end; after that, `finished` stays unrecorded.
        """
        if not self._turn_lock.acquire(timeout=wait):
            self._not_recorded(finished, TimeoutError("a turn in progress did not end in time"))
            self._senders.release(item.row.id for item in finished)
            return None, 0
        try:
            now = self._clock()
            targets = sorted(self.settings.webhooks) or [CONSOLE]
            claim = not self.stopping
            others = claim and self._others_at is not None and self._others_at <= now
            done = {item.row.id for item in finished}
            kept = self._senders.held(excluding=done)
            held, skip = list(kept.values()), set(kept)
            room = self._workers * PREFETCH - len(held)
            self._keep_pace(finished)
            per_webhook = {
                name: self._per_webhook * self._depth(name) - held.count(name) for name in targets
            }
            claim = claim and room > 0 and (others or any(n > 0 for n in per_webhook.values()))
            if not (finished or claim):
                return None, 0  # every share leased: a finishing send wakes the drain
            recorded: list[bool] = []
            leased: list[senders.Leased] = []
            next_at = None
            failed: Exception | None = None
            try:
                with connector.write(self._engine) as conn:
                    recorded = self._record(conn, finished)
                    if claim:
                        try:
                            # A savepoint: a claim that fails must not take the
                            # outcomes recorded above with it (they would be sent again).
                            with conn.begin_nested():
                                leased, next_at = self._lease(
                                    conn, now, targets, per_webhook, room, others, skip
                                )
                        except Exception as exc:
                            failed = exc
            except Exception as exc:
                self._not_recorded(finished, exc)
                raise
            finally:
                self._senders.release(done)
            for item, held_lease in zip(finished, recorded, strict=True):
                self._count_and_log(item, held_lease)
            if failed is not None:
                raise failed  # the drain reports it and tries again shortly
            self._senders.queue(leased)
            return next_at, len(leased)
        finally:
            self._turn_lock.release()

    def _lease(
        self,
        conn: Connection,
        now: datetime,
        targets: list[str],
        per_webhook: dict[str, int],
        room: int,
        others: bool,
        skip: set[str],
    ) -> tuple[list[senders.Leased], datetime | None]:
        """Lease due deliveries up to the room left; with none, return when the next falls due."""
        # A webhook gone (410) takes nothing until an operator enables it again; only
        # configured ones count: one since removed is claimed as any other's, and dies.
        gone = set(webhooks.disabled(conn)) & set(targets)
        self._senders.set_gone(gone)
        for name in gone:
            per_webhook.pop(name, None)
        open_ = {name: left for name, left in per_webhook.items() if left > 0}
        # One statement says which webhooks with room have anything due: only those
        # are claimed from, so idle webhooks cost a probe each, not a claim each.
        earliest = waiting.earliest_due(conn, list(open_))
        # The webhook whose oldest due delivery is oldest first: claims stop once the
        # room is filled, and none waits for long, since its head only grows older.
        heads = sorted(
            (at, name) for name in open_ if (at := earliest.get(name)) is not None and at <= now
        )
        due = {name: open_[name] for _, name in heads}
        until = now + self._lease_time()
        rows = claims.claim_deliveries(
            conn,
            now,
            token=f"{self._worker}/{uuid.uuid4().hex[:8]}",
            lease_until=until,
            room=due,
            limit=room,
            others=targets if others else None,
            skip_ids=skip,
        )
        if others and sum(row.webhook not in targets for row in rows) < room:
            # Every due one was taken: look again when the next falls due.
            self._orphan_due = waiting.next_attempt_at(conn, skip_webhooks=targets)
            self._others_at = min(filter(None, (self._orphan_due, now + OTHERS_EVERY)))
        if rows:
            return [senders.Leased(row, until) for row in rows], None
        # Webhooks with their share leased are woken by a finishing send, disabled
        # ones by an operator enabling them (a change the watch reports).
        next_at = min(filter(None, earliest.values()), default=None)
        return [], min(filter(None, (next_at, self._orphan_due)), default=None)

    def _keep_pace(self, finished: list[senders.Finished]) -> None:
        """Fold the durations of these posts into their webhooks' means."""
        for item in finished:
            if item.outcome.status_code is None and not item.outcome.timed_out:
                continue  # no answer to time: refused, or the posting process lost
            seconds = item.outcome.duration_ms / 1000
            mean = self._pace.get(item.row.webhook)
            self._pace[item.row.webhook] = (
                seconds if mean is None else mean + PACE_WEIGHT * (seconds - mean)
            )

    def _depth(self, webhook: str) -> int:
        """Return how many deliveries one sender of `webhook` may be leased at a time.

        As many as it would start before too little of the lease is left to
        finish and record one, at its mean pace; one it has not posted to yet
        is taken to use its full timeout. Between 1 and PREFETCH.
        """
        hook = self.settings.webhooks.get(webhook)
        timeout = (hook.timeout if hook is not None else CONSOLE_TIMEOUT).total_seconds()
        mean = self._pace.get(webhook, timeout)
        fits = 1 + int((LEASE_SENDS - 1) * timeout / max(mean, 1e-3))
        return max(1, min(PREFETCH, fits))

    def _lease_time(self) -> timedelta:
        # Two sends' time: a delivery queued behind one that takes its full timeout is
        # still sent within its lease, plus PLEDGEWATCH_LEASE_MARGIN to record it, so a
        # replica alive and sending records its outcome before another may take over.
        # One queued deeper behind slow sends is not started once too little of its
        # lease is left (`sending.Job.send_by`): it is claimed again when the lease ends.
        timeouts = [hook.timeout for hook in self.settings.webhooks.values()]
        return LEASE_SENDS * max(timeouts, default=CONSOLE_TIMEOUT) + self.settings.lease_margin

    def _record(self, conn: Connection, finished: list[senders.Finished]) -> list[bool]:
        """Record these attempts, in one batch; return, for each, whether its lease still held."""
        recorded = outbox.record_all(
            conn,
            [
                outbox.Attempted(
                    item.row.id,
                    item.row.token,
                    item.at,
                    outbox.Result(
                        item.decision.state,
                        item.decision.retry_at,
                        item.outcome.status_code,
                        item.outcome.error,
                        item.outcome.duration_ms,
                    ),
                )
                for item in finished
            ],
        )
        for item, held in zip(finished, recorded, strict=True):
            if held and item.decision.disable_webhook:
                outcome, at = item.outcome, item.at
                reason = f"HTTP {outcome.status_code} Gone at {at:%Y-%m-%d %H:%M:%SZ}"
                webhooks.disable(conn, item.row.webhook, reason=reason, now=at)
                if item.row.webhook in self.settings.webhooks:
                    self._senders.add_gone(item.row.webhook)
        return recorded

    def _not_recorded(self, finished: list[senders.Finished], exc: Exception) -> None:
        # The database is away: the leases run out and the deliveries are tried again
        # with the same webhook-id; the daemon goes on. An outage gets one line per
        # delivery; anything else is a bug, with its traceback.
        unavailable = connector.is_unavailable(exc)
        for item in finished:
            logger.log(
                logging.WARNING if unavailable else logging.ERROR,
                "delivery outcome not recorded",
                exc_info=None if unavailable else exc,
                extra={
                    "action": "delivery_not_recorded",
                    **senders.delivery_fields(item.row),
                    "error": connector.describe_error(exc),
                },
            )

    def _count_and_log(self, item: senders.Finished, recorded: bool) -> None:
        """Count and log one recorded attempt (lease lost: `recorded` False)."""
        row, outcome, decision = item.row, item.outcome, item.decision
        self._on_attempt(row, outcome, decision if recorded else None, item.at)
        health = self.health.setdefault(row.webhook, WebhookHealth())
        if outcome.ok:
            health.consecutive_failures = 0
            health.delivered += 1
            health.last_success = self._clock()
        else:
            health.consecutive_failures += 1
            health.failed += 1
            health.last_error = outcome.error
        fields: dict[str, Any] = {
            **senders.delivery_fields(row),
            "status": outcome.status_code,
            "duration_ms": round(outcome.duration_ms, 1),
        }
        if not recorded:
            logger.debug(
                "lease lost before recording", extra={"action": "delivery_lease_lost", **fields}
            )
        elif decision.state == "delivered":
            logger.info("notice delivered", extra={"action": "notice_delivered", **fields})
        elif decision.disable_webhook:
            # Not a retry: the delivery waits, pending, until an operator enables the webhook.
            logger.warning(
                "webhook disabled after 410 Gone, delivery held until it is enabled again",
                extra={"action": "webhook_disabled", "error": outcome.error, **fields},
            )
        elif decision.state == "dead":
            logger.warning(
                "delivery dead, the failure is permanent, no more attempts"
                if outcome.permanent
                else "delivery dead after its last retry, no more attempts",
                extra={"action": "delivery_dead", "error": outcome.error, **fields},
            )
        else:
            logger.warning(
                "delivery failed, will retry",
                extra={
                    "action": "delivery_retry",
                    "error": outcome.error,
                    "retry_at": decision.retry_at,
                    **fields,
                },
            )
