"""Per-webhook queues of posts, at most `per_webhook` at a time to one webhook, on a thread pool.

Where the deliveries are posted: in the posting process (`offload`), or in
this process for tests and the benchmark. It is handed batches of `Job`s
and reports how each went, in batches, through `report`: a `retry.Outcome`,
or None for a job not sent (dropped: its webhook gone, the daemon stopping;
or its time ran out while it waited behind slow posts, found by `expire`
without waiting for a thread).

A finished post takes the next job of its webhook at once: the queue, not
the daemon's turns, keeps a webhook's senders busy. Each post goes to the
back of the pool's queue, so a webhook with a backlog takes turns with the
others instead of keeping the threads.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from daemon.clock import Clock
from daemon.delivery import posting, retry

logger = logging.getLogger("daemon.delivery.dispatcher")  # delivery's one logger

# How a batch of jobs went, by delivery id: an outcome, or None for one not sent.
Report = Callable[[list[tuple[str, retry.Outcome | None]]], None]
# Posts one notice: (webhook, body, delivery id) -> how it went.
Post = Callable[[posting.Hook, dict[str, Any], str], retry.Outcome]


@dataclass(frozen=True)
class Job:
    """One delivery to post to `webhook`, not started after `send_by` (its lease would run out)."""

    id: str
    webhook: str
    body: dict[str, Any]
    send_by: datetime


class Sending:
    """Posts jobs through `post`, webhook by webhook; `open` before the first `send`."""

    def __init__(self, post: Post, clock: Clock) -> None:
        self._post = post
        self._clock = clock
        self._report: Report = lambda _: None
        self._started: Callable[[str], None] = lambda _: None
        self._per_webhook = 1
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        # Guarded by _lock: the webhooks by name, each webhook's jobs not yet started,
        # and how many of its posts are running or handed to the pool.
        self._hooks: dict[str, posting.Hook] = {}
        self._queues: dict[str, deque[Job]] = {}
        self._running: dict[str, int] = {}
        self._stopped = False  # every queue dropped: later jobs are not sent either

    @classmethod
    def here(cls, client: httpx.Client, clock: Clock) -> Sending:
        """Return a `Sending` that posts on `client` in this process (the daemon posts in a child)."""

        def post(hook: posting.Hook, body: dict[str, Any], delivery_id: str) -> retry.Outcome:
            return posting.post(client, hook, body, delivery_id=delivery_id, clock=clock).outcome

        return cls(post, clock)

    def open(
        self,
        report: Report,
        *,
        workers: int,
        per_webhook: int,
        started: Callable[[str], None] | None = None,
    ) -> None:
        """Start posting on `workers` threads; report outcomes to `report`.

        `started`, if given, is told each job's id as its post begins.
        """
        self._report = report
        self._started = started or self._started
        self._per_webhook = per_webhook
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="post")

    def target(self, name: str, hook: posting.Hook) -> None:
        """Post the jobs of webhook `name` to `hook` from now on (a reload changes it)."""
        with self._lock:
            self._hooks[name] = hook

    def send(self, jobs: list[Job]) -> None:
        """Queue `jobs` behind their webhooks' others; start posts where a webhook has room."""
        start: list[str] = []
        with self._lock:
            if self._stopped:
                jobs, refused = [], jobs
            else:
                refused = []
            for job in jobs:
                self._queues.setdefault(job.webhook, deque()).append(job)
            for webhook in dict.fromkeys(job.webhook for job in jobs):
                running = self._running.get(webhook, 0)
                more = min(self._per_webhook - running, len(self._queues[webhook]))
                if more > 0:
                    self._running[webhook] = running + more
                    start += [webhook] * more
        for webhook in start:
            self._submit(webhook)
        if refused:
            self._report([(job.id, None) for job in refused])

    def expire(self) -> None:
        """Report not sent, at once, every queued job whose last moment to start has passed.

        Without this, one waits for a thread to find it: behind slow posts
        to many webhooks, longer than its lease.
        """
        now = self._clock()
        expired: list[Job] = []
        with self._lock:
            for queue in self._queues.values():
                if any(job.send_by < now for job in queue):
                    expired += [job for job in queue if job.send_by < now]
                    kept = [job for job in queue if job.send_by >= now]
                    queue.clear()
                    queue.extend(kept)
        if expired:
            self._report([(job.id, None) for job in expired])

    def drop(self, webhook: str | None) -> None:
        """Send no more of `webhook`'s queued jobs; report them not sent.

        None drops every webhook's, and refuses the jobs sent from then on:
        the daemon is stopping.
        """
        with self._lock:
            self._stopped = self._stopped or webhook is None
            names = list(self._queues) if webhook is None else [webhook]
            dropped = [job for name in names for job in self._queues.pop(name, ())]
        if dropped:
            self._report([(job.id, None) for job in dropped])

    def close(self) -> None:
        """Stop: posts running are left to end on their own, queued ones are not made."""
        with self._lock:
            self._queues.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, webhook: str) -> None:
        try:
            assert self._pool is not None, "Sending.send before open"
            self._pool.submit(self._next, webhook)
        except RuntimeError:  # the pool is shut down: stopping
            with self._lock:
                self._running[webhook] -= 1

    def _next(self, webhook: str) -> None:
        """Post `webhook`'s next job, report it, and queue the one after it."""
        with self._lock:
            queue = self._queues.get(webhook)
            if not queue:
                # In the same lock as the look at the queue: a job queued from now on
                # finds one post fewer running, and starts one.
                self._running[webhook] -= 1
                return
            job = queue.popleft()
            hook = self._hooks.get(webhook)
        try:
            if self._clock() > job.send_by:
                outcome = None  # its lease would run out before the outcome is recorded
            elif hook is None:
                outcome = retry.Outcome(None, f"webhook {webhook!r} has no target", 0.0)
            else:
                self._started(job.id)
                outcome = self._post(hook, job.body, job.id)
        except Exception as exc:  # a bug: recorded as a failed attempt, retried
            logger.exception("post failed unexpectedly", extra={"delivery": job.id})
            outcome = retry.Outcome(None, f"internal error: {type(exc).__name__}", 0.0)
        try:
            self._report([(job.id, outcome)])
        finally:
            self._submit(webhook)  # the next job of this webhook, whatever happened here
