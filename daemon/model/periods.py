"""Calendar periods: whole local days [start, end) and how wide they are.

The values a deadline phrase is read into (`Period`, `Precision`), the names of
months, weekdays and seasons, the constructors of a day, month, quarter, half,
season or year, and the coming-period rule ("August" said in March is this
year's; said in October, next year's). Pure: no clock, no zones, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
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


class NoSuchDay(PhraseError):
    """A day that a given year lacks (29 February); the coming rule skips it."""


@dataclass(frozen=True)
class Period:
    """Whole local days [start, end), end excluded, and how wide they are."""

    start: date
    end: date
    precision: Precision


def numbered_names(groups: str) -> dict[str, int]:
    """Number comma-separated groups of synonyms from 1: "january jan, ..."."""
    return {
        name: number
        for number, group in enumerate(groups.split(","), start=1)
        for name in group.split()
    }


MONTHS = numbered_names(
    "january jan, february feb, march mar, april apr, may, june jun, july jul, august aug,"
    "september sep sept, october oct, november nov, december dec"
)
WEEKDAYS = numbered_names(
    "monday mon, tuesday tue tues, wednesday wed, thursday thu thur thurs, friday fri,"
    "saturday sat, sunday sun"
)
# Meteorological seasons, northern hemisphere, by first month; each is three
# months long, so winter starts in December and runs into the next year.
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}


def in_year_or_coming(
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
        except NoSuchDay:
            continue  # 29 February in a year without one: try the next
        if found.end > today:
            break
    else:
        found = period(today.year + 1)  # ends after today, whatever it is
    if this and found.start.year > today.year:
        raise PhraseError(f"this year's has passed by {today.isoformat()}: name the year")
    return found


def exists(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def month_name(month: int) -> str:
    return name_of(MONTHS, month).capitalize()


def name_of(names: dict[str, int], number: int) -> str:
    """Return the full name for `number` (the first listed), not the locale's."""
    return next(name for name, value in names.items() if value == number)


def day_of(day: date) -> Period:
    return Period(day, day + timedelta(days=1), Precision.DAY)


def month_of(year: int, month: int) -> Period:
    return months_from(date(year, month, 1), 1, Precision.MONTH)


def quarter_of(year: int, quarter: int) -> Period:
    return months_from(date(year, 3 * quarter - 2, 1), 3, Precision.QUARTER)


def half_of(year: int, half: int) -> Period:
    return months_from(date(year, 6 * half - 5, 1), 6, Precision.HALF_YEAR)


def season_of(year: int, season: str) -> Period:
    return months_from(date(year, SEASONS[season], 1), 3, Precision.SEASON)


def year_of(year: int) -> Period:
    return months_from(date(year, 1, 1), 12, Precision.YEAR)


def months_from(start: date, count: int, precision: Precision) -> Period:
    return Period(start, start + relativedelta(months=count), precision)
