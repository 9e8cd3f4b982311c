"""Deadline phrases in a sentence, found with the reader `import` uses, so each one imports.

`find` looks for the words a phrase starts with ("by", "within", "in", a month
name...), tries the longest run of words after each that ends like a phrase
(a month, a unit, a year...) and keeps the first one
`daemon.model.deadlines.read_deadline` reads against the publication date.
Nothing else is trusted: a phrase that reader refuses is not proposed, except
"by <year>", which it refuses as ambiguous and which is proposed as "by the end
of <year>" with a note. Windows that closed before the publication date (a
date in the past: "signed in February 2015") are not deadlines. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from daemon.model import periods
from daemon.model.deadlines import DeadlineError, Window, read_deadline

_LONGEST = 8  # words in the longest phrase tried ("no later than the end of the year")
_MONTHS = "|".join(name.capitalize() for name in periods.MONTHS if name not in ("may",))
_START = re.compile(
    r"\b(?i:no later than|not later than|by|before|until|till|in|within|during|this|next"
    rf"|the end of|end of|mid-|q[1-4]|h[12])\b|\b(?:{_MONTHS}|May)\b"
)
_UNITS = "second minute hour day week month quarter year half".split()
_ENDS = frozenset(
    [*periods.MONTHS, *periods.SEASONS, "year-end", *_UNITS, *(unit + "s" for unit in _UNITS)]
)
_TRAILING = ".,;:!?\"')\u201d\u2019"
_BY_YEAR = re.compile(r"^by\s+(\d{4})$", re.IGNORECASE)
# "within six months of taking office": counted from an event, not from the article.
_FROM_EVENT = re.compile(r"^\s+(?:of|after|from|following)\b", re.IGNORECASE)
_IN_N = re.compile(r"^(?:in|within)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Deadline:
    """A deadline phrase found in a sentence: as written, where, and its window."""

    phrase: str
    start: int
    end: int
    window: Window
    note: str | None = None  # when the phrase is not the one written


def find(sentence: str, published: date, zone: ZoneInfo) -> Deadline | None:
    """Return the first deadline phrase in `sentence` read against `published`, or None."""
    for start in _START.finditer(sentence):
        words = list(re.finditer(r"\S+", sentence[start.start() :]))[:_LONGEST]
        for count in range(len(words), 0, -1):
            end = start.start() + words[count - 1].end()
            text = sentence[start.start() : end].rstrip(_TRAILING)
            if not _ends_like_a_phrase(text):
                continue
            found = _read(text, published, zone.key)
            if found is None:
                continue
            if found is _NOT_A_DEADLINE:
                break  # "in February 2015": not "in February" either
            window, phrase, note = found
            end = start.start() + len(text)
            if _IN_N.match(text) and _FROM_EVENT.match(sentence[end:]):
                return None  # counted from an event the article names, not from its date
            return Deadline(phrase, start.start(), end, window, note)
    return None


def _ends_like_a_phrase(text: str) -> bool:
    """True when the last word of `text` can end a deadline phrase (cheap; most runs fail)."""
    last = text.rsplit(None, 1)[-1].lower().rstrip(".")
    return any(c.isdigit() for c in last) or last in _ENDS or last.removeprefix("mid-") in _ENDS


_NOT_A_DEADLINE: Any = ()  # a phrase that reads, but names no deadline counted from the article


@lru_cache(maxsize=4096)
def _read(text: str, published: date, zone: str) -> tuple[Window, str, str | None] | None:
    """Return the window `import` would read for `text`, the phrase to write, and a note.

    None when it does not read; `_NOT_A_DEADLINE` when it does but is over or counts
    from some event.
    """
    tz = ZoneInfo(zone)
    reference = datetime.combine(published, time(0), tzinfo=tz)
    phrase, note = text, None
    if match := _BY_YEAR.match(text):
        phrase = f"by the end of {match[1]}"
        note = f"'{text}' may mean the start or the end of {match[1]}: read as the end"
    try:
        window = read_deadline(phrase, reference=reference, tz=tz)
    except DeadlineError:
        return None
    if window.latest <= reference:
        return _NOT_A_DEADLINE  # already over when the article appeared: a past date
    if window.precision is periods.Precision.INSTANT and _IN_N.match(text):
        return _NOT_A_DEADLINE  # "within 48 hours": of some event (a report), not of the article
    return window, phrase, note
