"""daemon/delivery/markup.py: pledge text escaped for each chat platform, and cut to fit."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.delivery import markup

STAR = "\N{ASTERISK OPERATOR}"
LOW_MACRON = "\N{MODIFIER LETTER LOW MACRON}"
TILDE = "\N{TILDE OPERATOR}"
GRAVE = "\N{MODIFIER LETTER GRAVE ACCENT}"
ZWSP = "\N{ZERO WIDTH SPACE}"
SOFT_HYPHEN = "\N{SOFT HYPHEN}"


def escaped(escape: markup.Escape, text: str) -> str:
    return "".join(escape(text))


class TestSlack:
    def test_it_writes_ampersands_and_angle_brackets_as_entities(self) -> None:
        assert escaped(markup.slack, "A & B <!channel> <@U1>") == (
            "A &amp; B &lt;!channel&gt; &lt;@U1&gt;"
        )

    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("**urgent**", f"{STAR * 2}urgent{STAR * 2}"),
            ("_quiet_", f"{LOW_MACRON}quiet{LOW_MACRON}"),
            ("~gone~", f"{TILDE}gone{TILDE}"),
            ("`code`", f"{GRAVE}code{GRAVE}"),
        ],
        ids=["bold", "italic", "strike", "code"],
    )
    def test_formatting_characters_become_look_alikes(self, text: str, shown: str) -> None:
        assert escaped(markup.slack, text) == shown

    def test_a_formatting_character_inside_a_word_is_kept(self) -> None:
        """Between two letters or digits it can neither open nor close formatting."""
        assert escaped(markup.slack, "snake_case 2*3 a~b") == "snake_case 2*3 a~b"

    def test_a_quote_at_the_start_of_a_line_gets_a_soft_hyphen(self) -> None:
        assert escaped(markup.slack, "> one\nand > two\n>three") == (
            f"{SOFT_HYPHEN}&gt; one\nand &gt; two\n{SOFT_HYPHEN}&gt;three"
        )

    def test_markdown_links_and_headings_mean_nothing_to_slack_and_stay(self) -> None:
        assert escaped(markup.slack, "# [a](https://x.example)") == "# [a](https://x.example)"

    def test_an_address_keeps_its_characters_as_entities_and_its_pipe_encoded(self) -> None:
        assert markup.slack_url("https://x.example/?a=1&b=<2>|c") == (
            "https://x.example/?a=1&amp;b=&lt;2&gt;%7Cc"
        )


class TestDiscord:
    def test_it_puts_a_backslash_before_every_markdown_character(self) -> None:
        assert escaped(markup.discord, r"\ * _ ~ ` | [ ] <") == r"\\ \* \_ \~ \` \| \[ \] \<"

    def test_a_markdown_link_and_bold_stay_text(self) -> None:
        assert escaped(markup.discord, "[Click here](https://evil.example) **urgent**") == (
            r"\[Click here\](https://evil.example) \*\*urgent\*\*"
        )

    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("# Big", r"\# Big"),
            ("-# small", r"\-# small"),
            ("> quote", r"\> quote"),
            ("- item", r"\- item"),
            ("+ item", r"\+ item"),
            ("12. item", r"12\. item"),
            ("a\n  # b", "a\n  \\# b"),
        ],
    )
    def test_markup_that_starts_a_line_is_escaped_there(self, text: str, shown: str) -> None:
        assert escaped(markup.discord, text) == shown

    def test_the_same_characters_inside_a_line_are_left_alone(self) -> None:
        assert escaped(markup.discord, "issue #12 - a > b, 3.5") == "issue #12 - a > b, 3.5"

    @pytest.mark.parametrize("mention", ["@everyone", "@here", "@Everyone"])
    def test_everyone_and_here_get_a_zero_width_space(self, mention: str) -> None:
        assert escaped(markup.discord, f"hi {mention}!") == f"hi @{ZWSP}{mention[1:]}!"

    def test_an_address_has_its_parentheses_and_angle_brackets_encoded(self) -> None:
        assert markup.discord_url("https://x.example/a_(b)<c>|d") == (
            "https://x.example/a_%28b%29%3Cc%3E%7Cd"
        )


class TestTeams:
    def test_a_markdown_link_and_bold_stay_text(self) -> None:
        assert escaped(markup.teams, "[Click here](https://evil.example) **urgent**") == (
            r"\[Click here\](https://evil.example) \*\*urgent\*\*"
        )

    def test_an_underscore_is_escaped_only_where_it_could_italicise(self) -> None:
        assert escaped(markup.teams, "_quiet_ snake_case") == r"\_quiet\_ snake_case"

    def test_list_markers_that_start_a_line_are_escaped(self) -> None:
        assert escaped(markup.teams, "- one\n+ two\n3. three") == (
            "\\- one\n\n\\+ two\n\n3\\. three"
        )

    def test_a_line_break_is_doubled_so_that_it_shows(self) -> None:
        assert escaped(markup.teams, "one\ntwo") == "one\n\ntwo"


class TestClip:
    def test_a_text_that_fits_is_returned_escaped(self) -> None:
        assert markup.clip("a*b*", 10, markup.discord) == r"a\*b\*"

    def test_a_cut_never_splits_an_escape(self) -> None:
        assert markup.clip("*" * 10, 6, markup.discord) == r"\*\*…"
        assert markup.clip("&" * 10, 12, markup.slack) == "&amp;&amp;…"

    def test_it_measures_in_utf16_code_units(self) -> None:
        assert markup.width("😀a") == 3
        assert markup.clip("😀" * 10, 5) == "😀😀…"

    def test_no_room_gives_nothing(self) -> None:
        assert markup.clip("abc", 0) == ""

    @settings(max_examples=200, deadline=None)
    @given(
        text=st.text(alphabet=st.sampled_from("ab*_~`|[]<>&@#-+.1\n \\😀"), max_size=60),
        limit=st.integers(min_value=0, max_value=80),
        escape=st.sampled_from([markup.plain, markup.slack, markup.discord, markup.teams]),
    )
    def test_a_cut_text_is_within_its_limit_and_a_prefix_of_the_escaped_whole(
        self, text: str, limit: int, escape: markup.Escape
    ) -> None:
        whole = escaped(escape, text)
        cut = markup.clip(text, limit, escape)
        assert markup.width(cut) <= max(limit, 0)
        if cut != whole and cut:
            assert cut.endswith("…")
            # What is kept is whole pieces: the cut falls between two of them.
            prefixes = itertools.accumulate(escape(text), initial="")
            assert cut[:-1] in {prefix.rstrip() for prefix in prefixes}
