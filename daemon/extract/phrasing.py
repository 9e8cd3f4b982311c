"""Words for a proposal: who makes it (parties), a short imperative title, and a slug id.

Rules of thumb on one sentence, for a person to correct: the parties are the
subject before the undertaking ("The two governments will..."), the title is
what follows it without the deadline, the condition or the attribution
("..., the minister said"), and the id is a slug of the title. Pure.
"""

from __future__ import annotations

import re

_REPORTING = re.compile(
    r"\s+(?:said|says|announced|told|stated|added|confirmed|insisted|explained|declared"
    r"|repeated|reiterated|stressed|noted|warned)\b",
    re.IGNORECASE,
)
_ATTRIBUTION = re.compile(
    r",\s*(?:(?:he|she|they|it|we)\s+(?:said|added|told\b[^,]*)|(?:the|its|a|an|his|her)?\s*[\w' -]{0,60}?"
    r"\s(?:said|says|told\s+[\w ]+|added|announced|promised|insisted))\b[^,]*$",
    re.IGNORECASE,
)
_PRONOUNS = frozenset("it she he they we i you its their".split())
_DETERMINERS = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_LEADING = re.compile(
    r"^(?:(?:on|in|at|under|after|during|according to|as|with)\b[^,]*,\s*"
    r"|(?:also|then|now|but|and|moreover|however|meanwhile|so)\s+)+",
    re.IGNORECASE,
)
# Past participles that end in none of the usual letters.
_IRREGULAR = (
    "cut|set|put|hit|shut|spread|split|met|kept|left|lost|won|bought|brought|sought|taught|led"
)
_PASSIVE = re.compile(
    r"^(?:(?:also|then|only|now|soon|first)\s+)*be\s+(?:\w+ly\s+)?"
    rf"(?P<rest>(?:\w+(?:ed|en|wn|ld|lt|id|ne|un|de)|{_IRREGULAR})\b.*)$",
    re.IGNORECASE,
)
_DANGLING = re.compile(
    r"(?:\s+(?:by|in|on|at|to|for|from|of|with|and|or|the|a|an|within|before|until|only|also"
    r"|is|are|was|were|be))+$",
    re.IGNORECASE,
)
_STOPWORDS = frozenset(
    "the a an of to for and in on at by its their his her be is are was will would shall"
    " with from that this these those as into it they them".split()
)
_PUNCTUATION = " .!?\"'\u201c\u201d\u2018\u2019()"  # stripped from the ends of a title
LONGEST_TITLE = 12  # words
_LONGEST_PARTY = 6  # words
_LONGEST_SLUG = 5  # words


def parties(head: str, previous: tuple[str, ...]) -> tuple[str, ...]:
    """Return who undertakes it, from the words before the undertaking, else `previous`.

    `head` is the sentence up to the cue ("The health ministry said it").
    """
    if match := _REPORTING.search(head):
        head = head[: match.start()]
    head = _LEADING.sub("", head.strip())
    head = head.rsplit(",", 1)[-1].strip()
    words = head.split()
    if not words or words[0].lower() in _PRONOUNS or len(words) > _LONGEST_PARTY:
        return previous
    found = []
    for part in re.split(r"\s+and\s+|\s*,\s*", head):
        part = _DETERMINERS.sub("", part.strip()).strip(" '\"")
        if part and part.lower() not in _PRONOUNS:
            found.append(part[0].upper() + part[1:])
    return tuple(found) or previous


def is_passive(predicate: str) -> bool:
    """True for a predicate such as "be disbursed within 30 days"."""
    return _PASSIVE.match(predicate.strip()) is not None


def title(predicate: str, subject: str = "") -> str:
    """Return a short imperative from what follows the undertaking ("complete the demarcation").

    `predicate` has the deadline and condition already cut out. A passive one
    ("be disbursed") makes a title from its `subject` instead: "First tranche disbursed".
    """
    text = _ATTRIBUTION.sub("", re.sub('["\u201c\u201d]', "", predicate.strip()))
    text = _LEADING.sub("", text)
    passive = _PASSIVE.match(text)
    if passive:
        subject = _LEADING.sub("", subject.strip()).rsplit(", ", 1)[-1]
        subject = _DETERMINERS.sub("", re.split(r"\bthat\s+", subject)[-1].strip())
        text = f"{subject} {passive['rest']}".strip()
    text = re.split(r",\s|;|:\s|\s[-\u2013\u2014]\s", text, maxsplit=1)[0]
    text = text.strip(_PUNCTUATION)
    words = text.split()
    if len(words) == 1 and subject.strip() and not passive:
        # "will launch", "will begin": the title needs what launches, begins.
        said = _DETERMINERS.sub("", re.split(r"\bthat\s+", _LEADING.sub("", subject.strip()))[-1])
        words = [*said.split()[:LONGEST_TITLE], *(w.lower() for w in words[:1]), *words[1:]]
    words = words[:LONGEST_TITLE]
    text = _DANGLING.sub("", " ".join(words)).strip(_PUNCTUATION)
    return text[:1].upper() + text[1:] if text else "Review this proposal"


def clause_title(clause: str) -> str:
    """Return a title for what a condition waits for ("the energy law is passed")."""
    text = _ATTRIBUTION.sub("", clause.strip())
    text = _DETERMINERS.sub("", re.split(r",\s|;", text, maxsplit=1)[0].strip())
    words = text.split()[:LONGEST_TITLE]
    text = _DANGLING.sub("", " ".join(words)).strip(_PUNCTUATION)
    return text[:1].upper() + text[1:] if text else "Condition to review"


class Ids:
    """The ids given so far, and a new one for each title: a slug, with -2, -3... when taken."""

    def __init__(self, taken: frozenset[str] | set[str] = frozenset()) -> None:
        self._taken = set(taken)
        self._last: dict[str, int] = {}  # the last number given after a slug

    def new(self, text: str) -> str:
        """Return an id made of the first words of `text` that is not taken yet, and take it."""
        words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]
        base = "-".join(words[:_LONGEST_SLUG]) or "pledge"
        found, n = base, self._last.get(base, 1)
        while found in self._taken:
            n += 1
            found = f"{base}-{n}"
        self._last[base] = n
        self._taken.add(found)
        return found


def normalised(text: str) -> str:
    """Return `text` as words compared by --merge: lower case, letters and digits only."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def content_words(text: str) -> set[str]:
    """Return the words of `text` that say something (no stopwords), to compare two clauses."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS}
