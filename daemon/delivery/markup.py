"""Escape pledge text for each chat platform's markup, and cut it to fit a limit.

Whoever records a pledge writes its title, description, parties, source and
deadline phrase, and whoever changes its status writes the note, the evidence
and the actor. A chat format shows all of that as text, never as markup: a
title such as "[Click here](https://evil.example) **urgent**" must not become
a link or turn bold, and "@everyone" must not ping. Each platform has one
escape function here, which returns the text as pieces, one per character,
each as the platform must receive it; `clip` cuts between pieces, so a cut
never splits an escape such as `&amp;` or `\\*` in half.

* `slack` (mrkdwn): `&`, `<` and `>` become `&amp;`, `&lt;` and `&gt;`, the
  only escapes Slack has. mrkdwn has none for `*`, `_`, `~` and `` ` ``, so
  where one could open or close formatting (anywhere but between two letters
  or digits) it becomes a look-alike (ASTERISK OPERATOR, MODIFIER LETTER LOW
  MACRON, TILDE OPERATOR, MODIFIER LETTER GRAVE ACCENT). A `>` that starts a
  line, which would quote it, gets an invisible soft hyphen before it.
* `discord` (Discord's markdown): a backslash before `\\ * _ ~ ` | [ ] <`,
  and before a `#`, `>`, `-`, `+` or a number's dot that starts a line
  (headings, quotes, lists); a zero-width space after the `@` of `@everyone`
  and `@here`.
* `teams` (the Markdown of Adaptive Card TextBlocks and Facts): a backslash
  before `\\ * [ ]`, before a `_` that is not between two letters or digits,
  and before a `-`, `+` or a number's dot that starts a line (lists); each
  line break is doubled, since Markdown joins lines that a single one splits.

The addresses the daemon links to (a source's or the evidence's http(s) URL)
go through `slack_url` or `discord_url` instead, which keep them working.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Escape = Callable[[str], list[str]]  # text -> one piece per character

_SLACK_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SLACK_LOOKALIKES = {
    "*": "\N{ASTERISK OPERATOR}",
    "_": "\N{MODIFIER LETTER LOW MACRON}",
    "~": "\N{TILDE OPERATOR}",
    "`": "\N{MODIFIER LETTER GRAVE ACCENT}",
}
_DISCORD_ALWAYS = frozenset("\\*_~`|[]<")
_DISCORD_LINE_START = frozenset("#>-+.")
_TEAMS_ALWAYS = frozenset("\\*[]")
_TEAMS_LINE_START = frozenset("-+.")
# The first character of each line after its indent, or the dot of "12." there.
_LINE_START = re.compile(r"^[ \t]*(?:\d+(\.)|(.))", re.MULTILINE)
_MASS_MENTION = re.compile(r"@(?=everyone|here)", re.IGNORECASE)
_URL_CODES = {char: f"%{ord(char):02X}" for char in "()<>|"}


def plain(text: str) -> list[str]:
    """Return `text` as pieces, unchanged: for parts a platform shows without markup."""
    return list(text)


def slack(text: str) -> list[str]:
    """Return `text` as pieces of Slack mrkdwn that show it as written."""
    starts = _line_starts(text)
    pieces = []
    for index, char in enumerate(text):
        if char in _SLACK_LOOKALIKES and not _inside_word(text, index):
            piece = _SLACK_LOOKALIKES[char]
        else:
            piece = _SLACK_ENTITIES.get(char, char)
        if char == ">" and index in starts:
            piece = "\N{SOFT HYPHEN}" + piece  # "&gt;" too opens a quote there
        pieces.append(piece)
    return pieces


def discord(text: str) -> list[str]:
    """Return `text` as pieces of Discord markdown that show it as written."""
    pieces = _backslashed(text, _DISCORD_ALWAYS, _DISCORD_LINE_START)
    for mention in _MASS_MENTION.finditer(text):
        pieces[mention.start()] += "\N{ZERO WIDTH SPACE}"
    return pieces


def teams(text: str) -> list[str]:
    """Return `text` as pieces of Adaptive Card Markdown that show it as written."""
    pieces = _backslashed(text, _TEAMS_ALWAYS, _TEAMS_LINE_START)
    for index, char in enumerate(text):
        if char == "_" and not _inside_word(text, index):
            pieces[index] = "\\_"
        elif char == "\n":
            pieces[index] = "\n\n"
    return pieces


def slack_url(url: str) -> str:
    """Return an http(s) address as the target of a Slack `<url|label>` link."""
    return "".join(_SLACK_ENTITIES.get(char, char) for char in url).replace("|", "%7C")


def discord_url(url: str) -> str:
    """Return an http(s) address as a Discord link target, bare or in `[label](url)`.

    Parentheses would end a link's target early, and `<` or `|` next to a bare
    address could start markup, so they are percent-encoded, as is `>`.
    """
    return "".join(_URL_CODES.get(char, char) for char in url)


def clip(text: str, limit: int, escape: Escape = plain) -> str:
    """Return `text` escaped with `escape`, cut with "…" to at most `limit` wide.

    The cut falls between the pieces `escape` returns, never inside one.
    """
    pieces = escape(text)
    whole = "".join(pieces)
    if width(whole) <= limit:
        return whole
    if limit < 1:
        return ""
    kept, used = [], 0
    for piece in pieces:
        if used + width(piece) > limit - 1:  # leave room for the ellipsis
            break
        kept.append(piece)
        used += width(piece)
    return "".join(kept).rstrip() + "…"


def width(text: str) -> int:
    """Return the length of `text` in UTF-16 code units.

    Never less than its length in code points, so a text that fits by this
    measure fits whichever of the two a platform counts.
    """
    return len(text.encode("utf-16-le")) // 2


def _backslashed(text: str, always: frozenset[str], line_start: frozenset[str]) -> list[str]:
    starts = _line_starts(text)
    return [
        "\\" + char if char in always or (char in line_start and index in starts) else char
        for index, char in enumerate(text)
    ]


def _line_starts(text: str) -> set[int]:
    """Return where markup that only works at the start of a line could begin."""
    return {match.start(match.lastindex or 0) for match in _LINE_START.finditer(text)}


def _inside_word(text: str, index: int) -> bool:
    """True when the character at `index` sits between two ASCII letters or digits.

    There `*`, `_` and the like can neither open nor close formatting. Other
    scripts count as outside a word, which errs toward escaping.
    """
    return 0 < index < len(text) - 1 and _word(text[index - 1]) and _word(text[index + 1])


def _word(char: str) -> bool:
    return char.isascii() and char.isalnum()
