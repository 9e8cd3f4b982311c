"""daemon/seeds/edits.py: a pledge as a seed document, changed and read again."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from daemon import seeds
from daemon.seeds import edits

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
DOCUMENT: dict[str, Any] = {
    "source": {"title": "Statement", "publisher": "Desk", "published": "2016-03-25"},
    "timezone": "Europe/Moscow",
    "commitments": [
        {"id": "talks", "title": "Talks", "deadline": "by August", "tags": ["syria"]},
        {"id": "range", "title": "Range", "deadline": {"earliest": "2016-05", "latest": "2016-07"}},
        {"id": "watch", "title": "Watch", "kind": "ongoing", "check_in": "14d"},
        {"id": "review", "title": "Review", "kind": "recurring", "cron": "0 9 1 * *"},
        {
            "id": "lift",
            "title": "Lift",
            "description": "All of them",
            "kind": "conditional",
            "parties": ["EU"],
            "reminders": ["30d", "1d12h"],
            "conditions": [{"requires": "talks", "status": "in_progress"}],
            "deadline": "within 6 months",
            "deadline_from": "conditions",
        },
    ],
}


def _pledges() -> dict[str, Any]:
    found = seeds.parse("seed.yaml", DOCUMENT, default_zone=UTC_ZONE, now=NOW)
    return {s.pledge.id: s.pledge for s in found}


@pytest.mark.parametrize("pledge_id", ["talks", "range", "watch", "review", "lift"])
def test_the_document_of_a_pledge_reads_back_as_the_same_pledge(pledge_id: str) -> None:
    pledge = _pledges()[pledge_id]
    document = edits.document_of(pledge)
    (seed,) = seeds.parse("edit", document, default_zone=UTC_ZONE, now=NOW)
    assert seed.pledge == pledge
    assert not seed.status_given


def test_an_edit_keeps_a_relative_deadline_unless_it_may_move() -> None:
    pledge = _pledges()["talks"]
    undated = replace(pledge, source=replace(pledge.source, published=None))
    kept = edits.edited(undated, {"title": "New"}, name="edit", default_zone=UTC_ZONE, now=NOW)
    assert kept.pledge.window == pledge.window and kept.pledge.title == "New"
    moved = edits.edited(
        undated, {"source.published": "2017-01-01"}, name="edit", default_zone=UTC_ZONE, now=NOW
    )
    assert moved.pledge.window is not None and pledge.window is not None
    assert moved.pledge.window.earliest.year == 2017


def test_a_new_kind_drops_the_old_check_ins_and_every_replaces_cron() -> None:
    review = _pledges()["review"]
    document = edits.document_of(review)
    assert edits.with_changes(document, {"every": "3mo"})["commitments"][0]["every"] == "3mo"
    assert "cron" not in edits.with_changes(document, {"every": "3mo"})["commitments"][0]
    ongoing = edits.with_changes(document, {"kind": "ongoing"})["commitments"][0]
    assert "cron" not in ongoing and ongoing["kind"] == "ongoing"


def test_a_change_to_none_removes_the_field() -> None:
    document = edits.document_of(_pledges()["lift"])
    changed = edits.with_changes(document, {"description": None, "source.publisher": None})
    assert "description" not in changed["commitments"][0]
    assert "publisher" not in changed["source"]
    assert "description" in document["commitments"][0]  # the given one is left as it was


def test_a_bad_change_names_the_field() -> None:
    with pytest.raises(seeds.SeedError) as raised:
        edits.edited(
            _pledges()["talks"],
            {"reminders": ["soon"]},
            name="edit",
            default_zone=UTC_ZONE,
            now=NOW,
        )
    assert (raised.value.field, raised.value.commitment) == ("reminders", "talks")
