"""The dispatcher: lease due deliveries, send them, record every attempt.

Failures are values, not exceptions: each send returns an `Outcome`, and
`retry.decide` turns it into the delivery's next state. httpx errors are
caught here and nowhere else::

    httpx.HTTPError
     ├── httpx.TimeoutException   -> "timed out", retried
     └── any other httpx error    -> connection refused, reset, undecodable answer: retried
    guard.TargetRefused           -> dead at once, never retried
    guard.TargetUnresolved        -> retried (DNS may come back)
    anything else                 -> logged, recorded as a failed attempt, retried

A slow webhook cannot hold the others up: sends run on a thread pool, at most
`per_webhook` at a time to one webhook, and a webhook with its share leased
is skipped by the next claim.

The senders only send; the database is the drain's. Each of its turns
records every outcome that finished since the last and leases what there is
room for, in one transaction. A webhook's share is `per_webhook` senders with
`PREFETCH` leased deliveries each: a sender that finishes takes the next
from the queue at once instead of waiting for a turn, and under load one
turn serves several deliveries.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

import httpx
from sqlalchemy import Connection, Engine, Row

from daemon import __version__
from daemon.clock import Clock
from daemon.delivery import formats, guard, retry, signing
from daemon.settings import CONSOLE, Settings, WebhookSettings, mask_url
from daemon.store import claims, connector, outbox, webhooks

logger = logging.getLogger(__name__)

USER_AGENT = f"pledgewatch/{__version__}"
RESPONSE_LIMIT = 64 * 1024  # bytes of an answer read at most; the rest is never read
PREFETCH = 4  # deliveries leased per sender: one being sent, the rest waiting their turn
LEASE_SENDS = 2  # a lease covers this many sends' timeouts, plus the margin
OTHERS_EVERY = timedelta(minutes=1)  # see Dispatcher._others_at
DEFAULT_TIMEOUT = timedelta(seconds=15)  # the console's, for the lease


@dataclass(frozen=True)
class _Leased:
    """A delivery leased to this process, until `until`."""

    row: Row
    until: datetime


@dataclass(frozen=True)
class _Finished:
    """A send done and decided, waiting for the drain to record it."""

    row: Row
    outcome: retry.Outcome
    decision: retry.Decision
    at: datetime


@dataclass
class WebhookHealth:
    """What /health shows for one webhook; kept in memory by the daemon."""

    consecutive_failures: int = 0
    last_error: str | None = None
    last_success: datetime | None = None
    delivered: int = 0
    failed: int = 0


class Dispatcher:
    """Sends due deliveries with one pooled `httpx.Client`, several at a time."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        client: httpx.Client,
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
        self._settings = settings
        self._client = client
        self._clock = clock
        self._worker = worker
        self._workers = workers
        self._per_webhook = per_webhook
        self._out = out or sys.stdout
        self._on_done = on_done  # wakes the drain: a send finished
        self._on_attempt = on_attempt  # counts each attempt (None: the lease was lost)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")
        self._lock = threading.Lock()
        self._sent = threading.Condition(self._lock)  # notified when a send finishes
        self._turn_lock = threading.Lock()  # one turn at a time: the drain's, or close()'s
        # Everything below is guarded by _lock. A delivery is held from its lease
        # until its outcome is recorded: waiting, being sent, or finished.
        self._held: dict[str, str] = {}  # delivery id -> webhook
        self._waiting: dict[str, deque[_Leased]] = {}  # per webhook, leased, not yet sent
        self._senders: dict[str, int] = {}  # per webhook, senders running
        self._finished: list[_Finished] = []  # sent, not yet recorded
        self._gone: set[str] = set()  # webhooks disabled (410): their queues are not sent
        # When to look for deliveries of webhooks not configured here (removed from
        # the settings): at start, after a reload, then when the next of them falls due
        # and at least every OTHERS_EVERY (a replay may have made one due). It reads
        # every due delivery, so not at each turn.
        self._others_at: datetime | None = clock()
        self._orphan_due: datetime | None = None  # when the next of them falls due
        self._starting = 0  # senders handed to the pool, not yet running
        self.stopping = False
        self.health: dict[str, WebhookHealth] = {}

    @property
    def settings(self) -> Settings:
        """The settings in force; replacing them (a reload) looks again for orphaned deliveries."""
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self._others_at = self._clock()

    def send_due(self) -> datetime | None:
        """Record what finished, lease what there is room for; return the next due instant.

        Loops while sends keep finishing; returns None when every share is
        leased (a finishing send wakes the drain) or the next instant a
        delivery falls due.
        """
        while not self.stopping:
            with self._lock:
                finished, self._finished = self._finished, []
            next_at, leased = self._turn(finished)
            if not leased:
                with self._lock:
                    if not self._finished:
                        return next_at
        return None

    def _turn(self, finished: list[_Finished], wait: float = -1) -> tuple[datetime | None, int]:
        """Record `finished` and lease up to the room left, in one transaction.

        Returns the next instant a delivery falls due when nothing was leased
        (None: a finishing send wakes the drain) and how many were leased.
        Waits up to `wait` seconds (-1: for as long as it takes) for a turn in
        progress elsewhere to end; after that, `finished` stays unrecorded.
        """
        if not self._turn_lock.acquire(timeout=wait):
            self._not_recorded(finished, TimeoutError("a turn in progress did not end in time"))
            with self._lock:
                for item in finished:
                    self._held.pop(item.row.id, None)
            return None, 0
        try:
            now = self._clock()
            targets = sorted(self.settings.webhooks) or [CONSOLE]
            claim = not self.stopping
            others = claim and self._others_at is not None and self._others_at <= now
            done = {item.row.id for item in finished}
            with self._lock:
                held = [webhook for key, webhook in self._held.items() if key not in done]
                skip = set(self._held) - done
            room = self._workers * PREFETCH - len(held)
            per_webhook = {
                name: self._per_webhook * PREFETCH - held.count(name) for name in targets
            }
            claim = claim and room > 0 and (others or any(n > 0 for n in per_webhook.values()))
            if not (finished or claim):
                return None, 0  # every share leased: a finishing send wakes the drain
            recorded: list[bool] = []
            leased: list[_Leased] = []
            next_at = None
            failed: Exception | None = None
            try:
                with connector.write(self._engine) as conn:
                    recorded = [self._record(conn, item) for item in finished]
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
                with self._lock:
                    for key in done:
                        self._held.pop(key, None)
            for item, held_lease in zip(finished, recorded, strict=True):
                self._note(item, held_lease)
            if failed is not None:
                raise failed  # the drain reports it and tries again shortly
            self._queue(leased)
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
    ) -> tuple[list[_Leased], datetime | None]:
        """Lease due deliveries up to the room left; with none, return when the next falls due."""
        # A webhook gone (410) takes nothing until an operator enables it again;
        # one since removed from the settings is claimed, and its deliveries die.
        # Only configured ones: one since removed is claimed as any other's, and dies.
        gone = set(webhooks.disabled(conn)) & set(targets)
        with self._lock:
            self._gone = gone
        for name in gone:
            per_webhook.pop(name, None)
        open_ = {name: left for name, left in per_webhook.items() if left > 0}
        until = now + self._lease_time()
        rows = claims.claim_deliveries(
            conn,
            now,
            token=f"{self._worker}/{uuid.uuid4().hex[:8]}",
            lease_until=until,
            room=open_,
            limit=room,
            others=targets if others else None,
            skip_ids=skip,
        )
        if others and sum(row.webhook not in targets for row in rows) < room:
            # Every due one was taken: look again when the next falls due.
            self._orphan_due = outbox.next_attempt_at(conn, skip_webhooks=targets)
            self._others_at = min(filter(None, (self._orphan_due, now + OTHERS_EVERY)))
        if rows:
            return [_Leased(row, until) for row in rows], None
        # Webhooks with their share leased are woken by a finishing send, disabled
        # ones by an operator enabling them (a change the watch reports).
        next_at = outbox.next_attempt_at(conn, webhooks=list(open_))
        return [], min(filter(None, (next_at, self._orphan_due)), default=None)

    def _lease_time(self) -> timedelta:
        # Two sends' time: a delivery queued behind one that takes its full timeout is
        # still sent within its lease, plus PLEDGEWATCH_LEASE_MARGIN to record it, so a
        # replica alive and sending records its outcome before another may take over.
        # One queued deeper behind slow sends is dropped by its sender instead (`_sender`).
        timeouts = [hook.timeout for hook in self.settings.webhooks.values()]
        return LEASE_SENDS * max(timeouts, default=DEFAULT_TIMEOUT) + self.settings.lease_margin

    def _timeout(self, webhook: str) -> timedelta:
        hook = self.settings.webhooks.get(webhook)
        return hook.timeout if hook is not None else DEFAULT_TIMEOUT

    def _queue(self, leased: list[_Leased]) -> None:
        """Queue leased deliveries for their webhooks' senders; start senders where there is room."""
        start: list[str] = []
        with self._lock:
            if self.stopping:
                return  # not held: the stopping daemon hands their leases back
            for item in leased:
                webhook = item.row.webhook
                self._held[item.row.id] = webhook
                self._waiting.setdefault(webhook, deque()).append(item)
            for webhook, queue in self._waiting.items():
                running = self._senders.get(webhook, 0)
                more = min(self._per_webhook - running, len(queue))
                if more > 0:
                    self._senders[webhook] = running + more
                    start += [webhook] * more
            self._starting += len(start)
        for webhook in start:
            self._start(webhook)

    def _start(self, webhook: str) -> None:
        try:
            self._pool.submit(self._sender, webhook)
        except RuntimeError:  # the pool is shut down: the daemon is stopping
            with self._lock:
                self._starting -= 1
                self._senders[webhook] -= 1

    def _sender(self, webhook: str) -> None:
        """Send `webhook`'s queued deliveries one after another until its queue is empty.

        When other senders wait for a pool thread, it hands its own over after
        each send and queues behind them: a webhook with a backlog takes its
        turn with the others instead of keeping the thread until it is done.
        """
        with self._lock:
            self._starting -= 1
        sent = False
        while True:
            with self._lock:
                queue = self._waiting.get(webhook)
                if self.stopping or not queue:
                    # In the same lock as the look at the queue: a delivery queued
                    # from now on finds one sender fewer, and starts one.
                    self._senders[webhook] -= 1
                    return
                if sent and self._starting > 0:
                    self._starting += 1
                    break
                item = queue.popleft()
                gone = webhook in self._gone
            margin = self._timeout(webhook) + self.settings.lease_margin
            if gone or self._clock() + margin > item.until:
                # Gone (410), or not enough lease left to finish and record it: let the
                # lease run out; the delivery is claimed again, here or by a replica
                # (once the webhook is enabled again), rather than sent twice.
                with self._lock:
                    self._held.pop(item.row.id, None)
                continue
            try:
                self._deliver(item.row)
            except Exception:
                # Not the send (`_deliver` turns its failures into outcomes): a bug.
                # The lease runs out and the delivery is tried again.
                logger.exception(
                    "delivery not handed back",
                    extra={"action": "delivery_crashed", **_names(item.row)},
                )
                with self._lock:
                    self._held.pop(item.row.id, None)
            sent = True
        self._start(webhook)

    def _deliver(self, row: Row) -> None:
        """Send one delivery and hand its outcome to the drain to record."""
        try:
            outcome = self._send(row)
        except Exception as exc:
            # A bug or an error nobody foresaw: record it as a failed attempt, so
            # the retry schedule still bounds it and it ends dead, not resent forever.
            logger.exception(
                "delivery failed unexpectedly",
                extra={"action": "delivery_crashed", **_names(row)},
            )
            outcome = retry.Outcome(None, f"internal error: {type(exc).__name__}", 0.0)
        now = self._clock()
        decision = retry.decide(row.attempts + 1, outcome, now, self.settings.retry_schedule)
        with self._lock:
            self._finished.append(_Finished(row, outcome, decision, now))
            self._sent.notify_all()
            # Wake the drain once a few outcomes wait, or when this webhook's queue is
            # empty (its senders would idle): not for each send, so a turn records several.
            wake = len(self._finished) >= self._per_webhook or not self._waiting.get(row.webhook)
        if wake:
            self._on_done()

    def _record(self, conn: Connection, item: _Finished) -> bool:
        """Record one attempt; return whether its lease still held."""
        outcome, decision, now = item.outcome, item.decision, item.at
        result = outbox.Result(
            decision.state,
            decision.retry_at,
            outcome.status_code,
            outcome.error,
            outcome.duration_ms,
        )
        recorded = outbox.record(conn, item.row.id, token=item.row.token, now=now, result=result)
        if recorded and decision.disable_webhook:
            reason = f"HTTP {outcome.status_code} Gone at {now:%Y-%m-%d %H:%M:%SZ}"
            webhooks.disable(conn, item.row.webhook, reason=reason, now=now)
            if item.row.webhook in self.settings.webhooks:
                with self._lock:
                    self._gone.add(item.row.webhook)
        return recorded

    def _not_recorded(self, finished: list[_Finished], exc: Exception) -> None:
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
                    **_names(item.row),
                    "error": connector.describe_error(exc),
                },
            )

    def _send(self, row: Row) -> retry.Outcome:
        """Post one delivery and return how it went; never raises for the receiver's faults."""
        started = time.perf_counter()
        if row.webhook == CONSOLE:
            print(formats.console_line(row.body), file=self._out, flush=True)
            return retry.Outcome(None, None, _ms(started))
        hook = self.settings.webhooks.get(row.webhook)
        if hook is None:
            message = f"webhook {row.webhook!r} is no longer configured"
            return retry.Outcome(None, message, 0.0, permanent=True)
        content, headers = self._request(row, hook)
        seconds = hook.timeout.total_seconds()
        try:
            with (
                guard.deadline(seconds),
                self._client.stream(
                    "POST", hook.url, content=content, headers=headers, timeout=seconds
                ) as response,
            ):
                _drain(response)
        except guard.TargetRefused as exc:
            return retry.Outcome(None, f"refused: {exc}", _ms(started), permanent=True)
        except guard.TargetUnresolved as exc:
            return retry.Outcome(None, str(exc), _ms(started))
        except httpx.TimeoutException:
            return retry.Outcome(
                None, f"timed out after {seconds:g}s", _ms(started), timed_out=True
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            message = _scrub(str(exc) or type(exc).__name__, hook)
            return retry.Outcome(None, f"{type(exc).__name__}: {message}", _ms(started))
        status = response.status_code
        return retry.Outcome(
            status,
            None if status in retry.ACCEPTED else f"HTTP {status}",
            _ms(started),
            retry_after=retry.parse_retry_after(response.headers.get("retry-after"), self._clock()),
        )

    def _request(self, row: Row, hook: WebhookSettings) -> tuple[bytes, dict[str, str]]:
        content, content_type = formats.render(hook.format, row.body, delivery_id=row.id)
        timestamp = int(self._clock().timestamp())
        headers = {
            **hook.headers,
            "content-type": content_type,
            "user-agent": USER_AGENT,
            "webhook-id": row.id,
            "webhook-timestamp": str(timestamp),
        }
        if hook.secrets:
            # One signature per secret, space-separated: receivers on the old or the new
            # secret both verify during a rotation.
            headers["webhook-signature"] = " ".join(
                signing.signature(secret, row.id, timestamp, content) for secret in hook.secrets
            )
        return content, headers

    def _note(self, item: _Finished, recorded: bool) -> None:
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
            **_names(row),
            "status": outcome.status_code,
            "duration_ms": round(outcome.duration_ms, 1),
        }
        if not recorded:
            logger.debug(
                "lease lost before recording", extra={"action": "delivery_lease_lost", **fields}
            )
        elif decision.state == "delivered":
            logger.info("notice delivered", extra={"action": "notice_delivered", **fields})
        elif decision.state == "dead":
            logger.warning(
                "delivery dead", extra={"action": "delivery_dead", "error": outcome.error, **fields}
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

    @property
    def in_flight(self) -> int:
        """Return how many sends this process has started and not recorded."""
        with self._lock:
            return len(self._held) - sum(len(queue) for queue in self._waiting.values())

    def close(self, grace: float = 10.0) -> None:
        """Stop claiming; for up to `grace` seconds record sends as they finish, then stop the pool.

        Deliveries leased but not yet sent are dropped here: the daemon hands
        their leases back (`outbox.release`) so they are sent at once elsewhere.
        """
        self.stopping = True
        with self._lock:
            for queue in self._waiting.values():
                for item in queue:
                    self._held.pop(item.row.id, None)
                queue.clear()
        deadline = time.monotonic() + grace
        while (left := deadline - time.monotonic()) > 0:
            with self._lock:
                if not self._finished:
                    if not self._held:
                        break
                    self._sent.wait(min(left, 0.5))
                finished, self._finished = self._finished, []
            if finished:
                try:
                    self._turn(finished, wait=max(left, 0.0))
                except Exception:
                    pass  # logged per delivery; their leases run out and they are sent again
        self._pool.shutdown(wait=False, cancel_futures=True)


def _drain(response: httpx.Response) -> None:
    """Read at most RESPONSE_LIMIT bytes of the answer, undecoded, and drop them.

    Only the status and headers matter. Reading a small answer to its end lets
    the connection be reused; a huge one is cut off (the connection is closed),
    so no receiver can make the daemon hold its body in memory.
    """
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > RESPONSE_LIMIT:
            break


def _scrub(text: str, hook: WebhookSettings) -> str:
    """Return an error text with the webhook's URL masked and its header values and secret removed."""
    text = text.replace(hook.url, mask_url(hook.url))
    secrets = [*hook.headers.values(), *hook.secrets]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _names(row: Row) -> dict[str, Any]:
    """What every delivery log line carries: the delivery, its pledge, event type and webhook."""
    return {
        "delivery": row.id,
        "commitment": row.commitment_id,
        "type": row.type,
        "webhook": row.webhook,
    }
