"""Run the installed `pledgewatch` command as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

COMMAND = str(Path(sys.executable).with_name("pledgewatch"))
# The address the daemon bound, from its start line in either log format:
# `action=daemon_started http=http://...` or `"action": "daemon_started", "http": "http://..."`.
STARTED = re.compile(r'action"?[=:] ?"?daemon_started"?,? "?http"?[=:] ?"?(http://[^\s"]+)')


def environment(settings: dict[str, str]) -> dict[str, str]:
    """Return this process's environment without PLEDGEWATCH_*, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLEDGEWATCH_")}
    env.update(settings)
    return env


def cli(
    *args: str, settings: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `pledgewatch ARGS` to completion; return its exit code and output."""
    return subprocess.run(
        [COMMAND, *args],
        env=environment(settings),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class Daemon:
    """A running `pledgewatch run` and where to reach it."""

    process: subprocess.Popen[str]
    url: str
    log: Path
    handle: IO[str]

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait (bounded) for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"daemon did not stop within {timeout}s:\n{self.output()}"
            ) from None
        finally:
            self.handle.close()


def start(
    settings: dict[str, str],
    log: Path,
    *,
    ready_timeout: float = 30,
    options: tuple[str, ...] = (),
) -> Daemon:
    """Start `pledgewatch [OPTIONS] run` on a port of its choosing; wait (bounded) until /readyz answers 200."""
    settings = {"PLEDGEWATCH_HTTP_PORT": "0", **settings}
    handle = log.open("w")
    process = subprocess.Popen(
        [COMMAND, *options, "run"],
        env=environment(settings),
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    daemon = Daemon(process, "", log, handle)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            handle.close()
            raise AssertionError(f"daemon exited with {process.returncode}:\n{daemon.output()}")
        if not daemon.url:
            # Port 0: the daemon logs the address it bound, so no two tests race for a port.
            found = STARTED.search(daemon.output())
            daemon.url = found[1] if found else ""
        try:
            if daemon.url and httpx.get(f"{daemon.url}/readyz", timeout=1).status_code == 200:
                return daemon
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    daemon.stop()
    raise AssertionError(f"daemon not ready within {ready_timeout}s:\n{daemon.output()}")
