"""daemon/model/lifecycle.py: which status changes are allowed."""

from __future__ import annotations

import pytest

from daemon.model import lifecycle
from daemon.model.statuses import CLOSED, Status

OPEN_ONES = [s for s in Status if s not in CLOSED]


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_a_change_to_the_same_status_is_refused(status: Status) -> None:
    with pytest.raises(lifecycle.TransitionError, match="already"):
        lifecycle.check(status, status, "note")


@pytest.mark.parametrize("old", OPEN_ONES, ids=str)
@pytest.mark.parametrize("new", list(Status), ids=str)
def test_an_open_pledge_may_move_anywhere_without_a_note(old: Status, new: Status) -> None:
    if old is not new:
        lifecycle.check(old, new, None)


@pytest.mark.parametrize("old", sorted(CLOSED), ids=str)
@pytest.mark.parametrize("new", [Status.OPEN, Status.IN_PROGRESS, Status.BROKEN], ids=str)
def test_leaving_a_closed_outcome_needs_a_note(old: Status, new: Status) -> None:
    if old is new:
        return
    with pytest.raises(lifecycle.TransitionError, match="needs a note"):
        lifecycle.check(old, new, None)
    with pytest.raises(lifecycle.TransitionError):
        lifecycle.check(old, new, "   ")
    lifecycle.check(old, new, "talks resumed in May")
