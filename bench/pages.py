"""Pages: server time of the status pages at N pledges (`python -m bench.pages --pledges 100000`).

Imports N generated pledges (mixed statuses, 40 tags, 25 parties, deadlines
one minute apart from 2090) into a SQLite file, or a scratch PostgreSQL
database with `--postgres URL`, starts the daemon, and asks each page
`--repeat` times after two warm-up requests. The figure is the daemon's own
`Server-Timing` (reading and rendering, without the network), median and
95th percentile, in milliseconds; the round trip through loopback is shown
beside it. On PostgreSQL the table is vacuumed and analysed after the
import, as autovacuum would soon do. Not part of `python -m bench`: run it on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import processes, seedgen

# Closed outcomes among the generated pledges: one in ten kept, one in twenty broken...
_STATUSES = ((10, "kept"), (20, "broken"), (25, "stalled"), (7, "in_progress"))
TAGS = 40
PARTIES = 25


def pledges(count: int) -> Iterator[dict[str, Any]]:
    """Yield `count` pledges like seedgen's, with statuses, tags and parties that vary."""
    for i in range(count):
        item = seedgen.pledge(f"w{i}", seedgen.FAR + timedelta(minutes=i))
        item["tags"] = ["bench", f"topic{i % TAGS}"]
        item["parties"] = [f"Party {i % PARTIES}", "Review board"]
        status = next((name for every, name in _STATUSES if i % every == 0), None)
        if status:
            item["status"] = status
        yield item


def cases(count: int) -> dict[str, str]:
    """Return the pages timed: name -> path."""
    middle = count // 2
    return {
        "overview, first page": "/",
        "overview, page 20": "/?page=20",
        "filter tag": "/?tag=topic7",
        "filter party and status": "/?party=Party+3&status=open",
        "filter text": f"/?q=report+w{middle}",
        "pledge page": f"/pledges/w{middle}",
    }


def _server_ms(answer: httpx.Response) -> float:
    timing = answer.headers.get("server-timing", "")
    return float(timing.partition("dur=")[2] or "nan")


def measure(url: str, count: int, repeat: int) -> list[dict[str, Any]]:
    """Ask each page `repeat` times; return its server and round-trip times in ms."""
    found = []
    with httpx.Client(base_url=url, timeout=60, trust_env=False) as client:
        for name, path in cases(count).items():
            for _ in range(2):
                client.get(path).raise_for_status()
            server, trip = [], []
            for _ in range(repeat):
                started = time.perf_counter()
                answer = client.get(path)
                trip.append((time.perf_counter() - started) * 1000)
                answer.raise_for_status()
                server.append(_server_ms(answer))
            found.append(
                {
                    "page": name,
                    "path": path,
                    "server_ms_p50": round(statistics.median(server), 1),
                    "server_ms_p95": round(sorted(server)[int(0.95 * (len(server) - 1))], 1),
                    "round_trip_ms_p50": round(statistics.median(trip), 1),
                }
            )
    return found


def run(count: int, repeat: int, postgres: str | None, folder: Path) -> list[dict[str, Any]]:
    """Import `count` pledges, start the daemon, time the pages; return the rows."""
    with ExitStack() as stack:
        if postgres:
            url = stack.enter_context(processes.scratch_postgres(postgres))
        else:
            url = processes.sqlite_url(folder / "pages.db")
        settings = {"PLEDGEWATCH_DATABASE_URL": url, "PLEDGEWATCH_REMINDER_OFFSETS": ""}
        seed = folder / "pages.json"
        seedgen.write(seed, pledges(count))
        processes.cli("migrate", settings=settings)
        print(f"importing {count:,} pledges...", file=sys.stderr, flush=True)
        seconds = processes.cli("import", str(seed), settings=settings)
        print(f"imported in {seconds:.1f} s", file=sys.stderr, flush=True)
        if postgres:
            # What autovacuum does a minute after a bulk import: statistics, and a
            # visibility map that lets counts read the indexes alone.
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE commitments")
        daemon = processes.Daemon.start(settings, folder / "daemon.log", folder)
        try:
            rows = measure(daemon.url, count, repeat)
        finally:
            daemon.stop()
        engine = "postgresql" if postgres else "sqlite"
        return [{"engine": engine, "pledges": count, **row} for row in rows]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--pledges", type=int, default=100_000, help="how many (default 100000)")
    parser.add_argument("--repeat", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="on a scratch PostgreSQL database")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder:
        rows = run(args.pledges, args.repeat, args.postgres, Path(folder))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"| page ({rows[0]['engine']}, {args.pledges:,} pledges) | server p50 ms | p95 ms | round trip p50 ms |"
    )
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['page']} (`{row['path']}`) | {row['server_ms_p50']} | "
            f"{row['server_ms_p95']} | {row['round_trip_ms_p50']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
