"""daemon/delivery/formats.py and chat.py: the bytes a webhook receives and the console's one line.

The golden files under tests/unit/golden/ hold each format's rendering of a few
fixed bodies, pretty-printed with sorted keys. After a deliberate change, rewrite
them with `UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_formats.py`
and read the diff before keeping it.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import typing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.delivery import chat, formats, markup
from daemon.model import deadlines, documents
from daemon.model.pledge import Pledge, Source
from daemon.model.schedule import Notice, NoticeType
from daemon.model.statuses import Status
from daemon.settings import WebhookSettings

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
SAID = datetime(2016, 3, 25, tzinfo=MOSCOW)
BY_AUGUST = deadlines.read_deadline("by August", reference=SAID, tz=MOSCOW)
SYRIA = Pledge(
    id="syria-draft-constitution", title="Проект конституции для Сирии", window=BY_AUGUST
)
OPENS = datetime(2016, 7, 31, 21, tzinfo=UTC)
CLOSES = datetime(2016, 8, 31, 21, tzinfo=UTC)
DELIVERY_ID = "0b7c4a52-6a8e-4d1e-9f3e-5c2d8e1f4a10"
GOLDEN = Path(__file__).parent / "golden"
DASH = "\N{EN DASH}"  # between the two ends of a span of days


def reminder_body(missed: int = 0) -> dict[str, Any]:
    notice = Notice(NoticeType.REMINDER, OPENS - timedelta(days=7), offset=timedelta(days=7))
    return documents.notice_body(SYRIA, notice, missed=missed)


def render(format_: str, body: dict[str, Any]) -> Any:
    """Return what `format_` sends for `body`, read back from JSON."""
    content, _ = formats.render(format_, body, delivery_id=DELIVERY_ID)
    return json.loads(content.decode("utf-8"))


# The pledge of docs/formats.md, in English.
DRAFT = Pledge(
    id="syria-draft-constitution",
    title="Draft constitution for Syria",
    parties=("United States", "Russia"),
    tags=("syria", "transition"),
    source=Source(
        title="Russia, US reach consensus on Syria, not on bilateral ties",
        publisher="Free Press Journal",
        published=date(2016, 3, 25),
    ),
    window=BY_AUGUST,
)
AUDIT = Pledge(
    id="audit-report",
    title="Publish the audit report",
    description="An independent audit of the 2023 budget.\nPublished in full, with the auditors' notes.",
    parties=("Ministry of Finance",),
    source=Source(
        title="Audit report promised for the end of May",
        publisher="Example Gazette",
        url="https://example.org/news/audit?src=feed&lang=en",
        published=date(2024, 3, 1),
    ),
    window=deadlines.read_deadline(
        "2024-05-31T18:00:00+02:00", reference=datetime(2024, 3, 1, tzinfo=BERLIN), tz=BERLIN
    ),
)
PORTAL = Pledge(id="open-data-portal", title="Open a public data portal", status=Status.IN_PROGRESS)
# A pledge whose texts look like markup: each chat format must show them as written.
BRIDGE = Pledge(
    id="bridge_repair",
    title="[Click here](https://evil.example) **urgent**",
    description="Repair the *old* bridge.\n- before the floods\n> @everyone",
    parties=("City_Council", "<@U123>"),
    status=Status.BROKEN,
    window=BY_AUGUST,
)

CASES: dict[str, dict[str, Any]] = {
    "reminder": documents.notice_body(
        DRAFT, Notice(NoticeType.REMINDER, OPENS - timedelta(days=7), offset=timedelta(days=7))
    ),
    "due": documents.notice_body(DRAFT, Notice(NoticeType.DUE, OPENS)),
    "overdue": documents.notice_body(
        DRAFT, Notice(NoticeType.OVERDUE, CLOSES + timedelta(days=14), repeat=2), missed=3
    ),
    "status_changed": documents.status_body(
        dataclasses.replace(DRAFT, status=Status.KEPT),
        datetime(2016, 8, 20, 9, 30, tzinfo=UTC),
        old_status="in_progress",
        note="Marked kept after reading the evidence.\nBoth parties confirmed.",
        evidence="https://example.org/evidence?id=17&lang=en",
        actor="editor@example.org",
    ),
    "no_deadline": documents.status_body(
        PORTAL,
        datetime(2024, 2, 1, 8, tzinfo=UTC),
        old_status=None,
        note=None,
        evidence=None,
        actor=None,
    ),
    "broken": documents.status_body(
        BRIDGE,
        datetime(2016, 9, 2, 9, tzinfo=UTC),
        old_status="stalled",
        note="No work started; see _minutes_ of 1 Sep.",
        evidence="council minutes #12",
        actor="@here",
    ),
    "test": documents.test_body(datetime(2016, 8, 1, 9, tzinfo=UTC)),
    "instant": documents.notice_body(
        AUDIT,
        Notice(
            NoticeType.REMINDER,
            datetime(2024, 5, 30, 4, tzinfo=UTC),
            offset=timedelta(hours=36),
        ),
    ),
}


class TestRender:
    def test_json_is_the_body_as_compact_utf8(self) -> None:
        content, content_type = formats.render(
            "json",
            {"type": "commitment.due", "data": {"title": "Сирия", "n": [1, 2]}},
            delivery_id=DELIVERY_ID,
        )
        assert content_type == "application/json"
        assert content == '{"type":"commitment.due","data":{"title":"Сирия","n":[1,2]}}'.encode()

    def test_json_reads_back_as_the_same_body(self) -> None:
        body = reminder_body(missed=2)
        content, _ = formats.render("json", body, delivery_id=DELIVERY_ID)
        assert json.loads(content.decode("utf-8")) == body
        assert "Проект конституции".encode() in content

    def test_an_unknown_format_is_refused_by_name(self) -> None:
        with pytest.raises(ValueError, match="'xml'"):
            formats.render("xml", reminder_body(), delivery_id=DELIVERY_ID)

    @pytest.mark.parametrize(
        ("format_", "content_type"),
        [
            ("json", "application/json"),
            ("slack", "application/json"),
            ("discord", "application/json"),
            ("teams", "application/json"),
            ("cloudevents", "application/cloudevents+json"),
        ],
    )
    def test_each_format_names_its_content_type(self, format_: str, content_type: str) -> None:
        assert formats.render(format_, reminder_body(), delivery_id=DELIVERY_ID)[1] == content_type

    def test_the_settings_accept_exactly_the_formats_there_are(self) -> None:
        annotation = WebhookSettings.model_fields["format"].annotation
        assert typing.get_args(annotation) == formats.FORMATS
        for format_ in formats.FORMATS:
            assert WebhookSettings(url="https://example.org/hook", format=format_).format == format_

    @pytest.mark.parametrize("format_", formats.FORMATS)
    @pytest.mark.parametrize(
        "body",
        [
            {"type": "commitment.due"},
            {"type": "commitment.reminder", "data": {"commitment": {}, "offset": "soon"}},
            {
                "type": "commitment.overdue",
                "timestamp": None,
                "data": {
                    "commitment": {
                        "id": None,
                        "title": None,
                        "status": None,
                        "parties": None,
                        "source": None,
                        "deadline": {"phrase": None, "earliest": "not a date", "latest": None},
                    },
                    "overdue_by": None,
                    "late": True,
                    "missed": None,
                },
            },
            {
                "type": "commitment.status_changed",
                "timestamp": "yesterday",
                "data": {
                    "commitment": {"id": "x", "title": "", "parties": [], "source": {}},
                    "old_status": None,
                    "new_status": None,
                },
            },
        ],
        ids=["only-a-type", "empty-commitment", "all-null", "status-without-statuses"],
    )
    def test_no_format_fails_on_missing_optional_fields(
        self, format_: str, body: dict[str, Any]
    ) -> None:
        content, _ = formats.render(format_, body, delivery_id=DELIVERY_ID)
        assert json.loads(content)


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _field(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return plausible | ANY_JSON


INSTANTS = st.sampled_from(
    ["2016-08-01T00:00:00+03:00", "2016-09-01T00:00:00+03:00", "2016-08-01T15:30:00", "0001-01-01"]
)
BODIES = st.fixed_dictionaries(
    {"type": st.sampled_from([t.value for t in NoticeType])},
    optional={
        "timestamp": _field(st.just("2016-08-01T00:00:00+03:00")),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "commitment": st.fixed_dictionaries(
                    {},
                    optional={
                        **{
                            key: ANY_JSON
                            for key in ("id", "title", "description", "status", "parties")
                        },
                        "source": _field(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "title": ANY_JSON,
                                    "publisher": ANY_JSON,
                                    "url": _field(st.just("https://example.org/s")),
                                    "published": _field(st.just("2016-03-25")),
                                },
                            )
                        ),
                        "deadline": _field(
                            st.fixed_dictionaries(
                                {},
                                optional={
                                    "phrase": ANY_JSON,
                                    "earliest": _field(INSTANTS),
                                    "latest": _field(INSTANTS),
                                    "timezone": ANY_JSON,
                                },
                            )
                        ),
                    },
                ),
                "offset": _field(st.sampled_from(["7d", "1h30m", "0", "soon"])),
                "overdue_by": _field(st.sampled_from(["14d", "-1d"])),
                "late": ANY_JSON,
                "missed": _field(st.integers(min_value=-1, max_value=10**6)),
                "old_status": ANY_JSON,
                "new_status": ANY_JSON,
                "note": ANY_JSON,
                "evidence": _field(st.just("https://example.org/e")),
                "actor": ANY_JSON,
            },
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(body=BODIES, format_=st.sampled_from(formats.FORMATS))
def test_no_format_fails_on_a_body_of_any_shape(body: dict[str, Any], format_: str) -> None:
    """Stored bodies outlive code: an odd or partial one still renders."""
    content, _ = formats.render(format_, body, delivery_id=DELIVERY_ID)
    assert json.loads(content)


class TestGolden:
    """Each format's rendering of the fixed bodies, compared with tests/unit/golden/."""

    @pytest.mark.parametrize("case", list(CASES))
    @pytest.mark.parametrize("format_", formats.FORMATS)
    def test_each_format_renders_each_case_as_its_golden_file(
        self, format_: str, case: str
    ) -> None:
        actual = _pretty(render(format_, CASES[case]))
        path = GOLDEN / f"{format_}-{case}.json"
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.parent.mkdir(exist_ok=True)
            path.write_text(actual, encoding="utf-8")
            pytest.skip(f"rewrote {path.name}: review the diff before keeping it")
        if not path.exists():
            pytest.fail(f"{path.name} is missing; write it with UPDATE_GOLDEN=1", pytrace=False)
        expected = path.read_text(encoding="utf-8")
        if actual != expected:
            diff = difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"golden/{path.name}",
                "rendered now",
            )
            pytest.fail(
                f"{format_} renders {case!r} differently from golden/{path.name} "
                f"(UPDATE_GOLDEN=1 rewrites it):\n{''.join(diff)}",
                pytrace=False,
            )

    def test_the_samples_in_docs_formats_md_are_the_golden_due_files(self) -> None:
        doc = (Path(__file__).parents[2] / "docs" / "formats.md").read_text(encoding="utf-8")
        samples = re.findall(r"^```json\n(.*?)^```$", doc, flags=re.DOTALL | re.MULTILINE)
        expected = [(GOLDEN / f"{f}-due.json").read_text(encoding="utf-8") for f in formats.FORMATS]
        assert samples == expected

    def test_every_golden_file_belongs_to_a_format_and_a_case(self) -> None:
        expected = {f"{format_}-{case}.json" for format_ in formats.FORMATS for case in CASES}
        assert {path.name for path in GOLDEN.glob("*.json")} <= expected


def _pretty(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class TestWords:
    @pytest.mark.parametrize(
        ("value", "words"),
        [
            ("by August", f"by August (1 Aug {DASH} 31 Aug 2016, Europe/Moscow)"),
            ("2016-08-01", "1 Aug 2016, Europe/Moscow"),
            ("2016", f"1 Jan {DASH} 31 Dec 2016, Europe/Moscow"),
            ("in 3 days", "in 3 days (28 Mar 2016, Europe/Moscow)"),
            ("2016-08-01T15:30:00+03:00", "1 Aug 2016 15:30, Europe/Moscow"),
            ("in 2 hours", "in 2 hours (25 Mar 2016 02:00, Europe/Moscow)"),
            (
                {"earliest": "2016-12-01", "latest": "2017-02-01", "phrase": "this winter"},
                f"this winter (1 Dec 2016 {DASH} 31 Jan 2017, Europe/Moscow)",
            ),
            (
                {"earliest": "2016-08-01T09:00:00+03:00", "latest": "2016-08-03"},
                f"1 Aug 2016 09:00 {DASH} 2 Aug 2016, Europe/Moscow",
            ),
        ],
        ids=[
            "month",
            "day",
            "year",
            "in-days",
            "instant",
            "in-hours",
            "range",
            "range-from-a-time",
        ],
    )
    def test_a_deadline_reads_as_its_phrase_days_and_zone(self, value: Any, words: str) -> None:
        window = deadlines.read_deadline(value, reference=SAID, tz=MOSCOW)
        deadline = documents.commitment_document(Pledge(id="p", title="t", window=window))
        assert chat.deadline_in_words(deadline["deadline"]) == words

    def test_a_missing_deadline_reads_as_none(self) -> None:
        assert chat.deadline_in_words(None) == "none"
        assert chat.deadline_in_words({"phrase": "soon"}) == "soon"

    @pytest.mark.parametrize(
        ("notice", "headline", "when"),
        [
            (Notice(NoticeType.REMINDER, OPENS, offset=timedelta(days=30)), "Due in 30 days", "due in 30 days"),
            (Notice(NoticeType.DUE, OPENS), "Due now", "opens now"),
            (Notice(NoticeType.OVERDUE, CLOSES + timedelta(days=14)), "Overdue by 14 days", "overdue by 14 days"),
        ],
        ids=["reminder", "due", "overdue"],
    )  # fmt: skip
    def test_it_says_how_long_until_or_since_the_deadline(
        self, notice: Notice, headline: str, when: str
    ) -> None:
        summary = chat.summarize(documents.notice_body(DRAFT, notice))
        assert summary.headline == headline
        assert chat.Fact("When", when) in summary.facts

    def test_an_exact_instant_is_due_rather_than_opening(self) -> None:
        summary = chat.summarize(documents.notice_body(AUDIT, Notice(NoticeType.DUE, OPENS)))
        assert chat.Fact("When", "due now") in summary.facts

    @pytest.mark.parametrize(
        ("missed", "text"),
        [
            (1, "sent after downtime; stands for 1 earlier notice"),
            (2, "sent after downtime; stands for 2 earlier notices"),
        ],
    )
    def test_a_late_notice_says_how_many_it_stands_for(self, missed: int, text: str) -> None:
        body = documents.notice_body(DRAFT, Notice(NoticeType.DUE, OPENS), missed=missed)
        summary = chat.summarize(body)
        assert summary.headline == "Due now (sent late)"
        assert chat.Fact("Late", text) in summary.facts

    def test_a_status_change_shows_the_old_and_new_status(self) -> None:
        summary = chat.summarize(CASES["status_changed"])
        assert summary.headline == "Status changed to kept"
        assert chat.Fact("Change", "in progress → kept") in summary.facts

    def test_facts_without_a_value_are_left_out(self) -> None:
        summary = chat.summarize(CASES["no_deadline"])
        assert [fact.label for fact in summary.facts] == ["Deadline", "Change", "Status"]
        assert summary.line == "Status changed to in progress: Open a public data portal"

    def test_control_characters_are_dropped(self) -> None:
        pledge = dataclasses.replace(
            DRAFT, title="Draft\x00 constitution\x07", description="a\x1b\nb\x7f"
        )
        summary = chat.summarize(documents.notice_body(pledge, Notice(NoticeType.DUE, OPENS)))
        assert (summary.title, summary.description) == ("Draft constitution", "a\nb")

    def test_only_web_addresses_become_links(self) -> None:
        body = documents.status_body(
            DRAFT, OPENS, old_status="open", note=None, evidence="the minutes", actor=None
        )
        summary = chat.summarize(body)
        assert chat.Fact("Evidence", "the minutes") in summary.facts
        assert all(fact.url is None for fact in summary.facts)


class TestSlack:
    TRICKY = Pledge(
        id="tricky",
        title="Cut <b>taxes</b> & fees <!channel>",
        parties=("A & B <@U123>",),
        source=Source(title="x > y", publisher="<!here>", url="https://example.org/a?b=1&c=2|x"),
        window=BY_AUGUST,
    )

    def tricky_body(self) -> dict[str, Any]:
        return documents.status_body(
            self.TRICKY, OPENS, old_status="open", note="<!everyone> & more", evidence=None, actor="<@U1>"
        )  # fmt: skip

    def test_it_escapes_ampersands_and_angle_brackets_in_pledge_text(self) -> None:
        message = render("slack", self.tricky_body())
        assert message["blocks"][0]["text"]["text"] == (
            "*Cut &lt;b&gt;taxes&lt;/b&gt; &amp; fees &lt;!channel&gt;*"
        )
        fields = [field["text"] for field in message["blocks"][0]["fields"]]
        assert "*Who*\nA &amp; B &lt;@U123&gt;" in fields
        assert "*By*\n&lt;@U1&gt;" in fields
        assert message["blocks"][1]["text"]["text"] == "*Note*\n&lt;!everyone&gt; &amp; more"
        assert message["text"].startswith("Status changed to open: Cut &lt;b&gt;taxes")

    def test_no_pledge_text_can_mention_anyone(self) -> None:
        content, _ = formats.render("slack", self.tricky_body(), delivery_id=DELIVERY_ID)
        for mention in ("<!channel>", "<!here>", "<!everyone>", "<@U123>", "<@U1>", "<b>"):
            assert mention.encode() not in content

    def test_it_links_the_source_with_its_address_escaped(self) -> None:
        fields = [
            field["text"] for field in render("slack", self.tricky_body())["blocks"][0]["fields"]
        ]
        assert "*Source*\n<https://example.org/a?b=1&amp;c=2%7Cx|&lt;!here&gt;, “x &gt; y”>" in fields  # fmt: skip

    def test_it_never_cuts_an_escaped_character_in_half(self) -> None:
        body = documents.notice_body(
            Pledge(id="amp", title="&" * 5000), Notice(NoticeType.DUE, OPENS)
        )
        title = render("slack", body)["blocks"][0]["text"]["text"]
        assert title.endswith("&amp;…*")
        assert len(title) <= 3000

    def test_it_keeps_every_text_within_slacks_limits(self) -> None:
        message = render("slack", huge_body("x" * 10_000))
        assert markup.width(message["text"]) <= 3000
        for block in message["blocks"]:
            texts = [block["text"]] if "text" in block else block["elements"]
            assert all(markup.width(text["text"]) <= 3000 for text in texts)
            assert len(block.get("fields", [])) <= 10
            assert all(markup.width(field["text"]) <= 2000 for field in block.get("fields", []))


def huge_body(text: str, parties: int = 30) -> dict[str, Any]:
    """Return a status change whose every free text is `text`, a very long one."""
    pledge = Pledge(
        id=text,
        title=text,
        description=text,
        parties=(text,) * parties,
        source=Source(title=text, publisher=text, url="https://example.org/" + text),
        window=deadlines.Window(text, OPENS, CLOSES, deadlines.Precision.RANGE, "Europe/Moscow"),
    )
    return documents.status_body(
        pledge,
        OPENS,
        old_status=text,
        note=text,
        evidence="https://example.org/" + text,
        actor=text,
    )


def assert_within_discord_limits(message: dict[str, Any]) -> None:
    assert message["allowed_mentions"] == {"parse": []}
    assert 0 < markup.width(message["content"]) <= 2000
    [embed] = message["embeds"]
    assert 0 < markup.width(embed["title"]) <= 256
    assert markup.width(embed.get("description", "")) <= 4096
    assert len(embed["fields"]) <= 25
    for field in embed["fields"]:
        assert 0 < markup.width(field["name"]) <= 256
        assert 0 < markup.width(field["value"]) <= 1024
    assert 0 < markup.width(embed["footer"]["text"]) <= 2048
    texts = [embed["title"], embed.get("description", ""), embed["footer"]["text"]]
    texts += [field["name"] + field["value"] for field in embed["fields"]]
    assert sum(map(markup.width, texts)) <= 6000


class TestDiscord:
    def test_it_cuts_a_huge_title_to_256_characters_with_an_ellipsis(self) -> None:
        body = documents.notice_body(
            Pledge(id="p", title="t" * 10_000), Notice(NoticeType.DUE, OPENS)
        )
        message = render("discord", body)
        assert message["embeds"][0]["title"] == "t" * 255 + "…"
        assert message["content"] == "Due now: " + "t" * 1990 + "…"

    def test_it_cuts_a_huge_field_to_1024_characters(self) -> None:
        body = documents.notice_body(
            Pledge(id="p", title="t", parties=("p" * 3000,)), Notice(NoticeType.DUE, OPENS)
        )
        [who] = [f for f in render("discord", body)["embeds"][0]["fields"] if f["name"] == "Who"]
        assert who["value"] == "p" * 1023 + "…"

    def test_it_cuts_a_huge_note_to_4096_characters(self) -> None:
        body = documents.status_body(
            DRAFT, OPENS, old_status="open", note="n" * 9000, evidence=None, actor=None
        )
        assert render("discord", body)["embeds"][0]["description"] == "n" * 4095 + "…"

    def test_it_cuts_a_huge_pledge_id_in_the_footer_to_2048_characters(self) -> None:
        body = documents.notice_body(
            Pledge(id="i" * 5000, title="t"), Notice(NoticeType.DUE, OPENS)
        )
        assert render("discord", body)["embeds"][0]["footer"]["text"] == "i" * 2047 + "…"

    @pytest.mark.parametrize("text", ["x" * 10_000, "😀" * 10_000, "a\u0301" * 5000])
    def test_everything_huge_still_fits_every_limit_and_6000_in_all(self, text: str) -> None:
        message = render("discord", huge_body(text))
        assert_within_discord_limits(message)
        assert message["embeds"][0]["fields"][0]["name"] == "Who"

    @settings(max_examples=60, deadline=None)
    @given(
        text=st.builds(
            lambda piece, times: piece * times,
            st.text(min_size=1, max_size=4),
            st.integers(min_value=1, max_value=3000),
        ),
        parties=st.integers(min_value=0, max_value=40),
    )
    def test_any_text_of_any_length_fits_every_limit(self, text: str, parties: int) -> None:
        assert_within_discord_limits(render("discord", huge_body(text, parties)))

    def test_it_colours_the_embed_by_event_type(self) -> None:
        colours = {case: render("discord", CASES[case])["embeds"][0]["color"] for case in CASES}
        assert len({colours["reminder"], colours["due"], colours["overdue"]}) == 3
        assert colours["status_changed"] not in (colours["reminder"], colours["overdue"])

    def test_pledge_text_can_never_ping_anyone(self) -> None:
        body = documents.notice_body(
            Pledge(id="p", title="@everyone look", parties=("<@&123>",)),
            Notice(NoticeType.DUE, OPENS),
        )
        assert render("discord", body)["allowed_mentions"] == {"parse": []}


class TestTeams:
    def test_it_offers_the_source_and_evidence_addresses_as_actions(self) -> None:
        card = render("teams", CASES["status_changed"])["attachments"][0]["content"]
        assert card["actions"] == [
            {
                "type": "Action.OpenUrl",
                "title": "Open evidence",
                "url": "https://example.org/evidence?id=17&lang=en",
            }
        ]
        source_card = render("teams", CASES["instant"])["attachments"][0]["content"]
        assert [action["title"] for action in source_card["actions"]] == ["Open source"]

    def test_a_card_without_addresses_has_no_actions(self) -> None:
        assert "actions" not in render("teams", CASES["due"])["attachments"][0]["content"]

    @pytest.mark.parametrize(
        "text", ["x" * 10_000, "😀" * 10_000, "€" * 10_000, "[" * 10_000, "\x01" * 10_000]
    )
    def test_a_huge_pledge_stays_under_teams_28_kb_message_limit(self, text: str) -> None:
        content, _ = formats.render("teams", huge_body(text), delivery_id=DELIVERY_ID)
        assert len(content) < 28_000

    def test_addresses_of_wide_characters_count_in_bytes(self) -> None:
        text = "€" * 5000
        url = "https://example.org/" + "€" * 1975  # 1995 characters, 5945 bytes
        pledge = Pledge(
            id=text,
            title=text,
            description=text,
            parties=(text,),
            source=Source(title=text, publisher=text, url=url),
            window=deadlines.Window(
                text, OPENS, CLOSES, deadlines.Precision.RANGE, "Europe/Moscow"
            ),
        )
        body = documents.status_body(
            pledge, OPENS, old_status=text, note=text, evidence=url, actor=text
        )
        content, _ = formats.render("teams", body, delivery_id=DELIVERY_ID)
        assert len(content) < 28_000


EVIL = "[Click here](https://evil.example) **urgent**"
# Markup that would be live on each platform: bold "urgent", or a link to evil.example
# made of the pledge's own brackets.
LIVE_MARKUP = {
    "slack": re.compile(r"\*\*?urgent|<https://evil"),
    "discord": re.compile(r"(?<!\\)\*\*?urgent|(?<!\\)\]\(https://evil"),
    "teams": re.compile(r"(?<!\\)\*\*?urgent|(?<!\\)\]\(https://evil"),
}
RED = 0xE74C3C


def hostile_body(text: str) -> dict[str, Any]:
    """Return a status change with `text` in every text its pledge and change carry."""
    pledge = Pledge(
        id="hostile",
        title=text,
        description=text,
        parties=(text, text),
        tags=(text,),
        source=Source(title=text, publisher=text, url="https://example.org/source"),
        window=deadlines.Window(text, OPENS, CLOSES, deadlines.Precision.RANGE, "Europe/Moscow"),
    )
    return documents.status_body(
        pledge, OPENS, old_status="open", note=text, evidence=text, actor=text
    )


def texts_of(document: Any) -> list[str]:
    """Return every string in a rendered message, however deep."""
    if isinstance(document, str):
        return [document]
    if isinstance(document, dict):
        return [text for value in document.values() for text in texts_of(value)]
    if isinstance(document, list):
        return [text for value in document for text in texts_of(value)]
    return []


def mrkdwn_objects(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, dict):
        found = [document] if document.get("type") == "mrkdwn" else []
        return found + [o for value in document.values() for o in mrkdwn_objects(value)]
    if isinstance(document, list):
        return [o for value in document for o in mrkdwn_objects(value)]
    return []


class TestPledgeText:
    """Pledge text shows as written on every chat platform: no links, bold or pings of its own."""

    @pytest.mark.parametrize("format_", ["slack", "discord", "teams"])
    def test_a_title_with_a_markdown_link_and_bold_stays_text(self, format_: str) -> None:
        message = render(format_, hostile_body(EVIL))
        live = [text for text in texts_of(message) if LIVE_MARKUP[format_].search(text)]
        assert live == []
        assert "Click here" in json.dumps(message)

    def test_slack_makes_no_link_of_its_own_from_pledge_text(self) -> None:
        """verbatim: Slack leaves bare addresses and names in the text unlinked."""
        objects = mrkdwn_objects(render("slack", hostile_body(EVIL)))
        assert objects and all(o.get("verbatim") is True for o in objects)

    @pytest.mark.parametrize("format_", ["discord", "teams"])
    def test_each_markup_character_is_escaped_with_a_backslash(self, format_: str) -> None:
        message = render(format_, hostile_body(EVIL))
        assert r"\[Click here\](https://evil.example) \*\*urgent\*\*" in texts_of(message)

    def test_on_slack_bold_markers_become_look_alikes(self) -> None:
        heading = render("slack", hostile_body(EVIL))["blocks"][0]["text"]["text"]
        star = "\N{ASTERISK OPERATOR}"
        assert heading.startswith(
            f"*[Click here](https://evil.example) {star * 2}urgent{star * 2}*"
        )

    def test_everyone_and_here_never_ping_on_discord(self) -> None:
        body = hostile_body("@everyone and @here, see <@123> and <@&456>")
        message = render("discord", body)
        assert message["allowed_mentions"] == {"parse": []}
        for text in texts_of(message):
            assert "@everyone" not in text and "@here" not in text
            assert not re.search(r"(?<!\\)<@", text)
        assert message["content"].startswith(
            "Status changed to open: @\u200beveryone and @\u200bhere, see \\<@123> and \\<@&456>"
        )

    @pytest.mark.parametrize("format_", ["slack", "discord", "teams"])
    def test_the_description_is_shown(self, format_: str) -> None:
        pledge = dataclasses.replace(DRAFT, description="A draft agreed by both sides.")
        body = documents.notice_body(pledge, Notice(NoticeType.DUE, OPENS))
        assert any("A draft agreed by both sides." in t for t in texts_of(render(format_, body)))

    def test_a_long_description_is_cut_within_slacks_block_text(self) -> None:
        pledge = dataclasses.replace(DRAFT, description="&" * 5000)
        message = render("slack", documents.notice_body(pledge, Notice(NoticeType.DUE, OPENS)))
        heading = message["blocks"][0]["text"]["text"]
        assert heading.startswith("*Draft constitution for Syria*\n&amp;&amp;")
        assert heading.endswith("&amp;…")  # never a piece of an entity before the cut
        assert len(heading) <= 3000

    def test_a_long_description_is_cut_within_discords_limits(self) -> None:
        pledge = dataclasses.replace(DRAFT, description="*" * 9000)
        message = render("discord", documents.notice_body(pledge, Notice(NoticeType.DUE, OPENS)))
        assert_within_discord_limits(message)
        description = message["embeds"][0]["description"]
        assert description == "\\*" * 2047 + "…"  # never a lone backslash before the cut

    def test_on_discord_a_description_and_a_note_share_the_room(self) -> None:
        body = documents.status_body(
            dataclasses.replace(DRAFT, description="d" * 9000),
            OPENS, old_status="open", note="n" * 9000, evidence=None, actor=None,
        )  # fmt: skip
        description = render("discord", body)["embeds"][0]["description"]
        assert len(description) <= 4096
        first, note = description.split("\n\n**Note**\n")
        assert first.startswith("d" * 2000) and note.startswith("n" * 2000)

    def test_a_long_description_is_cut_on_teams(self) -> None:
        pledge = dataclasses.replace(DRAFT, description="[" * 9000)
        body = documents.notice_body(pledge, Notice(NoticeType.DUE, OPENS))
        blocks = render("teams", body)["attachments"][0]["content"]["body"]
        assert {"type": "TextBlock", "text": "\\[" * 749 + "…", "wrap": True} in blocks

    def test_a_change_to_broken_is_red_like_overdue(self) -> None:
        body = documents.status_body(
            dataclasses.replace(DRAFT, status=Status.BROKEN),
            OPENS, old_status="in_progress", note=None, evidence=None, actor=None,
        )  # fmt: skip
        assert render("discord", body)["embeds"][0]["color"] == RED
        assert render("discord", CASES["overdue"])["embeds"][0]["color"] == RED
        headline = render("teams", body)["attachments"][0]["content"]["body"][1]
        assert (headline["text"], headline["color"]) == ("Status changed to broken", "Attention")

    def test_a_change_to_kept_stays_green(self) -> None:
        assert render("discord", CASES["status_changed"])["embeds"][0]["color"] == 0x2ECC71


class TestCloudEvents:
    def test_it_carries_the_required_attributes_and_the_data_unchanged(self) -> None:
        body = CASES["due"]
        content, content_type = formats.render("cloudevents", body, delivery_id=DELIVERY_ID)
        event = json.loads(content)
        assert content_type == "application/cloudevents+json"
        for attribute in ("specversion", "id", "source", "type"):
            assert isinstance(event[attribute], str) and event[attribute]
        assert event == {
            "specversion": "1.0",
            "id": DELIVERY_ID,
            "source": "/pledgewatch",
            "type": "commitment.due",
            "subject": "syria-draft-constitution",
            "time": "2016-08-01T00:00:00+03:00",
            "datacontenttype": "application/json",
            "data": body["data"],
        }

    def test_the_id_is_the_delivery_id_so_retries_share_it(self) -> None:
        first, _ = formats.render("cloudevents", CASES["due"], delivery_id="a")
        again, _ = formats.render("cloudevents", CASES["due"], delivery_id="a")
        other, _ = formats.render("cloudevents", CASES["due"], delivery_id="b")
        assert first == again != other

    def test_it_leaves_out_subject_and_time_it_does_not_have(self) -> None:
        event = render("cloudevents", {"type": "commitment.due", "data": {}})
        assert "subject" not in event and "time" not in event
        assert event["data"] == {}


class TestConsoleLine:
    def test_it_names_the_time_type_id_title_deadline_and_offset(self) -> None:
        assert formats.console_line(reminder_body()) == (
            "2016-07-25T00:00:00+03:00 commitment.reminder syria-draft-constitution: Проект конституции для Сирии"
            " deadline='by August' [2016-08-01T00:00:00+03:00 .. 2016-09-01T00:00:00+03:00) offset=7d"
        )

    def test_it_says_how_many_notices_were_missed(self) -> None:
        assert formats.console_line(reminder_body(missed=3)).endswith(" offset=7d missed=3")

    def test_it_shows_overdue_and_status_fields(self) -> None:
        overdue = documents.notice_body(
            SYRIA, Notice(NoticeType.OVERDUE, OPENS + timedelta(days=45), repeat=2)
        )
        assert "overdue_by=14d" in formats.console_line(overdue)
        changed = documents.status_body(
            SYRIA, OPENS, old_status="open", note=None, evidence=None, actor=None
        )
        line = formats.console_line(changed)
        assert "commitment.status_changed syria-draft-constitution" in line
        assert line.endswith("old_status=open new_status=open")

    def test_it_shows_instants_to_the_second_in_the_zone_they_are_written_in(self) -> None:
        body = {
            "type": "commitment.due",
            "timestamp": "2026-12-04T16:03:46.360231+03:00",
            "data": {
                "commitment": {
                    "id": "demo",
                    "title": "Demo",
                    "deadline": {
                        "phrase": "in 40 seconds",
                        "earliest": "2026-12-04T16:03:46.360231+03:00",
                        "latest": "2026-12-04T16:03:46.360231+03:00",
                    },
                }
            },
        }
        assert formats.console_line(body) == (
            "2026-12-04T16:03:46+03:00 commitment.due demo: Demo deadline='in 40 seconds'"
            " [2026-12-04T16:03:46+03:00 .. 2026-12-04T16:03:46+03:00)"
        )

    def test_it_leaves_out_a_missing_deadline(self) -> None:
        bare = documents.notice_body(
            Pledge(id="bare", title="No deadline"), Notice(NoticeType.DUE, OPENS)
        )
        assert (
            formats.console_line(bare)
            == "2016-07-31T21:00:00+00:00 commitment.due bare: No deadline"
        )
