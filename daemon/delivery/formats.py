"""Turn a stored event body into the bytes a webhook of a given format receives."""

from __future__ import annotations

import json
from typing import Any

CONTENT_TYPES = {"json": "application/json"}


def render(format_: str, body: dict[str, Any]) -> tuple[bytes, str]:
    """Return the request body and its content type for `format_`."""
    if format_ == "json":
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), CONTENT_TYPES[
            "json"
        ]
    raise ValueError(f"unknown webhook format {format_!r}")


def console_line(body: dict[str, Any]) -> str:
    """Return one readable line for the console sink."""
    data = body.get("data", {})
    pledge = data.get("commitment", {})
    deadline = pledge.get("deadline") or {}
    extra = " ".join(
        f"{key}={data[key]}"
        for key in ("offset", "overdue_by", "old_status", "new_status", "missed")
        if data.get(key)
    )
    when = (
        f" deadline={deadline.get('phrase')!r} [{deadline.get('earliest')} .. {deadline.get('latest')})"
        if deadline
        else ""
    )
    return f"{body.get('timestamp')} {body.get('type')} {pledge.get('id')}: {pledge.get('title')}{when} {extra}".rstrip()
