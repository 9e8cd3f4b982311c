"""The posting process: notices posted from a child, signed, guarded, queued per webhook, and its loss survived."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from daemon.delivery import guard, offload, retry, sending
from daemon.settings import Settings, WebhookSettings
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOOPBACK = guard.Policy(allowed=(ipaddress.ip_network("127.0.0.0/8"),))
BODY = {"type": "commitment.due", "data": {"commitment": {"id": "draft"}}}


class Reports:
    """What the posting process reports, by delivery id; waited on with a bound."""

    def __init__(self) -> None:
        self.got: dict[str, retry.Outcome | None] = {}
        self._changed = threading.Condition()

    def __call__(self, results: list[tuple[str, retry.Outcome | None]]) -> None:
        with self._changed:
            for key, outcome in results:
                assert key not in self.got, f"{key} reported twice"
                self.got[key] = outcome
            self._changed.notify_all()

    def wait(self, *ids: str, timeout: float = 15.0) -> list[retry.Outcome | None]:
        with self._changed:
            found = self._changed.wait_for(lambda: all(k in self.got for k in ids), timeout)
            assert found, f"not reported in {timeout} s: {[k for k in ids if k not in self.got]}"
            return [self.got[k] for k in ids]


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def posting(reports: Reports) -> Iterator[offload.PostingProcess]:
    process = offload.PostingProcess(LOOPBACK)
    process.open(reports, workers=4, per_webhook=2)
    yield process
    process.close()


def _hook(receiver: Receiver, path: str) -> WebhookSettings:
    settings = Settings(webhooks={"desk": {"url": receiver.url + path, "secret": SECRET}})  # type: ignore[call-arg]
    return settings.webhooks["desk"]


def _slow(receiver: Receiver, seconds: float = 30.0) -> tuple[str, WebhookSettings]:
    """A new path the receiver answers after `seconds`, and webhook "desk" posting to it."""
    path = f"/o/{uuid.uuid4().hex}"
    receiver.delay[path] = seconds
    return path, _hook(receiver, path)


def _send(
    posting: offload.PostingProcess, hook: WebhookSettings, *ids: str, body: object = BODY
) -> None:
    """Hand jobs `ids` for webhook "desk" to the child, each with a minute to start."""
    send_by = datetime.now(UTC) + timedelta(minutes=1)
    posting.target("desk", hook)
    posting.send([sending.Job(key, "desk", body, send_by) for key in ids])  # type: ignore[arg-type]


def _child(process: offload.PostingProcess) -> int:
    child = process._child
    assert child is not None, "no child process is running"
    return child.pid


def _begun(process: offload.PostingProcess, *ids: str, timeout: float = 10.0) -> bool:
    """Wait (bounded) until `process` has heard that the posts of `ids` began."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with process._lock:
            if all(process._out.get(key, (0, False))[1] for key in ids):
                return True
        time.sleep(0.01)
    return False


def _noticed(process: offload.PostingProcess, pid: int, timeout: float = 10.0) -> bool:
    """Wait (bounded) until `process` has noticed that its child `pid` is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        child = process._child
        if child is None or child.pid != pid:
            return True
        time.sleep(0.01)
    return False


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Wait (bounded) until `pid` has exited; a zombie left for its parent counts as exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):  # reaped, before or while read
            return True
        time.sleep(0.05)
    return False


def test_a_notice_posted_from_the_child_arrives_signed(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    _send(posting, _hook(receiver, path), "msg_1")
    (outcome,) = reports.wait("msg_1")
    assert outcome is not None and outcome.ok and outcome.status_code == 204
    request = receiver.wait_for(path)[0]
    assert request.headers["webhook-id"] == "msg_1"
    assert Webhook(SECRET).verify(request.body, request.headers)["type"] == "commitment.due"
    assert _child(posting) != os.getpid()


def test_the_child_answers_as_the_guard_and_the_receiver_say(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    receiver.answer[path] = 503
    _send(posting, _hook(receiver, path), "msg_2")
    (failed,) = reports.wait("msg_2")
    assert failed is not None and failed.status_code == 503 and not failed.ok
    refused = Settings(webhooks={"desk": {"url": "http://10.1.2.3/x"}})  # type: ignore[call-arg]
    _send(posting, refused.webhooks["desk"], "msg_3")
    (blocked,) = reports.wait("msg_3")
    assert blocked is not None and blocked.permanent
    assert blocked.error is not None and "refused" in blocked.error


def test_a_reloaded_webhook_reaches_the_child(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    first, second = f"/o/{uuid.uuid4().hex}", f"/o/{uuid.uuid4().hex}"
    _send(posting, _hook(receiver, first), "msg_4")
    reports.wait("msg_4")
    _send(posting, _hook(receiver, second), "msg_5")
    reports.wait("msg_5")
    assert [r.headers["webhook-id"] for r in receiver.wait_for(second)] == ["msg_5"]


def test_no_more_than_per_webhook_posts_run_and_the_queued_ones_can_be_dropped(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    slow, hook = _slow(receiver)
    _send(posting, hook, *(f"q{n}" for n in range(5)))
    receiver.wait_for(slow, 2)  # per_webhook is 2: two posts run
    posting.drop("desk")
    # The three still queued come back unsent; the two running are not touched.
    assert reports.wait("q2", "q3", "q4") == [None, None, None]
    assert len(receiver.at(slow)) == 2 and "q0" not in reports.got


def test_a_job_past_its_last_moment_to_start_is_not_sent(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    hook = _hook(receiver, path)
    posting.target("desk", hook)
    late = datetime.now(UTC) - timedelta(seconds=1)
    posting.send([sending.Job("late", "desk", BODY, late)])
    assert reports.wait("late") == [None]
    _send(posting, hook, "on_time")  # after it in the same queue: the late one was skipped
    reports.wait("on_time")
    assert [r.headers["webhook-id"] for r in receiver.at(path)] == ["on_time"]


def test_a_child_killed_mid_post_fails_the_posts_begun_and_returns_the_queued_unsent(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    slow, hook = _slow(receiver)
    first = _child(posting)
    _send(posting, hook, "m1", "m2", "m3")
    receiver.wait_for(slow, 2)  # per_webhook is 2: two posting, one queued
    assert _begun(posting, "m1", "m2")
    os.kill(first, signal.SIGKILL)
    begun = reports.wait("m1", "m2", timeout=10)
    assert all(o is not None and o.error == "the sending process exited" for o in begun), begun
    # Never posted: not an attempt, claimed again when its lease runs out.
    assert reports.wait("m3") == [None]
    fast = f"/o/{uuid.uuid4().hex}"
    _send(posting, _hook(receiver, fast), "msg_6")
    (outcome,) = reports.wait("msg_6")
    assert outcome is not None and outcome.ok
    assert _child(posting) != first


def test_a_child_that_falls_silent_holding_jobs_is_killed(
    receiver: Receiver,
    posting: offload.PostingProcess,
    reports: Reports,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(offload, "SLACK_SECONDS", 0.5)  # silent 1 s + 0.5 s: hung
    settings = Settings(
        webhooks={"desk": {"url": receiver.url + "/o/hung", "secret": SECRET, "timeout": "1s"}}  # type: ignore[dict-item]
    )
    hung = _child(posting)
    os.kill(hung, signal.SIGSTOP)
    try:
        _send(posting, settings.webhooks["desk"], "stuck")
        assert reports.wait("stuck", timeout=10) == [None]  # never begun: not an attempt
        assert _gone(hung)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGCONT)  # had it not been killed


def test_a_queued_job_whose_time_runs_out_comes_back_without_waiting_for_a_thread(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    slow, hook = _slow(receiver)
    _send(posting, hook, "busy_1", "busy_2")  # both of the webhook's posts, for 30 s
    receiver.wait_for(slow, 2)
    soon = datetime.now(UTC) + timedelta(seconds=0.5)
    posting.send([sending.Job("expiring", "desk", BODY, soon)])
    assert reports.wait("expiring", timeout=5) == [None]
    assert "busy_1" not in reports.got  # still posting


def test_a_webhook_changed_by_a_reload_applies_to_its_queued_jobs(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    (slow, hook), moved = _slow(receiver, 2.0), f"/o/{uuid.uuid4().hex}"
    _send(posting, hook, "r1", "r2", "r3")
    receiver.wait_for(slow, 2)  # r3 waits in the queue
    posting.target("desk", _hook(receiver, moved))
    reports.wait("r1", "r2", "r3")
    assert [r.headers["webhook-id"] for r in receiver.at(moved)] == ["r3"]


def test_after_drop_all_no_job_is_sent(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    posting.drop(None)  # the daemon is stopping
    _send(posting, _hook(receiver, path), "late")
    assert reports.wait("late") == [None]
    assert receiver.at(path) == []


def test_the_child_outlives_a_group_sigterm_and_ends_when_the_pipe_closes(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}")
    _send(posting, hook, "msg_7")
    reports.wait("msg_7")  # the child is up, past its start
    pid = _child(posting)
    os.kill(pid, signal.SIGTERM)  # what systemd sends every process of the unit
    _send(posting, hook, "msg_8")
    (outcome,) = reports.wait("msg_8")
    assert outcome is not None and outcome.ok
    assert _child(posting) == pid, "SIGTERM stopped the child before the daemon let it go"
    posting.close()
    assert _gone(pid), "the child did not end when its pipe closed"


def test_closing_fails_the_jobs_in_hand_at_once(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    slow, hook = _slow(receiver)
    _send(posting, hook, "m")
    receiver.wait_for(slow)
    assert _begun(posting, "m")
    posting.close()
    # At once: not after the post's timeout and slack.
    assert [o and o.error for o in reports.wait("m", timeout=2)] == ["the daemon is stopping"]
    _send(posting, hook, "after")
    assert [o and o.error for o in reports.wait("after", timeout=2)] == ["the daemon is stopping"]


def _start_time(pid: int) -> float:
    """Seconds after boot at which `pid` started, as the kernel counts it."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime


def test_a_child_that_keeps_dying_is_started_again_at_most_once_a_restart_pause(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}")
    starts = []
    for attempt in range(3):
        pid = _child(posting)
        starts.append(_start_time(pid))
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid) and _noticed(posting, pid)
        _send(posting, hook, f"again_{attempt}")
        (outcome,) = reports.wait(f"again_{attempt}")
        assert outcome is not None and outcome.ok
        assert _child(posting) != pid
    starts.append(_start_time(_child(posting)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert all(gap >= offload.RESTART_SECONDS - tick for gap in gaps), gaps


def test_a_body_that_cannot_be_handed_over_fails_that_batch_alone(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}")
    _send(posting, hook, "msg_9", body={"data": lambda: None})
    (broken,) = reports.wait("msg_9")
    assert broken is not None and broken.error is not None
    assert broken.error.startswith("sending process unavailable")
    _send(posting, hook, "msg_10")
    (outcome,) = reports.wait("msg_10")
    assert outcome is not None and outcome.ok


def test_the_child_loads_neither_pydantic_nor_sqlalchemy(
    receiver: Receiver, posting: offload.PostingProcess, reports: Reports
) -> None:
    _send(posting, _hook(receiver, f"/o/{uuid.uuid4().hex}"), "msg_11")
    (outcome,) = reports.wait("msg_11")
    assert outcome is not None and outcome.ok
    with open(f"/proc/{_child(posting)}/maps") as maps:
        mapped = maps.read()
    assert "pydantic_core" not in mapped and "sqlalchemy" not in mapped
