"""daemon/seeds/: reading and validating seed documents (no database)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from daemon import seeds
from daemon.model.pledge import Source
from daemon.seeds import fastpath, files, parsing, schema

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")
ROOT = Path(__file__).resolve().parents[2]

# Values a commitment's fields take in files, good and bad: what YAML and JSON produce.
TEXT = st.sampled_from(
    ["", "a", "w1", "Draft constitution", "Сирия", "a\0b", "\ud800", "x" * 201, "-a", "a b", "a\n"]
)
ANY_VALUE = st.one_of(
    st.none(),
    TEXT,
    st.integers(-2, 2),
    st.booleans(),
    st.lists(TEXT, max_size=3),
    st.lists(st.one_of(TEXT, st.integers(0, 3), st.none()), max_size=3),
    st.dictionaries(st.sampled_from(["requires", "status", "x"]), TEXT, max_size=2),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "id": st.one_of(TEXT, ANY_VALUE),
    "title": st.one_of(TEXT, ANY_VALUE),
    "description": st.one_of(st.none(), TEXT, ANY_VALUE),
    "parties": st.one_of(st.lists(TEXT, max_size=3), ANY_VALUE),
    "tags": st.one_of(st.lists(TEXT, max_size=3), ANY_VALUE),
    "kind": st.one_of(st.sampled_from(["deliverable", "ongoing", "recurring", "x"]), ANY_VALUE),
    "status": st.one_of(st.sampled_from(["open", "kept", "closed"]), ANY_VALUE),
    "deadline": st.one_of(st.sampled_from(["by August", "2090-01-01T00:00:00+00:00"]), ANY_VALUE),
    "reminders": st.one_of(st.lists(st.sampled_from(["7d", 1, "x"]), max_size=3), ANY_VALUE),
    "conditions": st.one_of(
        st.just([]),
        st.lists(st.fixed_dictionaries({"requires": TEXT}), max_size=2),
        ANY_VALUE,
    ),
    "deadline_from": st.one_of(st.sampled_from(["conditions", "x"]), ANY_VALUE),
    "check_in": st.one_of(st.sampled_from(["14d"]), ANY_VALUE),
    "every": st.one_of(st.sampled_from(["3mo"]), ANY_VALUE),
    "cron": st.one_of(st.sampled_from(["0 9 1 * *"]), ANY_VALUE),
    "colour": ANY_VALUE,  # not a field: refused
}


@st.composite
def commitments(draw: st.DrawFn) -> dict[str, Any]:
    """A commitment as a file may hold it: mostly plain, sometimes odd or wrong."""
    item: dict[str, Any] = {"id": "w1", "title": "Publish the report"}
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4, unique=True)):
        item[name] = draw(FIELD_VALUES[name])
    if draw(st.booleans()):
        item.pop(draw(st.sampled_from(["id", "title"])))
    return item


@st.composite
def valid_commitments(draw: st.DrawFn) -> dict[str, Any]:
    """A commitment pydantic takes (its deadline may still be unreadable)."""
    item: dict[str, Any] = {"id": "w1", "title": draw(st.sampled_from(["T", "Сирия"]))}
    optional = {
        "parties": st.lists(st.sampled_from(["Russia", "United States"]), max_size=2),
        "tags": st.lists(st.sampled_from(["syria", "un"]), max_size=2),
        "description": st.one_of(st.none(), st.just("Why")),
        "status": st.sampled_from(["open", "kept", "stalled"]),
        "deadline": st.sampled_from(
            ["by August", "2090-01-01T00:00:00+00:00", "2016-02-30T10:00", "Q3 2016", "someday"]
        ),
        "reminders": st.lists(st.sampled_from(["7d", "1d", 3]), max_size=2),
        "kind": st.sampled_from(["deliverable", "ongoing", "recurring"]),
        "every": st.just("3mo"),
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=5, unique=True)):
        item[name] = draw(optional[name])
    return item


class TestPlain:
    """`plain_fields` checks the common commitments itself; it must agree with pydantic."""

    @settings(max_examples=400, deadline=None)
    @given(item=st.one_of(commitments(), valid_commitments()))
    def test_what_it_accepts_pydantic_accepts_with_the_same_values(
        self, item: dict[str, Any]
    ) -> None:
        found = fastpath.plain_fields(item)
        if found is None:
            return  # left to pydantic
        assert dict(schema.Commitment.model_validate(item)) == found

    def test_it_takes_the_commitments_of_a_benchmark_file(self) -> None:
        item = {
            "id": "w0",
            "title": "Publish the benchmark report w0",
            "parties": ["Bench desk", "Review board"],
            "kind": "deliverable",
            "deadline": "2090-01-01T00:00:00+00:00",
            "tags": ["bench"],
        }
        assert fastpath.plain_fields(item) == dict(schema.Commitment.model_validate(item))

    @pytest.mark.parametrize(
        "item",
        [
            pytest.param({"id": "a", "title": "\ud800"}, id="lone-surrogate-in-title"),
            pytest.param({"id": "a", "title": "A", "kind": None}, id="kind-none"),
            pytest.param({"id": "a", "title": "A", "parties": ("x",)}, id="tuple-of-parties"),
            pytest.param({"id": "a", "title": "A", "conditions": [{"requires": "b"}]}, id="cond"),
            pytest.param({"id": "a", "title": "A", "colour": "red"}, id="unknown-field"),
        ],
    )
    def test_it_leaves_what_is_not_plain_to_pydantic(self, item: dict[str, Any]) -> None:
        assert fastpath.plain_fields(item) is None


def _reference(raw: dict[str, Any]) -> list[seeds.Seed] | str:
    """What parsing gave before plain commitments were checked apart: pydantic on it all."""
    try:
        document = schema.Document.model_validate(raw)
    except ValidationError as exc:
        return str(schema.explain("f.yaml", raw, exc))
    try:
        zone = ZoneInfo(document.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return f"f.yaml: field 'timezone': unknown time zone {document.timezone!r}"
    try:
        source = Source(**document.source.model_dump())
        return [
            parsing._to_seed("f.yaml", schema.as_fields(c), source, zone, NOW.astimezone(zone))
            for c in document.commitments
        ]
    except seeds.SeedError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(
    items=st.lists(st.one_of(commitments(), valid_commitments()), max_size=4),
    head=st.fixed_dictionaries(
        {},
        optional={"timezone": st.sampled_from(["UTC", None, 3, "Nowhere/City"]), "x": st.none()},
    ),
)
def test_parse_gives_what_pydantic_alone_gives_and_the_same_first_error(
    items: list[dict[str, Any]], head: dict[str, Any]
) -> None:
    # Distinct ids, so a document is not refused for repeating one.
    for n, item in enumerate(items):
        if item.get("id") == "w1":
            item["id"] = f"w{n}"
    raw = {**head, "commitments": items}
    try:
        found: list[seeds.Seed] | str = seeds.parse("f.yaml", raw, default_zone=UTC_ZONE, now=NOW)
    except seeds.SeedError as exc:
        found = str(exc)
    assert found == _reference(raw)


def test_an_error_after_many_plain_commitments_names_the_bad_one() -> None:
    raw = {
        "commitments": [
            *({"id": f"w{i}", "title": "T", "deadline": "2090-01-01T00:00:00Z"} for i in range(50)),
            {"id": "bad", "title": "T", "kind": "sometimes"},
            {"id": "w99", "title": ""},
        ]
    }
    with pytest.raises(seeds.SeedError) as caught:
        seeds.parse("f.yaml", raw, default_zone=UTC_ZONE, now=NOW)
    assert (caught.value.commitment, caught.value.field) == ("bad", "kind")
    assert str(caught.value) == _reference(raw)


class TestYaml:
    def test_libyaml_reads_the_shipped_seeds_as_the_python_reader_does(self) -> None:
        for path in sorted((ROOT / "seeds").glob("*.yaml")):
            text = path.read_text(encoding="utf-8")
            assert files._read_yaml(text) == yaml.safe_load(text)

    def test_an_invalid_file_gets_the_python_readers_message(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text("commitments:\n  - id: a\n    title: [unclosed\n")
        with pytest.raises(yaml.YAMLError) as expected:
            yaml.safe_load(path.read_text())
        with pytest.raises(seeds.SeedError) as caught:
            seeds.load([path], default_zone=UTC_ZONE, now=NOW)
        assert str(caught.value) == f"{path}: not valid YAML: {expected.value}"

    def test_a_date_off_the_calendar_is_refused_as_before(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.yaml"
        path.write_text("source: {published: 2016-02-30}\ncommitments: []\n")
        with pytest.raises(seeds.SeedError, match="not a valid date"):
            seeds.load([path], default_zone=UTC_ZONE, now=NOW)


def test_bulk_pauses_the_collector_and_restores_it() -> None:
    assert gc.isenabled()
    with seeds.bulk():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with seeds.bulk():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_an_id_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text('{"commitments": [{"id": "x", "title": "X"}]}')
    second.write_text('{"commitments": [{"id": "y", "title": "Y"}, {"id": "x", "title": "X"}]}')
    with pytest.raises(seeds.SeedError) as caught:
        seeds.load([tmp_path], default_zone=UTC_ZONE, now=NOW)
    assert (
        str(caught.value) == f"{second}: commitment 'x': field 'id': duplicate id, also in {first}"
    )
