"""The SQLite writers' lock: reentrant, and handed over in the order writers came."""

from __future__ import annotations

import threading
import time

from daemon.store.connector import FairLock


def _wait_for_waiters(lock: FairLock, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(lock._waiting) < count:
        assert time.monotonic() < deadline, f"{count} waiters not queued in time"
        time.sleep(0.001)


def test_it_is_reentrant_for_its_holder() -> None:
    lock = FairLock()
    with lock, lock:
        pass
    taken = threading.Event()

    def other() -> None:
        with lock:
            taken.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert taken.wait(5), "the lock was not free after the nested release"
    thread.join()


def test_waiters_get_it_in_the_order_they_came_not_the_last_holder_again() -> None:
    lock = FairLock()
    order: list[str] = []

    def writer(name: str) -> None:
        with lock:
            order.append(name)

    lock.__enter__()
    threads = []
    for name in ("first", "second", "third"):
        thread = threading.Thread(target=writer, args=(name,))
        thread.start()
        threads.append(thread)
        # Each is queued before the next starts: their order is the order of arrival.
        _wait_for_waiters(lock, len(threads))
    lock.__exit__()
    # The releasing thread asks again at once, as a planner writing batch after
    # batch does: it queues behind the three that were waiting.
    with lock:
        order.append("holder again")
    for thread in threads:
        thread.join(5)
    assert order == ["first", "second", "third", "holder again"]
