"""Large imports against real databases: bulk rows, chunked look-ups, re-imports."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError

from daemon import seeds
from daemon.model import schedule
from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.store import connector, imports, lifecycle, pledges, rows
from daemon.store.schema import Commitment, Condition, Event, StatusChange

NOW = datetime(2026, 11, 26, 12, 0, 0, 250_000, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


def _document(prefix: str) -> dict[str, Any]:
    """Commitments of every shape a file can hold, their ids starting with `prefix`."""
    return {
        "source": {"title": "Joint statement", "publisher": "Ministry", "published": "2016-03-25"},
        "timezone": "Europe/Moscow",
        "commitments": [
            {
                "id": f"{prefix}draft",
                "title": "Draft constitution — «Сирия»",
                "description": 'Tabs\there, a new\nline, a back\\slash, "quotes" and 100%',
                "parties": ["United States", "Russia, and allies"],
                "deadline": "by August",
                "reminders": ["30d", "1d"],
                "tags": ["syria", "un"],
            },
            {
                "id": f"{prefix}instant",
                "title": "At an instant",
                "deadline": "2090-01-01T10:30:00.123456+03:00",
                "tags": [],
            },
            {"id": f"{prefix}no-deadline", "title": "Whenever", "status": "in_progress"},
            {"id": f"{prefix}kept", "title": "Done", "status": "kept", "deadline": "2016-05-01"},
            {
                "id": f"{prefix}later",
                "title": "Counted from the conditions",
                "kind": "conditional",
                "conditions": [{"requires": f"{prefix}draft"}],
                "deadline": "within 6 months",
                "deadline_from": "conditions",
            },
            {"id": f"{prefix}review", "title": "Review", "kind": "recurring", "every": "3mo"},
            {"id": f"{prefix}watch", "title": "Watch", "kind": "ongoing", "check_in": "14d"},
            {
                "id": f"{prefix}range",
                "title": "A range",
                "deadline": {"earliest": "2016-06-01", "latest": "2016-07-15"},
            },
            {
                "id": f"{prefix}extracted",
                "title": "Found in an article",
                "deadline": "by August",
                "extracted": {
                    "sentence": 'Both will finish it "by August" — «Сирия»\tsaid.',
                    "span": [10, 57],
                    "parties": ["United States", "Russia"],
                    "confidence": 0.85,
                    "cue": "modal: will; deadline: by August",
                },
            },
        ],
    }


def _pledges(prefix: str) -> list[Pledge]:
    found = seeds.parse("f.yaml", _document(prefix), default_zone=ZoneInfo("UTC"), now=NOW)
    return [s.pledge for s in found]


def _create_through_sqlalchemy(conn: Connection, new: list[Pledge], policy: Policy) -> None:
    """Write pledges as `create` did through SQLAlchemy's column types: the reference."""
    statuses = {p.id: p.status for p in new}
    for pledge in new:
        blocked = pledges.any_unmet(pledge.conditions, statuses)
        state = lifecycle.with_started_deadline(replace(pledge, blocked=blocked), NOW)
        values = rows.columns(state)
        values.update(
            id=pledge.id,
            created_at=NOW,
            updated_at=NOW,
            planned_through=None,
            next_notice_at=schedule.wake_at(state, policy, None),
        )
        conn.execute(insert(Commitment), [values])
        if pledge.conditions:
            conn.execute(insert(Condition), imports._condition_rows(pledge))
        conn.execute(
            insert(StatusChange),
            [
                lifecycle.history_row(
                    pledge.id, NOW, None, pledge.status.value, "t", "imported", None
                )
            ],
        )


def _raw(conn: Connection, table: str, key: str, prefix: str) -> list[tuple[Any, ...]]:
    """Return the rows of `table` as the driver reads them, `prefix` cut from the ids."""
    rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {key}").mappings().all()
    return [
        tuple(
            v.removeprefix(prefix) if isinstance(v, str) and k.endswith("id") else v
            for k, v in row.items()
            if k != "id" or table == "commitments"
        )
        for row in rows
        if str(row.get("commitment_id", row.get("id"))).startswith(prefix)
    ]


def test_bulk_rows_are_the_rows_sqlalchemy_writes(engine: Engine) -> None:
    policy = Policy()
    with connector.write(engine) as conn:
        imports.create(conn, _pledges("bulk-"), now=NOW, policy=policy, actor="t")
        _create_through_sqlalchemy(conn, _pledges("ref-"), policy)
    with connector.read(engine) as conn:
        for table, key in (
            ("commitments", "id"),
            ("conditions", "commitment_id"),
            ("status_history", "id"),
        ):
            assert _raw(conn, table, key, "bulk-") == _raw(conn, table, key, "ref-"), table
        stored = {s.pledge.id: s for s in pledges.list_all(conn)}
    for pledge in _pledges("bulk-"):
        # Read back as written; the one whose condition is unmet waits, blocked.
        assert stored[pledge.id].pledge == replace(pledge, blocked=pledge.id == "bulk-later")


def test_a_duplicate_in_a_bulk_insert_is_an_integrity_error_and_writes_nothing(
    engine: Engine,
) -> None:
    twice = [Pledge(id="a", title="A"), Pledge(id="a", title="A again")]
    with pytest.raises(IntegrityError), connector.write(engine) as conn:
        imports.create(conn, twice, now=NOW, policy=Policy(), actor="t")
    with connector.read(engine) as conn:
        assert pledges.list_all(conn) == []


def _apply(engine: Engine, document: dict[str, Any]) -> dict[str, int]:
    found = seeds.parse("f.yaml", document, default_zone=ZoneInfo("UTC"), now=NOW)
    with connector.write(engine) as conn:
        return seeds.apply(conn, found, now=NOW, policy=Policy())


def test_a_large_file_is_looked_up_and_written_in_chunks(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rows, "CREATE_BATCH", 4)
    monkeypatch.setattr(imports, "LOOKUP_CHUNK", 7)
    items = [
        {"id": f"p{i}", "title": f"P{i}", "deadline": f"2090-01-{i % 28 + 1:02}"} for i in range(30)
    ]
    items[5]["conditions"] = [{"requires": "p7"}]
    document: dict[str, Any] = {"commitments": items}
    assert _apply(engine, document) == {"created": 30, "updated": 0, "unchanged": 0}
    assert _apply(engine, document) == {"created": 0, "updated": 0, "unchanged": 30}
    items[3]["title"] = "P3, renamed"
    items[20]["status"] = "stalled"
    items.append({"id": "p30", "title": "P30"})
    assert _apply(engine, document) == {"created": 1, "updated": 2, "unchanged": 28}
    with connector.read(engine) as conn:
        assert pledges.get(conn, "p3").pledge.title == "P3, renamed"
        assert [h["new_status"] for h in pledges.history(conn, "p20")] == ["open", "stalled"]
        assert len(pledges.list_all(conn)) == 31


def test_an_extracted_block_is_stored_compared_and_updated_by_a_re_import(engine: Engine) -> None:
    found = {"sentence": "The city will act.", "span": [0, 18], "confidence": 0.8, "cue": "modal"}
    document: dict[str, Any] = {"commitments": [{"id": "act", "title": "Act", "extracted": found}]}
    assert _apply(engine, document)["created"] == 1
    assert _apply(engine, document)["unchanged"] == 1
    found["parties"] = ["City"]
    assert _apply(engine, document)["updated"] == 1
    with connector.read(engine) as conn:
        extracted = pledges.get(conn, "act").pledge.extracted
    assert extracted is not None
    assert (extracted.sentence, extracted.span, extracted.parties) == (
        "The city will act.",
        (0, 18),
        ("City",),
    )
    del document["commitments"][0]["extracted"]
    assert _apply(engine, document)["updated"] == 1
    with connector.read(engine) as conn:
        assert pledges.get(conn, "act").pledge.extracted is None


def test_an_update_reaches_those_waiting_on_it_in_the_same_import(engine: Engine) -> None:
    document: dict[str, Any] = {
        "timezone": "Europe/Moscow",
        "commitments": [
            {"id": "minsk", "title": "Minsk"},
            {
                "id": "sanctions",
                "title": "Lift sanctions",
                "kind": "conditional",
                "conditions": [{"requires": "minsk"}],
                "deadline": "within 6 months",
                "deadline_from": "conditions",
            },
        ],
    }
    _apply(engine, document)
    document["commitments"][0]["status"] = "kept"
    assert _apply(engine, document) == {"created": 0, "updated": 1, "unchanged": 1}
    with connector.read(engine) as conn:
        started = pledges.get(conn, "sanctions").pledge
        met = conn.scalars(select(Event.type).where(Event.commitment_id == "sanctions")).all()
    assert started.pending is None and started.window is not None
    assert started.window.earliest == datetime(2027, 5, 25, 21, 0, tzinfo=UTC)  # 26 May, Moscow
    assert "commitment.condition_met" in met
    assert _apply(engine, document) == {"created": 0, "updated": 0, "unchanged": 2}


def test_a_status_set_since_the_last_import_is_kept_unless_the_file_sets_one(
    engine: Engine,
) -> None:
    document: dict[str, Any] = {"commitments": [{"id": "a", "title": "A"}]}
    _apply(engine, document)
    with connector.write(engine) as conn:
        lifecycle.set_status(conn, "a", Status.STALLED, now=NOW, policy=Policy(), actor="t")
    assert _apply(engine, document) == {"created": 0, "updated": 0, "unchanged": 1}
    document["commitments"][0]["status"] = "open"
    assert _apply(engine, document) == {"created": 0, "updated": 1, "unchanged": 0}
