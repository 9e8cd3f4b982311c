"""Which status changes are allowed, and what they need.

| from | to | allowed |
| --- | --- | --- |
| any status | the same status | no: nothing would change |
| open, in progress, stalled | any other status | yes |
| kept, partially kept, broken, withdrawn | any other status | only with a note saying why (re-opening, or correcting an outcome) |
"""

from __future__ import annotations

from daemon.model.statuses import Status


class TransitionError(ValueError):
    """A status change that is not allowed; the message says why and what would do."""


def check(old: Status, new: Status, note: str | None) -> None:
    """Raise TransitionError unless a pledge may move from `old` to `new` with this note."""
    if old is new:
        raise TransitionError(f"the pledge is already {new.value}")
    if old.is_closed and not (note and note.strip()):
        raise TransitionError(
            f"the pledge is {old.value}, a closed outcome: changing it needs a note saying why "
            "(--note)"
        )
