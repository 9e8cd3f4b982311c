"""Measure the delay from a notice's scheduled instant to its arrival at a real receiver.

Starts the real daemon (SQLite file, then PostgreSQL when it answers), imports
N pledges due at staggered instants a few seconds ahead, and records, for each
`commitment.due`, arrival time minus `scheduled_for`. Prints a table and
writes bench/results/<date>-delay.json. Nothing here is asserted.

    python -m bench.delay [--count 25]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from tests.support import databases, process
from tests.support.receiver import Receiver, serve

RESULTS = Path(__file__).parent / "results"


def measure(
    database_url: str, receiver: Receiver, count: int, folder: Path, label: str
) -> dict[str, object]:
    path = f"/{label}"
    settings = {
        "PLEDGEWATCH_DATABASE_URL": database_url,
        "PLEDGEWATCH_WEBHOOKS__BENCH__URL": receiver.url + path,
        "PLEDGEWATCH_WEBHOOKS__BENCH__SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "PLEDGEWATCH_ALLOW_PRIVATE_TARGETS": "true",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
    }
    daemon = process.start(settings, folder / f"{label}.log")
    try:
        start = datetime.now(UTC) + timedelta(seconds=4)
        seed = {
            "timezone": "UTC",
            "commitments": [
                {
                    "id": f"p{i}",
                    "title": f"Pledge {i}",
                    "deadline": (start + timedelta(milliseconds=397 * i)).isoformat(),
                }
                for i in range(count)
            ],
        }
        file = folder / f"{label}.yaml"
        file.write_text(yaml.safe_dump(seed))
        result = process.cli("import", str(file), settings=settings)
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        received = receiver.wait_for(path, count=count, timeout=60 + count)
    finally:
        daemon.stop()
    delays = sorted(
        (r.received_at - datetime.fromisoformat(r.json()["data"]["scheduled_for"]).timestamp())
        * 1000
        for r in received
    )
    return {
        "engine": label,
        "notices": len(delays),
        "median_ms": round(statistics.median(delays), 2),
        "p90_ms": round(delays[int(0.9 * (len(delays) - 1))], 2),
        "max_ms": round(delays[-1], 2),
        "min_ms": round(delays[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=25)
    args = parser.parse_args()
    receiver = Receiver()
    server, thread = serve(receiver)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows.append(
            measure(f"sqlite:///{folder / 'bench.db'}", receiver, args.count, folder, "sqlite")
        )
        if databases.postgres_unavailable() is None:
            name = databases.create()
            try:
                rows.append(
                    measure(databases.url_for(name), receiver, args.count, folder, "postgresql")
                )
            finally:
                databases.drop(name)
    server.should_exit = True
    thread.join(timeout=5)
    print("| engine | notices | median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['engine']} | {row['notices']} | {row['median_ms']} | {row['p90_ms']} | {row['max_ms']} |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-delay.json"
    machine = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out.write_text(json.dumps({"machine": machine, "results": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
