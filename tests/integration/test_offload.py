"""The posting process: notices posted from a child, signed, guarded, and its loss survived."""

from __future__ import annotations

import ipaddress
import itertools
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from standardwebhooks import Webhook

from daemon.delivery import guard, offload, retry
from daemon.settings import Settings
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LOOPBACK = guard.Policy(allowed=(ipaddress.ip_network("127.0.0.0/8"),))
BODY = {"type": "commitment.due", "data": {"commitment": {"id": "draft"}}}


@pytest.fixture
def posting() -> Iterator[offload.PostingProcess]:
    process = offload.PostingProcess(LOOPBACK, max_connections=4)
    yield process
    process.close()


def _hook(receiver: Receiver, path: str) -> Settings:
    return Settings(webhooks={"desk": {"url": receiver.url + path, "secret": SECRET}})  # type: ignore[call-arg]


def _child(process: offload.PostingProcess) -> int:
    child = process._child
    assert child is not None, "no child process is running"
    return child.pid


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Wait (bounded) until `pid` has exited; a zombie left for its parent counts as exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split()[2] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def test_a_notice_posted_from_the_child_arrives_signed(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    hook = _hook(receiver, path).webhooks["desk"]
    outcome = posting.post("desk", hook, BODY, "msg_1")
    assert outcome.ok and outcome.status_code == 204
    request = receiver.wait_for(path)[0]
    assert request.headers["webhook-id"] == "msg_1"
    assert Webhook(SECRET).verify(request.body, request.headers)["type"] == "commitment.due"
    assert _child(posting) != os.getpid()


def test_the_child_answers_as_the_guard_and_the_receiver_say(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    path = f"/o/{uuid.uuid4().hex}"
    receiver.answer[path] = 503
    refused = Settings(webhooks={"desk": {"url": "http://10.1.2.3/x"}})  # type: ignore[call-arg]
    failed = posting.post("desk", _hook(receiver, path).webhooks["desk"], BODY, "msg_2")
    assert failed.status_code == 503 and not failed.ok
    blocked = posting.post("desk", refused.webhooks["desk"], BODY, "msg_3")
    assert blocked.permanent and blocked.error is not None and "refused" in blocked.error


def test_a_reloaded_webhook_reaches_the_child(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    first, second = f"/o/{uuid.uuid4().hex}", f"/o/{uuid.uuid4().hex}"
    assert posting.post("desk", _hook(receiver, first).webhooks["desk"], BODY, "msg_4").ok
    assert posting.post("desk", _hook(receiver, second).webhooks["desk"], BODY, "msg_5").ok
    assert [r.headers["webhook-id"] for r in receiver.wait_for(second)] == ["msg_5"]


def test_a_child_killed_mid_post_fails_that_post_and_the_next_starts_another(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    slow = f"/o/{uuid.uuid4().hex}"
    receiver.delay[slow] = 30.0
    hook = _hook(receiver, slow).webhooks["desk"]
    posting.start()
    first = _child(posting)
    results: list[retry.Outcome] = []
    thread = threading.Thread(target=lambda: results.append(posting.post("desk", hook, BODY, "m")))
    thread.start()
    receiver.wait_for(slow)  # the post is in the child's hands
    os.kill(first, signal.SIGKILL)
    thread.join(10)
    assert not thread.is_alive(), "the post waited for a dead child"
    (lost,) = results
    assert lost.error == "the sending process exited" and not lost.ok
    fast = f"/o/{uuid.uuid4().hex}"
    assert posting.post("desk", _hook(receiver, fast).webhooks["desk"], BODY, "msg_6").ok
    assert _child(posting) != first


def test_the_child_outlives_a_group_sigterm_and_ends_when_the_pipe_closes(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}").webhooks["desk"]
    assert posting.post("desk", hook, BODY, "msg_7").ok
    pid = _child(posting)
    os.kill(pid, signal.SIGTERM)  # what systemd sends every process of the unit
    assert posting.post("desk", hook, BODY, "msg_8").ok
    assert _child(posting) == pid, "SIGTERM stopped the child before the daemon let it go"
    posting.close()
    assert _gone(pid), "the child did not end when its pipe closed"


def test_closing_fails_the_posts_in_hand_at_once(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    slow = f"/o/{uuid.uuid4().hex}"
    receiver.delay[slow] = 30.0
    hook = _hook(receiver, slow).webhooks["desk"]
    results: list[retry.Outcome] = []
    thread = threading.Thread(target=lambda: results.append(posting.post("desk", hook, BODY, "m")))
    thread.start()
    receiver.wait_for(slow)
    posting.close()
    thread.join(5)  # well inside the post's own wait (timeout + SLACK_SECONDS)
    assert not thread.is_alive(), "a post outlived the close of its process"
    assert [r.error for r in results] == ["the daemon is stopping"]
    assert posting.post("desk", hook, BODY, "after").error == "the daemon is stopping"


def _start_time(pid: int) -> float:
    """Seconds after boot at which `pid` started, as the kernel counts it."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime


def test_a_child_that_keeps_dying_is_started_again_at_most_once_a_restart_pause(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}").webhooks["desk"]
    posting.start()
    starts = []
    for attempt in range(3):
        pid = _child(posting)
        starts.append(_start_time(pid))
        os.kill(pid, signal.SIGKILL)
        assert _gone(pid)
        assert posting.post("desk", hook, BODY, f"again_{attempt}").ok
        assert _child(posting) != pid
    starts.append(_start_time(_child(posting)))
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    assert all(gap >= offload.RESTART_SECONDS - tick for gap in gaps), gaps


def test_a_body_that_cannot_be_handed_over_fails_that_post_alone(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}").webhooks["desk"]
    broken = posting.post("desk", hook, {"data": lambda: None}, "msg_9")
    assert broken.error is not None and broken.error.startswith("sending process unavailable")
    assert posting.post("desk", hook, BODY, "msg_10").ok


def test_the_child_loads_neither_pydantic_nor_sqlalchemy(
    receiver: Receiver, posting: offload.PostingProcess
) -> None:
    hook = _hook(receiver, f"/o/{uuid.uuid4().hex}").webhooks["desk"]
    assert posting.post("desk", hook, BODY, "msg_11").ok
    with open(f"/proc/{_child(posting)}/maps") as maps:
        mapped = maps.read()
    assert "pydantic_core" not in mapped and "sqlalchemy" not in mapped
