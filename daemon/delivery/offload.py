"""Posting in a process of its own, so that sending and the database use both cores.

Rendering, signing and the HTTP exchange cost more CPU than the rest of a
notice's way put together, and one Python process runs Python on one core at
a time. The daemon hands each post to a child process (`python -m
daemon.delivery.offload`) over a pipe and gets its `retry.Outcome` back;
what to send, the leases and every record stay with the daemon. The child
runs `posting.post` (the one way a notice is posted) on a thread pool of its
own, through a guarded client built from the same policy.

The child holds nothing that matters: it ends when the pipe from the daemon
closes (a daemon killed takes it along), and a child that dies is started
again by the next post, no sooner than RESTART_SECONDS after the last start;
the posts it had in hand come back as failed attempts, retried with the same
webhook-id.

The child imports no more than a post needs: it is handed each webhook as a
plain `posting.Target`, so neither pydantic nor SQLAlchemy is loaded there.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from daemon.clock import system_clock
from daemon.delivery import guard, posting, retry

if TYPE_CHECKING:
    from daemon.settings import WebhookSettings

# The dispatcher's name, as the senders use: everything about delivery is one logger
# for an operator to follow or silence.
logger = logging.getLogger("daemon.delivery.dispatcher")

# The child's command. A stop is the daemon's to make: systemd and a terminal signal the
# whole group, and the daemon lets the sends in flight finish before it closes the pipe.
# The signals are ignored before anything is imported, so no stop finds the child starting.
_CHILD = (
    "import signal\n"
    "for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(number, signal.SIG_IGN)\n"
    "import runpy\n"
    f"runpy.run_module({__name__!r}, run_name='__main__')\n"
)

# Beyond the webhook's own timeout (which the child enforces), how long a post may
# take to come back before it counts as lost with its child.
SLACK_SECONDS = 10.0
# The least time between two starts of the child: one that dies as it starts (a
# broken install, no memory) is not started again for every post.
RESTART_SECONDS = 1.0
# How long a child whose pipe has closed may take to exit before it is killed.
EXIT_SECONDS = 5.0


@dataclass(frozen=True)
class _Start:
    """The first message: how the child builds its client."""

    policy: guard.Policy
    max_connections: int


class PostingProcess:
    """A child process that posts notices; `post` is safe from any thread."""

    def __init__(self, policy: guard.Policy, *, max_connections: int) -> None:
        self._start = _Start(policy, max_connections)
        # Two locks, so that the thread taking outcomes back never waits for a write
        # to the pipe. _write is held to write to the child and to start one, and
        # guards _targets and _started; _lock, held briefly, guards the rest.
        self._write = threading.Lock()
        self._lock = threading.Lock()
        self._targets: dict[str, WebhookSettings] = {}  # what the child was last sent, by name
        self._started = -math.inf  # time.monotonic() at the child's last start
        self._child: subprocess.Popen[bytes] | None = None
        self._to_child: Connection | None = None
        self._waiting: dict[int, Future[retry.Outcome]] = {}
        self._ids = itertools.count()
        self._closed = False

    def start(self) -> None:
        """Start the child now, so the first post does not wait for it to import."""
        with self._write:
            self._running()

    def post(
        self, name: str, hook: WebhookSettings, body: dict[str, Any], delivery_id: str
    ) -> retry.Outcome:
        """Post one notice to webhook `name` through the child; return how it went, never raise."""
        done: Future[retry.Outcome] = Future()
        key = next(self._ids)
        with self._write:
            with self._lock:
                if self._closed:
                    return retry.Outcome(None, "the daemon is stopping", 0.0)
            try:
                to_child = self._running()
                with self._lock:
                    self._waiting[key] = done
                if self._targets.get(name) is not hook:
                    # Sent again only when the settings changed (a reload): not per post.
                    to_child.send(("hook", name, posting.Target.of(hook)))
                    self._targets[name] = hook
                to_child.send(("post", key, name, body, delivery_id))
            except Exception as exc:  # the pipe broke, or the body would not pickle
                with self._lock:
                    self._waiting.pop(key, None)
                return retry.Outcome(None, f"sending process unavailable: {exc}", 0.0)
        try:
            return done.result(timeout=hook.timeout.total_seconds() + SLACK_SECONDS)
        except FutureTimeout:
            with self._lock:
                self._waiting.pop(key, None)
            return retry.Outcome(None, "sending process did not answer", 0.0, timed_out=True)

    def close(self) -> None:
        """Stop the child: it finishes no post, and the posts waiting fail (to be retried)."""
        with self._write, self._lock:
            self._closed = True
            child, to_child = self._child, self._to_child
            self._child = self._to_child = None
            self._lost("the daemon is stopping")
        if to_child is not None:
            to_child.close()  # the child reads the end of its input and exits
        if child is not None:
            try:
                child.wait(timeout=EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def _running(self) -> Connection:
        """Return the pipe to a live child, starting one when there is none (under _write)."""
        with self._lock:
            child, to_child = self._child, self._to_child
        if to_child is not None and child is not None and child.poll() is None:
            return to_child
        if child is not None:
            child.kill()  # alive but its pipe is gone, or already dead: its reader reaps it
        pause = self._started + RESTART_SECONDS - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._started = time.monotonic()
        down_read, down_write = os.pipe()  # daemon -> child
        up_read, up_write = os.pipe()  # child -> daemon
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(down_read), str(up_write)],
                pass_fds=(down_read, up_write),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            os.close(down_write)
            os.close(up_read)
            raise
        finally:
            os.close(down_read)
            os.close(up_write)
        to_child = Connection(down_write, readable=False)
        from_child = Connection(up_read, writable=False)
        with self._lock:
            self._lost("the sending process exited")  # what the last child had in hand
            self._child, self._to_child = child, to_child
        self._targets = {}
        threading.Thread(
            target=self._read, args=(child, from_child), name="offload-read", daemon=True
        ).start()
        to_child.send(self._start)
        return to_child

    def _read(self, child: subprocess.Popen[bytes], from_child: Connection) -> None:
        """Hand each outcome the child sends to the post waiting for it, until the pipe ends."""
        with from_child:
            while True:
                try:
                    key, outcome = from_child.recv()
                except (EOFError, OSError):
                    break
                with self._lock:
                    done = self._waiting.pop(key, None)
                if done is not None:
                    done.set_result(outcome)
        # Its pipe ends before it has quite exited: reap it, so the next post starts another.
        try:
            child.wait(timeout=EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with self._lock:
            if self._child is not child:
                return  # closed, or replaced already
            self._child = self._to_child = None
            logger.error(
                "the sending process exited (code %s); the next post starts another",
                child.returncode,
                extra={"action": "sending_process_exited", "in_hand": len(self._waiting)},
            )
            self._lost("the sending process exited")

    def _lost(self, why: str) -> None:
        """Fail every post in hand (under _lock): their deliveries are retried."""
        waiting, self._waiting = self._waiting, {}
        for done in waiting.values():
            done.set_result(retry.Outcome(None, why, 0.0))


def _serve(from_daemon: Connection, to_daemon: Connection) -> None:
    """The child: post what the daemon sends until its pipe closes."""
    start: _Start = from_daemon.recv()
    client = guard.client(start.policy, max_connections=start.max_connections)
    targets: dict[str, posting.Target] = {}
    lock = threading.Lock()

    def post(key: int, target: posting.Target, body: dict[str, Any], delivery_id: str) -> None:
        try:
            reply = posting.post(client, target, body, delivery_id=delivery_id, clock=system_clock)
            outcome = reply.outcome
        except Exception as exc:  # a bug: the daemon records it as a failed attempt
            outcome = retry.Outcome(None, f"internal error: {type(exc).__name__}", 0.0)
        with lock:
            to_daemon.send((key, outcome))

    # Not a `with` block: its exit would wait for the posts still running.
    pool = ThreadPoolExecutor(start.max_connections, thread_name_prefix="post")
    while True:
        try:
            message = from_daemon.recv()
        except (EOFError, OSError):
            break
        if message[0] == "hook":
            _, name, target = message
            targets[name] = target
        else:
            _, key, name, body, delivery_id = message
            pool.submit(post, key, targets[name], body, delivery_id)
    pool.shutdown(wait=False, cancel_futures=True)
    os._exit(0)  # the daemon is gone or done: posts still running are abandoned


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
