"""A real HTTP receiver on 127.0.0.1: records every request, answers as told.

It runs under uvicorn in a thread (signal handlers off) and is shared by a
session; each test reads only the requests sent to its own path.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records requests per path and answers as told.

    `answer[path]` sets the status code (default 204); `raw[path]` sets the
    response headers and body, to send answers no well-behaved server would.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answer: dict[str, int] = {}
        self.raw: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = {}
        self.delay: dict[str, float] = {}  # seconds to wait before answering
        self._lock = threading.Condition()
        self.url = ""

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the sender went away mid-request (killed): nothing was received
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        record = Received(scope["path"], headers, b"".join(chunks), time.time())
        with self._lock:
            self.requests.append(record)
            self._lock.notify_all()
        if scope["path"] in self.delay:
            await asyncio.sleep(self.delay[scope["path"]])
        status = self.answer.get(scope["path"], 204)
        headers, body = self.raw.get(scope["path"], ([], b""))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def at(self, path: str) -> list[Received]:
        """Return the requests received on `path`, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        """Wait until `path` has at least `count` requests (bounded); return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.requests if r.path == path]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{path}: {len(found)} requests after {timeout}s, wanted {count}"
                    )
                self._lock.wait(remaining)


def serve(receiver: Receiver, port: int = 0) -> tuple[uvicorn.Server, threading.Thread]:
    """Start `receiver` on 127.0.0.1 (a free port unless given); return the server and its thread."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(receiver, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("receiver did not start")
        time.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}"
    return server, thread
