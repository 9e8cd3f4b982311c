"""Turn a stored event body into the bytes a webhook of a given format receives.

* `json`: the stored body itself, as compact UTF-8 JSON.
* `cloudevents`: the body as a CloudEvents 1.0 event in structured mode.
* `slack`, `discord`, `teams`: a message for people, laid out from the same
  `chat.Summary`, cut with "…" to fit each platform's size limits.

Everything here is a pure function of the body and the delivery id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from daemon.delivery import chat

FORMATS = ("json", "slack", "discord", "teams", "cloudevents")
CONTENT_TYPES = {
    "json": "application/json",
    "slack": "application/json",
    "discord": "application/json",
    "teams": "application/json",
    "cloudevents": "application/cloudevents+json",
}

# Slack Block Kit: a text object holds 3000 characters, a section field 2000,
# and a section at most 10 fields.
_SLACK_TEXT = 3000
_SLACK_FIELD = 2000
_SLACK_FIELDS = 10
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

# Discord embeds: per-part limits and 6000 characters of text in all.
_DISCORD_CONTENT = 2000
_DISCORD_TITLE = 256
_DISCORD_DESCRIPTION = 4096
_DISCORD_FIELDS = 25
_DISCORD_FIELD_NAME = 256
_DISCORD_FIELD_VALUE = 1024
_DISCORD_FOOTER = 2048
_DISCORD_TOTAL = 6000
_DISCORD_COLOURS = {
    "reminder": 0x3498DB,  # blue
    "due": 0xF1C40F,  # yellow
    "overdue": 0xE74C3C,  # red
    "status_changed": 0x2ECC71,  # green
}
_DISCORD_OTHER = 0x95A5A6  # grey
_DISCORD_INLINE = frozenset({"When", "Change", "Status", "By"})

# Teams refuses messages over about 28 KB; with these caps a card stays under it
# even when every character takes four bytes of UTF-8.
_TEAMS_LINE = 400
_TEAMS_NOTE = 1500
_TEAMS_URL = 2000
_TEAMS_COLOURS = {
    "reminder": "Accent",
    "due": "Warning",
    "overdue": "Attention",
    "status_changed": "Good",
}


def render(format_: str, body: dict[str, Any], *, delivery_id: str) -> tuple[bytes, str]:
    """Return the request body and its content type for `format_`."""
    build = _BUILDERS.get(format_)
    if build is None:
        raise ValueError(f"unknown webhook format {format_!r}")
    document = build(body, delivery_id)
    content = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return content, CONTENT_TYPES[format_]


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


def width(text: str) -> int:
    """Return the length of `text` in UTF-16 code units.

    Never less than its length in code points, so a text that fits by this
    measure fits whichever of the two a platform counts.
    """
    return len(text.encode("utf-16-le")) // 2


def _json(body: dict[str, Any], delivery_id: str) -> Any:
    return body


def _cloudevents(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return the body as a structured-mode CloudEvent, `data` carried unchanged."""
    data = body.get("data")
    pledge = data.get("commitment") if isinstance(data, dict) else None
    subject = pledge.get("id") if isinstance(pledge, dict) else None
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": delivery_id,
        "source": "/pledgewatch",
        "type": body["type"],
        "datacontenttype": "application/json",
    }
    # Optional attributes are left out rather than sent as null.
    if subject:
        event["subject"] = str(subject)
    if body.get("timestamp"):
        event["time"] = body["timestamp"]
    event["data"] = data
    return event


def _slack(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return a Slack message: the title, the facts as fields, then the small print."""
    summary = chat.summarize(body)
    fields = [
        _mrkdwn(_slack_fact(fact))
        for fact in summary.facts[:_SLACK_FIELDS]  # a section takes at most 10 fields
    ]
    title = _clip(summary.title, _SLACK_TEXT - 2, _slack_escape)
    heading: dict[str, Any] = {"type": "section", "text": _mrkdwn(f"*{title}*")}
    if fields:
        heading["fields"] = fields
    blocks = [heading]
    if summary.note:
        note = _clip(summary.note, _SLACK_TEXT - len("*Note*\n"), _slack_escape)
        blocks.append({"type": "section", "text": _mrkdwn(f"*Note*\n{note}")})
    context = _clip(summary.context, _SLACK_TEXT, _slack_escape)
    blocks.append({"type": "context", "elements": [_mrkdwn(context)]})
    return {"text": _clip(summary.line, _SLACK_TEXT, _slack_escape), "blocks": blocks}


def _slack_fact(fact: chat.Fact) -> str:
    label = f"*{_clip(fact.label, 100, _slack_escape)}*\n"
    room = _SLACK_FIELD - width(label)
    if fact.url:
        target = _slack_escape_all(fact.url).replace("|", "%7C")
        if fact.text == fact.url and width(target) + 2 <= room:
            return f"{label}<{target}>"
        text_room = room - width(target) - len("<|>")
        if text_room >= 20:  # else the address crowds out the words: show them unlinked
            return f"{label}<{target}|{_clip(fact.text, text_room, _slack_escape)}>"
    return label + _clip(fact.text, room, _slack_escape)


def _slack_escape(char: str) -> str:
    """Return one character as Slack's mrkdwn must receive it (&, <, > as entities)."""
    return _SLACK_ESCAPES.get(char, char)


def _slack_escape_all(text: str) -> str:
    return "".join(map(_slack_escape, text))


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _discord(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return a Discord message: a short line and one embed, within Discord's limits.

    The embed's parts share 6000 characters, handed out in order of use:
    title, footer, the facts in turn, then the note as the description.
    """
    summary = chat.summarize(body)
    left = _DISCORD_TOTAL
    title = _clip(summary.title, min(_DISCORD_TITLE, left))
    left -= width(title)
    footer = _clip(summary.context, min(_DISCORD_FOOTER, left))
    left -= width(footer)
    fields = []
    for fact in summary.facts[:_DISCORD_FIELDS]:
        name = _clip(fact.label, min(_DISCORD_FIELD_NAME, left - 1))
        room = min(_DISCORD_FIELD_VALUE, left - width(name))
        if not name or room < 1:
            break  # a field needs a name and a value, and there is no room for both
        value = _discord_value(fact, room)
        fields.append({"name": name, "value": value, "inline": fact.label in _DISCORD_INLINE})
        left -= width(name) + width(value)
    embed: dict[str, Any] = {
        "title": title,
        "color": _DISCORD_COLOURS.get(summary.kind, _DISCORD_OTHER),
        "fields": fields,
        "footer": {"text": footer},
    }
    description = _clip(summary.note or "", min(_DISCORD_DESCRIPTION, left))
    if description:
        embed["description"] = description
    if summary.timestamp:
        embed["timestamp"] = summary.timestamp
    return {
        "content": _clip(summary.line, _DISCORD_CONTENT),
        "embeds": [embed],
        # Pledge text is not ours: it must never ping @everyone, a role or a user.
        "allowed_mentions": {"parse": []},
    }


def _discord_value(fact: chat.Fact, room: int) -> str:
    if fact.url and fact.text != fact.url:  # a bare address Discord links by itself
        target = fact.url.replace("(", "%28").replace(")", "%29")
        text_room = room - width(target) - len("[]()")
        if text_room >= 20:  # else the address crowds out the words: show them unlinked
            return f"[{_clip(fact.text, text_room, _link_text)}]({target})"
    return _clip(fact.text, room)


def _link_text(char: str) -> str:
    """Return one character as it may stand inside a Markdown link's brackets."""
    return "\\" + char if char in "[]\\" else char


def _teams(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return a Teams Workflows message carrying one Adaptive Card."""
    summary = chat.summarize(body)
    card_body: list[dict[str, Any]] = [
        _text_block(_clip(summary.title, _TEAMS_LINE), size="Large", weight="Bolder"),
        _text_block(
            _clip(summary.headline, _TEAMS_LINE),
            color=_TEAMS_COLOURS.get(summary.kind, "Default"),
            spacing="None",
            weight="Bolder",
        ),
        {
            "type": "FactSet",
            "facts": [
                {"title": fact.label, "value": _clip(fact.text, _TEAMS_LINE)}
                for fact in summary.facts
            ],
        },
    ]
    if summary.note:
        card_body.append(_text_block(_clip(summary.note, _TEAMS_NOTE)))
    card_body.append(_text_block(_clip(summary.context, _TEAMS_LINE), isSubtle=True, size="Small"))
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
    }
    actions = [
        {"type": "Action.OpenUrl", "title": f"Open {fact.label.lower()}", "url": fact.url}
        for fact in summary.facts
        if fact.url and len(fact.url) <= _TEAMS_URL  # a cut address would lead nowhere
    ]
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _clip(text: str, limit: int, escape: Callable[[str], str] = str) -> str:
    """Return `text`, each character passed through `escape`, cut with "…" to `limit` wide.

    A cut never falls inside an escaped character (Slack's `&amp;` stays whole).
    """
    whole = "".join(map(escape, text))
    if width(whole) <= limit:
        return whole
    if limit < 1:
        return ""
    kept, used = [], 0
    for char in text:
        piece = escape(char)
        if used + width(piece) > limit - 1:  # leave room for the ellipsis
            break
        kept.append(piece)
        used += width(piece)
    return "".join(kept).rstrip() + "…"


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "json": _json,
    "slack": _slack,
    "discord": _discord,
    "teams": _teams,
    "cloudevents": _cloudevents,
}
