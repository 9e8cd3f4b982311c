"""A daemon that was down while notices fell due sends one late notice per pledge, not a flood."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.support import process
from tests.support.receiver import Received, Receiver

pytestmark = [pytest.mark.daemon, pytest.mark.receiver]


def test_after_downtime_each_pledge_gets_one_late_notice_standing_for_the_missed_ones(
    receiver: Receiver, tmp_path: Path
) -> None:
    """A week of downtime, compressed: overdue repeats every second, the daemon away for six."""
    path = f"/down/{uuid.uuid4().hex}"
    settings = {
        "PLEDGEWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'down.db'}",
        "PLEDGEWATCH_WEBHOOKS__DESK__URL": receiver.url + path,
        "PLEDGEWATCH_ALLOWED_TARGETS": "127.0.0.0/8",
        "PLEDGEWATCH_REMINDER_OFFSETS": "0",
        "PLEDGEWATCH_OVERDUE_REPEAT": "1s",
        "PLEDGEWATCH_CATCH_UP_GRACE": "1s",
    }
    due = datetime.now(UTC) + timedelta(seconds=3)
    seed = tmp_path / "pledges.yaml"
    commitments = [
        {"id": f"p{i}", "title": f"Pledge {i}", "deadline": due.isoformat()} for i in range(3)
    ]
    seed.write_text(yaml.safe_dump({"commitments": commitments}))
    assert process.cli("import", str(seed), settings=settings).returncode == 0
    first = process.start(settings, tmp_path / "first.log")
    try:
        receiver.wait_for(path, count=3, timeout=20)  # each pledge's due notice, on time
    finally:
        assert first.stop() == 0
    before = len(receiver.at(path))
    time.sleep(6)  # away: six or so overdue repeats fall due for each pledge
    second = process.start(settings, tmp_path / "second.log")
    try:
        # Sent after the restart and marked late: the catch-up notices (a delivery left
        # pending by the first daemon may arrive too, on its own, not late).
        def late() -> list[Received]:
            return [r for r in receiver.at(path)[before:] if r.json()["data"].get("late")]

        deadline = time.monotonic() + 20
        while len(late()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        catch_up = late()[:3]
    finally:
        second.process.kill()  # enough seen; the repeats go on every second
        second.process.wait(timeout=10)
        second.handle.close()
    bodies = [r.json() for r in catch_up]
    assert sorted(b["data"]["commitment"]["id"] for b in bodies) == ["p0", "p1", "p2"]
    for body in bodies:
        assert body["type"] == "commitment.overdue"
        assert body["data"]["late"] is True
        assert body["data"]["missed"] >= 3  # one notice standing for the ones missed
