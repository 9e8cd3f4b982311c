"""Seed files for the benchmark, and the webhook bodies the daemon would send for them.

Every pledge has an exact-instant deadline (an ISO datetime), so with
`PLEDGEWATCH_REMINDER_OFFSETS` empty it owes exactly one `commitment.due`,
at that instant. "Watched" pledges fall due in 2090, one minute apart, so
the next-notice index holds distinct values and nothing is due while the
benchmark runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

FAR = datetime(2090, 1, 1, tzinfo=UTC)
SOURCE = {
    "title": "Benchmark pledges, generated",
    "publisher": "pledgewatch bench",
    "url": "https://example.org/bench",
    "published": "2026-01-01",
}


def pledge(key: str, deadline: datetime) -> dict[str, Any]:
    """Return one seed commitment due at the exact instant `deadline`."""
    return {
        "id": key,
        "title": f"Publish the benchmark report {key}",
        "parties": ["Bench desk", "Review board"],
        "kind": "deliverable",
        "deadline": deadline.isoformat(),
        "tags": ["bench"],
    }


def watched(count: int, prefix: str = "w") -> Iterator[dict[str, Any]]:
    """Yield `count` pledges due far in the future, one minute apart."""
    for i in range(count):
        yield pledge(f"{prefix}{i}", FAR + timedelta(minutes=i))


def due_at(instants: Iterable[datetime], prefix: str) -> Iterator[dict[str, Any]]:
    """Yield one pledge due at each instant."""
    for i, instant in enumerate(instants):
        yield pledge(f"{prefix}{i}", instant)


def write(path: Path, commitments: Iterable[dict[str, Any]]) -> int:
    """Write a JSON seed file of `commitments`, one at a time; return how many."""
    count = 0
    with path.open("w") as out:
        head = json.dumps({"source": SOURCE, "timezone": "UTC"})
        out.write(head[:-1] + ', "commitments": [\n')
        for item in commitments:
            out.write(("," if count else "") + json.dumps(item) + "\n")
            count += 1
        out.write("]}\n")
    return count


def notice_bodies(count: int, now: datetime, prefix: str = "c") -> list[bytes]:
    """Return the exact request bodies (format `json`) of `count` due notices.

    Built by the daemon's own code, from pledges shaped like the seed's, so a
    bare loop posting them sends what the daemon sends.
    """
    from daemon import seeds
    from daemon.delivery import formats
    from daemon.model import documents, schedule

    raw = {
        "source": SOURCE,
        "timezone": "UTC",
        "commitments": list(due_at((now + timedelta(seconds=i) for i in range(count)), prefix)),
    }
    bodies = []
    for seed in seeds.parse("bench", raw, default_zone=ZoneInfo("UTC"), now=now):
        window = seed.pledge.window
        assert window is not None
        notice = schedule.Notice(schedule.NoticeType.DUE, window.earliest)
        body = documents.notice_body(seed.pledge, notice)
        content, _ = formats.render("json", body, delivery_id=seed.pledge.id)
        bodies.append(content)
    return bodies
