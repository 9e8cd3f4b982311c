"""The dispatcher against a real database and a real receiver on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import httpx
import pytest
from sqlalchemy import Engine, func, select
from standardwebhooks.webhooks import Webhook

from daemon.delivery import formats, guard, sending
from daemon.delivery.dispatcher import LEASE_SENDS, PREFETCH, Dispatcher
from daemon.model.pledge import Pledge
from daemon.model.schedule import NoticeType, Policy
from daemon.settings import Settings
from daemon.store import connector, imports, outbox, webhooks
from daemon.store.schema import Delivery
from tests.support.receiver import Receiver

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
pytestmark = pytest.mark.receiver


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = connector.make_engine(database_url)
    connector.migrate(engine)
    with connector.write(engine) as conn:
        pledge = Pledge(id="draft", title="Draft constitution", tags=("syria",))
        imports.upsert(conn, pledge, status_given=False, now=_now(), policy=Policy(), actor="t")
    yield engine
    engine.dispose()


def _now() -> datetime:
    # The real clock: the receiver's signature check compares webhook-timestamp with it.
    return datetime.now(UTC)


_DRAINS: list[threading.Thread] = []  # see _dispatcher
_DRAINS_LOCK = threading.Lock()
LOOPBACK = "127.0.0.0/8"  # the receiver's addresses, let through the guard by an allow-list


def _settings(receiver: Receiver, paths: dict[str, str], **extra: object) -> Settings:
    hooks = {name: {"url": receiver.url + path, "secret": SECRET} for name, path in paths.items()}
    options: dict[str, object] = {"allowed_targets": LOOPBACK, **extra}
    return Settings(webhooks=hooks, **options)  # type: ignore[arg-type]


def _enqueue(engine: Engine, settings: Settings, count: int = 1) -> None:
    with connector.write(engine) as conn:
        for i in range(count):
            at = _now() - timedelta(seconds=i + 1)
            body = {"type": "commitment.due", "data": {"n": i}}
            outbox.enqueue(
                conn,
                "draft",
                NoticeType.DUE,
                at,
                body,
                ["syria"],
                now=_now(),
                webhooks=settings.webhooks,
            )


def _states(engine: Engine) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with connector.read(engine) as conn:
        for webhook, state in conn.execute(select(Delivery.webhook, Delivery.state)):
            found.setdefault(webhook, []).append(state)
    return found


@pytest.fixture
def dispatchers() -> Iterator[list[tuple[Dispatcher, httpx.Client]]]:
    made: list[tuple[Dispatcher, httpx.Client]] = []
    yield made
    for dispatcher, client in made:
        dispatcher.close(5)
        client.close()
    # Drain runs a finished send started: none may outlive its test's database.
    while True:
        with _DRAINS_LOCK:
            if not _DRAINS:
                break
            thread = _DRAINS.pop()
        thread.join(5)


def _dispatcher(
    engine: Engine,
    settings: Settings,
    made: list[tuple[Dispatcher, httpx.Client]],
    out: TextIO | None = None,
    **options: int,
) -> tuple[Dispatcher, threading.Semaphore]:
    """Return a dispatcher whose finished sends wake a drain run, as the daemon's do.

    The semaphore is released once per attempt recorded.
    """
    done = threading.Semaphore(0)
    policy = guard.Policy(settings.allow_private_targets, settings.allowed_targets)
    client = guard.client(policy, max_connections=8)

    def drain() -> None:
        try:
            dispatcher.send_due()
        except Exception:
            if not dispatcher.stopping:  # not a test's database going away under it
                raise

    def wake() -> None:
        thread = threading.Thread(target=drain, daemon=True)
        with _DRAINS_LOCK:  # started before the teardown can see it
            _DRAINS.append(thread)
            thread.start()

    dispatcher = Dispatcher(
        engine,
        settings,
        sending.Sending.here(client, _now),
        _now,
        worker="test",
        on_done=wake,
        on_attempt=lambda *_: done.release(),
        out=out,
        **options,
    )
    made.append((dispatcher, client))
    return dispatcher, done


def _wait(done: threading.Semaphore, count: int) -> None:
    for _ in range(count):
        assert done.acquire(timeout=15), "a send was not recorded in time"


def test_it_posts_signed_and_records_the_delivery(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    path = f"/d/{uuid.uuid4().hex}"
    settings = _settings(receiver, {"desk": path})
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 1)
    request = receiver.at(path)[0]
    assert Webhook(SECRET).verify(request.body, request.headers) == {
        "type": "commitment.due",
        "data": {"n": 0},
    }
    with connector.read(engine) as conn:
        listed = outbox.listing(conn)
        attempts = outbox.attempts_of(conn, listed[0]["id"])
    assert (listed[0]["state"], listed[0]["attempts"], listed[0]["last_status"]) == (
        "delivered",
        1,
        204,
    )
    assert request.headers["webhook-id"] == listed[0]["id"]
    assert [a["status"] for a in attempts] == [204]
    assert dispatcher.health["desk"].delivered == 1


def test_a_failing_answer_is_recorded_each_time_and_retried_until_dead(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    path = f"/d/{uuid.uuid4().hex}"
    receiver.answer[path] = 500
    settings = _settings(receiver, {"desk": path}, retry_schedule="0,0")
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    for _ in range(3):  # the first try and the two retries of the schedule
        dispatcher.send_due()
        _wait(done, 1)
    assert dispatcher.send_due() is None  # nothing left pending
    with connector.read(engine) as conn:
        listed = outbox.listing(conn)
        attempts = outbox.attempts_of(conn, listed[0]["id"])
    assert listed[0]["state"] == "dead"
    assert len(attempts) == 3 == len(receiver.at(path))
    assert [(a["status"], a["error"]) for a in attempts] == [(500, "HTTP 500")] * 3


def test_a_huge_or_undecodable_answer_body_is_not_read_and_a_2xx_still_delivers(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    huge, garbled = f"/huge/{uuid.uuid4().hex}", f"/garbled/{uuid.uuid4().hex}"
    receiver.answer[huge] = receiver.answer[garbled] = 200
    receiver.raw[huge] = ([], b"x" * (8 * 1024 * 1024))
    receiver.raw[garbled] = ([(b"content-encoding", b"gzip")], b"this is not gzip")
    settings = _settings(receiver, {"huge": huge, "garbled": garbled})
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 2)
    assert _states(engine) == {"huge": ["delivered"], "garbled": ["delivered"]}


@pytest.mark.parametrize(
    ("answer", "header", "state"),
    [
        (429, None, "pending"),
        (503, "120", "pending"),
        (410, None, "pending"),
    ],
    ids=["429-waits-a-minute", "retry-after-honoured", "410-disables"],
)
def test_the_receivers_signals_shape_the_next_attempt(
    engine: Engine,
    receiver: Receiver,
    dispatchers: list[tuple[Dispatcher, httpx.Client]],
    answer: int,
    header: str | None,
    state: str,
) -> None:
    path = f"/d/{uuid.uuid4().hex}"
    receiver.answer[path] = answer
    if header:
        receiver.raw[path] = ([(b"retry-after", header.encode())], b"")
    settings = _settings(receiver, {"desk": path}, retry_schedule="1s")
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    before = _now()
    dispatcher.send_due()
    _wait(done, 1)
    with connector.read(engine) as conn:
        row = conn.execute(select(Delivery.state, Delivery.next_attempt_at)).one()
        gone = webhooks.disabled(conn)
    assert row.state == state
    wait = row.next_attempt_at - before
    if answer == 429:
        assert wait >= timedelta(seconds=59)
    elif header:
        assert wait >= timedelta(seconds=119)
    else:  # 410: held, not retried, until the webhook is enabled again
        assert list(gone) == ["desk"] and "410" in (gone["desk"][1] or "")
        dispatcher.send_due()  # claims nothing: the webhook is disabled
        with connector.read(engine) as conn:
            assert conn.scalar(select(Delivery.claimed_by)) is None
        assert len(receiver.at(path)) == 1
        with connector.write(engine) as conn:
            webhooks.enable(conn, "desk", now=_now(), configured=["desk"])
        receiver.answer[path] = 204
        dispatcher.send_due()
        _wait(done, 1)
        assert _states(engine) == {"desk": ["delivered"]}


class TestOutcomeLogLines:
    """Each recorded attempt logs one line saying what follows: delivered, retry, held or dead."""

    @staticmethod
    def _logged(
        engine: Engine,
        settings: Settings,
        dispatchers: list[tuple[Dispatcher, httpx.Client]],
        caplog: pytest.LogCaptureFixture,
        attempts: int = 1,
    ) -> list[dict[str, Any]]:
        """Send one notice `attempts` times; return the lines logged, each as its fields and message."""
        caplog.set_level(logging.INFO, logger="daemon.delivery")
        _enqueue(engine, settings)
        dispatcher, done = _dispatcher(engine, settings, dispatchers)
        for _ in range(attempts):
            dispatcher.send_due()
            _wait(done, 1)
        # An attempt is counted (and `_wait` returns) just before its line is logged.
        deadline = time.monotonic() + 5
        while True:
            lines = [
                {**vars(record), "message": record.getMessage()}
                for record in caplog.records
                if hasattr(record, "delivery")
            ]
            if len(lines) >= attempts or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)

    def test_a_410_logs_the_webhook_disabled_and_the_delivery_held_not_a_retry(
        self,
        engine: Engine,
        receiver: Receiver,
        dispatchers: list[tuple[Dispatcher, httpx.Client]],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        path = f"/gone/{uuid.uuid4().hex}"
        receiver.answer[path] = 410
        settings = _settings(receiver, {"desk": path})
        [line] = self._logged(engine, settings, dispatchers, caplog)
        with connector.read(engine) as conn:
            delivery = outbox.listing(conn)[0]["id"]
        assert line["levelno"] == logging.WARNING
        assert (line["action"], line["webhook"], line["delivery"]) == (
            "webhook_disabled",
            "desk",
            delivery,
        )
        assert line["message"] == (
            "webhook disabled after 410 Gone, delivery held until it is enabled again"
        )

    def test_a_failure_logs_the_retry_then_dead_after_the_last_retry(
        self,
        engine: Engine,
        receiver: Receiver,
        dispatchers: list[tuple[Dispatcher, httpx.Client]],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        path = f"/fail/{uuid.uuid4().hex}"
        receiver.answer[path] = 500
        settings = _settings(receiver, {"desk": path}, retry_schedule="0")
        # The first try and the one retry of the schedule.
        retried, dead = self._logged(engine, settings, dispatchers, caplog, attempts=2)
        assert (retried["levelno"], retried["action"]) == (logging.WARNING, "delivery_retry")
        assert retried["message"] == "delivery failed, will retry"
        assert retried["retry_at"] is not None
        assert (dead["levelno"], dead["action"], dead["error"]) == (
            logging.WARNING,
            "delivery_dead",
            "HTTP 500",
        )
        assert dead["message"] == "delivery dead after its last retry, no more attempts"

    def test_a_permanent_failure_logs_the_delivery_dead_at_once(
        self,
        engine: Engine,
        receiver: Receiver,
        dispatchers: list[tuple[Dispatcher, httpx.Client]],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The receiver's own address, refused by the guard: no retry could help."""
        path = f"/refused/{uuid.uuid4().hex}"
        settings = Settings(webhooks={"desk": {"url": receiver.url + path}})  # type: ignore[arg-type]
        [line] = self._logged(engine, settings, dispatchers, caplog)
        assert (line["levelno"], line["action"]) == (logging.WARNING, "delivery_dead")
        assert line["message"] == "delivery dead, the failure is permanent, no more attempts"
        assert receiver.at(path) == []


def test_a_receiver_that_never_answers_times_out_and_waits_at_least_a_minute(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    path = f"/t/{uuid.uuid4().hex}"
    receiver.delay[path] = 5.0
    settings = _settings(receiver, {"desk": path}, retry_schedule="1s")
    settings.webhooks["desk"] = settings.webhooks["desk"].model_copy(
        update={"timeout": timedelta(seconds=0.5)}
    )
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    before = _now()
    dispatcher.send_due()
    _wait(done, 1)
    with connector.read(engine) as conn:
        row = conn.execute(
            select(Delivery.state, Delivery.next_attempt_at, Delivery.last_error)
        ).one()
    assert (row.state, row.last_error) == ("pending", "timed out after 0.5s")
    assert row.next_attempt_at - before >= timedelta(seconds=60)


def test_a_receiver_that_answers_garbage_is_a_recorded_failure(
    engine: Engine, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    """Not HTTP at all: a server that writes nonsense and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"\x00\xffnot http at all\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    settings = Settings(webhooks={"desk": {"url": url}}, allowed_targets=LOOPBACK)  # type: ignore[arg-type]
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 1)
    thread.join(timeout=5)
    server.close()
    with connector.read(engine) as conn:
        listed = outbox.listing(conn)
    assert listed[0]["state"] == "pending" and listed[0]["attempts"] == 1
    assert listed[0]["last_error"].startswith(("RemoteProtocolError", "ReadError"))


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_timeout(
    engine: Engine, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    """One byte every half second: no single read times out, the whole request does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                while not stop.wait(0.5):
                    conn.sendall(b"x")
            except OSError:
                pass  # the dispatcher hung up, as it should

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    hooks = {"desk": {"url": url, "timeout": "2s"}}
    settings = Settings(webhooks=hooks, allowed_targets=LOOPBACK)  # type: ignore[arg-type]
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 1)
    stop.set()
    thread.join(timeout=5)
    server.close()
    with connector.read(engine) as conn:
        listed = outbox.listing(conn)
        attempts = outbox.attempts_of(conn, listed[0]["id"])
    assert listed[0]["last_error"] == "timed out after 2s"
    assert attempts[0]["duration_ms"] < 4000  # cut at about 2 s, not left to trickle on


class TestGuard:
    """Real connections through the guarded client; only loopback is ever dialled."""

    @pytest.mark.parametrize(
        "host",
        ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"],
        ids=["literal-ip", "name-resolving-to-loopback", "ipv4-mapped-ipv6"],
    )
    def test_an_internal_target_is_refused_before_connecting_and_dead_at_once(
        self,
        engine: Engine,
        receiver: Receiver,
        dispatchers: list[tuple[Dispatcher, httpx.Client]],
        host: str,
    ) -> None:
        path = f"/g/{uuid.uuid4().hex}"
        port = receiver.url.rsplit(":", 1)[1]
        settings = Settings(webhooks={"desk": {"url": f"http://{host}:{port}{path}"}})  # type: ignore[arg-type]
        _enqueue(engine, settings)
        dispatcher, done = _dispatcher(engine, settings, dispatchers)
        dispatcher.send_due()
        _wait(done, 1)
        with connector.read(engine) as conn:
            listed = outbox.listing(conn)
        assert listed[0]["state"] == "dead" and listed[0]["attempts"] == 1
        assert "not a public address" in listed[0]["last_error"]
        assert receiver.at(path) == []

    def test_a_redirect_is_a_failure_and_is_not_followed(
        self, engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
    ) -> None:
        path, elsewhere = f"/r/{uuid.uuid4().hex}", f"/r/{uuid.uuid4().hex}"
        receiver.answer[path] = 307
        receiver.raw[path] = ([(b"location", (receiver.url + elsewhere).encode())], b"")
        settings = _settings(receiver, {"desk": path})
        _enqueue(engine, settings)
        dispatcher, done = _dispatcher(engine, settings, dispatchers)
        dispatcher.send_due()
        _wait(done, 1)
        with connector.read(engine) as conn:
            listed = outbox.listing(conn)
        assert (listed[0]["state"], listed[0]["last_status"]) == ("pending", 307)
        assert receiver.at(elsewhere) == []


def test_several_secrets_give_one_signature_each_and_either_verifies(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    path = f"/s/{uuid.uuid4().hex}"
    new = "whsec_" + "bmV3IHNlY3JldCBmb3Igcm90YXRpb24="
    settings = Settings(  # type: ignore[call-arg]
        webhooks={"desk": {"url": receiver.url + path, "secret": f"{SECRET} {new}"}},
        allowed_targets=LOOPBACK,
    )
    _enqueue(engine, settings)
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 1)
    request = receiver.at(path)[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, new):
        assert Webhook(secret).verify(request.body, request.headers)["type"] == "commitment.due"


def test_a_slow_webhook_gets_no_more_than_its_share_and_the_others_are_served(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    slow, fast = f"/slow/{uuid.uuid4().hex}", f"/fast/{uuid.uuid4().hex}"
    receiver.delay[slow] = 2.0
    settings = _settings(receiver, {"slow": slow, "fast": fast})
    count = LEASE_SENDS + 2  # more notices than one sender's first share, each to both webhooks
    _enqueue(engine, settings, count=count)
    dispatcher, done = _dispatcher(engine, settings, dispatchers, workers=4, per_webhook=1)
    dispatcher.send_due()
    receiver.wait_for(fast, count=1, timeout=5)
    with connector.read(engine) as conn:
        leased = list(
            conn.execute(
                select(Delivery.webhook).where(
                    Delivery.claimed_by.is_not(None), Delivery.webhook == "slow"
                )
            )
        )
    # Its share: one sender with as many leased as fit the lease at its full timeout (its
    # pace is not known yet), though more are due and workers are idle.
    assert len(leased) == LEASE_SENDS
    # Every finished send wakes the drain (here: by hand) to claim the next.
    while len(receiver.at(fast)) < count:
        _wait(done, 1)
        dispatcher.send_due()
    assert len(receiver.at(slow)) <= 2


def test_webhooks_with_backlogs_take_turns_when_they_outnumber_the_threads(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    paths = {name: f"/{name}/{uuid.uuid4().hex}" for name in ("a", "b", "c")}
    for path in paths.values():
        receiver.delay[path] = 0.05
    settings = _settings(receiver, paths)
    _enqueue(engine, settings, count=8)  # eight notices, each to all three
    dispatcher, done = _dispatcher(engine, settings, dispatchers, workers=2, per_webhook=1)
    dispatcher.send_due()
    _wait(done, 24)
    arrivals = sorted(
        (request.received_at, name) for name, path in paths.items() for request in receiver.at(path)
    )
    order = [name for _, name in arrivals]
    # Two threads, three webhooks: none waits until another's backlog is gone.
    first = {name: order.index(name) for name in paths}
    last = {name: len(order) - 1 - order[::-1].index(name) for name in paths}
    assert max(first.values()) < min(last.values())


def _leased(engine: Engine) -> int:
    with connector.read(engine) as conn:
        return conn.scalar(
            select(func.count()).where(
                Delivery.state == "pending", Delivery.claimed_by.is_not(None)
            )
        )


def test_a_webhook_known_to_answer_fast_is_leased_a_deep_queue(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    path = f"/pace/{uuid.uuid4().hex}"
    settings = _settings(receiver, {"desk": path})
    _enqueue(engine, settings, count=1)
    dispatcher, done = _dispatcher(engine, settings, dispatchers, workers=2, per_webhook=1)
    dispatcher.send_due()
    _wait(done, 1)  # its pace: a few milliseconds
    receiver.delay[path] = 5.0  # slow from now on, which the dispatcher cannot know yet
    _enqueue(engine, settings, count=PREFETCH + 3)
    dispatcher.send_due()
    receiver.wait_for(path, count=2)
    assert _leased(engine) == PREFETCH  # all one sender may hold, not all that are due


def test_a_queued_delivery_whose_lease_would_end_mid_send_waits_for_it_to_run_out(
    engine: Engine, receiver: Receiver, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    """Sent late it could reach the receiver twice (another worker may take it over)."""
    path = f"/queued/{uuid.uuid4().hex}"
    # A lease of 2 x 1 s + 0.2 s.
    hook = {"url": receiver.url + path, "secret": SECRET, "timeout": "1s"}
    settings = Settings(
        webhooks={"desk": hook},  # type: ignore[dict-item]
        allowed_targets=LOOPBACK,  # type: ignore[arg-type]
        lease_margin=timedelta(milliseconds=200),
    )
    _enqueue(engine, settings, count=1)
    dispatcher, done = _dispatcher(engine, settings, dispatchers, workers=1, per_webhook=1)
    dispatcher.send_due()
    _wait(done, 1)  # fast: the next turn leases a deep queue
    # Then it slows down: after two 0.8 s sends the third would start at about 1.6 s and
    # could run to 2.6 s, past the lease. It and the fourth stay unsent.
    receiver.delay[path] = 0.8
    _enqueue(engine, settings, count=4)
    started = time.monotonic()
    dispatcher.send_due()
    _wait(done, 2)
    time.sleep(0.3)  # a third, were it sent, would have arrived by now (its lease still runs)
    assert _leased(engine) == 2 and len(receiver.at(path)) == 3
    # Once their leases have run out they are leased again and sent, each once.
    time.sleep(max(2.3 - (time.monotonic() - started), 0))
    dispatcher.send_due()
    _wait(done, 2)
    ids = [request.headers["webhook-id"] for request in receiver.at(path)]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert _states(engine) == {"desk": ["delivered"] * 5}


def test_the_console_takes_every_notice_when_no_webhook_is_configured(
    engine: Engine,
    dispatchers: list[tuple[Dispatcher, httpx.Client]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings()
    with connector.write(engine) as conn:
        body = {
            "type": "commitment.due",
            "timestamp": "2016-08-01T00:00:00+03:00",
            "data": {"commitment": {"id": "draft", "title": "Draft constitution"}},
        }
        outbox.enqueue(conn, "draft", NoticeType.DUE, _now(), body, [], now=_now(), webhooks={})
    dispatcher, done = _dispatcher(engine, settings, dispatchers)
    dispatcher.send_due()
    _wait(done, 1)
    assert "commitment.due draft: Draft constitution" in capsys.readouterr().out
    assert _states(engine) == {"console": ["delivered"]}


class _Writes(io.StringIO):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def test_each_console_line_is_written_whole_in_one_write(
    engine: Engine, dispatchers: list[tuple[Dispatcher, httpx.Client]]
) -> None:
    count = 12
    bodies = [
        {
            "type": "commitment.due",
            "timestamp": "2016-08-01T00:00:00+03:00",
            "data": {"commitment": {"id": "draft", "title": f"Draft constitution {i}"}},
        }
        for i in range(count)
    ]
    with connector.write(engine) as conn:
        for i, body in enumerate(bodies):
            at = _now() - timedelta(seconds=i + 1)
            outbox.enqueue(conn, "draft", NoticeType.DUE, at, body, [], now=_now(), webhooks={})
    out = _Writes()
    dispatcher, done = _dispatcher(engine, Settings(), dispatchers, out, workers=8, per_webhook=4)
    dispatcher.send_due()
    _wait(done, count)
    # One write a line, newline included: nothing written alongside can cut into it.
    expected = sorted(formats.console_line(body) + "\n" for body in bodies)
    assert sorted(out.writes) == expected
