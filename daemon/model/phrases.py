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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta


class Precision(StrEnum):
    """How exact a deadline is: the width of its window."""

    INSTANT = "instant"
    DAY = "day"
    WEEK = "week"
    PART_OF_MONTH = "part_of_month"
    MONTH = "month"
    QUARTER = "quarter"
    SEASON = "season"
    HALF_YEAR = "half_year"
    YEAR = "year"
    RANGE = "range"


class PhraseError(ValueError):
    """A phrase that looks like a deadline but cannot be read without guessing."""


class _NoSuchDay(PhraseError):
    """A day that a given year lacks (29 February); the coming rule skips it."""


@dataclass(frozen=True)
class Period:
    """Whole local days [start, end), end excluded, and how wide they are."""

    start: date
    end: date
    precision: Precision


def _names(groups: str) -> dict[str, int]:
    """Number comma-separated groups of synonyms from 1: "january jan, ..."."""
    return {
        name: number
        for number, group in enumerate(groups.split(","), start=1)
        for name in group.split()
    }


MONTHS = _names(
    "january jan, february feb, march mar, april apr, may, june jun, july jul, august aug,"
    "september sep sept, october oct, november nov, december dec"
)
_WEEKDAYS = _names(
    "monday mon, tuesday tue tues, wednesday wed, thursday thu thur thurs, friday fri,"
    "saturday sat, sunday sun"
)
# Meteorological seasons, northern hemisphere, by first month; each is three
# months long, so winter starts in December and runs into the next year.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
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
_ORDINALS = _names("first 1st, second 2nd, third 3rd, fourth 4th")
_NUMBERS = _names("one a an, two, three, four, five, six, seven, eight, nine, ten, eleven, twelve")


def _alternatives(words: Iterable[str]) -> str:
    """Return a regex alternation of `words`, longest first so none is cut short."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_MONTH = rf"(?P<month>{_alternatives(MONTHS)})\.?"
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
    rf"^(?:(?P<this>this)\s+)?(?P<season>{_alternatives(SEASONS)}){_YEAR}$"
    r"|^winter\s+(?P<from>\d{4})\s*[/-]\s*(?P<to>\d{2}|\d{4})$"
)
_NUMERIC_DATE = re.compile(r"^(?P<a>\d{1,2})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})$")
_YEAR_FIRST_DATE = re.compile(
    r"^(?P<year>\d{4})(?P<sep>[./-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})$"
)
_DAY = re.compile(r"^(?P<day>\d{1,2})(?:st|nd|rd|th)?$")

# dateparser reads only what our gate passed it: a full date in English. A
# fixed base and zone keep it from reading the clock or the machine's zone;
# strict parsing with every part required stops it filling a gap itself.
_DATEPARSER_SETTINGS = {
    "STRICT_PARSING": True,
    "REQUIRE_PARTS": ["day", "month", "year"],
    "RELATIVE_BASE": datetime(2000, 1, 1),  # noqa: DTZ001 - never used: every part is given
    "TIMEZONE": "UTC",
    "RETURN_AS_TIMEZONE_AWARE": False,
    "PARSERS": ["absolute-time"],
}


def read_phrase(text: str, today: date) -> Period | timedelta | None:
    """Return the local period a deadline phrase names, read on `today`.

    Args:
        text: the phrase as written; case and spacing do not matter.
        today: the local date of the reference the phrase counts from.

    Returns:
        A `Period` of whole local days; a `timedelta` for "in N seconds,
        minutes or hours" (an instant that far after the reference); None
        when the phrase matches no rule here (the caller may try others).

    Raises:
        PhraseError: the phrase matches a rule but cannot be read without
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
        raise PhraseError(
            f"'{lead} {phrase}' may mean the start or the end of {phrase}: write "
            f"'by the end of {int(phrase) - 1}', 'by the end of {phrase}' or 'in {phrase}'"
        )
    for reader in (_iso, _relative, _month, _quarter, _half, _season, _explicit_date):
        if (period := reader(phrase, today)) is not None:
            return period
    return None


def _normalise(text: str) -> str:
    """Lower-case, one space between words, no commas, no "the"."""
    words = text.lower().replace(",", " ").replace("mid-", "mid ").split()
    return " ".join(word for word in words if word != "the")


def _in_n(number: str, unit: str, today: date) -> Period | timedelta:
    """Read "in N units": an offset for sub-day units, else the day it lands on."""
    n = int(number) if number.isdigit() else _NUMBERS[number]
    if unit in ("second", "minute", "hour"):
        return timedelta(**{f"{unit}s": n})
    return _day(today + relativedelta(**{f"{unit}s": n}))


def _iso(phrase: str, today: date) -> Period | None:
    if match := _ISO_WEEK.match(phrase):
        year, week = int(match["year"]), int(match["week"])
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError:
            raise PhraseError(f"{year} has no ISO week {week}") from None
        return Period(monday, monday + timedelta(weeks=1), Precision.WEEK)
    if match := _ISO_MONTH.match(phrase):
        if not 1 <= (month := int(match["month"])) <= 12:
            raise PhraseError(f"there is no month {month}")
        return _month_of(int(match["year"]), month)
    if match := _BARE_YEAR.match(phrase):
        return _year_of(int(match["year"]))
    try:  # extended (2016-08-01), basic (20160801) or week dates (2016-W31-1)
        day = date.fromisoformat(phrase.upper())
    except ValueError:
        return None
    return _day(day)


def _relative(phrase: str, today: date) -> Period | None:
    if not (match := _RELATIVE.match(phrase)):
        return None
    step = 1 if match["which"] == "next" else 0
    if match["unit"] == "year":
        return _year_of(today.year + step)
    if match["unit"] == "month":
        first = date(today.year, today.month, 1) + relativedelta(months=step)
        return _month_of(first.year, first.month)
    first = date(today.year, (today.month - 1) // 3 * 3 + 1, 1) + relativedelta(months=3 * step)
    return _quarter_of(first.year, (first.month - 1) // 3 + 1)


def _month(phrase: str, today: date) -> Period | None:
    if not (match := _MONTH_PHRASE.match(phrase)):
        return None
    month, part = MONTHS[match["month"]], match["part"]

    def period(year: int) -> Period:
        if part is None:
            return _month_of(year, month)
        first, after = _PARTS[part]
        end = _month_of(year, month).end if after is None else date(year, month, after)
        return Period(date(year, month, first), end, Precision.PART_OF_MONTH)

    return _resolve(match["year"], period, today, this=bool(match["this"]))


def _quarter(phrase: str, today: date) -> Period | None:
    if not (match := _QUARTER.match(phrase)):
        return None
    if match["q2"]:
        return _quarter_of(int(match["year_first"]), int(match["q2"]))
    if match["of_year"]:
        return _resolve(match["of_year"], lambda year: _quarter_of(year, 4), today)
    number = int(match["q"]) if match["q"] else _ORDINALS[match["nth"]]
    return _resolve(match["year"], lambda year: _quarter_of(year, number), today)


def _half(phrase: str, today: date) -> Period | None:
    if not (match := _HALF.match(phrase)):
        return None
    if match["h2"]:
        return _half_of(int(match["year_first"]), int(match["h2"]))
    if match["mid_year"]:
        # "mid-2016", like "mid-August", is a deadline at the middle: the first half.
        return _resolve(match["mid_year"], lambda year: _half_of(year, 1), today)
    number = int(match["h"]) if match["h"] else _ORDINALS[match["nth"]]
    return _resolve(match["year"], lambda year: _half_of(year, number), today)


def _season(phrase: str, today: date) -> Period | None:
    if not (match := _SEASON.match(phrase)):
        return None
    if match["from"]:
        first, second = int(match["from"]), int(match["to"])
        if second not in (first + 1, (first + 1) % 100):
            raise PhraseError(f"winter runs from one year into the next, not into {second}")
        return _season_of(first, "winter")
    season = match["season"]
    return _resolve(
        match["year"], lambda year: _season_of(year, season), today, this=bool(match["this"])
    )


def _explicit_date(phrase: str, today: date) -> Period | None:
    """Read a calendar date: "1 September 2016", "Sept. 1st", "25.09.2016"."""
    if match := _YEAR_FIRST_DATE.match(phrase):
        year, month, day = int(match["year"]), int(match["m"]), int(match["d"])
        return _dated(phrase, year, month, day, None, "YMD")
    if match := _NUMERIC_DATE.match(phrase):
        year, a, b = int(match["year"]), int(match["a"]), int(match["b"])
        readings = {(m, d) for m, d in ((b, a), (a, b)) if _exists(year, m, d)}
        if len(readings) > 1:
            raise PhraseError(
                f"{phrase} reads as {a} {_month_name(b)} or {b} {_month_name(a)}: "
                f"write {year}-{b:02}-{a:02} or {year}-{a:02}-{b:02}"
            )
        if not readings:
            raise PhraseError(f"{phrase} is no date either way round")
        ((month, day),) = readings
        return _dated(phrase, year, month, day, None, "DMY" if (month, day) == (b, a) else "MDY")
    fields = _date_fields(phrase)
    if fields is None:
        return None
    month, day, written, weekday = fields
    if written is not None:
        return _dated(phrase, written, month, day, weekday, "DMY")

    def period(candidate: int) -> Period:
        if not _exists(candidate, month, day):
            raise _NoSuchDay(f"{candidate} has no {day} {_month_name(month)}: name the year")
        return _day(date(candidate, month, day))

    # The year is ours to choose, by the coming rule; dateparser reads the rest.
    coming = _resolve(None, period, today).start.year
    return _dated(f"{phrase} {coming}", coming, month, day, weekday, "DMY")


def _date_fields(phrase: str) -> tuple[int, int, int | None, int | None] | None:
    """Return (month, day, year or None, weekday or None) if `phrase` is only a date."""
    months, days, years, weekdays = [], [], [], []
    for token in re.split(r"[\s-]+", phrase):
        word = token.rstrip(".")
        if word in MONTHS:
            months.append(MONTHS[word])
        elif word in _WEEKDAYS:
            weekdays.append(_WEEKDAYS[word])
        elif match := _DAY.match(word):
            days.append(int(match["day"]))
        elif re.fullmatch(r"\d{4}", token):
            years.append(int(token))
        elif token != "of":
            return None
    if len(months) != 1 or len(days) != 1 or len(years) > 1 or len(weekdays) > 1:
        return None
    return months[0], days[0], years[0] if years else None, weekdays[0] if weekdays else None


def _dated(text: str, year: int, month: int, day: int, weekday: int | None, order: str) -> Period:
    if not _exists(year, month, day):
        raise PhraseError(f"there is no {day} {_month_name(month)} {year}")
    import dateparser  # a tenth of a second to load: only when a written date is read

    parsed = dateparser.parse(
        text, languages=["en"], settings={**_DATEPARSER_SETTINGS, "DATE_ORDER": order}
    )
    found = date(year, month, day)
    # dateparser must read exactly what the gate saw; anything else is refused.
    if parsed is None or parsed.date() != found:
        raise PhraseError(f"cannot read {text!r} as {found.isoformat()}")
    if weekday is not None and found.isoweekday() != weekday:
        named = _name(_WEEKDAYS, found.isoweekday()).capitalize()
        raise PhraseError(f"{found.day} {_month_name(month)} {year} is a {named}")
    return _day(found)


def _resolve(
    year: str | None, period: Callable[[int], Period], today: date, *, this: bool = False
) -> Period:
    """Return the period in the year named, or else the coming one.

    The coming one is the first, from last year's on, that has not ended by
    `today` (last year's matters for a winter still running in January). "this"
    insists it start no later than this calendar year: "this summer" said in
    October is refused rather than read as next summer.
    """
    if year is not None:
        named = {"this year": 0, "current year": 0, "year": 0, "next year": 1}
        return period(today.year + named[year] if year in named else int(year))
    for candidate in (today.year - 1, today.year):
        try:
            found = period(candidate)
        except _NoSuchDay:
            continue  # 29 February in a year without one: try the next
        if found.end > today:
            break
    else:
        found = period(today.year + 1)  # ends after today, whatever it is
    if this and found.start.year > today.year:
        raise PhraseError(f"this year's has passed by {today.isoformat()}: name the year")
    return found


def _exists(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _month_name(month: int) -> str:
    return _name(MONTHS, month).capitalize()


def _name(names: dict[str, int], number: int) -> str:
    """Return the full name for `number` (the first listed), not the locale's."""
    return next(name for name, value in names.items() if value == number)


def _day(day: date) -> Period:
    return Period(day, day + timedelta(days=1), Precision.DAY)


def _month_of(year: int, month: int) -> Period:
    return _months(date(year, month, 1), 1, Precision.MONTH)


def _quarter_of(year: int, quarter: int) -> Period:
    return _months(date(year, 3 * quarter - 2, 1), 3, Precision.QUARTER)


def _half_of(year: int, half: int) -> Period:
    return _months(date(year, 6 * half - 5, 1), 6, Precision.HALF_YEAR)


def _season_of(year: int, season: str) -> Period:
    return _months(date(year, SEASONS[season], 1), 3, Precision.SEASON)


def _year_of(year: int) -> Period:
    return _months(date(year, 1, 1), 12, Precision.YEAR)


def _months(start: date, count: int, precision: Precision) -> Period:
    return Period(start, start + relativedelta(months=count), precision)
