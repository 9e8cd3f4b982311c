"""Which status changes are allowed, and what they need.

| from | to | allowed |
| --- | --- | --- |
| any status | the same status | no: nothing would change |
| open, in progress, stalled | any other status | yes |
| kept, partially kept, broken, withdrawn | any other status | only with a note saying why (re-opening, or correcting an outcome) |

The evidence given with a change, if any, is the address of a page backing it:
`check_evidence` says whether it is one, for the command line and the API alike.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from daemon.model.statuses import Status

EVIDENCE_MAX_LENGTH = 2083  # characters; the limit browsers (and pydantic's HttpUrl) keep to
EVIDENCE_EXAMPLE = "https://example.org/report"
# Refused anywhere in the address: it is stored and linked as given, never re-encoded.
_SPACE_OR_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]|\s")
# Refused in a host name (WHATWG's forbidden host code points that urlsplit lets through).
_BAD_HOST_CHARACTER = re.compile(r"[<>\\^|%]")


class TransitionError(ValueError):
    """A status change that is not allowed; the message says why and what would do."""


class EvidenceError(ValueError):
    """Evidence that is not an absolute http(s) URL; the message says what is wrong with it."""


def check(old: Status, new: Status, note: str | None) -> None:
    """Raise TransitionError unless a pledge may move from `old` to `new` with this note."""
    if old is new:
        raise TransitionError(f"the pledge is already {new.value}")
    if old.is_closed and not (note and note.strip()):
        raise TransitionError(
            f"the pledge is {old.value}, a closed outcome: changing it needs a note saying why "
            "(--note)"
        )


def check_evidence(url: str) -> str:
    """Return `url` when it may back a status change, else raise EvidenceError saying why.

    Evidence is an absolute http or https URL naming a host, at most
    EVIDENCE_MAX_LENGTH characters, with no space or control character in it.
    It is kept as given (not normalised).
    """
    if len(url) > EVIDENCE_MAX_LENGTH:
        raise EvidenceError(f"longer than {EVIDENCE_MAX_LENGTH} characters")
    if _SPACE_OR_CONTROL.search(url):
        raise EvidenceError("contains a space or a control character")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- read for its check: a port that is not a number in range
    except ValueError as exc:
        raise EvidenceError(f"not a valid URL ({exc})") from None
    if not parts.scheme:
        raise EvidenceError(f"not an absolute http(s) URL (such as {EVIDENCE_EXAMPLE})")
    if parts.scheme not in ("http", "https"):
        raise EvidenceError(f"not an http(s) URL: it starts with '{parts.scheme}:'")
    if not parts.hostname:
        raise EvidenceError(f"no host after '{parts.scheme}://' (such as {EVIDENCE_EXAMPLE})")
    if _BAD_HOST_CHARACTER.search(parts.hostname):
        raise EvidenceError(f"the host {parts.hostname!r} has a character no host name may have")
    return url
