"""An article's text: bytes decoded, HTML reduced to its text, the title, and what is refused.

`read_article` takes the bytes of a file and returns an `Article` with plain
text (spans in proposals count characters in it) and a title, or raises
`ArticleError` for input that holds no English prose: empty, binary, or in
another language. HTML is read with the standard library's `html.parser`:
script, style and similar elements are dropped, block elements end a
paragraph. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

# Elements whose content is not the article's prose.
_SKIPPED = frozenset(["script", "style", "noscript", "template", "svg", "head", "iframe", "object"])
# Elements that end a paragraph.
_BLOCKS = frozenset(
    "p div br h1 h2 h3 h4 h5 h6 li ul ol section article header footer blockquote tr td th"
    " table figcaption pre hr main aside nav dd dt".split()
)
_HTML = re.compile(r"<(?:!doctype\s+html|html|body|p|div|h[1-6]|article|br)\b", re.IGNORECASE)
# The most frequent English words: prose in English has plenty of them.
_ENGLISH = frozenset(
    "the of and to a in is it that for on was with as by at be this are from will has have"
    " said not but or an its which their they he she we would were been".split()
)
_SAMPLE = 20_000  # characters looked at to judge the language
_SHORTEST_TITLE, _LONGEST_TITLE = 3, 200


class ArticleError(ValueError):
    """Input that is not an article to extract from; says why."""


@dataclass(frozen=True)
class Article:
    """An article as plain text, with its title when it has one."""

    text: str
    title: str | None


def read_article(data: bytes) -> Article:
    """Return the article in `data` (UTF-8 text or HTML), or raise ArticleError saying why not."""
    if not data.strip():
        raise ArticleError("the file is empty")
    if b"\0" in data[:_SAMPLE]:
        raise ArticleError("the file is binary, not text")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"the file is not UTF-8 text (byte {exc.start})") from None
    if _looks_binary(raw[:_SAMPLE]):
        raise ArticleError("the file is binary, not text")
    raw = raw.replace("\r\n", "\n").replace("\r", "\n")
    if _HTML.search(raw[:_SAMPLE]):
        text, title = _from_html(raw)
    else:
        text, title = raw, None
    if not text.strip():
        raise ArticleError("the file holds no text")
    if not _is_english(text[:_SAMPLE]):
        raise ArticleError("the text does not read as English (only English is understood)")
    return Article(text, title or _first_line(text))


def _looks_binary(text: str) -> bool:
    """True when many characters are control characters other than whitespace."""
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f\v")
    return controls > len(text) // 100


def _is_english(text: str) -> bool:
    """True when at least an eighth of the words are among the commonest English words."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    if not words:
        return False
    return sum(1 for w in words if w in _ENGLISH) * 8 >= len(words)


def _first_line(text: str) -> str | None:
    """Return the first line as the title when it reads as a heading (short, no full stop)."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            short = _SHORTEST_TITLE <= len(line) <= _LONGEST_TITLE
            return line if short and not line.endswith((".", "?", "!")) else None
    return None


class _TextOf(HTMLParser):
    """Collects the text of an HTML page, paragraph by paragraph, and its <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.heading: list[str] = []
        self._skipping = 0
        self._in = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        if tag in ("title", "h1"):
            self._in = tag
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skipping:
            self._skipping -= 1
        if tag == self._in:
            self._in = ""
        if tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title.append(data)
        elif self._skipping:
            return
        else:
            if self._in == "h1":
                self.heading.append(data)
            self.parts.append(data)


def _from_html(raw: str) -> tuple[str, str | None]:
    """Return the text of an HTML page, paragraphs apart, and its title (<title>, else <h1>)."""
    parser = _TextOf()
    parser.feed(raw)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" ?\n[ \n]*\n ?", "\n\n", text).strip()
    title = " ".join("".join(parser.title or parser.heading).split())
    return text, title or None
