"""Sentences of an article with their character spans: pysbd, on the paragraphs worth it.

The text is cut into paragraphs at blank lines; a paragraph in which no cue
word occurs (see `cues.any_cue`) holds no proposal and is not split at all.
The others are split by pysbd (rule-based, English), which is thorough but
slow (tens of microseconds a character): past `PYSBD_BUDGET` characters of
such paragraphs, and for any paragraph longer than `LONGEST_PARAGRAPH`, a
plain splitter takes over (a full stop, question or exclamation mark and a
space before a capital), so a 5 MB input still takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from daemon.extract import cues

PYSBD_BUDGET = 250_000  # characters split by pysbd in one article at most (a long article: 50,000)
LONGEST_PARAGRAPH = 20_000  # characters; longer ones are not what pysbd is for
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")  # between paragraphs
# The plain splitter: after . ! ? (and a closing quote), before a capital or an opening quote.
_PLAIN_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])")
# Abbreviations the plain splitter does not end a sentence after.
_ABBREVIATIONS = re.compile(
    r"\b(?:Mr|Mrs|Ms|Dr|Prof|St|Gen|Sen|Rep|Gov|Inc|Ltd|Co|Corp|vs|No|U\.S|U\.K|e\.g|i\.e)\.$"
)


@dataclass(frozen=True)
class Sentence:
    """A sentence of the article: its text and where it is, [start, end) in the text."""

    text: str
    start: int
    end: int


def split(text: str) -> Iterator[Sentence]:
    """Yield the sentences of the paragraphs of `text` that hold a cue word, in order."""
    budget = PYSBD_BUDGET
    segmenter: Any = None
    for offset, body in _paragraphs(text):
        if not cues.any_cue(body):
            continue
        if budget >= len(body) and len(body) <= LONGEST_PARAGRAPH:
            budget -= len(body)
            if segmenter is None:
                import pysbd  # only when some paragraph needs it

                segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
            spans = [(s.start, s.end) for s in segmenter.segment(body)]
        else:
            spans = list(_plain(body))
        for start, end in spans:
            yield from _trimmed(body, start, end, offset)


def _paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """Yield (where it starts, its text) for each paragraph: text between blank lines."""
    start = 0
    for gap in _BLANK_LINES.finditer(text):
        if gap.start() > start:
            yield start, text[start : gap.start()]
        start = gap.end()
    if text[start:].strip():
        yield start, text[start:]


def _plain(body: str) -> Iterator[tuple[int, int]]:
    """Yield sentence spans of a paragraph cut by the plain rule."""
    start = 0
    for gap in _PLAIN_END.finditer(body):
        if _ABBREVIATIONS.search(body, max(0, gap.start() - 6), gap.start()):
            continue
        yield start, gap.start()
        start = gap.end()
    yield start, len(body)


def _trimmed(body: str, start: int, end: int, offset: int) -> Iterator[Sentence]:
    """Yield the span without its surrounding white space, placed in the whole text."""
    piece = body[start:end]
    left = len(piece) - len(piece.lstrip())
    right = len(piece.rstrip())
    if right > left:
        yield Sentence(piece[left:right], offset + start + left, offset + start + right)
