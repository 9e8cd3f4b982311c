"""The clock is injected: the shell reads it once per unit of work and passes `now` down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current instant, aware, in UTC."""
    return datetime.now(UTC)
