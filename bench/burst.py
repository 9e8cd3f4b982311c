"""Burst: `count` signed notices due at one and the same instant.

The pledges are imported while the daemon runs, all due at one instant a
little ahead. Measured: time from that instant to the last arrival,
deliveries per second over that span, the receiver's and the daemon's CPU
over it, and, counted by `webhook-id` and by pledge, lost notices and
duplicates (both should be 0), and signatures that do not verify.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import delay, processes, seedgen
from bench.receiver import ReceiverProcess
from bench.scale import Database


def measure(
    db: Database, receiver: ReceiverProcess, folder: Path, *, count: int, lead: float
) -> dict[str, Any]:
    """Run the daemon over `db`, import `count` pledges due at one instant, time the delivery."""
    path = f"/burst-{db.engine}"
    settings = delay.settings_for(db, receiver, path)
    delay.ensure_watched(db, 0, folder)
    daemon = processes.Daemon.start(settings, folder / f"burst-{db.engine}.log", folder)
    try:
        instant = datetime.now(UTC) + timedelta(seconds=lead)
        seed = folder / f"burst-{db.engine}.json"
        seedgen.write(seed, seedgen.due_at([instant] * count, "b"))
        import_seconds = processes.cli("import", str(seed), settings=settings)
        imported_at = datetime.now(UTC)
        wait = (instant - datetime.now(UTC)).total_seconds()
        if wait > 0.05:
            # Take the CPU readings just before the instant, so they cover the burst only.
            time.sleep(wait - 0.05)
        daemon_cpu, receiver_cpu = daemon.cpu_seconds(), receiver.cpu_seconds()
        received = receiver.wait_for(path, count, timeout=120 + count / 20)
        # Read before the dump, which costs the receiver CPU of its own.
        daemon_cpu = daemon.cpu_seconds() - daemon_cpu
        receiver_cpu = receiver.cpu_seconds() - receiver_cpu
        read_at = time.time()
        memory = daemon.memory_mb()
        rows = receiver.dump(path)
    finally:
        code = daemon.stop()
    if code != 0:
        raise processes.BenchError(f"daemon exited {code} on SIGTERM: {daemon.tail()}")
    receiver.clear(path)
    last = max((r["at"] for r in rows), default=instant.timestamp())
    span = last - instant.timestamp()
    first = min((r["at"] for r in rows), default=last)
    # CPU was read a quiet second after the last arrival: share it over that whole time.
    measured = read_at - instant.timestamp()
    ids = [r["webhook_id"] for r in rows]
    due = [r["commitment"] for r in rows if r["type"] == "commitment.due"]
    pledges = set(due)
    return {
        "engine": db.engine,
        "notices": count,
        "import_seconds": round(import_seconds, 3),
        "instant_passed_before_import_ended": imported_at > instant,
        "received": received,
        "first_arrival_ms": round((first - instant.timestamp()) * 1000, 1),
        "last_arrival_seconds": round(span, 3),
        "deliveries_per_second": round(len(rows) / span, 1) if span > 0 else None,
        "sending_per_second": round((len(rows) - 1) / (last - first), 1) if last > first else None,
        "lost": count - len(pledges),
        # The same delivery twice, and a pledge notified twice under different ids.
        "duplicates": len(ids) - len(set(ids)),
        "duplicates_by_pledge": len(due) - len(pledges),
        "bad_signatures": sum(1 for r in rows if r["signed"] is not True),
        "daemon_cpu_seconds": round(daemon_cpu, 3),
        "receiver_cpu_seconds": round(receiver_cpu, 3),
        "daemon_busy_percent": round(100 * daemon_cpu / measured, 1),
        "receiver_busy_percent": round(100 * receiver_cpu / measured, 1),
        "receiver_us_per_request": round(1e6 * receiver_cpu / len(rows), 1) if rows else None,
        "rss_mb": round(memory["rss"], 1),
        "peak_rss_mb": round(memory["peak"], 1),
    }
