"""Seed files read and applied against real databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine

from daemon import seeds
from daemon.model.schedule import Policy
from daemon.model.statuses import Status
from daemon.store import connector, lifecycle, pledges

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def _write(folder: Path, commitments: list[dict[str, object]], **top: object) -> Path:
    path = folder / "seed.yaml"
    path.write_text(yaml.safe_dump({**top, "commitments": commitments}))
    return path


def _apply(engine: Engine, path: Path) -> dict[str, int]:
    loaded = seeds.load([path], default_zone=ZoneInfo("UTC"), now=NOW)
    with connector.write(engine) as conn:
        return seeds.apply(conn, loaded, now=NOW, policy=Policy())


def test_the_moscow_seed_reads_by_august_against_its_publication_date(engine: Engine) -> None:
    counts = _apply(engine, ROOT / "seeds" / "moscow-talks-2016.yaml")
    with connector.read(engine) as conn:
        draft = pledges.get(conn, "syria-draft-constitution").pledge
        sanctions = pledges.get(conn, "lift-russia-sanctions").pledge
    assert counts["created"] == 12
    assert draft.window is not None
    assert (
        draft.window.earliest.astimezone(ZoneInfo("Europe/Moscow")).isoformat()
        == "2016-08-01T00:00:00+03:00"
    )
    assert draft.source.publisher == "Free Press Journal"
    assert [(c.requires, c.status) for c in sanctions.conditions] == [
        ("minsk-implemented", Status.KEPT)
    ]


def test_each_pledge_keeps_the_zone_of_its_file_else_the_default_one(
    engine: Engine, tmp_path: Path
) -> None:
    moscow = _write(tmp_path, [{"id": "lift", "title": "Lift"}], timezone="Europe/Moscow")
    _apply(engine, moscow)
    plain = tmp_path / "plain"
    plain.mkdir()
    _apply(engine, _write(plain, [{"id": "bare", "title": "Bare"}]))
    with connector.read(engine) as conn:
        assert pledges.get(conn, "lift").pledge.timezone == "Europe/Moscow"
        assert pledges.get(conn, "bare").pledge.timezone == "UTC"  # the default zone given


def test_importing_the_same_file_twice_changes_nothing_whatever_the_order_of_conditions(
    engine: Engine, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        [
            {"id": "b", "title": "B"},
            {"id": "a", "title": "A"},
            {
                "id": "c",
                "title": "C",
                "kind": "conditional",
                "conditions": [{"requires": "b"}, {"requires": "a", "status": "in_progress"}],
            },
        ],
    )
    assert _apply(engine, path) == {"created": 3, "updated": 0, "unchanged": 0}
    assert _apply(engine, path) == {"created": 0, "updated": 0, "unchanged": 3}


def test_conditions_are_written_after_what_they_require_along_a_chain(
    engine: Engine, tmp_path: Path
) -> None:
    chain = [
        {"id": "a", "title": "A", "kind": "conditional", "conditions": [{"requires": "b"}]},
        {"id": "b", "title": "B", "kind": "conditional", "conditions": [{"requires": "c"}]},
        {"id": "c", "title": "C"},
    ]
    assert _apply(engine, _write(tmp_path, chain))["created"] == 3


def test_a_cycle_of_conditions_is_refused_naming_its_members(
    engine: Engine, tmp_path: Path
) -> None:
    cycle = [
        {"id": "a", "title": "A", "kind": "conditional", "conditions": [{"requires": "b"}]},
        {"id": "b", "title": "B", "kind": "conditional", "conditions": [{"requires": "a"}]},
    ]
    with pytest.raises(seeds.SeedError, match="cycle") as caught:
        _apply(engine, _write(tmp_path, cycle))
    assert caught.value.field == "conditions"
    assert "a" in str(caught.value) and "b" in str(caught.value)
    with connector.read(engine) as conn:
        assert pledges.list_all(conn) == []


@pytest.mark.parametrize(
    ("commitments", "field"),
    [
        pytest.param(
            [{"id": "a", "title": "A", "deadline": "2016-02-30"}], None, id="date-not-on-calendar"
        ),
        pytest.param(
            [
                {"id": "b", "title": "B"},
                {
                    "id": "a",
                    "title": "A",
                    "conditions": [{"requires": "b"}, {"requires": "b", "status": "broken"}],
                },
            ],
            "conditions",
            id="same-condition-twice",
        ),
        pytest.param(
            [{"id": "a", "title": "A", "deadline": "December 9999"}],
            "deadline",
            id="off-the-calendar",
        ),
        pytest.param(
            [{"id": "a", "title": "A", "reminders": ["1000000000d"]}],
            "reminders",
            id="huge-reminder",
        ),
        pytest.param([{"id": "a", "title": "A\0B"}], "title", id="nul-in-title"),
        pytest.param([{"id": "a", "title": "A", "colour": "red"}], "colour", id="unknown-field"),
    ],
)
def test_bad_seeds_are_refused_before_anything_is_written(
    engine: Engine, tmp_path: Path, commitments: list[dict[str, object]], field: str | None
) -> None:
    path = tmp_path / "seed.yaml"
    text = yaml.safe_dump({"commitments": commitments})
    # safe_dump quotes dates; an unquoted date is what people write and YAML reads as a date.
    path.write_text(text.replace("'2016-02-30'", "2016-02-30"))
    with pytest.raises(seeds.SeedError) as caught:
        _apply(engine, path)
    assert caught.value.file == str(path)
    assert caught.value.field == field
    with connector.read(engine) as conn:
        assert pledges.list_all(conn) == []


@pytest.mark.parametrize(
    ("commitment", "field"),
    [
        pytest.param({"kind": "recurring"}, "every", id="recurring-without-schedule"),
        pytest.param(
            {"kind": "recurring", "every": "3mo", "cron": "0 9 1 * *"}, "every", id="both"
        ),
        pytest.param({"kind": "recurring", "cron": "0 9 32 * *"}, "cron", id="bad-cron"),
        pytest.param({"kind": "recurring", "every": "quarterly"}, "every", id="bad-every"),
        pytest.param(
            {"kind": "deliverable", "check_in": "14d"}, "check_in", id="check-in-on-deliverable"
        ),
        pytest.param({"kind": "ongoing", "every": "3mo"}, "every", id="every-on-ongoing"),
        pytest.param({"kind": "recurring", "cron": "0 * * * *"}, "cron", id="more-than-daily"),
        pytest.param({"kind": "recurring", "cron": "0 0 30 2 *"}, "cron", id="never"),
        pytest.param({"kind": "recurring", "cron": "0 9 * * 0"}, "cron", id="numeric-weekday"),
        pytest.param({"kind": "recurring", "every": "8000y"}, "every", id="off-the-calendar"),
    ],
)
def test_bad_check_in_schedules_are_refused_naming_the_field(
    engine: Engine, tmp_path: Path, commitment: dict[str, object], field: str
) -> None:
    with pytest.raises(seeds.SeedError) as caught:
        _apply(engine, _write(tmp_path, [{"id": "r", "title": "R", **commitment}]))
    assert (caught.value.commitment, caught.value.field) == ("r", field)


def test_check_ins_count_from_the_publication_date(engine: Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [{"id": "review", "title": "Review", "kind": "recurring", "every": "3mo"}],
        source={"published": "2016-03-25"},
        timezone="Europe/Moscow",
    )
    _apply(engine, path)
    with connector.read(engine) as conn:
        stored = pledges.get(conn, "review")
    assert stored.next_notice_at == datetime(2016, 6, 24, 21, 0, tzinfo=UTC)  # 25 June, Moscow


def test_a_deadline_counted_from_the_conditions_starts_when_they_are_met(
    engine: Engine, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        [
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
        timezone="Europe/Moscow",
    )
    _apply(engine, path)
    with connector.read(engine) as conn:
        waiting = pledges.get(conn, "sanctions")
    met = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
    with connector.write(engine) as conn:
        lifecycle.set_status(conn, "minsk", Status.KEPT, now=met, policy=Policy(), actor="t")
        started = pledges.get(conn, "sanctions")
    assert waiting.pledge.window is None and waiting.pledge.pending is not None
    assert started.pledge.window is not None and started.pledge.pending is None
    # Six months from 10 January 2027 (Moscow): the day 10 July 2027.
    assert started.pledge.window.earliest == datetime(2027, 7, 9, 21, 0, tzinfo=UTC)
    assert _apply(engine, path)["unchanged"] == 2  # a re-import keeps the started deadline


def test_deadline_from_needs_conditions(engine: Engine, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [{"id": "x", "title": "X", "deadline": "in 6 months", "deadline_from": "conditions"}],
    )
    with pytest.raises(seeds.SeedError) as caught:
        _apply(engine, path)
    assert caught.value.field == "deadline_from"


def test_a_cycle_through_stored_conditions_is_refused(engine: Engine, tmp_path: Path) -> None:
    first = _write(
        tmp_path,
        [
            {"id": "b", "title": "B"},
            {"id": "a", "title": "A", "kind": "conditional", "conditions": [{"requires": "b"}]},
        ],
    )
    _apply(engine, first)
    second = tmp_path / "second.yaml"
    second.write_text(
        yaml.safe_dump(
            {
                "commitments": [
                    {
                        "id": "b",
                        "title": "B",
                        "kind": "conditional",
                        "conditions": [{"requires": "a"}],
                    }
                ]
            }
        )
    )
    with pytest.raises(seeds.SeedError, match="cycle") as caught:
        _apply(engine, second)
    assert caught.value.commitment == "b" and caught.value.file == str(second)
