"""Ceiling: how fast this machine can post the daemon's notices with no database at all.

A bare loop in a process of its own: the daemon's HTTP client (`guard.client`,
one pooled `httpx.Client`), the bodies the daemon renders for the burst's
pledges, Standard Webhooks signatures from `daemon.delivery.signing`, and a
pool of `threads` threads sharing the client, as the dispatcher's pool does.
Bodies are built and signed before the clock starts; each request is streamed
and its answer drained as the dispatcher does. The pledgewatch burst rate is
reported as a share of this rate.

    python -m bench.ceiling --url URL --count N --threads T   # prints one JSON object
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench import processes, seedgen
from bench.receiver import ReceiverProcess

TIMEOUT_SECONDS = 15.0  # the daemon's default webhook timeout


def _post_all(url: str, count: int, threads: int, secret: str) -> dict[str, Any]:
    from daemon import __version__
    from daemon.delivery import guard, signing

    bodies = seedgen.notice_bodies(count, datetime.now(UTC))
    client = guard.client(guard.Policy(allow_private=True), max_connections=threads)

    def post(body: bytes) -> bool:
        """Send one notice; return True when the receiver accepted it."""
        # Signed at send time, as the dispatcher signs each attempt.
        message_id = uuid.uuid4().hex
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": f"pledgewatch/{__version__}",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signing.signature(secret, message_id, timestamp, body),
        }
        try:
            with (
                guard.deadline(TIMEOUT_SECONDS),
                client.stream(
                    "POST", url, content=body, headers=headers, timeout=TIMEOUT_SECONDS
                ) as response,
            ):
                for _ in response.iter_raw():
                    pass
        except Exception:
            return False  # counted, never retried: the loop measures the best case
        return response.status_code < 300

    with ThreadPoolExecutor(max_workers=threads) as pool:
        started = time.perf_counter()
        accepted = sum(pool.map(post, bodies))
        elapsed = time.perf_counter() - started
    client.close()
    return {
        "count": count,
        "threads": threads,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(count / elapsed, 1),
        "failures": count - accepted,
        "body_bytes": len(bodies[0]) if bodies else 0,
    }


def measure(receiver: ReceiverProcess, *, count: int, threads: int) -> dict[str, Any]:
    """Run the bare loop as a child process against `receiver`; return its rate and checks."""
    path = f"/ceiling-{threads}"
    receiver_cpu = receiver.cpu_seconds()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ceiling",
            "--url",
            receiver.url + path,
            "--count",
            str(count),
            "--threads",
            str(threads),
        ],
        capture_output=True,
        text=True,
        timeout=600 + count / 10,
        cwd=processes.ROOT,
    )
    receiver_cpu = receiver.cpu_seconds() - receiver_cpu
    if done.returncode != 0:
        raise processes.BenchError(f"ceiling exited {done.returncode}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    rows = receiver.dump(path)
    receiver.clear(path)
    result.update(
        received=len(rows),
        bad_signatures=sum(1 for r in rows if r["signed"] is not True),
        # The receiver's CPU includes its idle wait while the bodies were built: an upper bound.
        receiver_us_per_request=round(1e6 * receiver_cpu / len(rows), 1) if rows else None,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(_post_all(args.url, args.count, args.threads, processes.SECRET)))


if __name__ == "__main__":
    main()
