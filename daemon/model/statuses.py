"""The statuses a pledge moves through, after the promise trackers' meters."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a pledge stands. Overdue and due-soon are computed, never stored."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    STALLED = "stalled"
    KEPT = "kept"
    PARTIALLY_KEPT = "partially_kept"
    BROKEN = "broken"
    WITHDRAWN = "withdrawn"

    @property
    def is_closed(self) -> bool:
        """True for the outcomes after which no deadline notice is sent."""
        return self in CLOSED


CLOSED = frozenset({Status.KEPT, Status.PARTIALLY_KEPT, Status.BROKEN, Status.WITHDRAWN})


class Kind(StrEnum):
    """The shape of a pledge's obligation."""

    DELIVERABLE = "deliverable"
    ONGOING = "ongoing"
    RECURRING = "recurring"
    CONDITIONAL = "conditional"


def parse_status(text: str) -> Status:
    """Return the Status named by `text`, or raise ValueError listing the valid ones."""
    try:
        return Status(text)
    except ValueError:
        valid = ", ".join(s.value for s in Status)
        raise ValueError(f"unknown status {text!r} (one of: {valid})") from None
