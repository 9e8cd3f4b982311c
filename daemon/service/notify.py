"""systemd's notify protocol without a C library: datagrams to $NOTIFY_SOCKET.

Usage::

    notifier = Notifier.from_environment()
    notifier.send("READY=1", "STATUS=watching 12 pledges, next notice in 3d, 0 deliveries pending")
    timeout = watchdog_timeout(os.environ, os.getpid())   # None: no watchdog asked for

Outside systemd (no NOTIFY_SOCKET) every call is a no-op. A socket that has
gone away is reported once in the log and never raises into the daemon.

The watchdog is pinged only while the planner makes progress (`watchdog_ok`):
a planner stuck in a database call that never returns stops the pings, and
systemd restarts the daemon.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 2.0  # a systemd too busy to read its socket must not hold us up


class Notifier:
    """Sends notify datagrams over one socket; thread-safe, never raises."""

    def __init__(self, address: str | None) -> None:
        self._address = _socket_address(address) if address else None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False  # reported once; later failures go to DEBUG

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Return a notifier for $NOTIFY_SOCKET (a no-op one when it is unset)."""
        environ = os.environ if environ is None else environ
        return cls(environ.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to tell."""
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send `fields` (each `NAME=value`) as one datagram; return True when it left.

        A value never spans lines: a line break inside one would start a new field.
        """
        if self._address is None:
            return False
        message = "\n".join(" ".join(field.splitlines()) for field in fields).encode()
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.settimeout(SEND_TIMEOUT_SECONDS)
                self._sock.sendto(message, self._address)
            except OSError as exc:
                self._report(exc)
                return False
        return True

    def close(self) -> None:
        """Close the socket (a later `send` opens a new one)."""
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _report(self, exc: OSError) -> None:
        # Once at WARNING (systemd may be restarting or the socket misconfigured),
        # then quietly: the daemon's work does not depend on systemd hearing it.
        level = logging.DEBUG if self._failed else logging.WARNING
        self._failed = True
        logger.log(
            level,
            "systemd notify socket unreachable: %s",
            exc.strerror or type(exc).__name__,
            extra={"action": "notify_failed"},
        )


def _socket_address(address: str) -> str:
    """Return the socket address for $NOTIFY_SOCKET: a path, or "@name" for an abstract socket."""
    if address.startswith("@"):
        return "\0" + address[1:]  # Linux abstract namespace: a leading NUL byte
    return address


def watchdog_timeout(environ: Mapping[str, str], pid: int) -> timedelta | None:
    """Return the watchdog timeout systemd set for process `pid`, or None when none applies.

    systemd sets WATCHDOG_USEC (and WATCHDOG_PID, naming the process it
    watches) when the unit has WatchdogSec=; a child that inherited them is
    not the one watched.
    """
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner:
        try:
            if int(owner) != pid:
                return None
        except ValueError:
            return None
    return timedelta(microseconds=usec)


def watchdog_ok(
    *,
    last_run: float,
    running_since: float | None,
    now: float,
    max_sleep: float,
    timeout: float,
) -> bool:
    """Return True when the planner shows progress, so a watchdog ping tells the truth.

    Args:
        last_run: when the planner last finished a run (before the first: when it started).
        running_since: when the run in progress started or last finished a unit of
            work; None while the planner sleeps.
        now: the same clock (seconds, monotonic).
        max_sleep: the longest the planner sleeps between runs.
        timeout: systemd's watchdog timeout.

    A run in progress is fine until it makes no progress for `timeout`; a
    sleeping planner must have run within its longest sleep, `timeout` of slack.
    """
    if running_since is not None:
        return now - running_since <= timeout
    return now - last_run <= max_sleep + timeout


def status_text(pledges: int, next_notice_at: datetime | None, pending: int, now: datetime) -> str:
    """Return the STATUS line systemctl shows, e.g. `watching 12 pledges, next notice in 3d, ...`."""
    if next_notice_at is None:
        upcoming = "no notice scheduled"
    elif next_notice_at <= now:
        upcoming = "next notice due now"
    else:
        upcoming = f"next notice in {_roughly(next_notice_at - now)}"
    return (
        f"watching {_count(pledges, 'pledge')}, {upcoming}, "
        f"{_count(pending, 'delivery', 'deliveries')} pending"
    )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _roughly(delta: timedelta) -> str:
    """Return a duration in its largest whole unit, rounded down: `3d`, `5h`, `12m`, `40s`."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 1)}s"
