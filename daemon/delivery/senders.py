"""The sender pool: per-webhook queues of leased deliveries, sent on a thread pool.

Failures are values, not exceptions: each send returns an `Outcome`
(`posting.post` turns httpx's and the guard's errors into one, `offload` a
posting process lost or silent), and `retry.decide` turns it into the
delivery's next state. Anything else a send raises is logged and recorded as
a failed attempt, retried.

A slow webhook cannot hold the others up: sends run on a thread pool, at most
`per_webhook` at a time to one webhook.

The senders only send; the database is the drain's (`dispatcher`). It queues
what it leased here and takes back, to record, what finished. A delivery is
held from its lease until its outcome is recorded: waiting, being sent, or
finished.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

import httpx
from sqlalchemy import Row

from daemon.clock import Clock
from daemon.delivery import formats, posting, retry
from daemon.settings import CONSOLE, Settings, WebhookSettings

# The dispatcher's logger: the senders' lines keep the name they had before the
# pool had a module of its own (`LOG_FORMAT=json` shows it).
logger = logging.getLogger("daemon.delivery.dispatcher")

DEFAULT_TIMEOUT = timedelta(seconds=15)  # the console's, for the lease

# Posts one notice: (webhook name, its settings, body, delivery id) -> how it went.
Post = Callable[[str, WebhookSettings, dict[str, Any], str], retry.Outcome]


@dataclass(frozen=True)
class Leased:
    """A delivery leased to this process, until `until`."""

    row: Row
    until: datetime


@dataclass(frozen=True)
class Finished:
    """A send done and decided, waiting for the drain to record it."""

    row: Row
    outcome: retry.Outcome
    decision: retry.Decision
    at: datetime


def post_here(client: httpx.Client, clock: Clock) -> Post:
    """Return a `Post` that posts in this process, on `client` (the daemon posts in a child: `offload`)."""

    def post(
        name: str, hook: WebhookSettings, body: dict[str, Any], delivery_id: str
    ) -> retry.Outcome:
        return posting.post(client, hook, body, delivery_id=delivery_id, clock=clock).outcome

    return post


class SenderPool:
    """Sends leased deliveries through `post`, several at a time."""

    def __init__(
        self,
        settings: Settings,
        post: Post,
        clock: Clock,
        *,
        workers: int,
        per_webhook: int,
        out: TextIO | None,
        on_done: Callable[[], None],
    ) -> None:
        self.settings = settings  # replaced on a reload
        self._post = post
        self._clock = clock
        self._per_webhook = per_webhook
        self._out = out or sys.stdout
        self._out_lock = threading.Lock()  # one console line at a time (`_write_line`)
        self._on_done = on_done  # wakes the drain: a send finished
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")
        self._lock = threading.Lock()
        self._sent = threading.Condition(self._lock)  # notified when a send finishes
        # Everything below is guarded by _lock. A delivery is held from its lease
        # until its outcome is recorded: waiting, being sent, or finished.
        self._held: dict[str, str] = {}  # delivery id -> webhook
        self._waiting: dict[str, deque[Leased]] = {}  # per webhook, leased, not yet sent
        self._running: dict[str, int] = {}  # per webhook, senders running
        self._finished: list[Finished] = []  # sent, not yet recorded
        self._gone: set[str] = set()  # webhooks disabled (410): their queues are not sent
        self._starting = 0  # senders handed to the pool, not yet running
        self.stopping = False

    def take_finished(self) -> list[Finished]:
        """Return the sends finished since the last call; the drain records them."""
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    def has_finished(self) -> bool:
        """Return whether sends finished that nobody has taken yet."""
        with self._lock:
            return bool(self._finished)

    def held(self, excluding: set[str]) -> dict[str, str]:
        """Return the deliveries held (delivery id -> webhook) but those in `excluding`."""
        with self._lock:
            return {key: webhook for key, webhook in self._held.items() if key not in excluding}

    def release(self, ids: Iterable[str]) -> None:
        """Hold these deliveries no longer: recorded, or left for their leases to run out."""
        with self._lock:
            for key in ids:
                self._held.pop(key, None)

    def set_gone(self, names: set[str]) -> None:
        """Replace the webhooks disabled (410), whose queues are not sent."""
        with self._lock:
            self._gone = names

    def add_gone(self, name: str) -> None:
        """Add a webhook just disabled (410): its queue is not sent."""
        with self._lock:
            self._gone.add(name)

    @property
    def in_flight(self) -> int:
        """Return how many sends this process has started and not recorded."""
        with self._lock:
            return len(self._held) - sum(len(queue) for queue in self._waiting.values())

    def queue(self, leased: list[Leased]) -> None:
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
                running = self._running.get(webhook, 0)
                more = min(self._per_webhook - running, len(queue))
                if more > 0:
                    self._running[webhook] = running + more
                    start += [webhook] * more
            self._starting += len(start)
        for webhook in start:
            self._start(webhook)

    def close(self, grace: float, record: Callable[[list[Finished], float], None]) -> None:
        """Stop sending; for up to `grace` seconds hand sends to `record` as they finish.

        `record` gets the finished sends and the seconds left. Then the pool
        stops. Deliveries leased but not yet sent are dropped here: the daemon
        hands their leases back (`outbox.release`) so they are sent at once elsewhere.
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
                record(finished, max(left, 0.0))
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _timeout(self, webhook: str) -> timedelta:
        hook = self.settings.webhooks.get(webhook)
        return hook.timeout if hook is not None else DEFAULT_TIMEOUT

    def _start(self, webhook: str) -> None:
        try:
            self._pool.submit(self._sender, webhook)
        except RuntimeError:  # the pool is shut down: the daemon is stopping
            with self._lock:
                self._starting -= 1
                self._running[webhook] -= 1

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
                    self._running[webhook] -= 1
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
                self.release([item.row.id])
                continue
            try:
                self._deliver(item.row)
            except Exception:
                # Not the send (`_deliver` turns its failures into outcomes): a bug.
                # The lease runs out and the delivery is tried again.
                logger.exception(
                    "delivery not handed back",
                    extra={"action": "delivery_crashed", **delivery_fields(item.row)},
                )
                self.release([item.row.id])
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
                extra={"action": "delivery_crashed", **delivery_fields(row)},
            )
            outcome = retry.Outcome(None, f"internal error: {type(exc).__name__}", 0.0)
        now = self._clock()
        decision = retry.decide(row.attempts + 1, outcome, now, self.settings.retry_schedule)
        with self._lock:
            self._finished.append(Finished(row, outcome, decision, now))
            self._sent.notify_all()
            # Wake the drain once a few outcomes wait, or when this webhook's queue is
            # empty (its senders would idle): not for each send, so a turn records several.
            wake = len(self._finished) >= self._per_webhook or not self._waiting.get(row.webhook)
        if wake:
            self._on_done()

    def _send(self, row: Row) -> retry.Outcome:
        """Post one delivery and return how it went; never raises for the receiver's faults."""
        started = time.perf_counter()
        if row.webhook == CONSOLE:
            self._write_line(formats.console_line(row.body))
            return retry.Outcome(None, None, posting.elapsed_ms(started))
        hook = self.settings.webhooks.get(row.webhook)
        if hook is None:
            message = f"webhook {row.webhook!r} is no longer configured"
            return retry.Outcome(None, message, 0.0, permanent=True)
        return self._post(row.webhook, hook, row.body, row.id)

    def _write_line(self, line: str) -> None:
        """Write one console line with its newline, in one call, under the pool's lock.

        `print` writes the text and the newline separately: from several
        senders at once, lines ran into each other.
        """
        with self._out_lock:
            self._out.write(line + "\n")
            self._out.flush()


def delivery_fields(row: Row) -> dict[str, Any]:
    """What every delivery log line carries: the delivery, its pledge, event type and webhook."""
    return {
        "delivery": row.id,
        "commitment": row.commitment_id,
        "type": row.type,
        "webhook": row.webhook,
    }
