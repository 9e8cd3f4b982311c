"""Delay: from a notice's scheduled instant to its arrival at the receiver.

The daemon runs over `watched` pledges due far ahead; then `notices` more
pledges, with exact-instant deadlines spread over `window` seconds, are
imported while it runs (as an operator would). Each owes one
`commitment.due` (no reminder offsets, overdue repeat a year away). For each,
the receiver's arrival time minus the payload's `data.scheduled_for` is the
delay: scheduler wake-up, planning, the outbox write, the dispatcher's claim,
signing, the POST.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import processes, report, seedgen
from bench.receiver import ReceiverProcess
from bench.scale import Database

# The spacing of instants is jittered (seeded), so they do not all land on
# round milliseconds the scheduler might favour.
JITTER = 0.4
# A running SQLite daemon sees another process's commit within its watch
# interval (0.25 s); notices due sooner than this after the import are left
# out of the figures, which are about notices the daemon knew of in time.
KNOWN_AFTER = timedelta(seconds=1)


def settings_for(
    db: Database, receiver: ReceiverProcess, path: str | dict[str, str]
) -> dict[str, str]:
    """Return the daemon's settings: signed webhooks to the receiver, one notice per pledge.

    `path` is where the one webhook, `bench`, posts; or a webhook name -> path
    for each of several.
    """
    settings = {
        "PLEDGEWATCH_DATABASE_URL": db.url,
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "",
        "PLEDGEWATCH_OVERDUE_REPEAT": "365d",
    }
    for name, to in (path if isinstance(path, dict) else {"bench": path}).items():
        settings[f"PLEDGEWATCH_WEBHOOKS__{name.upper()}__URL"] = receiver.url + to
        settings[f"PLEDGEWATCH_WEBHOOKS__{name.upper()}__SECRET"] = processes.SECRET
    return settings


def ensure_watched(db: Database, count: int, folder: Path) -> None:
    """Migrate `db` and import `count` watched pledges (skipped when a copy already holds them)."""
    settings = {"PLEDGEWATCH_DATABASE_URL": db.url}
    processes.cli("migrate", settings=settings)
    if count:
        seed = folder / f"watched-{db.engine}-{count}.json"
        seedgen.write(seed, seedgen.watched(count))
        processes.cli("import", str(seed), settings=settings)
        seed.unlink()


def measure(
    db: Database,
    receiver: ReceiverProcess,
    folder: Path,
    *,
    watched: int,
    notices: int,
    window: float,
    lead: float,
) -> dict[str, Any]:
    """Run the daemon over `db` and measure the delay of `notices` due over `window` seconds.

    `lead` is how far ahead of the import's start the first instant lies: it
    must cover the import of `notices` pledges, or the first are late by design.
    """
    path = f"/delay-{db.engine}"
    settings = settings_for(db, receiver, path)
    daemon = processes.Daemon.start(settings, folder / f"delay-{db.engine}.log", folder)
    try:
        rng = random.Random(7)
        step = window / notices
        first = datetime.now(UTC) + timedelta(seconds=lead)
        instants = [
            first + timedelta(seconds=step * i + rng.uniform(0, JITTER * step))
            for i in range(notices)
        ]
        seed = folder / f"delay-{db.engine}.json"
        seedgen.write(seed, seedgen.due_at(instants, "d"))
        cpu_before = daemon.cpu_seconds()
        import_seconds = processes.cli("import", str(seed), settings=settings)
        imported_at = datetime.now(UTC)
        remaining = (instants[-1] - imported_at).total_seconds()
        received = receiver.wait_for(path, notices, timeout=max(remaining, 0) + 60)
        cpu = daemon.cpu_seconds() - cpu_before
        memory = daemon.memory_mb()
    finally:
        code = daemon.stop()
    if code != 0:
        raise processes.BenchError(f"daemon exited {code} on SIGTERM: {daemon.tail()}")
    rows = [r for r in receiver.dump(path) if r["type"] == "commitment.due"]
    receiver.clear(path)
    known = imported_at + KNOWN_AFTER
    delays = [
        (r["at"] - scheduled.timestamp()) * 1000
        for r in rows
        if (scheduled := datetime.fromisoformat(r["scheduled_for"])) >= known
    ]
    return {
        "engine": db.engine,
        "watched": watched,
        "notices": notices,
        "window_seconds": window,
        "import_seconds": round(import_seconds, 3),
        "left_out": sum(1 for i in instants if i < known),
        "received": received,
        "lost": notices - len({r["commitment"] for r in rows}),
        "duplicates": len(rows) - len({r["webhook_id"] for r in rows}),
        "bad_signatures": sum(1 for r in rows if r["signed"] is False),
        "delay_ms": report.summary(delays),
        "cpu_seconds": round(cpu, 3),
        "rss_mb": round(memory["rss"], 1),
    }
