"""Written calendar dates in deadline phrases: "1 September 2016", "Sept. 1st", "25.09.2016".

A date is first taken apart by a strict gate of our own (one month, one day,
at most one year and weekday); dateparser then reads it with a fixed base, and
must read exactly what the gate saw. A numeric date that reads two ways is
refused. Pure: dateparser gets no clock and no zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from daemon.model import periods

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


def read_written_date(phrase: str, today: date) -> periods.Period | None:
    """Read a calendar date: "1 September 2016", "Sept. 1st", "25.09.2016"."""
    if match := _YEAR_FIRST_DATE.match(phrase):
        year, month, day = int(match["year"]), int(match["m"]), int(match["d"])
        return _dated(phrase, year, month, day, None, "YMD")
    if match := _NUMERIC_DATE.match(phrase):
        year, a, b = int(match["year"]), int(match["a"]), int(match["b"])
        readings = {(m, d) for m, d in ((b, a), (a, b)) if periods.exists(year, m, d)}
        if len(readings) > 1:
            raise periods.PhraseError(
                f"{phrase} reads as {a} {periods.month_name(b)} or {b} {periods.month_name(a)}: "
                f"write {year}-{b:02}-{a:02} or {year}-{a:02}-{b:02}"
            )
        if not readings:
            raise periods.PhraseError(f"{phrase} is no date either way round")
        ((month, day),) = readings
        return _dated(phrase, year, month, day, None, "DMY" if (month, day) == (b, a) else "MDY")
    fields = _date_fields(phrase)
    if fields is None:
        return None
    month, day, written, weekday = fields
    if written is not None:
        return _dated(phrase, written, month, day, weekday, "DMY")

    def period(candidate: int) -> periods.Period:
        if not periods.exists(candidate, month, day):
            raise periods.NoSuchDay(
                f"{candidate} has no {day} {periods.month_name(month)}: name the year"
            )
        return periods.day_of(date(candidate, month, day))

    # The year is ours to choose, by the coming rule; dateparser reads the rest.
    coming = periods.in_year_or_coming(None, period, today).start.year
    return _dated(f"{phrase} {coming}", coming, month, day, weekday, "DMY")


def _date_fields(phrase: str) -> tuple[int, int, int | None, int | None] | None:
    """Return (month, day, year or None, weekday or None) if `phrase` is only a date."""
    months, days, years, weekdays = [], [], [], []
    for token in re.split(r"[\s-]+", phrase):
        word = token.rstrip(".")
        if word in periods.MONTHS:
            months.append(periods.MONTHS[word])
        elif word in periods.WEEKDAYS:
            weekdays.append(periods.WEEKDAYS[word])
        elif match := _DAY.match(word):
            days.append(int(match["day"]))
        elif re.fullmatch(r"\d{4}", token):
            years.append(int(token))
        elif token != "of":
            return None
    if len(months) != 1 or len(days) != 1 or len(years) > 1 or len(weekdays) > 1:
        return None
    return months[0], days[0], years[0] if years else None, weekdays[0] if weekdays else None


def _dated(
    text: str, year: int, month: int, day: int, weekday: int | None, order: str
) -> periods.Period:
    if not periods.exists(year, month, day):
        raise periods.PhraseError(f"there is no {day} {periods.month_name(month)} {year}")
    import dateparser  # a tenth of a second to load: only when a written date is read

    parsed = dateparser.parse(
        text, languages=["en"], settings={**_DATEPARSER_SETTINGS, "DATE_ORDER": order}
    )
    found = date(year, month, day)
    # dateparser must read exactly what the gate saw; anything else is refused.
    if parsed is None or parsed.date() != found:
        raise periods.PhraseError(f"cannot read {text!r} as {found.isoformat()}")
    if weekday is not None and found.isoweekday() != weekday:
        named = periods.name_of(periods.WEEKDAYS, found.isoweekday()).capitalize()
        raise periods.PhraseError(f"{found.day} {periods.month_name(month)} {year} is a {named}")
    return periods.day_of(found)
