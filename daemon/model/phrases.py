"""Deadline phrases: the calendar words of a pledge, read as local days.

`read_phrase` turns "by August", "Q3 2016", "this summer", "by 1 September"
or "within 12 months", with the local date it was said on, into a `Period` of
whole local days [start, end), or into a `timedelta` for the sub-day offsets
("in 2 hours") that only make sense as instants. Zones and UTC are the
business of `deadlines`; this module only knows the calendar.

The rules and their definitions (seasons, early/mid/late, the coming-period
rule, ambiguous dates) are tabled in docs/deadlines.md. Nothing is guessed: a
phrase that matches no rule returns None, one that matches a rule only
ambiguously ("by 2017", "1/9/2016", "this summer" said in October) raises
`PhraseError`, and the caller names the phrase. Pure: no clock, no I/O;
dateparser gets a fixed base date and zone, so it reads neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from daemon.model import dates, periods

# Parts of a month: (first day, first day after it; None for the next month's 1st).
# "mid" reads as a deadline at the middle: the first half, up to the 16th.
_PARTS = {
    "early": (1, 11),
    "beginning of": (1, 11),
    "start of": (1, 11),
    "mid": (1, 16),
    "middle of": (1, 16),
    "late": (21, None),
}
_ORDINALS = periods.numbered_names("first 1st, second 2nd, third 3rd, fourth 4th")
_UNITS = periods.numbered_names(
    "one a an, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve,"
    "thirteen, fourteen, fifteen, sixteen, seventeen, eighteen, nineteen"
)
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60}
# Number words from one to sixty-nine: "eighteen", "twenty-four", "thirty six".
_NUMBERS = {
    **_UNITS,
    **_TENS,
    **{
        f"{tens}{joint}{unit}": value + _UNITS[unit]
        for tens, value in _TENS.items()
        for unit in _UNITS
        if unit not in ("a", "an") and _UNITS[unit] < 10
        for joint in ("-", " ")
    },
}


def _alternatives(words: Iterable[str]) -> str:
    """Return a regex alternation of `words`, longest first so none is cut short."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_MONTH = rf"(?P<month>{_alternatives(periods.MONTHS)})\.?"
# A year after a period: "August 2016", "summer of 2016", "Q3 of next year".
_YEAR = r"(?:\s+(?:of\s+)?(?P<year>\d{4}|this year|current year|next year|year))?"
_LEAD = re.compile(
    r"^(?P<lead>by|before|until|till|no later than|not later than|in|during|on|at)\s+(?P<rest>.+)$"
)
_END_OF = re.compile(r"^end of\s+(?P<rest>.+)$|^(?:this |current )?year[- ]end$")
_IN_N = re.compile(
    rf"^(?:in|within)\s+(?:next\s+)?(?P<n>\d+|{_alternatives(_NUMBERS)})\s+"
    r"(?P<unit>second|minute|hour|day|week|month|year)s?(?:'s?|s')?(?:\s+time)?$"
)
_ISO_WEEK = re.compile(r"^(?P<year>\d{4})-?w(?P<week>\d{2})$")
_ISO_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
_BARE_YEAR = re.compile(r"^(?P<year>\d{4})$")
_RELATIVE = re.compile(r"^(?P<which>this|current|next)?\s*(?P<unit>month|quarter|year)$")
_MONTH_PHRASE = re.compile(
    rf"^(?:(?P<this>this)\s+)?(?:(?P<part>{_alternatives(_PARTS)})\s+)?{_MONTH}{_YEAR}$"
)
_QUARTER = re.compile(
    rf"^(?:q(?P<q>[1-4])|(?P<nth>{_alternatives(_ORDINALS)}) quarter){_YEAR}$"
    r"|^(?P<year_first>\d{4})[- ]q(?P<q2>[1-4])$"
    r"|^(?:last|final) quarter\s+of\s+(?P<of_year>\d{4}|this year|current year|next year|year)$"
)
_HALF = re.compile(
    rf"^(?:h(?P<h>[12])|(?P<nth>first|1st|second|2nd) half){_YEAR}$"
    r"|^(?P<year_first>\d{4})[- ]h(?P<h2>[12])$"
    r"|^mid\s+(?P<mid_year>\d{4}|this year|current year|next year|year)$"
)
_SEASON = re.compile(
    rf"^(?:(?P<this>this)\s+)?(?P<season>{_alternatives(periods.SEASONS)}){_YEAR}$"
    r"|^winter\s+(?P<from>\d{4})\s*[/-]\s*(?P<to>\d{2}|\d{4})$"
)


def read_phrase(text: str, today: date) -> periods.Period | timedelta | None:
    """Return the local period a deadline phrase names, read on `today`.

    Args:
        text: the phrase as written; case and spacing do not matter.
        today: the local date of the reference the phrase counts from.

    Returns:
        A `periods.Period` of whole local days; a `timedelta` for "in N seconds,
        minutes or hours" (an instant that far after the reference); None
        when the phrase matches no rule here (the caller may try others).

    Raises:
        periods.PhraseError: the phrase matches a rule but cannot be read without
            guessing (an ambiguous year or date, a day that does not exist).
    """
    if ":" in text:
        # No rule reads a time of day, so an ISO instant ("2016-08-01T12:00+03:00")
        # is left to the caller without trying every rule (imports are full of them).
        return None
    phrase = _normalise(text)
    if match := _IN_N.match(phrase):
        return _in_n(match["n"], match["unit"], today)
    lead = None
    if match := _LEAD.match(phrase):
        lead, phrase = match["lead"], match["rest"]
    if match := _END_OF.match(phrase):
        # "the end of X" is when X closes, X's own latest bound: the window is X.
        phrase, lead = match["rest"] or "year", None  # "year-end" is the end of this year
    if _BARE_YEAR.match(phrase) and lead not in (None, "in", "during", "on", "at"):
        raise periods.PhraseError(
            f"'{lead} {phrase}' may mean the start or the end of {phrase}: write "
            f"'by the end of {int(phrase) - 1}', 'by the end of {phrase}' or 'in {phrase}'"
        )
    for reader in (_iso, _relative, _month, _quarter, _half, _season, dates.read_written_date):
        if (period := reader(phrase, today)) is not None:
            return period
    return None


def _normalise(text: str) -> str:
    """Lower-case, one space between words, no commas, no "the"."""
    words = text.lower().replace(",", " ").replace("mid-", "mid ").split()
    return " ".join(word for word in words if word != "the")


def _in_n(number: str, unit: str, today: date) -> periods.Period | timedelta:
    """Read "in N units": an offset for sub-day units, else the day it lands on."""
    n = int(number) if number.isdigit() else _NUMBERS[number]
    if unit in ("second", "minute", "hour"):
        return timedelta(**{f"{unit}s": n})
    return periods.day_of(today + relativedelta(**{f"{unit}s": n}))


def _iso(phrase: str, today: date) -> periods.Period | None:
    if match := _ISO_WEEK.match(phrase):
        year, week = int(match["year"]), int(match["week"])
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise periods.PhraseError(f"{year} has no ISO week {week}") from None
        return periods.Period(monday, monday + timedelta(weeks=1), periods.Precision.WEEK)
    if match := _ISO_MONTH.match(phrase):
        if not 1 <= (month := int(match["month"])) <= 12:
            raise periods.PhraseError(f"there is no month {month}")
        return periods.month_of(int(match["year"]), month)
    if match := _BARE_YEAR.match(phrase):
        return periods.year_of(int(match["year"]))
    try:  # extended (2016-08-01), basic (20160801) or week dates (2016-W31-1)
        day = date.fromisoformat(phrase.upper())
    except ValueError:
        return None
    return periods.day_of(day)


def _relative(phrase: str, today: date) -> periods.Period | None:
    if not (match := _RELATIVE.match(phrase)):
        return None
    step = 1 if match["which"] == "next" else 0
    if match["unit"] == "year":
        return periods.year_of(today.year + step)
    if match["unit"] == "month":
        first = date(today.year, today.month, 1) + relativedelta(months=step)
        return periods.month_of(first.year, first.month)
    first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1) + relativedelta(months=3 * step)
    return periods.quarter_of(first.year, (first.month - 1) // 3 + 1)


def _month(phrase: str, today: date) -> periods.Period | None:
    if not (match := _MONTH_PHRASE.match(phrase)):
        return None
    month, part = periods.MONTHS[match["month"]], match["part"]

    def period(year: int) -> periods.Period:
        if part is None:
            return periods.month_of(year, month)
        first, after = _PARTS[part]
        end = periods.month_of(year, month).end if after is None else date(year, month, after)
        return periods.Period(date(year, month, first), end, periods.Precision.PART_OF_MONTH)

    return periods.in_year_or_coming(match["year"], period, today, this=bool(match["this"]))


def _quarter(phrase: str, today: date) -> periods.Period | None:
    if not (match := _QUARTER.match(phrase)):
        return None
    if match["q2"]:
        return periods.quarter_of(int(match["year_first"]), int(match["q2"]))
    if match["of_year"]:
        return periods.in_year_or_coming(
            match["of_year"], lambda year: periods.quarter_of(year, 4), today
        )
    number = int(match["q"]) if match["q"] else _ORDINALS[match["nth"]]
    return periods.in_year_or_coming(
        match["year"], lambda year: periods.quarter_of(year, number), today
    )


def _half(phrase: str, today: date) -> periods.Period | None:
    if not (match := _HALF.match(phrase)):
        return None
    if match["h2"]:
        return periods.half_of(int(match["year_first"]), int(match["h2"]))
    if match["mid_year"]:
        # "mid-2016", like "mid-August", is a deadline at the middle: the first half.
        return periods.in_year_or_coming(
            match["mid_year"], lambda year: periods.half_of(year, 1), today
        )
    number = int(match["h"]) if match["h"] else _ORDINALS[match["nth"]]
    return periods.in_year_or_coming(
        match["year"], lambda year: periods.half_of(year, number), today
    )


def _season(phrase: str, today: date) -> periods.Period | None:
    if not (match := _SEASON.match(phrase)):
        return None
    if match["from"]:
        first, second = int(match["from"]), int(match["to"])
        if second not in (first + 1, (first + 1) % 100):
            raise periods.PhraseError(f"winter runs from one year into the next, not into {second}")
        return periods.season_of(first, "winter")
    season = match["season"]
    return periods.in_year_or_coming(
        match["year"], lambda year: periods.season_of(year, season), today, this=bool(match["this"])
    )
