"""Baseline: the design a user would write instead, on the same machine and receiver.

APScheduler 3.11's `BackgroundScheduler` with a `SQLAlchemyJobStore` on a
SQLite file and one `DateTrigger` job per notice, all defaults (a 10-thread
executor, `misfire_grace_time` of 1 s). Each job, when it fires, posts the
same kind of signed body the daemon sends (the commitment id and scheduled
instant filled in) to the same receiver with a plain `httpx.Client`, so its
firing delay is measured the same way: arrival at the receiver minus the
scheduled instant.

Two child processes per size: `build` adds `jobs` far-future jobs to a
running scheduler (the add rate and peak memory); `fire` starts a scheduler
on that store (the start time, from launch and of `start()` alone, and the
resident set), then adds `due` jobs spread over `window` seconds and waits
for them.

    python -m bench.baseline build --db FILE --jobs N
    python -m bench.baseline fire --db FILE --due N --window S --lead S --url URL
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import machine, processes, report, seedgen

if TYPE_CHECKING:
    from bench.receiver import ReceiverProcess

JOB = "bench.baseline:fire"  # a textual reference: the job store pickles it
_state: dict[str, Any] = {}


def fire(commitment_id: str, scheduled_for: str) -> None:
    """The job: post one signed notice for `commitment_id` to the receiver."""
    from daemon.delivery import signing

    fired_at = time.time()
    body = json.loads(_state["template"])
    body["timestamp"] = body["data"]["scheduled_for"] = scheduled_for
    body["data"]["commitment"]["id"] = commitment_id
    content = json.dumps(body, separators=(",", ":")).encode()
    message_id = f"{commitment_id}-{scheduled_for}"
    timestamp = int(fired_at)
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signing.signature(processes.SECRET, message_id, timestamp, content),
    }
    _state["client"].post(_state["url"], content=content, headers=headers)
    with _state["lock"]:
        _state["lateness"].append(fired_at - datetime.fromisoformat(scheduled_for).timestamp())


def _scheduler(db: Path) -> Any:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=processes.sqlite_url(db))}, timezone=UTC
    )


def _build(db: Path, jobs: int) -> dict[str, Any]:
    from apscheduler.triggers.date import DateTrigger

    scheduler = _scheduler(db)
    scheduler.start()
    started = time.perf_counter()
    for i in range(jobs):
        run_date = seedgen.FAR + timedelta(minutes=i)
        scheduler.add_job(
            JOB, DateTrigger(run_date), args=[f"w{i}", run_date.isoformat()], id=f"w{i}"
        )
    elapsed = time.perf_counter() - started
    scheduler.shutdown()
    return {
        "add_seconds": round(elapsed, 3),
        "add_rate": round(jobs / elapsed, 1),
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec from the parent.
        "build_peak_rss_mb": round(machine.memory_mb(os.getpid())["peak"], 1),
        "database_mb": round(db.stat().st_size / 2**20, 1),
    }


def _fire(
    db: Path, due: int, window: float, lead: float, url: str, template: Path
) -> dict[str, Any]:
    import httpx
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.triggers.date import DateTrigger

    _state.update(
        template=template.read_bytes(),
        client=httpx.Client(trust_env=False),
        url=url,
        lock=threading.Lock(),
        lateness=[],
        missed=0,
        failed=0,
    )
    scheduler = _scheduler(db)

    def count(event: Any) -> None:
        with _state["lock"]:
            _state["missed" if event.code == EVENT_JOB_MISSED else "failed"] += 1

    scheduler.add_listener(count, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    started = time.perf_counter()
    scheduler.start()
    start_seconds = time.perf_counter() - started
    print(json.dumps({"event": "started"}), flush=True)
    time.sleep(0.5)  # the scheduler's first look at the store is done: a steady state
    memory = machine.memory_mb(os.getpid())
    rng = random.Random(11)
    step = window / due
    first = datetime.now(UTC) + timedelta(seconds=lead)
    adding = time.perf_counter()
    for i in range(due):
        at = first + timedelta(seconds=step * i + rng.uniform(0, 0.4 * step))
        scheduler.add_job(JOB, DateTrigger(at), args=[f"d{i}", at.isoformat()], id=f"d{i}")
    add_due_seconds = time.perf_counter() - adding
    deadline = time.monotonic() + lead + window + 30
    while time.monotonic() < deadline:
        with _state["lock"]:
            if len(_state["lateness"]) + _state["missed"] + _state["failed"] >= due:
                break
        time.sleep(0.1)
    scheduler.shutdown()
    _state["client"].close()
    return {
        "start_call_seconds": round(start_seconds, 4),
        "rss_mb": round(memory["rss"], 1),
        "peak_rss_mb": round(memory["peak"], 1),
        "add_due_seconds": round(add_due_seconds, 3),
        "fired": len(_state["lateness"]),
        "missed": _state["missed"],
        "failed": _state["failed"],
        "firing_lateness_ms": report.summary([x * 1000 for x in _state["lateness"]]),
    }


def _child(args: list[str], timeout: float) -> tuple[dict[str, Any], float | None]:
    """Run this module as a child; return its last JSON line and the seconds to its "started"."""
    launched = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baseline", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=processes.ROOT,
        env=processes.environment({}),
    )
    started_after = None
    last: dict[str, Any] = {}
    # stderr is drained in a thread, so a chatty child can never block on a full pipe.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(process.stderr or []), daemon=True)
    drain.start()
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            message = json.loads(line)
            if message.get("event") == "started":
                started_after = time.perf_counter() - launched
            last = message
        code = process.wait()
    finally:
        timer.cancel()
        machine.terminate(process)
        drain.join(timeout=5)
    if code != 0:
        raise processes.BenchError(f"baseline {args[0]} exited {code}: {''.join(errors)[-2000:]}")
    return last, started_after


def measure(
    receiver: ReceiverProcess,
    folder: Path,
    *,
    jobs: int,
    due: int,
    window: float,
    lead: float,
) -> dict[str, Any]:
    """Build a job store of `jobs` jobs, start a scheduler on it, fire `due` jobs; the figures."""
    db = folder / f"baseline-{jobs}.sqlite"
    path = f"/baseline-{jobs}"
    # The body the jobs send, rendered here by the daemon's code: the child never imports it.
    template = folder / "baseline-body.json"
    template.write_bytes(seedgen.notice_bodies(1, datetime.now(UTC))[0])
    try:
        built, _ = _child(["build", "--db", str(db), "--jobs", str(jobs)], timeout=3600)
        fired, started_after = _child(
            [
                "fire",
                "--db",
                str(db),
                "--due",
                str(due),
                "--window",
                str(window),
                "--lead",
                str(lead),
                "--url",
                receiver.url + path,
                "--template",
                str(template),
            ],
            timeout=lead + window + 600,
        )
    finally:
        db.unlink(missing_ok=True)
    rows = receiver.dump(path)
    receiver.clear(path)
    delays = [
        (r["at"] - datetime.fromisoformat(r["scheduled_for"]).timestamp()) * 1000 for r in rows
    ]
    return {
        "jobs": jobs,
        **built,
        "start_seconds": round(started_after or 0.0, 3),
        **fired,
        "received": len(rows),
        "bad_signatures": sum(1 for r in rows if r["signed"] is not True),
        "delay_ms": report.summary(delays),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build")
    build.add_argument("--db", type=Path, required=True)
    build.add_argument("--jobs", type=int, required=True)
    fire_ = commands.add_parser("fire")
    fire_.add_argument("--db", type=Path, required=True)
    fire_.add_argument("--due", type=int, required=True)
    fire_.add_argument("--window", type=float, required=True)
    fire_.add_argument("--lead", type=float, required=True)
    fire_.add_argument("--url", required=True)
    fire_.add_argument("--template", type=Path, required=True)
    args = parser.parse_args()
    # The jobs name this module by its import path; run them against that module's state.
    from bench import baseline

    if args.command == "build":
        result = baseline._build(args.db, args.jobs)
    else:
        result = baseline._fire(args.db, args.due, args.window, args.lead, args.url, args.template)
    print(json.dumps({"event": "done", **result}), flush=True)


if __name__ == "__main__":
    main()
