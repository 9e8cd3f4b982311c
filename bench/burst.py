"""Burst: `count` signed notices due at one and the same instant.

The pledges are imported while the daemon runs, all due at one instant a
little ahead. Measured: time from that instant to the last arrival,
deliveries per second over that span, the receiver's and the daemon's CPU
over it, and, counted by `webhook-id` and by pledge, lost notices and
duplicates (both should be 0), and signatures that do not verify.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import delay, processes, scale, seedgen
from bench.receiver import ReceiverProcess
from bench.scale import Database


@dataclass(frozen=True)
class Shot:
    """What one burst left at the receiver, and what it cost."""

    instant: datetime
    import_seconds: float
    imported_at: datetime
    rows: dict[str, list[dict[str, Any]]]  # by path, as the receiver dumped them
    received: int
    daemon_cpu: float
    receiver_cpu: float
    read_at: float  # when the CPU was read, in Unix seconds
    memory: dict[str, float]
    # The send drain's runs over the burst: (sum of seconds, count) before and after.
    sends: tuple[tuple[float, float] | None, tuple[float, float] | None]


def measure(
    db: Database, receiver: ReceiverProcess, folder: Path, *, count: int, lead: float
) -> dict[str, Any]:
    """Run the daemon over `db`, import `count` pledges due at one instant, time the delivery."""
    path = f"/burst-{db.engine}"
    settings = delay.settings_for(db, receiver, path)
    shot = fire(db, receiver, folder, settings, [path], count=count, lead=lead, name="burst")
    rows = shot.rows[path]
    due = [r["commitment"] for r in rows if r["type"] == "commitment.due"]
    pledges = set(due)
    return {
        "engine": db.engine,
        "notices": count,
        **figures(shot),
        "lost": count - len(pledges),
        # A pledge notified twice under different ids.
        "duplicates_by_pledge": len(due) - len(pledges),
    }


def fire(
    db: Database,
    receiver: ReceiverProcess,
    folder: Path,
    settings: dict[str, str],
    paths: list[str],
    *,
    count: int,
    lead: float,
    name: str,
) -> Shot:
    """Run the daemon with `settings`, import `count` pledges due at one instant `lead` s ahead.

    Waits (bounded) until each of `paths` has `count` requests, dumps and
    clears them at the receiver, and stops the daemon.
    """
    delay.ensure_watched(db, 0, folder)
    daemon = processes.Daemon.start(settings, folder / f"{name}-{db.engine}.log", folder)
    try:
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        seed = folder / f"{name}-{db.engine}.json"
        seedgen.write(seed, seedgen.due_at([instant] * count, name[0]))
        import_seconds = processes.cli("import", str(seed), settings=settings)
        imported_at = datetime.now(UTC)
        # Take the readings just before the instant, so they cover the burst only.
        _sleep_until(instant, 0.3)
        sends = scale.drain_ticks(daemon.metrics(), "send")
        _sleep_until(instant, 0.05)
        daemon_cpu, receiver_cpu = daemon.cpu_seconds(), receiver.cpu_seconds()
        total = count * len(paths)
        received = receiver.wait_for_each(paths, count, timeout=120 + total / 20)
        # Read before the dump, which costs the receiver CPU of its own.
        daemon_cpu = daemon.cpu_seconds() - daemon_cpu
        receiver_cpu = receiver.cpu_seconds() - receiver_cpu
        read_at = time.time()
        memory = daemon.memory_mb()
        sent = scale.drain_ticks(daemon.metrics(), "send")
        rows = {path: receiver.dump(path) for path in paths}
    finally:
        code = daemon.stop()
    if code != 0:
        raise processes.BenchError(f"daemon exited {code} on SIGTERM: {daemon.tail()}")
    for path in paths:
        receiver.clear(path)
    return Shot(
        instant,
        import_seconds,
        imported_at,
        rows,
        sum(received.values()),
        daemon_cpu,
        receiver_cpu,
        read_at,
        memory,
        (sends, sent),
    )


def _sleep_until(instant: datetime, early: float) -> None:
    """Sleep until `early` seconds before `instant` (not at all when that has passed)."""
    wait = (instant - datetime.now(UTC)).total_seconds() - early
    if wait > 0:
        time.sleep(wait)


def figures(shot: Shot) -> dict[str, Any]:
    """Return what every burst reports: timing, rate, duplicates by webhook-id, signatures, CPU."""
    rows = [r for found in shot.rows.values() for r in found]
    start = shot.instant.timestamp()
    last = max((r["at"] for r in rows), default=start)
    span = last - start
    first = min((r["at"] for r in rows), default=last)
    # CPU was read a quiet second after the last arrival: share it over that whole time.
    measured = shot.read_at - start
    ids = [r["webhook_id"] for r in rows]
    before, after = shot.sends
    runs = after[1] - before[1] if before and after else 0
    return {
        "import_seconds": round(shot.import_seconds, 3),
        "instant_passed_before_import_ended": shot.imported_at > shot.instant,
        "received": shot.received,
        "first_arrival_ms": round((first - start) * 1000, 1),
        "last_arrival_seconds": round(span, 3),
        "deliveries_per_second": round(len(rows) / span, 1) if span > 0 else None,
        "sending_per_second": round((len(rows) - 1) / (last - first), 1) if last > first else None,
        # The same delivery twice.
        "duplicates": len(ids) - len(set(ids)),
        "bad_signatures": sum(1 for r in rows if r["signed"] is not True),
        "daemon_cpu_seconds": round(shot.daemon_cpu, 3),
        "receiver_cpu_seconds": round(shot.receiver_cpu, 3),
        "daemon_busy_percent": round(100 * shot.daemon_cpu / measured, 1),
        "receiver_busy_percent": round(100 * shot.receiver_cpu / measured, 1),
        "receiver_us_per_request": round(1e6 * shot.receiver_cpu / len(rows), 1) if rows else None,
        "rss_mb": round(shot.memory["rss"], 1),
        "peak_rss_mb": round(shot.memory["peak"], 1),
        # The send drain's runs (each turns until no send is left to record), and their
        # wall time in all, from the daemon's /metrics.
        "send_runs": int(runs),
        "send_run_seconds": round(after[0] - before[0], 3) if runs else None,
    }
