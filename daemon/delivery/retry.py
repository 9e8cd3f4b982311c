"""The retry decision: a pure function of attempts made, the outcome and now."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# Plus or minus this share of each wait, so retries from many deliveries spread out.
JITTER = 0.2
# Answers that count as delivered; everything else (3xx included) is a failure.
ACCEPTED = range(200, 300)


@dataclass(frozen=True)
class Outcome:
    """What one request came to: an HTTP status, or an error before any answer.

    The console sink has neither a status nor an error when it has printed.
    """

    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        """True when the receiver accepted the notice."""
        return self.error is None and (self.status_code is None or self.status_code in ACCEPTED)


@dataclass(frozen=True)
class Decision:
    """The delivery's next state: delivered, pending (retry at `retry_at`) or dead."""

    state: str
    retry_at: datetime | None = None


def decide(
    attempts: int,
    outcome: Outcome,
    now: datetime,
    schedule: Sequence[timedelta],
    rand: Callable[[], float] = random.random,
    *,
    permanent: bool = False,
) -> Decision:
    """Return what follows attempt number `attempts` (1 for the first try).

    Args:
        attempts: tries made so far, this one included.
        outcome: how this try went.
        now: when it ended.
        schedule: waits before the 2nd, 3rd... tries; when spent, the delivery is dead.
        rand: a source of [0, 1) for the jitter (tests pass a constant).
        permanent: the failure cannot heal by waiting (a refused target).
    """
    if outcome.ok:
        return Decision("delivered")
    if permanent or attempts > len(schedule):
        return Decision("dead")
    wait = schedule[attempts - 1]
    factor = 1 + JITTER * (2 * rand() - 1)
    return Decision("pending", now + wait * factor)
