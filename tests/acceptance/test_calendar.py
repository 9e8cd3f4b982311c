"""The calendar feed of a running daemon, fetched over HTTP for the imported seeds/ and read back with icalendar."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import icalendar
import pytest

from tests.support import process

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
SYRIA = {
    "syria-draft-constitution",
    "syria-transition-framework",
}  # the syria pledges with a window
DEMO = {"demo-quarterly-report", "demo-press-briefing"}

pytestmark = [pytest.mark.daemon]


@pytest.fixture
def settings(sqlite_url: str) -> dict[str, str]:
    return {"PLEDGEWATCH_DATABASE_URL": sqlite_url, "PLEDGEWATCH_REMINDER_OFFSETS": "14d,2d"}


@pytest.fixture
def daemon(settings: dict[str, str], tmp_path: Path) -> Iterator[process.Daemon]:
    """The daemon with seeds/ imported."""
    result = process.cli("import", str(SEEDS), settings=settings)
    assert result.returncode == 0, result.stderr
    running = process.start(settings, tmp_path / "daemon.log")
    yield running
    assert running.stop() == 0, running.output()


def _get(
    daemon: process.Daemon, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.get(daemon.url + path, headers=headers, timeout=30)


def _events(response: httpx.Response) -> dict[str, icalendar.Event]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["VERSION"]) == "2.0"
    return {str(e["UID"]).removesuffix("@pledgewatch"): e for e in calendar.walk("VEVENT")}


def test_the_feed_filtered_by_tag_lists_the_syria_deadlines_as_all_day_events_with_alarms(
    daemon: process.Daemon,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = _get(daemon, "/calendar.ics?tag=syria")
    events = _events(response)
    assert set(events) == SYRIA
    assert response.headers["content-disposition"] == 'inline; filename="pledgewatch.ics"'
    assert response.headers["etag"].startswith('W/"')
    assert "last-modified" in response.headers
    assert b"DTSTART;VALUE=DATE:20160801\r\nDTEND;VALUE=DATE:20160901\r\n" in response.content
    calendar = icalendar.Calendar.from_ical(response.content)
    assert str(calendar["X-WR-CALNAME"]) == "pledgewatch: syria"
    for event in events.values():
        assert (event.start, event.end) == (date(2016, 8, 1), date(2016, 9, 1))
        assert before <= event["DTSTAMP"].dt <= datetime.now(UTC) + timedelta(seconds=1)
        # PLEDGEWATCH_REMINDER_OFFSETS, since the seeds name none of their own.
        triggers = [a["TRIGGER"].dt for a in event.walk("VALARM")]
        assert triggers == [timedelta(days=-14), timedelta(days=-2)]
        assert "Free Press Journal" in str(event["DESCRIPTION"])
        assert "Status: open" in str(event["DESCRIPTION"])


def test_tags_repeat_or_come_as_a_comma_list_and_statuses_filter(daemon: process.Daemon) -> None:
    listed = _events(_get(daemon, "/calendar.ics?tag=syria,demo"))
    repeated = _events(_get(daemon, "/calendar.ics?tag=syria&tag=demo"))
    assert set(listed) == set(repeated) == SYRIA | DEMO
    everything = _events(_get(daemon, "/calendar.ics"))
    assert set(everything) == SYRIA | DEMO  # the other seeds have no deadline window
    # The demo deadlines are exact instants: timed, in UTC, ending where they start.
    demo = everything["demo-press-briefing"]
    assert isinstance(demo.start, datetime) and demo.start == demo.end
    assert [a["TRIGGER"].dt for a in demo.walk("VALARM")] == [
        timedelta(seconds=-90),
        timedelta(seconds=-60),
    ]
    assert set(_events(_get(daemon, "/calendar.ics?status=open&tag=syria"))) == SYRIA
    assert _events(_get(daemon, "/calendar.ics?status=kept,broken")) == {}
    refused = _get(daemon, "/calendar.ics?status=kept,finished")
    assert refused.status_code == 422
    assert "finished" in refused.text


def test_one_pledge_has_its_own_calendar_and_an_unknown_one_is_404(daemon: process.Daemon) -> None:
    response = _get(daemon, "/pledges/syria-draft-constitution.ics")
    assert set(_events(response)) == {"syria-draft-constitution"}
    assert response.headers["content-disposition"] == (
        'inline; filename="syria-draft-constitution.ics"'
    )
    assert _get(daemon, "/pledges/no-such-pledge.ics").status_code == 404
    # A pledge without a deadline window: a calendar with no event.
    assert _events(_get(daemon, "/pledges/minsk-implemented.ics")) == {}


def test_a_status_change_shows_in_the_feed_with_a_higher_sequence_and_a_new_etag(
    daemon: process.Daemon, settings: dict[str, str]
) -> None:
    first = _get(daemon, "/calendar.ics?tag=syria")
    sequence = int(_events(first)["syria-draft-constitution"]["SEQUENCE"])
    etag = first.headers["etag"]
    unchanged = _get(daemon, "/calendar.ics?tag=syria", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    time.sleep(1.1)  # SEQUENCE counts whole seconds
    result = process.cli(
        "set-status", "syria-draft-constitution", "kept", "--note", "published", settings=settings
    )
    assert result.returncode == 0, result.stderr
    changed = _get(daemon, "/calendar.ics?tag=syria", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    event = _events(changed)["syria-draft-constitution"]
    assert int(event["SEQUENCE"]) > sequence
    assert str(event["X-PLEDGEWATCH-STATUS"]) == "kept"
    assert event.walk("VALARM") == []
    kept = _events(_get(daemon, "/calendar.ics?status=kept"))
    assert set(kept) == {"syria-draft-constitution"}
    assert set(_events(_get(daemon, "/calendar.ics?tag=syria&status=open"))) == {
        "syria-transition-framework"
    }
