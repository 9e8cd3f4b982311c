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

A slow webhook cannot hold the others up: sends run on a thread pool, and a
webhook with `per_webhook` sends in flight is skipped by the next claim.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

import httpx
from sqlalchemy import Engine, Row

from daemon import __version__
from daemon.clock import Clock
from daemon.delivery import formats, guard, retry, signing
from daemon.settings import CONSOLE, Settings, WebhookSettings, mask_url
from daemon.store import claims, connector, outbox, webhooks

logger = logging.getLogger(__name__)

USER_AGENT = f"pledgewatch/{__version__}"
RESPONSE_LIMIT = 64 * 1024  # bytes of an answer read at most; the rest is never read


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
        self.settings = settings
        self._client = client
        self._clock = clock
        self._worker = worker
        self._workers = workers
        self._per_webhook = per_webhook
        self._out = out or sys.stdout
        self._on_done = on_done
        self._on_attempt = on_attempt  # counts each attempt (None: the lease was lost)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send")
        self._lock = threading.Lock()
        self._inflight: set[str] = set()  # delivery ids being sent by this process
        self._by_webhook: dict[str, int] = {}
        self.stopping = False
        self.health: dict[str, WebhookHealth] = {}

    def send_due(self) -> datetime | None:
        """Lease every due delivery there is room for and start sending; return the next due instant.

        1. Work out the room left overall and per webhook.
        2. Lease up to that room, in one transaction.
        3. Hand each to the pool; each records its own outcome when done and
           wakes this drain, so a webhook at its cap is served again then.
        """
        while not self.stopping:
            with self._lock:
                room = self._workers - len(self._inflight)
                capacity = {
                    name: self._per_webhook - n for name, n in self._by_webhook.items() if n
                }
                flying = set(self._inflight)
            if room <= 0:
                return None  # a finishing send wakes us
            now = self._clock()
            token = f"{self._worker}/{uuid.uuid4().hex[:8]}"
            with connector.write(self._engine) as conn:
                # A webhook gone (410) takes nothing until an operator enables it again;
                # one since removed from the settings is claimed, and its deliveries die.
                for name in webhooks.disabled(conn):
                    if name in self.settings.webhooks:
                        capacity[name] = 0
                rows = claims.claim_deliveries(
                    conn,
                    now,
                    token=token,
                    lease_until=now + self._lease(),
                    capacity=capacity,
                    default_capacity=self._per_webhook,
                    limit=room,
                    skip_ids=flying,
                )
                if not rows:
                    full = [name for name, left in capacity.items() if left <= 0]
                    return outbox.next_attempt_at(conn, skip_webhooks=full)
            for row in rows:
                with self._lock:
                    self._inflight.add(row.id)
                    self._by_webhook[row.webhook] = self._by_webhook.get(row.webhook, 0) + 1
                self._pool.submit(self._deliver, row)
        return None

    def _lease(self) -> timedelta:
        # The longest a send may take, plus PLEDGEWATCH_LEASE_MARGIN for recording it:
        # a replica alive and sending records its outcome before another may take over.
        timeouts = [hook.timeout for hook in self.settings.webhooks.values()]
        return max(timeouts, default=timedelta(seconds=15)) + self.settings.lease_margin

    def _deliver(self, row: Row) -> None:
        try:
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
            recorded = self._record(row, outcome, decision, now)
            if recorded is not None:
                self._note(row, outcome, decision, recorded)
                self._on_attempt(row, outcome, decision if recorded else None, now)
        finally:
            with self._lock:
                self._inflight.discard(row.id)
                self._by_webhook[row.webhook] -= 1
            self._on_done()

    def _record(
        self, row: Row, outcome: retry.Outcome, decision: retry.Decision, now: datetime
    ) -> bool | None:
        """Record the attempt; return whether this lease still held, or None when it could not be written."""
        result = outbox.Result(
            decision.state,
            decision.retry_at,
            outcome.status_code,
            outcome.error,
            outcome.duration_ms,
        )
        try:
            with connector.write(self._engine) as conn:
                recorded = outbox.record(conn, row.id, token=row.token, now=now, result=result)
                if recorded and decision.disable_webhook:
                    reason = f"HTTP {outcome.status_code} Gone at {now:%Y-%m-%d %H:%M:%SZ}"
                    webhooks.disable(conn, row.webhook, reason=reason, now=now)
            return recorded
        except Exception as exc:
            # The database is away: the lease runs out and the delivery is tried again
            # with the same webhook-id; the daemon goes on. An outage gets one line per
            # delivery; anything else is a bug, with its traceback.
            unavailable = connector.is_unavailable(exc)
            logger.log(
                logging.WARNING if unavailable else logging.ERROR,
                "delivery outcome not recorded",
                exc_info=not unavailable,
                extra={
                    "action": "delivery_not_recorded",
                    **_names(row),
                    "error": connector.describe_error(exc),
                },
            )
            return None

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

    def _note(
        self, row: Row, outcome: retry.Outcome, decision: retry.Decision, recorded: bool
    ) -> None:
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
        """Return how many leased deliveries this process has not finished with."""
        with self._lock:
            return len(self._inflight)

    def close(self, grace: float = 10.0) -> None:
        """Stop claiming; wait up to `grace` seconds for sends in flight, then stop the pool."""
        self.stopping = True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._lock:
                if not self._inflight:
                    break
            time.sleep(0.05)
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
