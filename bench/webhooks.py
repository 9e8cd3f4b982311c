"""Webhooks: what many configured webhooks cost, idle and in a burst fanned out to them all.

Every webhook posts to the receiver on a path of its own. For each engine:

* burst: `count` pledges due at one instant, each owed to all `WEBHOOKS`
  webhooks, so count x WEBHOOKS deliveries. Measured as the burst scenario
  does (time from the instant to the last arrival, deliveries/s, CPU), with
  lost notices counted per webhook path and duplicates by `webhook-id`.
* idle, with 1 and with `WEBHOOKS` webhooks configured, nothing due (on the
  burst's database: its deliveries are all delivered): the daemon's CPU over
  an idle window, its send drain's mean run from /metrics (an idle daemon
  runs it once a minute, so the window may hold none), and, more sensitive,
  the dispatcher's idle turn timed in this process once the daemon has
  stopped: `Dispatcher._turn([])`, what each run of the send drain does
  first, called `TURNS` times against the same database.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench import burst, delay, processes, scale
from bench.receiver import ReceiverProcess
from bench.scale import Database

WEBHOOKS = 100
IDLE_WEBHOOKS = (1, WEBHOOKS)
TURNS = 300
WARM_TURNS = 5  # connect, warm the statement cache, and the first turn's look for orphans


def paths(engine: str, webhooks: int) -> dict[str, str]:
    """Return webhook name -> receiver path, one path each."""
    return {f"h{i:03d}": f"/hooks-{engine}/h{i:03d}" for i in range(webhooks)}


def fan_out(
    db: Database, receiver: ReceiverProcess, folder: Path, *, count: int, lead: float
) -> dict[str, Any]:
    """Import `count` pledges due at one instant, each owed to `WEBHOOKS` webhooks; time it."""
    hooks = paths(db.engine, WEBHOOKS)
    settings = delay.settings_for(db, receiver, hooks)
    shot = burst.fire(
        db, receiver, folder, settings, list(hooks.values()), count=count, lead=lead, name="hooks"
    )
    lost = {
        path: count - len({r["commitment"] for r in rows if r["type"] == "commitment.due"})
        for path, rows in shot.rows.items()
    }
    # When each webhook had its last notice: how evenly the webhooks were served.
    done = [max((r["at"] for r in rows), default=None) for rows in shot.rows.values()]
    done_s = sorted(at - shot.instant.timestamp() for at in done if at is not None)
    return {
        "engine": db.engine,
        "notices": count,
        "webhooks": WEBHOOKS,
        "deliveries": count * WEBHOOKS,
        **burst.figures(shot),
        "lost": sum(lost.values()),
        "webhooks_short": sum(1 for n in lost.values() if n),
        "first_webhook_done_seconds": round(done_s[0], 3) if done_s else None,
        "last_webhook_done_seconds": round(done_s[-1], 3) if done_s else None,
    }


def idle(
    db: Database,
    receiver: ReceiverProcess,
    folder: Path,
    *,
    webhooks: int,
    idle: float,
    settle: float,
) -> dict[str, Any]:
    """Run the daemon with `webhooks` webhooks and nothing due; then time idle turns in-process."""
    hooks = paths(db.engine, webhooks)
    settings = delay.settings_for(db, receiver, hooks)
    delay.ensure_watched(db, 0, folder)
    log = folder / f"hooks-idle-{db.engine}-{webhooks}.log"
    daemon = processes.Daemon.start(settings, log, folder)
    try:
        window = scale.idle_window(daemon, idle=idle, settle=settle, drain="send")
    finally:
        code = daemon.stop()
    if code != 0:
        raise processes.BenchError(f"daemon exited {code} on SIGTERM: {daemon.tail()}")
    arrived = sum(receiver.counts(list(hooks.values())).values())
    if arrived:
        raise processes.BenchError(f"{arrived} requests arrived while nothing was due")
    return {
        "engine": db.engine,
        "webhooks": webhooks,
        "ready_seconds": round(daemon.ready_seconds, 3),
        **window,
        **idle_turns(db.url, {name: receiver.url + path for name, path in hooks.items()}),
    }


def idle_turns(url: str, hooks: dict[str, str]) -> dict[str, Any]:
    """Time the dispatcher's turn with nothing due, in this process: CPU and wall, per turn.

    The CPU is this thread's (the driver's work included); a PostgreSQL
    server's own CPU is not in it, but is in the wall time.
    """
    from daemon.clock import system_clock
    from daemon.delivery import guard, sending
    from daemon.delivery.dispatcher import Dispatcher
    from daemon.settings import Settings, WebhookSettings
    from daemon.store import connector

    settings = Settings(
        database_url=url,
        allow_private_targets=True,
        webhooks={
            name: WebhookSettings.model_validate({"url": to, "secret": processes.SECRET})
            for name, to in hooks.items()
        },
    )
    engine = connector.make_engine(url)
    client = guard.client(guard.Policy(allow_private=True), max_connections=2)
    dispatcher = Dispatcher(
        engine,
        settings,
        sending.Sending.here(client, system_clock),
        system_clock,
        worker="bench",
        workers=settings.max_concurrency,
        per_webhook=settings.webhook_concurrency,
    )
    try:
        cpu: list[float] = []
        wall: list[float] = []
        leased = 0
        for _ in range(WARM_TURNS + TURNS):
            cpu_started, started = time.thread_time(), time.perf_counter()
            leased += dispatcher._turn([])[1]
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.thread_time() - cpu_started) * 1000)
    finally:
        dispatcher.stopping = True
        dispatcher.close(0)
        client.close()
        engine.dispose()
    first_cpu, first_wall = cpu[0], wall[0]
    cpu, wall = cpu[WARM_TURNS:], wall[WARM_TURNS:]
    if leased:
        raise processes.BenchError(f"the dispatcher leased {leased} deliveries: something was due")
    return {
        "first_turn_cpu_ms": round(first_cpu, 3),
        "first_turn_wall_ms": round(first_wall, 3),
        "turns": TURNS,
        "turn_cpu_ms": round(statistics.fmean(cpu), 3),
        "turn_cpu_p50_ms": round(statistics.median(cpu), 3),
        "turn_wall_ms": round(statistics.fmean(wall), 3),
        "turn_wall_p50_ms": round(statistics.median(wall), 3),
    }
