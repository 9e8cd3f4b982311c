"""The rules of `pledgewatch extract`: reading articles, sentences, cues, deadlines, proposals, YAML."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from daemon import seeds
from daemon.extract import deadline, proposals, sentences, text, writing
from daemon.seeds import fastpath

PUBLISHED = date(2016, 3, 25)
MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _to_yaml(found: list[Any], source: Any, *, counted: float) -> str:
    """Return what `extract` writes for the proposals `found`, as text."""
    out = io.StringIO()
    writing.write_yaml(found, source, out, counted=counted)
    return out.getvalue()


def _propose(article: str) -> list[proposals.Proposal]:
    return list(proposals.propose(article, PUBLISHED, MOSCOW))


def _one(sentence: str) -> proposals.Proposal | None:
    found = [p for p in _propose(sentence) if not p.cue.startswith("condition of")]
    assert len(found) <= 1, found
    return found[0] if found else None


class TestArticles:
    def test_html_is_read_as_its_text_without_scripts_with_its_title(self) -> None:
        page = (
            b"<html><head><title>Talks end</title><script>var x = 'will do it by May';</script>"
            b"</head><body><h1>Heading</h1><p>The two sides will meet by August.</p>"
            b"<p>They said it&#39;s &amp; more.</p></body></html>"
        )
        article = text.read_article(page)
        assert article.title == "Talks end"
        assert "var x" not in article.text
        assert (
            article.text
            == "Heading\n\nThe two sides will meet by August.\n\nThey said it's & more."
        )

    def test_plain_text_takes_its_first_line_as_title_when_it_is_a_heading(self) -> None:
        assert text.read_article(b"Talks end\n\nThe sides will meet.").title == "Talks end"
        assert text.read_article(b"The sides will meet by August.").title is None

    @pytest.mark.parametrize(
        ("data", "why"),
        [
            (b"", "empty"),
            (b"  \n\t\n", "empty"),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "binary"),
            (b"\xff\xfe\xfa not utf-8", "not UTF-8"),
            (
                (
                    b"Die Regierung wird bis August einen Plan vorlegen, sagte der Minister am "
                    b"Donnerstag in Berlin, und die Opposition kritisierte das Vorhaben scharf."
                ),
                "English",
            ),
            (b"<html><body><script>only a script</script></body></html>", "no text"),
        ],
    )
    def test_what_is_not_english_prose_is_refused_saying_why(self, data: bytes, why: str) -> None:
        with pytest.raises(text.ArticleError, match=why):
            text.read_article(data)


class TestSentences:
    def test_spans_are_where_the_sentences_are_in_the_text(self) -> None:
        article = (
            "Heading\n\nMr. Smith said the city will act. It will pay by May.\n\nNothing here."
        )
        found = list(sentences.split(article))
        assert [s.text for s in found] == [
            "Mr. Smith said the city will act.",
            "It will pay by May.",
        ]
        assert all(article[s.start : s.end] == s.text for s in found)

    def test_past_the_budget_the_plain_splitter_cuts_the_same_sentences(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        article = "Mr. Smith said the city will act. It will pay by May.\n\nThey will go on."
        with_pysbd = list(sentences.split(article))
        monkeypatch.setattr(sentences, "PYSBD_BUDGET", 0)
        assert list(sentences.split(article)) == with_pysbd


class TestDeadlines:
    @pytest.mark.parametrize(
        ("sentence", "phrase"),
        [
            ("Both to be finished by August, said Kerry.", "by August"),
            ("It will be done before the end of the year.", "before the end of the year"),
            ("The plant opens in the first quarter of 2017.", "in the first quarter of 2017"),
            ("Pay the fee within six months, it said.", "within six months"),
            ("Cut tariffs in half by July 2017.", "by July 2017"),
            ("Close the mines by 2030.", "by the end of 2030"),
        ],
    )
    def test_the_first_phrase_import_reads_is_found(self, sentence: str, phrase: str) -> None:
        found = deadline.find(sentence, PUBLISHED, MOSCOW)
        assert found is not None and found.phrase == phrase
        if phrase.startswith("by the end of 2030"):
            assert found.note and "by 2030" in found.note

    @pytest.mark.parametrize(
        "sentence",
        [
            "The accord was signed in February 2015.",  # over before the article
            "Cut fares within twelve months of taking office.",  # counted from an event
            "Leaks will be fixed within 48 hours.",  # of a report, not of the article
            "Costs may rise as prices fall.",  # 'may' is no month, 'fall' no season
            "The talks will go on.",
        ],
    )
    def test_no_deadline_where_none_counts_from_the_article(self, sentence: str) -> None:
        assert deadline.find(sentence, PUBLISHED, MOSCOW) is None


class TestProposals:
    def test_a_deliverable_with_a_deadline(self) -> None:
        p = _one("The city will repave the ring road by the end of September.")
        assert p is not None
        assert (p.kind, p.title, p.parties) == ("deliverable", "Repave the ring road", ("City",))
        assert p.deadline is not None and p.deadline.phrase == "by the end of September"
        assert p.confidence >= 0.8 and "deadline: by the end of September" in p.cue

    @pytest.mark.parametrize(
        ("sentence", "title"),
        [
            ("The first tranche will be disbursed within 30 days.", "First tranche disbursed"),
            (
                "Waiting times will be cut to six weeks within a year.",
                "Waiting times cut to six weeks",
            ),
            ("New features will launch by May.", "New features launch"),
            (
                "The agency said it will publish the data by May, a spokesman added.",
                "Publish the data",
            ),
        ],
    )
    def test_titles(self, sentence: str, title: str) -> None:
        p = _one(sentence)
        assert p is not None and p.title == title

    def test_a_condition_creates_what_it_waits_for(self) -> None:
        found = _propose("Sanctions will only be lifted when the Minsk agreement is implemented.")
        lift, minsk = found
        assert (lift.kind, lift.requires) == ("conditional", minsk.id)
        assert lift.title == "Sanctions lifted"
        assert (minsk.kind, minsk.title) == ("ongoing", "Minsk agreement is implemented")
        article = "Sanctions will only be lifted when the Minsk agreement is implemented."
        assert article[minsk.span[0] : minsk.span[1]] == "the Minsk agreement is implemented"

    def test_a_conditional_proposal_is_linked_before_it_is_handed_on(self) -> None:
        article = (
            "Aid will be paid once the audit is done.\n\nThe city will also hire drivers by June."
        )
        seen = [(p.kind, p.requires) for p in proposals.propose(article, PUBLISHED, MOSCOW)]
        assert seen[0] == ("conditional", "audit-done")

    def test_a_condition_named_elsewhere_in_the_text_is_linked_not_created(self) -> None:
        found = _propose(
            "Aid will be paid once the audit of the accounts is done.\n\n"
            "The ministry will finish the audit of the accounts by June."
        )
        assert [p.kind for p in found] == ["conditional", "deliverable"]
        assert found[0].requires == found[1].id

    @pytest.mark.parametrize(
        ("sentence", "kind", "every"),
        [
            ("The commission will meet every two weeks.", "recurring", "2w"),
            ("They agreed to establish regular review of relations.", "recurring", "3mo"),
            ("The board will pay a dividend annually.", "recurring", "1y"),
            ("The parties agreed to maintain the cessation of hostilities.", "ongoing", None),
            ("The ministry will continue to fund school meals.", "ongoing", None),
            ("They pledged to keep working toward a single market.", "ongoing", None),
        ],
    )
    def test_ongoing_and_recurring(self, sentence: str, kind: str, every: str | None) -> None:
        p = _one(sentence)
        assert p is not None and (p.kind, p.every) == (kind, every)

    @pytest.mark.parametrize(
        "sentence",
        [
            "Property taxes will not rise, the mayor promised.",
            "The government won't sell the fund.",
            "Analysts expect revenue to grow by June.",
            "The firm could list its unit, people familiar with the plans said.",
            "Officials hope to end the disease.",
            "Relations are far from thawing.",
        ],
    )
    def test_negations_reported_views_and_undated_hedges_are_left_out(self, sentence: str) -> None:
        assert _one(sentence) is None

    def test_a_hedge_with_a_deadline_is_proposed_with_low_confidence(self) -> None:
        p = _one("Officials hope to eliminate measles within five years.")
        assert p is not None and p.confidence < 0.5 and "hedge: hope to" in p.cue

    def test_ids_are_unique_slugs(self) -> None:
        found = _propose(
            "The city will hire drivers by June.\n\nThe city will hire drivers by May."
        )
        assert [p.id for p in found] == ["hire-drivers", "hire-drivers-2"]


def _source(**given: object) -> writing.Source:
    fields: dict[str, object] = {
        "title": "Talks",
        "url": None,
        "published": PUBLISHED,
        "timezone": "Europe/Moscow",
        "name": "a.txt",
    }
    fields.update(given)
    return writing.Source(**fields)  # type: ignore[arg-type]


ARTICLE = (
    "Talks end\n\nThe sides will draft a constitution by August. Sanctions will be lifted only "
    "once the Minsk deal is implemented: “It is the rule,” he said.\n\n"
    "They will meet every month. The agency will keep monitoring the ceasefire."
)


class TestWriting:
    def test_the_yaml_is_a_seed_file_import_reads_with_the_extracted_blocks(self) -> None:
        found = _propose(ARTICLE)
        written = _to_yaml(found, _source(), counted=0.5)
        assert "# publisher: unknown" in written
        document = yaml.safe_load(written)
        assert document == yaml.safe_load(
            yaml.safe_dump(writing.document(found, _source()) | {"source": document["source"]})
        )
        loaded = seeds.parse("a.yaml", document, default_zone=ZoneInfo("UTC"), now=NOW)
        by_id = {s.pledge.id: s.pledge for s in loaded}
        assert {p.kind.value for p in by_id.values()} == {
            "deliverable",
            "conditional",
            "ongoing",
            "recurring",
        }
        draft = by_id["draft-constitution"]
        assert draft.window is not None and draft.window.phrase == "by August"
        assert draft.extracted is not None
        start, end = draft.extracted.span
        assert ARTICLE[start:end] == draft.extracted.sentence

    def test_an_item_with_an_extracted_block_is_checked_by_pydantic(self) -> None:
        item = {
            "id": "a",
            "title": "A",
            "extracted": {"sentence": "S", "span": [0, 1], "confidence": 1},
        }
        assert fastpath.plain_fields(item) is None
        bad = {"commitments": [item | {"extracted": {**item["extracted"], "span": [3, 1]}}]}
        with pytest.raises(seeds.SeedError, match=r"field 'extracted\.span'"):
            seeds.parse("a.yaml", bad, default_zone=ZoneInfo("UTC"), now=NOW)

    def test_merge_leaves_out_what_the_seed_file_holds(self) -> None:
        first = _propose(ARTICLE)
        seed = yaml.safe_load(_to_yaml(first[:2], _source(), counted=0.5))
        seed["commitments"][1]["id"] = "renamed-by-hand"
        updated = ARTICLE.replace("Talks end\n\n", "Talks end\n\nA new line came first. ")
        again = writing.merge(_propose(updated), writing.known(seed))
        kept = {p.title for p in again}
        assert "Draft a constitution" not in kept and "Sanctions lifted" not in kept
        minsk = next(p for p in again if p.title.startswith("Minsk"))
        assert minsk.id not in {"draft-constitution", "renamed-by-hand"}
        assert len(again) == len(first) - 2

    def test_merge_points_a_new_condition_at_the_seed_files_commitment(self) -> None:
        first = _propose(ARTICLE)
        minsk = next(p for p in first if p.title.startswith("Minsk"))
        seed = yaml.safe_load(_to_yaml([minsk], _source(), counted=0.5))
        seed["commitments"][0]["id"] = "minsk"
        again = writing.merge(_propose(ARTICLE), writing.known(seed))
        lifted = next(p for p in again if p.kind == "conditional")
        assert lifted.requires == "minsk"

    def test_a_file_that_is_not_a_seed_file_is_refused_by_merge(self) -> None:
        with pytest.raises(ValueError, match="not a seed file"):
            writing.known(["a", "list"])
