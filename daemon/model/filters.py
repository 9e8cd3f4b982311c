"""Which pledges an operator asked for: overdue, due within a time, matching a text.

Pure predicates of a pledge and `now`, shared by `pledgewatch list` and
whatever else lists pledges (pages, the read API).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.model.pledge import Pledge
from daemon.model.statuses import Kind, Status


def is_overdue(pledge: Pledge, now: datetime) -> bool:
    """Return whether `pledge` is still open (open, in progress, stalled) and its window has closed."""
    window = pledge.window
    return not pledge.status.is_closed and window is not None and window.latest <= now


def is_due_within(pledge: Pledge, now: datetime, within: timedelta) -> bool:
    """Return whether `pledge`'s window is open at `now` or opens within `within` of it.

    Closed outcomes count too: the question is about the window, `--status`
    narrows it down.
    """
    window = pledge.window
    if window is None or window.latest <= now:
        return False
    return window.earliest <= now + within


def mentions(pledge: Pledge, text: str) -> bool:
    """Return whether `text` appears, ignoring case, in the id, title, description or a party."""
    needle = text.casefold()
    haystack = [pledge.id, pledge.title, pledge.description or "", *pledge.parties]
    return any(needle in part.casefold() for part in haystack)


@dataclass(frozen=True)
class Wanted:
    """What a listing asks for; every criterion given must hold (None or empty: any)."""

    statuses: Collection[Status] = ()
    kinds: Collection[Kind] = ()
    tags: Collection[str] = ()
    parties: Collection[str] = ()
    overdue: bool = False
    due_within: timedelta | None = None
    search: str | None = None

    def matches(self, pledge: Pledge, now: datetime) -> bool:
        """Return whether `pledge` meets every criterion at `now`.

        A pledge has a tag or a party when it has any of those asked for (ignoring case).
        """
        return (
            (not self.statuses or pledge.status in self.statuses)
            and (not self.kinds or pledge.kind in self.kinds)
            and (not self.tags or _any_of(self.tags, pledge.tags))
            and (not self.parties or _any_of(self.parties, pledge.parties))
            and (not self.overdue or is_overdue(pledge, now))
            and (self.due_within is None or is_due_within(pledge, now, self.due_within))
            and (not self.search or mentions(pledge, self.search))
        )


def _any_of(wanted: Collection[str], have: Iterable[str]) -> bool:
    """Whether one of `have` is one of `wanted`, ignoring case."""
    folded = {value.casefold() for value in wanted}
    return any(value.casefold() in folded for value in have)
