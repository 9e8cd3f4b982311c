"""Bursts of notices for the acceptance tests: a seed file, a bounded wait, and the tally.

The tally compares what a real receiver got with the deliveries the database
holds: lost (committed, never received), duplicates (received more than once),
and whether every repeat carried the same body as the first request.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from tests.support.receiver import Received

_DELIVERED = re.compile(r"action=notice_delivered delivery=(msg_\w+)")


def write_seed(folder: Path, count: int, due: datetime, *, prefix: str = "p") -> Path:
    """Write a JSON seed of `count` pledges, all with the exact-instant deadline `due`."""
    path = folder / "burst.json"
    commitments = [
        {"id": f"{prefix}{i:05d}", "title": f"Pledge {i}", "deadline": due.isoformat()}
        for i in range(count)
    ]
    path.write_text(json.dumps({"timezone": "UTC", "commitments": commitments}))
    return path


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail saying `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def delivered_in_log(text: str) -> set[str]:
    """Return the delivery ids a daemon's log says it delivered (text log format)."""
    return set(_DELIVERED.findall(text))


@dataclass(frozen=True)
class Tally:
    """What arrived against what was committed."""

    requests: int
    lost: set[str]  # committed delivery ids never received
    unexpected: set[str]  # received ids the database does not hold
    duplicates: int  # requests beyond the first, per webhook-id
    changed: set[str]  # ids received more than once with different bodies
    per_event: Counter[tuple[str, str, str]]  # (commitment, type, scheduled_for) -> distinct ids

    @property
    def events_twice(self) -> list[tuple[str, str, str]]:
        """Notices that reached the receiver under more than one webhook-id."""
        return [key for key, n in self.per_event.items() if n > 1]


def tally(requests: Iterable[Received], committed: set[str], secret: str) -> Tally:
    """Verify every request's Standard Webhooks signature and count it against `committed`."""
    received = list(requests)
    verifier = Webhook(secret)
    bodies: dict[str, set[bytes]] = {}
    events: dict[tuple[str, str, str], set[str]] = {}
    for request in received:
        document = verifier.verify(request.body, request.headers)  # raises when forged
        webhook_id = request.headers["webhook-id"]
        bodies.setdefault(webhook_id, set()).add(request.body)
        key = (
            document["data"]["commitment"]["id"],
            document["type"],
            document["data"]["scheduled_for"],
        )
        events.setdefault(key, set()).add(webhook_id)
    counts = Counter(r.headers["webhook-id"] for r in received)
    return Tally(
        requests=len(received),
        lost=committed - set(counts),
        unexpected=set(counts) - committed,
        duplicates=sum(n - 1 for n in counts.values()),
        changed={i for i, b in bodies.items() if len(b) > 1},
        per_event=Counter({key: len(ids) for key, ids in events.items()}),
    )
