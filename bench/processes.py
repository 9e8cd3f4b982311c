"""The real `pledgewatch` command as the benchmark runs it, and scratch databases.

`Daemon.start` times the process from launch to systemd's READY=1: it binds a
datagram socket, names it in $NOTIFY_SOCKET and waits for the daemon's
notice, so no HTTP polling disturbs the start it measures. Only when no
notice comes does it fall back to the first 200 from /readyz.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from bench import machine

COMMAND = str(Path(sys.executable).with_name("pledgewatch"))
ROOT = Path(__file__).resolve().parents[1]  # where `python -m bench.<module>` finds the package
SECRET = "whsec_" + "YmVuY2htYXJrLXNpZ25pbmcta2V5LTMyLWJ5dGVzISE="  # a fixed benchmark key
_STARTED = re.compile(r"action=daemon_started http=(http://\S+)")
# Without a READY=1 this long after start, /readyz is asked instead.
NOTIFY_PATIENCE_SECONDS = 10.0


class BenchError(RuntimeError):
    """A scenario could not be measured; the message says why."""


def environment(settings: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without PLEDGEWATCH_*, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEDGEWATCH_")}
    env.pop("NOTIFY_SOCKET", None)
    env.update(settings)
    return env


def cli(*args: str, settings: dict[str, str], timeout: float = 3600) -> float:
    """Run `pledgewatch ARGS` to completion; return its wall time in seconds.

    Raises:
        BenchError: the command failed; its error output is quoted.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [COMMAND, *args],
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"pledgewatch {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


@dataclass
class Daemon:
    """A running `pledgewatch run`, how long it took to be ready, and what it costs."""

    process: subprocess.Popen[str]
    log: Path
    handle: IO[str]
    ready_seconds: float = 0.0
    ready_via: str = ""
    url: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def start(
        cls, settings: dict[str, str], log: Path, folder: Path, *, ready_timeout: float = 600
    ) -> Daemon:
        """Start the daemon on a free port and wait (bounded) until it says READY=1.

        Raises:
            BenchError: it exited or was not ready in time; the log's end is quoted.
        """
        address = str(folder / f"notify-{uuid.uuid4().hex[:8]}.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(address)
        handle = log.open("w")
        env = environment({"PLEDGEWATCH_HTTP_PORT": "0", **settings})
        env["NOTIFY_SOCKET"] = address
        try:
            started = time.perf_counter()
            process = subprocess.Popen(
                [COMMAND, "run"], env=env, stdout=handle, stderr=subprocess.STDOUT, text=True
            )
            daemon = cls(process, log, handle)
            try:
                daemon._await_ready(sock, started, ready_timeout)
            except BaseException:
                daemon.stop()
                raise
            return daemon
        finally:
            sock.close()
            Path(address).unlink(missing_ok=True)

    def _await_ready(self, sock: socket.socket, started: float, timeout: float) -> None:
        while (elapsed := time.perf_counter() - started) < timeout:
            if self.process.poll() is not None:
                raise BenchError(f"daemon exited {self.process.returncode}: {self.tail()}")
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable and b"READY=1" in sock.recv(4096):
                self.ready_seconds = time.perf_counter() - started
                self.ready_via = "notify"
                self.url = self._find_url(wait=5)
                return
            if elapsed > NOTIFY_PATIENCE_SECONDS and self._find_url(wait=0) and self._answers():
                self.ready_seconds = time.perf_counter() - started
                self.ready_via = "readyz"
                return
        raise BenchError(f"daemon not ready within {timeout:g}s: {self.tail()}")

    def _find_url(self, wait: float) -> str:
        deadline = time.monotonic() + wait
        while True:
            found = _STARTED.search(self.log.read_text())
            if found:
                self.url = found[1]
                return self.url
            if time.monotonic() >= deadline:
                return ""
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def cpu_seconds(self) -> float:
        """Return the CPU time the daemon and its posting process have used so far."""
        return machine.tree_cpu_seconds(self.pid)

    def memory_mb(self) -> dict[str, float]:
        """Return the resident set of the daemon and its posting process, now and at its peak, in MiB."""
        return machine.tree_memory_mb(self.pid)

    def metrics(self) -> str | None:
        """Return the /metrics text, or None when the daemon has no such route."""
        try:
            answer = httpx.get(f"{self.url}/metrics", timeout=5, trust_env=False)
        except httpx.HTTPError:
            return None
        return answer.text if answer.status_code == 200 else None

    def tail(self, lines: int = 30) -> str:
        """Return the end of the daemon's log."""
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM, wait (bounded), kill if need be; return the exit code."""
        if self._stopped:
            return self.process.returncode
        self._stopped = True
        try:
            return machine.terminate(self.process, timeout=30)
        finally:
            self.handle.close()


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def postgres_unavailable(admin_url: str) -> str | None:
    """Return why PostgreSQL at `admin_url` cannot be used, or None when it answers."""
    import psycopg  # here, not above: the baseline's child imports this module and not psycopg

    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160]}"


@contextlib.contextmanager
def scratch_postgres(admin_url: str, template: str | None = None) -> Iterator[str]:
    """Create a scratch database (a copy of the one at URL `template`); yield its URL; drop it."""
    import psycopg

    name = f"pw_bench_{uuid.uuid4().hex[:12]}"
    clause = f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}{clause}")
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            # FORCE: a daemon killed on error may still hold a connection.
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
