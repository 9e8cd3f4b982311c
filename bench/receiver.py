"""A webhook receiver in a process of its own, cheap enough never to be the bottleneck.

A plain asyncio HTTP/1.1 server (keep-alive, `content-length` bodies only).
For each POST it keeps the arrival instant (`time.time()`), the path, the
`webhook-*` headers and the raw body, then answers 204. Nothing else happens
on that path: parsing bodies and checking Standard Webhooks signatures wait
until a dump is asked for, so the measured arrival times are not slowed by
the bookkeeping.

Control routes (GET, answered as JSON):

    /_stats                 {"total": n, "paths": {path: n}}
    /_dump?path=/p          the requests to /p, decoded and verified
    /_clear?path=/p         forget the requests to /p

    BENCH_RECEIVER_SECRET=whsec_... python -m bench.receiver   # prints "listening <port>"
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from bench import machine, processes
from daemon.delivery import signing

_NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
_HEADER_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Arrival:
    """One webhook request as it arrived, undecoded."""

    at: float
    path: str
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes


class Store:
    """Every arrival, in order, and what a dump makes of them."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret
        self.arrivals: list[Arrival] = []
        self.counts: dict[str, int] = {}  # per path, kept as they arrive: polled often

    def add(self, arrival: Arrival) -> None:
        """Keep one arrival."""
        self.arrivals.append(arrival)
        self.counts[arrival.path] = self.counts.get(arrival.path, 0) + 1

    def stats(self) -> dict[str, Any]:
        """Return the number of requests, overall and per path."""
        return {"total": len(self.arrivals), "paths": self.counts}

    def dump(self, path: str) -> list[dict[str, Any]]:
        """Return the requests to `path`: arrival, webhook-id, event fields, signature verdict."""
        rows = []
        for arrival in self.arrivals:
            if arrival.path != path:
                continue
            try:
                body = json.loads(arrival.body)
                data = body.get("data", {})
                event = {
                    "type": body.get("type"),
                    "scheduled_for": data.get("scheduled_for"),
                    "commitment": data.get("commitment", {}).get("id"),
                }
            except (ValueError, AttributeError):
                event = {"type": None, "scheduled_for": None, "commitment": None}
            rows.append(
                {
                    "at": arrival.at,
                    "webhook_id": arrival.webhook_id,
                    "signed": self._verified(arrival),
                    "bytes": len(arrival.body),
                    **event,
                }
            )
        return rows

    def clear(self, path: str) -> None:
        """Forget the requests to `path`."""
        self.arrivals = [a for a in self.arrivals if a.path != path]
        self.counts.pop(path, None)

    def _verified(self, arrival: Arrival) -> bool | None:
        """True when one of the signatures matches the secret; None when no secret is known."""
        if self.secret is None:
            return None
        try:
            expected = signing.signature(
                self.secret, arrival.webhook_id, int(arrival.timestamp), arrival.body
            )
        except ValueError:
            return False
        return any(hmac.compare_digest(expected, s) for s in arrival.signature.split())


class _Connection(asyncio.Protocol):
    """One keep-alive connection: parse requests as bytes arrive, answer each in order."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and self._one_request():
            pass

    def _one_request(self) -> bool:
        """Handle one complete request from the buffer; return False when more bytes are needed."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > _HEADER_LIMIT:
                self._close()
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if len(self._buffer) < end + 4 + length:
            return False
        at = time.time()
        body = bytes(self._buffer[end + 4 : end + 4 + length])
        del self._buffer[: end + 4 + length]
        assert self._transport is not None
        if method == "GET" and target.startswith("/_"):
            self._transport.write(self._control(target))
        else:
            self._store.add(
                Arrival(
                    at,
                    urlsplit(target).path,
                    headers.get("webhook-id", ""),
                    headers.get("webhook-timestamp", "0"),
                    headers.get("webhook-signature", ""),
                    body,
                )
            )
            self._transport.write(_NO_CONTENT)
        if headers.get("connection", "").lower() == "close":
            self._close()
            return False
        return True

    def _control(self, target: str) -> bytes:
        parts = urlsplit(target)
        path = parse_qs(parts.query).get("path", [""])[0]
        if parts.path == "/_stats":
            answer: Any = self._store.stats()
        elif parts.path == "/_dump":
            answer = self._store.dump(path)
        elif parts.path == "/_clear":
            self._store.clear(path)
            answer = {"cleared": path}
        else:
            answer = {"error": f"no route {parts.path}"}
        body = json.dumps(answer).encode()
        return (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


async def _serve(port: int, secret: str | None) -> None:
    store = Store(secret)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(store), "127.0.0.1", port, backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    async with server:
        await server.serve_forever()


class ReceiverProcess:
    """The receiver started as a child process; its address, counters and CPU time."""

    def __init__(self, secret: str | None) -> None:
        args = [sys.executable, "-m", "bench.receiver"]
        env = dict(os.environ)
        if secret:
            env["BENCH_RECEIVER_SECRET"] = secret  # not on the command line, where ps shows it
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, text=True, env=env, cwd=processes.ROOT
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening "):
            self.stop()
            raise RuntimeError(f"the receiver did not start (said {line!r})")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self._client = httpx.Client(base_url=self.url, timeout=60, trust_env=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def count(self, path: str) -> int:
        """Return how many requests `path` has received."""
        return self.counts([path])[path]

    def counts(self, paths: list[str]) -> dict[str, int]:
        """Return how many requests each of `paths` has received (one call)."""
        seen = self._client.get("/_stats").json()["paths"]
        return {path: int(seen.get(path, 0)) for path in paths}

    def wait_for(self, path: str, count: int, timeout: float, quiet: float = 1.0) -> int:
        """Wait (bounded) until `path` has `count` requests, then `quiet` s more; return the count.

        The extra quiet second lets a late duplicate arrive before the dump.
        """
        return self.wait_for_each([path], count, timeout, quiet)[path]

    def wait_for_each(
        self, paths: list[str], count: int, timeout: float, quiet: float = 1.0
    ) -> dict[str, int]:
        """Wait (bounded) until each of `paths` has `count` requests, then `quiet` s more.

        Returns the count of each path.
        """
        deadline = time.monotonic() + timeout
        seen = self.counts(paths)
        while min(seen.values(), default=count) < count and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = self.counts(paths)
        time.sleep(quiet)
        return self.counts(paths)

    def dump(self, path: str) -> list[dict[str, Any]]:
        """Return the decoded requests to `path` (see Store.dump)."""
        rows: list[dict[str, Any]] = self._client.get("/_dump", params={"path": path}).json()
        return rows

    def clear(self, path: str) -> None:
        """Forget the requests to `path`, to keep the receiver small."""
        self._client.get("/_clear", params={"path": path})

    def cpu_seconds(self) -> float:
        """Return the CPU time the receiver has used so far."""
        return machine.cpu_seconds(self.pid)

    def stop(self) -> None:
        """Stop the receiver (bounded)."""
        if hasattr(self, "_client"):
            self._client.close()
        machine.terminate(self.process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    secret = os.environ.get("BENCH_RECEIVER_SECRET") or None
    try:
        asyncio.run(_serve(args.port, secret))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
