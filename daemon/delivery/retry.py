"""The retry decision: a pure function of attempts made, the outcome and now.

The policy, after the Standard Webhooks senders:

* 2xx delivers; anything else fails (3xx too: redirects are not followed).
* A failure waits for the next step of the schedule, ±20% jitter.
* 429 and timeouts wait at least a minute; `Retry-After` (seconds or an HTTP
  date) is honoured when it asks for longer, up to a day.
* 410 Gone disables the webhook: the delivery waits, pending, until an operator
  enables the webhook again.
* A permanent failure (a refused target, a webhook no longer configured) is
  dead at once; so is any failure once the schedule is spent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

# Plus or minus this share of each wait, so retries from many deliveries spread out.
JITTER = 0.2
# Answers that count as delivered; everything else (3xx included) is a failure.
ACCEPTED = range(200, 300)
TOO_MANY_REQUESTS = 429
GONE = 410
SLOW_DOWN = timedelta(seconds=60)  # the least wait after a 429 or a timeout
LONGEST_RETRY_AFTER = timedelta(days=1)  # a Retry-After asking for more is capped here


@dataclass(frozen=True)
class Outcome:
    """What one request came to: an HTTP status, or an error before any answer.

    The console sink has neither a status nor an error when it has printed.
    """

    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after: timedelta | None = None  # what the receiver asked for, if it did
    timed_out: bool = False
    permanent: bool = False  # waiting cannot fix it (a refused target)

    @property
    def ok(self) -> bool:
        """True when the receiver accepted the notice."""
        return self.error is None and (self.status_code is None or self.status_code in ACCEPTED)


@dataclass(frozen=True)
class Decision:
    """The delivery's next state: delivered, pending (retry at `retry_at`) or dead.

    `disable_webhook` is set when the receiver said the endpoint is gone.
    """

    state: str
    retry_at: datetime | None = None
    disable_webhook: bool = False


def decide(
    attempts: int,
    outcome: Outcome,
    now: datetime,
    schedule: Sequence[timedelta],
    rand: Callable[[], float] = random.random,
) -> Decision:
    """Return what follows attempt number `attempts` (1 for the first try).

    Args:
        attempts: tries made so far, this one included.
        outcome: how this try went.
        now: when it ended.
        schedule: waits before the 2nd, 3rd... tries; when spent, the delivery is dead.
        rand: a source of [0, 1) for the jitter (tests pass a constant).
    """
    if outcome.ok:
        return Decision("delivered")
    if outcome.permanent:
        return Decision("dead")
    if outcome.status_code == GONE:
        return Decision("pending", now, disable_webhook=True)
    if attempts > len(schedule):
        return Decision("dead")
    wait = schedule[attempts - 1] * (1 + JITTER * (2 * rand() - 1))
    if outcome.status_code == TOO_MANY_REQUESTS or outcome.timed_out:
        wait = max(wait, SLOW_DOWN)
    if outcome.retry_after is not None:
        wait = max(wait, min(outcome.retry_after, LONGEST_RETRY_AFTER))
    return Decision("pending", now + wait)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Return the wait a `Retry-After` header asks for (seconds or an HTTP date), or None.

    A date in the past asks for no wait; anything unreadable is ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=min(int(text), int(LONGEST_RETRY_AFTER.total_seconds())))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(when - now, timedelta(0))
