"""Posting in a process of its own, so that sending and the database use both cores.

Rendering, signing and the HTTP exchange cost more CPU than the rest of a
notice's way put together, and one Python process runs Python on one core at
a time. The daemon hands the deliveries it leased to a child process
(`python -m daemon.delivery.offload`) over a pipe, a batch at a time, and
gets their outcomes back in batches; what to send, the leases and every
record stay with the daemon. The child queues them per webhook and posts
them (`sending.Sending`, through `posting.post`, the one way a notice is
posted) on a thread pool of its own, through a guarded client built from the
same policy: a finished post starts the next without waiting for the daemon.

The child holds nothing that matters: it ends when the pipe from the daemon
closes (a daemon killed takes it along). One that dies, or says nothing for
longer than the longest webhook timeout plus SLACK_SECONDS while it holds
jobs (it is killed), is started again by the next batch, no sooner than
RESTART_SECONDS after the last start. Of the jobs it had, those it had begun
to post come back as failed attempts, retried with the same webhook-id; the
others as not sent, claimed again when their leases run out.

The child imports no more than a post needs: it is handed each webhook as a
plain `posting.Target`, so neither pydantic nor SQLAlchemy is loaded there.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from daemon.clock import system_clock
from daemon.delivery import guard, posting, retry, sending

if TYPE_CHECKING:
    from daemon.settings import WebhookSettings

# The dispatcher's name, as the senders use: everything about delivery is one logger
# for an operator to follow or silence.
logger = logging.getLogger("daemon.delivery.dispatcher")

# The child's command. A stop is the daemon's to make: systemd and a terminal signal the
# whole group, and the daemon lets the posts in flight finish before it closes the pipe.
# The signals are ignored before anything is imported, so no stop finds the child starting.
_CHILD = (
    "import signal\n"
    "for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
    "    signal.signal(number, signal.SIG_IGN)\n"
    "import runpy\n"
    f"runpy.run_module({__name__!r}, run_name='__main__')\n"
)

# A child holding jobs hears from its posts at least once a webhook timeout (which it
# enforces) and sweeps out the expired ones each SWEEP_SECONDS: silent this much longer
# than the longest timeout, it counts as hung.
SLACK_SECONDS = 10.0
SWEEP_SECONDS = 1.0
# What the child reports for a job whose post has begun, before its outcome.
STARTED = "started"
# The least time between two starts of the child: one that dies as it starts (a
# broken install, no memory) is not started again for every post.
RESTART_SECONDS = 1.0
# How long a child whose pipe has closed may take to exit before it is killed.
EXIT_SECONDS = 5.0


@dataclass(frozen=True)
class _Start:
    """The first message: how the child builds its client and its queues."""

    policy: guard.Policy
    workers: int
    per_webhook: int


class PostingProcess:
    """A child process that posts the daemon's jobs: a `senders.Poster`, safe from any thread."""

    def __init__(self, policy: guard.Policy) -> None:
        self._policy = policy
        self._start: _Start | None = None
        self._report: sending.Report = lambda _: None
        # Two locks, so that the thread taking outcomes back never waits for a write
        # to the pipe. _write is held to write to the child and to start one, and
        # guards _hooks, _sent and _started; _lock, held briefly, guards the rest.
        self._write = threading.Lock()
        self._lock = threading.Lock()
        self._hooks: dict[str, WebhookSettings] = {}  # the daemon's, by name
        self._sent: set[str] = set()  # the names whose target the child has been sent
        self._started = -math.inf  # time.monotonic() at the child's last start
        self._child: subprocess.Popen[bytes] | None = None
        self._to_child: Connection | None = None
        self._generation = 0  # one more for each child started
        # The jobs handed to a child and not answered: id -> (its child's generation,
        # whether its post has begun).
        self._out: dict[str, tuple[int, bool]] = {}
        self._heard = time.monotonic()  # the child's last word, or a hand-over to an idle one
        self._dropped = False  # drop(None): the daemon is stopping, later jobs are not sent
        self._closed = False

    def open(self, report: sending.Report, *, workers: int, per_webhook: int) -> None:
        """Start the child, which posts on `workers` threads; outcomes go to `report`."""
        self._report = report
        self._start = _Start(self._policy, workers, per_webhook)
        with self._write:
            self._running()

    def target(self, name: str, hook: WebhookSettings) -> None:
        """Post the jobs of webhook `name` to `hook` from now on, queued ones included."""
        with self._write:
            if self._hooks.get(name) is hook:
                return
            self._hooks[name] = hook
            with self._lock:
                to_child = self._to_child
            if name in self._sent and to_child is not None:
                try:
                    to_child.send(("target", name, posting.Target.of(hook)))
                    return
                except (OSError, ValueError):
                    pass  # the child is gone: the next one is sent it with its first batch
            self._sent.discard(name)

    def send(self, jobs: list[sending.Job]) -> None:
        """Hand `jobs` to the child; their outcomes come back through `report`."""
        if not jobs:
            return
        with self._write:
            try:
                unsent = self._hand_over(jobs)
            except Exception as exc:  # the pipe broke, or a body would not pickle
                with self._lock:
                    for job in jobs:
                        self._out.pop(job.id, None)
                failed = retry.Outcome(None, f"sending process unavailable: {exc}", 0.0)
                unsent = [(job.id, failed) for job in jobs]
        if unsent:
            self._report(unsent)

    def drop(self, webhook: str | None) -> None:
        """Have the child send no more of `webhook`'s queued jobs (None: of any, nor later ones)."""
        with self._write:
            with self._lock:
                self._dropped = self._dropped or webhook is None
                to_child = None if self._closed else self._to_child
            if to_child is not None:
                try:
                    to_child.send(("drop", webhook))
                except (OSError, ValueError):
                    pass  # the child is gone: its reader reports what it had

    def close(self) -> None:
        """Stop the child: it finishes no post; the jobs it had are reported (to be retried)."""
        with self._write, self._lock:
            self._closed = True
            child, to_child = self._child, self._to_child
            self._child = self._to_child = None
            left, self._out = self._out, {}
        self._settle(left, "the daemon is stopping")
        if to_child is not None:
            to_child.close()  # the child reads the end of its input and exits
        if child is not None:
            _reap(child)

    def _hand_over(self, jobs: list[sending.Job]) -> list[tuple[str, retry.Outcome | None]]:
        """Write `jobs` to the child (under _write); return what to report of any not handed over."""
        with self._lock:
            if self._closed:
                stopping = retry.Outcome(None, "the daemon is stopping", 0.0)
                return [(job.id, stopping) for job in jobs]
            if self._dropped:  # not sent: the stopping daemon hands their leases back
                return [(job.id, None) for job in jobs]
        to_child = self._running()
        for name in dict.fromkeys(job.webhook for job in jobs):
            if name not in self._sent:
                to_child.send(("target", name, posting.Target.of(self._hooks[name])))
                self._sent.add(name)
        with self._lock:
            if not self._holds(self._generation):
                self._heard = time.monotonic()  # idle until now: its silence counts from here
            for job in jobs:
                self._out[job.id] = (self._generation, False)
        to_child.send(("send", [(job.id, job.webhook, job.body, job.send_by) for job in jobs]))
        return []

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
            # What the last child had is its reader's to report, once its pipe ends.
            self._generation += 1
            self._child, self._to_child = child, to_child
            generation = self._generation
        self._sent = set()
        threading.Thread(
            target=self._read,
            args=(child, from_child, generation),
            name="offload-read",
            daemon=True,
        ).start()
        to_child.send(self._start)
        return to_child

    def _read(
        self, child: subprocess.Popen[bytes], from_child: Connection, generation: int
    ) -> None:
        """Report what the child sends back, until its pipe ends; stop it if it falls silent."""
        with from_child:
            while True:
                try:
                    if not from_child.poll(SWEEP_SECONDS):
                        if self._silent(generation):
                            logger.error(
                                "the sending process has not answered in time; it is stopped",
                                extra={"action": "sending_process_hung"},
                            )
                            child.kill()
                        continue
                    results = from_child.recv()
                except (EOFError, OSError):
                    break
                except Exception:  # what it sent would not unpickle: it is not to be trusted
                    logger.exception("the sending process sent what cannot be read; it is stopped")
                    child.kill()
                    break
                try:
                    self._take(results, generation)
                except Exception:  # a bug: logged; the reader must go on, or nothing comes back
                    logger.exception("outcomes of the sending process not taken")
        with self._lock:
            current = self._child is child  # not closed, nor replaced already
            if current:  # noted before it is reaped: the next batch starts another
                self._child = self._to_child = None
            left = {key: held for key, held in self._out.items() if held[0] == generation}
            for key in left:
                del self._out[key]
        _reap(child)
        if current:
            logger.error(
                "the sending process exited (code %s); the next batch starts another",
                child.returncode,
                extra={"action": "sending_process_exited", "in_hand": len(left)},
            )
        self._settle(left, "the sending process exited")

    def _take(self, results: list[tuple[str, retry.Outcome | str | None]], generation: int) -> None:
        """Mark the posts begun, and report the outcomes, of child `generation`'s jobs."""
        known: list[tuple[str, retry.Outcome | None]] = []
        with self._lock:
            self._heard = time.monotonic()
            for key, outcome in results:
                held = self._out.get(key)
                if held is None or held[0] != generation:
                    continue  # reported already: the child was closed or lost
                if outcome == STARTED:
                    self._out[key] = (generation, True)
                else:
                    del self._out[key]
                    known.append((key, outcome))  # type: ignore[arg-type]
        if known:
            self._report(known)

    def _silent(self, generation: int) -> bool:
        """Return whether child `generation` holds jobs and has been silent for too long."""
        patience = SLACK_SECONDS + max(
            (hook.timeout.total_seconds() for hook in list(self._hooks.values())), default=0.0
        )
        with self._lock:
            return self._holds(generation) and time.monotonic() - self._heard > patience

    def _holds(self, generation: int) -> bool:
        """Return whether child `generation` has jobs not answered (under _lock)."""
        return any(gen == generation for gen, _ in self._out.values())

    def _settle(self, left: dict[str, tuple[int, bool]], why: str) -> None:
        """Report the jobs a child left (no lock held): begun ones failed for `why`, others not sent."""
        if left:
            failed = retry.Outcome(None, why, 0.0)
            self._report([(key, failed if begun else None) for key, (_, begun) in left.items()])


def _reap(child: subprocess.Popen[bytes]) -> None:
    """Wait for a child whose pipe has closed to exit, killing it after EXIT_SECONDS."""
    try:
        child.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _serve(from_daemon: Connection, to_daemon: Connection) -> None:
    """The child: post what the daemon sends until its pipe closes."""
    start: _Start = from_daemon.recv()
    client = guard.client(start.policy, max_connections=start.workers)
    results: queue.SimpleQueue[list[tuple[str, retry.Outcome | str | None]]] = queue.SimpleQueue()

    def write_back() -> None:
        """Send the outcomes to the daemon, as many in one message as have come meanwhile."""
        while True:
            batch = list(results.get())
            while True:
                try:
                    batch += results.get_nowait()
                except queue.Empty:
                    break
            try:
                to_daemon.send(batch)
            except OSError:
                return  # the daemon is gone: the pipe from it ends too

    threading.Thread(target=write_back, name="write-back", daemon=True).start()
    posts = sending.Sending.here(client, system_clock)
    posts.open(
        results.put,
        workers=start.workers,
        per_webhook=start.per_webhook,
        started=lambda key: results.put([(key, STARTED)]),
    )
    swept = time.monotonic()
    while True:
        try:
            ready = from_daemon.poll(SWEEP_SECONDS)
            message = from_daemon.recv() if ready else ("sweep",)
        except (EOFError, OSError):
            break
        if time.monotonic() - swept >= SWEEP_SECONDS:
            posts.expire()  # and so it says something at least this often while it holds jobs
            swept = time.monotonic()
        if message[0] == "sweep":
            continue
        if message[0] == "target":
            posts.target(message[1], message[2])
        elif message[0] == "send":
            posts.send([sending.Job(*fields) for fields in message[1]])
        else:
            posts.drop(message[1])
    posts.close()
    os._exit(0)  # the daemon is gone or done: posts still running are abandoned


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
    )
