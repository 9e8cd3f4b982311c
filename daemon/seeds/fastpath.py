"""The fast path of an import: plain commitments checked without pydantic, same result."""

from __future__ import annotations

import re
from typing import Any

from daemon.model.statuses import Kind, Status
from daemon.seeds import schema

_KNOWN_KEYS = frozenset(schema.Commitment.model_fields)
_ID = re.compile(schema.ID_PATTERN.removeprefix("^").removesuffix("$"))  # for fullmatch
_KINDS = {kind.value: kind for kind in Kind}
_STATUSES = {status.value: status for status in Status}
_ABSENT: Any = object()


def _is_plain_text(value: Any, *, constrained: bool = False) -> bool:
    """True for a str that `Commitment` takes as it is: no NUL; when `constrained`
    (a length or pattern applies), no lone surrogate either, which pydantic refuses there."""
    if type(value) is not str or "\0" in value:
        return False
    if constrained and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
    return True


def _is_text_list(value: Any) -> bool:
    """True for a list of str without NUL."""
    if type(value) is not list:
        return False
    for text in value:  # a loop: lists of a few short names, checked a million times
        if type(text) is not str or "\0" in text:
            return False
    return True


def plain_fields(item: Any) -> schema.Fields | None:
    """Return the fields of a commitment written the plain way, or None to ask pydantic.

    Plain: known keys; strings, lists of strings and enum values as they are
    read from YAML or JSON; no conditions, no `extracted` block. Such an item is valid, and these
    are the values `Commitment` would give it; checking it here costs a
    fraction of pydantic's time per item, which decides the rate of a large
    import. Anything else (and every error) is left to pydantic, so what is
    accepted and what an error says do not depend on this shortcut.
    """
    if type(item) is not dict or not _KNOWN_KEYS.issuperset(item):
        return None
    get = item.get
    key, title = get("id"), get("title")
    if type(key) is not str or len(key) > 200 or not _ID.fullmatch(key):
        return None
    if not title or not _is_plain_text(title, constrained=True):
        return None
    description = get("description")
    if description is not None and not _is_plain_text(description):
        return None
    parties, tags = get("parties", _ABSENT), get("tags", _ABSENT)
    parties = [] if parties is _ABSENT else parties
    tags = [] if tags is _ABSENT else tags
    if not _is_text_list(parties) or not _is_text_list(tags):
        return None
    kind = get("kind", "deliverable")
    kind = _KINDS.get(kind) if type(kind) is str else None
    status = get("status")
    if status is not None:
        status = _STATUSES.get(status) if type(status) is str else None
        if status is None:
            return None
    reminders = get("reminders")
    if reminders is not None:
        if type(reminders) is not list:
            return None
        reminders = schema.as_strings(reminders)
    deadline_from = get("deadline_from")
    check_in, every, cron = get("check_in"), get("every"), get("cron")
    conditions = get("conditions", _ABSENT)
    if (
        kind is None
        or get("extracted") is not None
        or (conditions is not _ABSENT and conditions != [])
        or (deadline_from is not None and deadline_from != "conditions")
    ):
        return None
    for text in (deadline_from, check_in, every, cron):
        if text is not None and type(text) is not str:
            return None
    return {
        "id": key,
        "title": title,
        "description": description,
        "parties": parties,
        "kind": kind,
        "status": status,
        "deadline": get("deadline"),
        "reminders": reminders,
        "tags": tags,
        "conditions": [],
        "deadline_from": deadline_from,
        "check_in": check_in,
        "every": every,
        "cron": cron,
        "extracted": None,
    }
