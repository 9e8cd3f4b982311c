"""Turn a stored event body into the bytes a webhook of a given format receives.

* `json`: the stored body itself, as compact UTF-8 JSON.
* `cloudevents`: the body as a CloudEvents 1.0 event in structured mode.
* `slack`, `discord`, `teams`: a message for people, laid out from the same
  `chat.Summary`, every text from the body escaped for the platform's markup
  and cut with "…" to fit its size limits (`markup`).

Everything here is a pure function of the body and the delivery id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from daemon.delivery import chat, markup
from daemon.model import documents

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

# Discord embeds: per-part limits and 6000 characters of text in all.
_DISCORD_CONTENT = 2000
_DISCORD_TITLE = 256
_DISCORD_DESCRIPTION = 4096
_DISCORD_FIELDS = 25
_DISCORD_FIELD_NAME = 256
_DISCORD_FIELD_VALUE = 1024
_DISCORD_FOOTER = 2048
_DISCORD_TOTAL = 6000
_DISCORD_INLINE = frozenset({"When", "Change", "Status", "By"})
_DISCORD_NOTE = "\n\n**Note**\n"  # between the description and a note

# Teams refuses messages over about 28 KB. The caps count UTF-16 units, each at
# most three bytes of UTF-8 (chat.py drops the control characters JSON spells in
# six), and addresses count in bytes, so a card stays under it.
_TEAMS_LINE = 400
_TEAMS_TEXT = 1500  # the description, and the note
_TEAMS_URL = 2000  # bytes of UTF-8

# How each tone of a summary looks: a Discord embed colour, a Teams TextBlock colour.
_COLOURS = {
    "info": (0x3498DB, "Accent"),  # blue
    "warning": (0xF1C40F, "Warning"),  # yellow
    "failure": (0xE74C3C, "Attention"),  # red
    "success": (0x2ECC71, "Good"),  # green
    "neutral": (0x95A5A6, "Default"),  # grey
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
        f" deadline={deadline.get('phrase')!r}"
        f" [{_seconds(deadline.get('earliest'))} .. {_seconds(deadline.get('latest'))})"
        if deadline
        else ""
    )
    return f"{_seconds(body.get('timestamp'))} {body.get('type')} {pledge.get('id')}: {pledge.get('title')}{when} {extra}".rstrip()


def _seconds(text: Any) -> Any:
    """Return an ISO instant of a body to the second, in the zone it is written in, as people see it."""
    try:
        instant = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text  # not an instant: shown as it is
    return documents.shown(instant, instant.tzinfo or UTC)


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
    """Return a Slack message: title and description, the facts as fields, the note, the small print."""
    summary = chat.summarize(body)
    fields = [
        _mrkdwn(_slack_fact(fact))
        for fact in summary.facts[:_SLACK_FIELDS]  # a section takes at most 10 fields
    ]
    heading_text = f"*{markup.clip(summary.title, _SLACK_TEXT - 2, markup.slack)}*"
    if summary.description:
        room = _SLACK_TEXT - markup.width(heading_text) - 1
        if room > 0:
            heading_text += "\n" + markup.clip(summary.description, room, markup.slack)
    heading: dict[str, Any] = {"type": "section", "text": _mrkdwn(heading_text)}
    if fields:
        heading["fields"] = fields
    blocks = [heading]
    if summary.note:
        note = markup.clip(summary.note, _SLACK_TEXT - len("*Note*\n"), markup.slack)
        blocks.append({"type": "section", "text": _mrkdwn(f"*Note*\n{note}")})
    context = markup.clip(summary.context, _SLACK_TEXT, markup.slack)
    blocks.append({"type": "context", "elements": [_mrkdwn(context)]})
    return {"text": markup.clip(summary.line, _SLACK_TEXT, markup.slack), "blocks": blocks}


def _slack_fact(fact: chat.Fact) -> str:
    label = f"*{markup.clip(fact.label, 100, markup.slack)}*\n"
    room = _SLACK_FIELD - markup.width(label)
    if fact.url:
        target = markup.slack_url(fact.url)
        if fact.text == fact.url and markup.width(target) + 2 <= room:
            return f"{label}<{target}>"
        text_room = room - markup.width(target) - len("<|>")
        if text_room >= 20:  # else the address crowds out the words: show them unlinked
            return f"{label}<{target}|{markup.clip(fact.text, text_room, markup.slack)}>"
    return label + markup.clip(fact.text, room, markup.slack)


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack turns no bare address, channel name or mention in the text
    # into a link of its own; the <url|label> links made here still work.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _discord(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return a Discord message: a short line and one embed, within Discord's limits.

    The embed's parts share 6000 characters, handed out in order of use:
    title, footer, the facts in turn, then the description and the note.
    """
    summary = chat.summarize(body)
    left = _DISCORD_TOTAL
    title = markup.clip(summary.title, min(_DISCORD_TITLE, left), markup.discord)
    left -= markup.width(title)
    # A footer shows no markdown, so it is the one text left unescaped.
    footer = markup.clip(summary.context, min(_DISCORD_FOOTER, left))
    left -= markup.width(footer)
    fields = []
    for fact in summary.facts[:_DISCORD_FIELDS]:
        name = markup.clip(fact.label, min(_DISCORD_FIELD_NAME, left - 1))
        room = min(_DISCORD_FIELD_VALUE, left - markup.width(name))
        if not name or room < 1:
            break  # a field needs a name and a value, and there is no room for both
        value = _discord_value(fact, room)
        fields.append({"name": name, "value": value, "inline": fact.label in _DISCORD_INLINE})
        left -= markup.width(name) + markup.width(value)
    embed: dict[str, Any] = {
        "title": title,
        "color": _COLOURS[summary.tone][0],
        "fields": fields,
        "footer": {"text": footer},
    }
    description = _discord_description(summary, min(_DISCORD_DESCRIPTION, left))
    if description:
        embed["description"] = description
    if summary.timestamp:
        embed["timestamp"] = summary.timestamp
    return {
        "content": markup.clip(summary.line, _DISCORD_CONTENT, markup.discord),
        "embeds": [embed],
        # Pledge text is not ours: it must never ping @everyone, a role or a user.
        "allowed_mentions": {"parse": []},
    }


def _discord_value(fact: chat.Fact, room: int) -> str:
    if fact.url:
        target = markup.discord_url(fact.url)
        if fact.text == fact.url:
            if markup.width(target) <= room:
                return target  # a bare address, which Discord links by itself
        else:
            text_room = room - markup.width(target) - len("[]()")
            if text_room >= 20:  # else the address crowds out the words: show them unlinked
                return f"[{markup.clip(fact.text, text_room, markup.discord)}]({target})"
    return markup.clip(fact.text, room, markup.discord)


def _discord_description(summary: chat.Summary, room: int) -> str:
    """Return the pledge's description, then the note under a bold "Note", within `room`.

    When both are too long to fit, each keeps at least half of the room.
    """
    if not (summary.description and summary.note):
        return markup.clip(summary.description or summary.note or "", room, markup.discord)
    room -= len(_DISCORD_NOTE)
    note_needs = markup.width(markup.clip(summary.note, room, markup.discord))
    description = markup.clip(
        summary.description, max(room // 2, room - note_needs), markup.discord
    )
    note = markup.clip(summary.note, room - markup.width(description), markup.discord)
    return description + _DISCORD_NOTE + note if note else description


def _teams(body: dict[str, Any], delivery_id: str) -> dict[str, Any]:
    """Return a Teams Workflows message carrying one Adaptive Card."""
    summary = chat.summarize(body)
    card_body: list[dict[str, Any]] = [
        _text_block(
            markup.clip(summary.title, _TEAMS_LINE, markup.teams), size="Large", weight="Bolder"
        ),
        _text_block(
            markup.clip(summary.headline, _TEAMS_LINE, markup.teams),
            color=_COLOURS[summary.tone][1],
            spacing="None",
            weight="Bolder",
        ),
    ]
    if summary.description:
        card_body.append(_text_block(markup.clip(summary.description, _TEAMS_TEXT, markup.teams)))
    card_body.append(
        {
            "type": "FactSet",
            "facts": [
                {"title": fact.label, "value": markup.clip(fact.text, _TEAMS_LINE, markup.teams)}
                for fact in summary.facts
            ],
        }
    )
    if summary.note:
        card_body.append(_text_block(markup.clip(summary.note, _TEAMS_TEXT, markup.teams)))
    card_body.append(
        _text_block(
            markup.clip(summary.context, _TEAMS_LINE, markup.teams), isSubtle=True, size="Small"
        )
    )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": card_body,
    }
    actions = [
        {"type": "Action.OpenUrl", "title": f"Open {fact.label.lower()}", "url": fact.url}
        for fact in summary.facts
        # An address too long is left out: a cut one would lead nowhere.
        if fact.url and len(fact.url.encode()) <= _TEAMS_URL
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


_BUILDERS: dict[str, Callable[[dict[str, Any], str], Any]] = {
    "json": _json,
    "slack": _slack,
    "discord": _discord,
    "teams": _teams,
    "cloudevents": _cloudevents,
}
