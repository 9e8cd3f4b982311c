"""The writes the store declines before writing anything, for every caller to report alike.

An operation raises one of these inside the caller's transaction, before its
first write: no row changes, no history row is added, no daemon is woken. The
message names what was asked and says why it is refused; the command line
prints it and exits 2, an API route would answer 409 (`NothingToDo`) or 404
(`UnknownName`) with it.

    ValueError
     └── Refused          declined; nothing written
          ├── NothingToDo  it would change nothing: already so, or nothing it applies to
          └── UnknownName  it names something that does not exist (a webhook not configured)

A pledge id that is not stored stays `pledges.NotFound`, as for every read.
"""

from __future__ import annotations


class Refused(ValueError):
    """A write the store declined; nothing was written."""


class NothingToDo(Refused):
    """The write would change nothing: it is already so, or nothing it applies to exists."""


class UnknownName(Refused):
    """The write names something that does not exist."""
