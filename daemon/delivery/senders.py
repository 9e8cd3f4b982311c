"""The sender pool: leased deliveries handed to a `Poster` in batches, outcomes decided.

Failures are values, not exceptions: each post comes back as an `Outcome`
(`posting.post` turns httpx's and the guard's errors into one, `offload` a
posting process lost or silent), and `retry.decide` turns it into the
delivery's next state.

The poster (`offload.PostingProcess` in the daemon, `sending.Sending` in
tests) queues the jobs per webhook and posts at most `per_webhook` at a time
to one webhook, so a slow webhook cannot hold the others up. The console is
written here, at once.

The senders only send; the database is the drain's (`dispatcher`). It hands
what it leased here and takes back, to record, what finished. A delivery is
held from its lease until its outcome is recorded: with the poster, or
finished.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TextIO

from sqlalchemy import Row

from daemon.clock import Clock
from daemon.delivery import formats, posting, retry, sending
from daemon.settings import CONSOLE, Settings, WebhookSettings

# The dispatcher's logger: the senders' lines keep the name they had before the
# pool had a module of its own (`LOG_FORMAT=json` shows it).
logger = logging.getLogger("daemon.delivery.dispatcher")


class Poster(Protocol):
    """What posts the jobs: `sending.Sending` here, or `offload.PostingProcess` in a child."""

    def open(self, report: sending.Report, *, workers: int, per_webhook: int) -> None: ...
    def target(self, name: str, hook: WebhookSettings) -> None: ...
    def send(self, jobs: list[sending.Job]) -> None: ...
    def drop(self, webhook: str | None) -> None: ...
    def close(self) -> None: ...


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


class SenderPool:
    """Hands leased deliveries to `poster` and decides what comes back."""

    def __init__(
        self,
        settings: Settings,
        poster: Poster,
        clock: Clock,
        *,
        workers: int,
        per_webhook: int,
        out: TextIO | None,
        on_done: Callable[[], None],
    ) -> None:
        self._settings = settings
        self._poster = poster
        self._clock = clock
        self._per_webhook = per_webhook
        self._out = out or sys.stdout
        self._on_done = on_done  # wakes the drain: a send finished
        self._targets: dict[str, WebhookSettings] = {}  # what the poster was last told (drain only)
        self._lock = threading.Lock()
        self._sent = threading.Condition(self._lock)  # notified when a send finishes
        # Everything below is guarded by _lock. A delivery is held from its lease
        # until its outcome is recorded: with the poster, or finished.
        self._held: dict[str, str] = {}  # delivery id -> webhook
        self._posting: dict[str, Leased] = {}  # handed to the poster, no outcome yet
        self._per_hook: Counter[str] = Counter()  # how many of those, per webhook
        self._finished: list[Finished] = []  # sent, not yet recorded
        self._gone: set[str] = set()  # webhooks disabled (410): their queues are not sent
        self._stopping = False
        poster.open(self._outcomes, workers=workers, per_webhook=per_webhook)

    @property
    def settings(self) -> Settings:
        """The settings in force."""
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        """Take a reload: changed webhooks apply to the deliveries queued already, removed ones drop theirs."""
        old, self._settings = self._settings, settings
        for name in old.webhooks.keys() - settings.webhooks.keys():
            # Claimed again when their leases run out, and dead: "no longer configured".
            self._targets.pop(name, None)
            self._poster.drop(name)
        for name, hook in settings.webhooks.items():
            if name in self._targets and self._targets[name] is not hook:
                self._poster.target(name, hook)
                self._targets[name] = hook

    @property
    def stopping(self) -> bool:
        """True once the daemon stops: nothing more is handed over, nor started."""
        return self._stopping

    @stopping.setter
    def stopping(self, stopping: bool) -> None:
        """Stop at once: what the poster has queued comes back not sent."""
        with self._lock:
            begins, self._stopping = stopping and not self._stopping, stopping
        if begins:
            self._poster.drop(None)

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
        """Replace the webhooks disabled (410): the queued deliveries of new ones are not sent."""
        with self._lock:
            new, self._gone = names - self._gone, set(names)
        for name in sorted(new):
            self._poster.drop(name)

    def add_gone(self, name: str) -> None:
        """Add a webhook just disabled (410): its queued deliveries are not sent."""
        self.set_gone(self._gone | {name})

    @property
    def in_flight(self) -> int:
        """Return how many leased deliveries this process holds and has not recorded.

        Queued at the poster, being posted, or finished and waiting for a turn.
        """
        with self._lock:
            return len(self._held)

    def queue(self, leased: list[Leased]) -> None:
        """Hand leased deliveries to the poster; write the console's and decide the unsendable at once."""
        with self._lock:
            if self._stopping:
                return  # not held: the stopping daemon hands their leases back
            for item in leased:
                self._held[item.row.id] = item.row.webhook
            gone = set(self._gone)
        handed: list[tuple[sending.Job, Leased]] = []
        at_once: list[tuple[Leased, retry.Outcome]] = []
        for item in leased:
            webhook = item.row.webhook
            hook = self.settings.webhooks.get(webhook)
            if webhook == CONSOLE:
                at_once.append((item, self._write_line(item.row.body)))
            elif hook is None:
                message = f"webhook {webhook!r} is no longer configured"
                at_once.append((item, retry.Outcome(None, message, 0.0, permanent=True)))
            elif webhook in gone:
                # Gone (410): the lease runs out; the delivery is claimed again once
                # the webhook is enabled again.
                self.release([item.row.id])
            else:
                if self._targets.get(webhook) is not hook:
                    self._poster.target(webhook, hook)
                    self._targets[webhook] = hook
                # Not started later than this: the outcome is recorded before the lease
                # runs out, rather than the delivery sent twice (here and by a replica).
                send_by = item.until - hook.timeout - self.settings.lease_margin
                handed.append((sending.Job(item.row.id, webhook, item.row.body, send_by), item))
        with self._lock:  # before the poster has them: it may answer at once
            for job, item in handed:
                self._posting[job.id] = item
                self._per_hook[job.webhook] += 1
        # A poster told to stop (drop(None)) meanwhile reports these not sent.
        self._poster.send([job for job, _ in handed])
        self._finish(at_once)

    def close(self, grace: float, record: Callable[[list[Finished], float], None]) -> None:
        """Stop sending; for up to `grace` seconds hand sends to `record` as they finish.

        `record` gets the finished sends and the seconds left. Then the
        poster is closed. Deliveries leased but not yet sent are dropped here:
        the daemon hands their leases back (`outbox.release`) so they are sent
        at once elsewhere.
        """
        self.stopping = True  # the poster drops what it has queued
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
        self._poster.close()

    def _outcomes(self, results: list[tuple[str, retry.Outcome | None]]) -> None:
        """Take back what the poster reports: decide the posts made, release the others."""
        done: list[tuple[Leased, retry.Outcome]] = []
        released = False
        with self._lock:
            for key, outcome in results:
                item = self._posting.pop(key, None)
                if item is None:
                    continue  # reported already
                self._per_hook[item.row.webhook] -= 1
                if outcome is None:
                    self._held.pop(key, None)  # not sent: its lease runs out
                    released = True
                else:
                    done.append((item, outcome))
            if released:
                self._sent.notify_all()  # a stop waiting for the held ones looks again
        self._finish(done)
        if released and not done:
            self._on_done()  # share freed: the drain may lease another webhook's

    def _finish(self, done: list[tuple[Leased, retry.Outcome]]) -> None:
        """Decide each outcome and hand it to the drain; wake it when it has enough to do."""
        if not done:
            return
        now = self._clock()
        schedule = self.settings.retry_schedule
        finished = [
            Finished(
                item.row, outcome, retry.decide(item.row.attempts + 1, outcome, now, schedule), now
            )
            for item, outcome in done
        ]
        with self._lock:
            self._finished += finished
            self._sent.notify_all()
            # Wake the drain once a few outcomes wait, or when a webhook's queue at the
            # poster runs low (its senders would idle): not for each send, so a turn
            # records several.
            wake = len(self._finished) >= self._per_webhook or any(
                self._per_hook[item.row.webhook] <= self._per_webhook for item in finished
            )
        if wake:
            self._on_done()

    def _write_line(self, body: dict[str, Any]) -> retry.Outcome:
        """Write one console line with its newline, in one call; return the outcome."""
        started = time.perf_counter()
        try:
            self._out.write(formats.console_line(body) + "\n")
            self._out.flush()
        except Exception as exc:  # stdout closed, or a bug: a failed attempt, retried
            logger.exception("console line not written")
            return retry.Outcome(None, f"internal error: {type(exc).__name__}", 0.0)
        return retry.Outcome(None, None, posting.elapsed_ms(started))


def delivery_fields(row: Row) -> dict[str, Any]:
    """What every delivery log line carries: the delivery, its pledge, event type and webhook."""
    return {
        "delivery": row.id,
        "commitment": row.commitment_id,
        "type": row.type,
        "webhook": row.webhook,
    }
