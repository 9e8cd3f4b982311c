"""The cue words of a pledge: who commits, on what condition, how often, how sure.

Each finder takes one sentence and returns the `Cue` that fired (the words
and where they are) or None. The rules are listed in docs/extract.md; they
are regular expressions, no model. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    """Words that fired a rule: which rule, the words as written, and where they are."""

    rule: str
    words: str
    start: int
    end: int


def _first(pattern: re.Pattern[str], rule: str, sentence: str) -> Cue | None:
    """Return the first match of `pattern` in `sentence` as a Cue, or None."""
    match = pattern.search(sentence)
    if match is None:
        return None
    return Cue(rule, match.group(0), match.start(), match.end())


# Who commits: an explicit undertaking, a modal of intent, or a plan.
_PLEDGE = re.compile(
    r"\b(?:pledged|pledges|pledge|promised|promises|vowed|vows|agreed|agrees|committed|commits"
    r"|undertook|undertakes|guaranteed|guarantees|resolved)(?:\s+(?:on|in|at|this|last|late|early)"
    r"(?:\s+\w+){1,2}?)?\s+to\b|\bcommitted\s+(?:itself|themselves)\s+to\b",
    re.IGNORECASE,
)
_MODAL = re.compile(r"\b(?:will|shall|would)\b(?!\s+not\b)|\w'll\b", re.IGNORECASE)
_PLAN = re.compile(
    r"\b(?:plans|planned|intends|intended|aims|aimed|is set|are set|is due|are due)\s+to\b"
    r"|\b(?:is|are)\s+to\s+be\b|\bto\s+be\s+(?:finished|completed|ready|done|delivered)\b",
    re.IGNORECASE,
)
# Not a commitment to deliver.
_NEGATION = re.compile(
    r"\b(?:will|shall|would|must|could|should)\s+not\b|\b(?:won't|wouldn't|shan't|never)\b"
    r"|\b(?:refused|declined|ruled out)\b",
    re.IGNORECASE,
)
# Hedges: the speaker does not commit. `may` only in lower case (May is a month).
_HEDGE = re.compile(
    r"\b(?:could|might|possibly|perhaps|likely|unlikely|reportedly|considering|consider)\b"
    r"|(?<!\bby )(?<!\bin )(?<!\bmid-)\bmay\b"
    r"|\b(?:hopes?|hoped|hoping|wants?|wanted|wishes|would like|seeks?|sought)\s+to\b"
    r"|\b(?:expects?|expected|expecting)\b|\bnot sure\b",
)
# Somebody else's view of it: observers, critics, analysts, unnamed people.
_THIRD_PARTY = re.compile(
    r"\b(?:analysts?|observers?|critics?|experts?|economists?|residents?|exporters?"
    r"|developers|rivals?|people familiar|sources said|warn(?:s|ed)?|fears?|feared)\b",
    re.IGNORECASE,
)
# Conditions: the clause after the cue is what the pledge waits for.
_CONDITION = re.compile(
    r"\bonly\b(?:\s+\w+){0,3}?\s+(?:when|once|after|if)\b"
    r"|\b(?:provided|providing)\s+that\b|\bon\s+(?:the\s+)?condition\s+that\b"
    r"|\b(?:as|so)\s+long\s+as\b|\bunless\b|\buntil\b|\btill\b"
    r"|\b(?:tied|subject|linked)\s+to\b|\b(?:conditional|contingent|dependent)\s+(?:up)?on\b"
    r"|\bdepends\s+on\b|(?<!\bat )\bonce\b(?!\s+(?:a|an|per|every|again|more|more\s+than)\b)",
    re.IGNORECASE,
)
# Undertakings with no end: keep doing something.
_ONGOING = re.compile(
    r"\b(?:continue|continues|continuing)\s+(?:to\s+)?\w+"
    r"|\bkeep(?:s|ing)?\s+(?:on\s+)?(?!to\b)\w+"
    r"|\bmaintain(?:s|ing)?\b|\bsustain(?:s|ing)?\b|\buphold(?:s|ing)?\b"
    r"|\bremain\s+committed\b|\bgo\s+on\s+\w+ing\b",
    re.IGNORECASE,
)
_NUMBER = r"\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_UNIT = r"day|week|fortnight|month|quarter|year|spring|summer|autumn|fall|winter"
# Recurring: how often, in words; `every` below turns it into a seed interval.
_RECURRING = re.compile(
    rf"\b(?:every|each)\s+(?:(?P<n>{_NUMBER})\s+)?(?P<unit>{_UNIT})s?\b"
    r"|\b(?P<adverb>daily|weekly|fortnightly|monthly|quarterly|annually|yearly|regularly"
    r"|biannually)\b|\b(?P<adjective>regular|annual|monthly|weekly|yearly)\b"
    r"|\bonce\s+(?:a|per)\s+(?P<once>day|week|month|quarter|year)\b",
    re.IGNORECASE,
)
_NUMBERS = dict(
    (word, n)
    for n, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
)
_EVERY = {
    "day": "1d",
    "daily": "1d",
    "week": "1w",
    "weekly": "1w",
    "fortnight": "2w",
    "fortnightly": "2w",
    "month": "1mo",
    "monthly": "1mo",
    "quarter": "3mo",
    "quarterly": "3mo",
    "biannually": "6mo",
    "year": "1y",
    "yearly": "1y",
    "annually": "1y",
    "annual": "1y",
    "spring": "1y",
    "summer": "1y",
    "autumn": "1y",
    "fall": "1y",
    "winter": "1y",
    # "Regular" names no interval: quarterly is the proposal, for the reviewer to change.
    "regularly": "3mo",
    "regular": "3mo",
}


def commitment(sentence: str) -> Cue | None:
    """Return the words that make `sentence` an undertaking (pledge verb, modal, plan), or None."""
    for pattern, rule in ((_PLEDGE, "pledge"), (_MODAL, "modal"), (_PLAN, "plan")):
        if (found := _first(pattern, rule, sentence)) is not None:
            return found
    return None


def negation(sentence: str) -> Cue | None:
    """Return the words that say something will not be done, or None."""
    return _first(_NEGATION, "negation", sentence)


def hedge(sentence: str) -> Cue | None:
    """Return the words that hedge the undertaking ("hopes to", "could"), or None."""
    return _first(_HEDGE, "hedge", sentence)


def third_party(sentence: str) -> Cue | None:
    """Return the words that make it someone else's view ("analysts", "critics"), or None."""
    return _first(_THIRD_PARTY, "reported", sentence)


def condition(sentence: str) -> Cue | None:
    """Return the words that introduce a condition ("only when", "unless"), or None.

    In "only be lifted when" the cue starts at "when": what comes before is the pledge.
    """
    found = _first(_CONDITION, "condition", sentence)
    if found is not None and found.words.lower().startswith("only") and " " in found.words:
        last = found.words.rsplit(None, 1)[-1]
        return Cue(found.rule, found.words, found.end - len(last), found.end)
    return found


def ongoing(sentence: str) -> Cue | None:
    """Return the words of an undertaking without end ("continue to", "maintain"), or None."""
    return _first(_ONGOING, "ongoing", sentence)


def recurring(sentence: str) -> tuple[Cue, str] | None:
    """Return the words of a repeated undertaking and its seed interval (`1mo`, `2w`), or None."""
    match = _RECURRING.search(sentence)
    if match is None:
        return None
    cue = Cue("recurring", match.group(0), match.start(), match.end())
    word = (match["unit"] or match["adverb"] or match["adjective"] or match["once"]).lower()
    every = _EVERY[word]
    if match["n"]:
        count = int(match["n"]) if match["n"].isdigit() else _NUMBERS[match["n"].lower()]
        amount, unit = re.fullmatch(r"(\d+)(\D+)", every).groups()  # type: ignore[union-attr]
        every = f"{int(amount) * count}{unit}"
    return cue, every


# Every word `commitment`, a strong `condition` or a hedged plan ("hopes to") start from,
# and nothing slow to look for.
_ANY = re.compile(
    r"will|shall|would|'ll|pledg|promis|vow|agree|commit|undert|guarant|resolv|plan|intend"
    r"|aim|set to|due to|to be|tied|subject|linked|contingent|dependent|depends|conditional"
    r"|hope|want|wish|seek|sought",
    re.IGNORECASE,
)


def any_cue(text: str) -> bool:
    """True when `text` holds a word some rule starts from: the rest is not worth splitting."""
    return _ANY.search(text) is not None
