"""Scale: what N watched pledges cost, with nothing due.

For each engine and size: the import rate of `pledgewatch import FILE` (wall
time of the command, start-up included), the time from launch to READY=1,
the resident set after the idle window, the CPU used over that window
(utime+stime from /proc/PID/stat), and the planner's pass when nothing is
due, timed in this process against the same database once the daemon has
stopped (`Planner.drain()`, the call the daemon's plan job makes).
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import processes, seedgen

PLANNER_PASSES = 50


@dataclass(frozen=True)
class Database:
    """Where a scenario's pledges live."""

    engine: str  # sqlite | postgresql
    url: str
    file: Path | None = None  # the SQLite file


def measure(
    db: Database,
    count: int,
    folder: Path,
    *,
    idle: float,
    settle: float,
    fixed: float | None = None,
) -> dict[str, Any]:
    """Import `count` watched pledges into `db`, run the daemon idle, time a planner pass.

    `fixed` is the import command's own start-up on this engine, when already
    measured; otherwise it is measured here on an empty file.
    """
    settings = {"PLEDGEWATCH_DATABASE_URL": db.url}
    seed = folder / f"scale-{db.engine}-{count}.json"
    seedgen.write(seed, seedgen.watched(count))
    processes.cli("migrate", settings=settings)
    if fixed is None:
        fixed = import_fixed_seconds(settings, folder)
    import_seconds = processes.cli("import", str(seed), settings=settings)
    seed.unlink()
    result: dict[str, Any] = {
        "engine": db.engine,
        "pledges": count,
        "import_seconds": round(import_seconds, 3),
        "import_rate": round(count / import_seconds, 1),
        # The command's own start-up, timed on an empty file, left out.
        "import_fixed_seconds": round(fixed, 3),
        "import_rate_net": round(count / max(import_seconds - fixed, 1e-3), 1),
    }
    if db.file is not None:
        result["database_mb"] = round(db.file.stat().st_size / 2**20, 1)
    daemon = processes.Daemon.start(settings, folder / f"scale-{db.engine}-{count}.log", folder)
    try:
        result["ready_seconds"] = round(daemon.ready_seconds, 3)
        result["ready_via"] = daemon.ready_via
        result.update(idle_window(daemon, idle=idle, settle=settle))
    finally:
        code = daemon.stop()
    if code != 0:
        raise processes.BenchError(f"daemon exited {code} on SIGTERM: {daemon.tail()}")
    result.update(_planner_pass(db.url))
    return result


def import_fixed_seconds(settings: dict[str, str], folder: Path) -> float:
    """Return the wall time of importing an empty seed file: the command's fixed cost."""
    empty = folder / "empty.json"
    seedgen.write(empty, [])
    try:
        return processes.cli("import", str(empty), settings=settings)
    finally:
        empty.unlink()


def _planner_pass(url: str) -> dict[str, Any]:
    """Time `Planner.drain()` on a database where nothing is due; median and worst, in ms."""
    from daemon.clock import system_clock
    from daemon.model.schedule import NoticeType
    from daemon.service.metrics import Metrics
    from daemon.service.planner import Planner
    from daemon.settings import Settings
    from daemon.store import connector

    engine = connector.make_engine(url)
    try:
        counted = Metrics()
        planner = Planner(engine, Settings(database_url=url), system_clock, instruments=counted)
        for _ in range(3):  # connect and warm the statement cache first
            planner.drain()
        timings = []
        for _ in range(PLANNER_PASSES):
            started = time.perf_counter()
            next_at = planner.drain()
            timings.append((time.perf_counter() - started) * 1000)
        planned = sum(
            counted.registry.get_sample_value(
                "pledgewatch_notices_planned_total", {"type": kind.value}
            )
            or 0
            for kind in NoticeType
        )
        if planned:
            raise processes.BenchError(f"the planner found {planned:g} notices due")
    finally:
        engine.dispose()
    return {
        "planner_pass_ms": round(statistics.median(timings), 3),
        "planner_pass_max_ms": round(max(timings), 3),
        "planner_next_at": next_at.isoformat() if next_at else None,
    }


def idle_window(
    daemon: processes.Daemon, *, idle: float, settle: float, drain: str = "plan"
) -> dict[str, Any]:
    """Wait `settle` s, then measure the daemon's CPU over `idle` s; its memory; a drain's mean run.

    The drain's mean run (wall time, from /metrics) covers the runs in the
    window, or every run since start when none ran in it.
    """
    time.sleep(settle)  # the first plan pass and the HTTP server's warm-up are not idle
    ticks = drain_ticks(daemon.metrics(), drain)
    cpu_before, started = daemon.cpu_seconds(), time.monotonic()
    time.sleep(idle)
    cpu, wall = daemon.cpu_seconds() - cpu_before, time.monotonic() - started
    memory = daemon.memory_mb()
    result: dict[str, Any] = {
        "idle_seconds": round(wall, 2),
        "idle_cpu_seconds": round(cpu, 3),
        "idle_cpu_percent": round(100 * cpu / wall, 3),
        "rss_mb": round(memory["rss"], 1),
        "peak_rss_mb": round(memory["peak"], 1),
    }
    tick = tick_ms(ticks, drain_ticks(daemon.metrics(), drain))
    if tick is not None:
        result["tick_ms_from_metrics"] = round(tick[0], 3)
        result["tick_runs_from_metrics"] = tick[1]
        result["tick_runs_in_window"] = tick[2]
    return result


def drain_ticks(text: str | None, drain: str) -> tuple[float, float] | None:
    """Return (sum of seconds, count) of the daemon's runs of `drain`, from Prometheus text."""
    if not text:
        return None
    found = {}
    for part in ("sum", "count"):
        match = re.search(
            rf'^pledgewatch_tick_duration_seconds_{part}{{drain="{drain}"}} (\S+)$', text, re.M
        )
        if match is None:
            return None
        found[part] = float(match[1])
    return found["sum"], found["count"]


def tick_ms(
    before: tuple[float, float] | None, after: tuple[float, float] | None
) -> tuple[float, int, bool] | None:
    """Return the mean run in ms, the runs it covers and whether they ran in the idle window.

    Over the idle window if any ran in it, else since start.
    """
    if after is None or not after[1]:
        return None
    if before is not None and after[1] > before[1]:
        runs = after[1] - before[1]
        return 1000 * (after[0] - before[0]) / runs, int(runs), True
    return 1000 * after[0] / after[1], int(after[1]), False
