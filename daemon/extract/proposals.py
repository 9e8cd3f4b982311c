"""Proposals: the commitments an article's sentences suggest, with why and how sure.

`propose` reads each sentence that holds a cue and decides, in this order:
someone else's view ("analysts expect") or a negation ("will not") is left
out; a hedge ("hopes to", "could") is kept only with a deadline, at low
confidence; a condition ("only when", "unless", "tied to") makes a
`conditional` proposal linked to what it waits for (found among the other
proposals, else proposed too, as `ongoing`); a frequency ("every month",
"annually") makes a `recurring` one; a deadline phrase a `deliverable`;
"continue to", "keep", "maintain" an `ongoing` one; an undertaking with none
of these an `ongoing` one at low confidence. What a condition waits for is
looked for among the `_NEARBY` proposals on either side. Pure: no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from daemon.extract import cues, deadline, phrasing, sentences
from daemon.extract.sentences import Sentence

# Confidence by what made it an undertaking.
_BASE = {"pledge": 0.9, "modal": 0.8, "plan": 0.6, "condition": 0.6, "hedge": 0.3}
_HEDGED = 0.3  # hedged, with a deadline: for review
_UNDATED = 0.45  # an undertaking with no date, frequency or condition
_STRONG_CONDITIONS = ("tied", "subject", "linked", "conditional", "contingent", "dependent")
_ENDINGS = (".", "!", "?", '"', "\u201d", "\u2019", "'", ")")
_NEARBY = 50  # proposals before and after a condition searched for what it waits for
_SAME_CONDITION = 0.6  # share of a condition's words another proposal must hold to be it


@dataclass
class Proposal:
    """One proposed commitment: seed fields and where it came from."""

    id: str
    title: str
    kind: str
    sentence: str
    span: tuple[int, int]
    parties: tuple[str, ...]
    confidence: float
    cue: str
    deadline: deadline.Deadline | None = None
    every: str | None = None
    requires: str | None = None  # the id of the proposal it waits for
    notes: list[str] = field(default_factory=list)
    condition_clause: str | None = None  # until linked: the words it waits for
    clause_span: tuple[int, int] | None = None


def propose(text: str, published: date, zone: ZoneInfo) -> Iterator[Proposal]:
    """Yield the proposals of an article's text, in the order of the text.

    Only the last `2 * _NEARBY + 1` proposals are held at a time, so memory does
    not grow with the length of the article.
    """
    ids = phrasing.Ids()
    recent: deque[tuple[Proposal, set[str]]] = deque()
    previous: tuple[str, ...] = ()
    for sentence in sentences.split(text):
        proposal = _from_sentence(sentence, published, zone, previous, ids)
        if proposal is None:
            continue
        previous = proposal.parties or previous
        recent.append((proposal, phrasing.content_words(proposal.sentence)))
        if len(recent) > _NEARBY:  # the one _NEARBY back has all its neighbours now
            yield from _linked(recent, len(recent) - 1 - _NEARBY, ids)
        if len(recent) > 2 * _NEARBY:
            recent.popleft()
    for at in range(max(0, len(recent) - _NEARBY), len(recent)):
        yield from _linked(recent, at, ids)


def _from_sentence(
    sentence: Sentence,
    published: date,
    zone: ZoneInfo,
    previous: tuple[str, ...],
    ids: phrasing.Ids,
) -> Proposal | None:
    """Return the proposal of one sentence, or None when it holds no undertaking."""
    text = sentence.text
    if not text.endswith(_ENDINGS):
        return None  # a heading or a caption, not a sentence
    commit, condition = cues.commitment(text), cues.condition(text)
    strong = condition is not None and condition.words.lower().startswith(_STRONG_CONDITIONS)
    hedge = cues.hedge(text)
    if commit is None and not strong and (hedge is None or not hedge.words.endswith(" to")):
        return None  # "hopes to" may still come with a deadline
    if cues.negation(text) or cues.third_party(text):
        return None
    due = deadline.find(text, published, zone)
    if hedge is not None and due is None:
        return None
    main = commit or (condition if strong else hedge)
    assert main is not None
    fired = [f"{main.rule}: {main.words}"]
    if condition is main:
        condition = cues.Cue("condition", main.words, main.start, main.end)  # listed once below
        fired = []
    confidence = _BASE[main.rule] - (0.1 if main.words.lower() == "would" else 0.0)
    if hedge is not None:
        if hedge is not main:
            fired.append(f"hedge: {hedge.words}")
        confidence = _HEDGED
    ongoing = cues.ongoing(text)
    if condition is not None and _is_deadline_or_end(condition, due, ongoing):
        condition = None
    recurring = cues.recurring(text)
    if (
        recurring is not None
        and due is not None
        and not recurring[0].words.lower().startswith(("every", "each", "once"))
    ):
        recurring = None  # "its annual report by March": a deliverable
    cut = [(c.start, c.end) for c in (ongoing,) if c is not None and c.start < main.end]
    head = text[: min([main.start, *(s for s, _ in cut)])]
    stop = condition.start if condition is not None else len(text)
    predicate = _without(text, main.end if main is not condition else 0, stop, due, recurring)
    # A passive sentence names what is done, not who does it: the last party named does.
    parties = previous if phrasing.is_passive(predicate) else phrasing.parties(head, previous)
    subject = text[: main.start]
    proposal = Proposal(
        id="",
        title=phrasing.title(predicate, subject),
        kind="deliverable",
        sentence=text,
        span=(sentence.start, sentence.end),
        parties=parties,
        confidence=confidence,
        cue="",
    )
    if condition is not None:
        proposal.kind = "conditional"
        raw = text[condition.end :]
        proposal.condition_clause = raw.strip()
        proposal.clause_span = (
            sentence.start + condition.end + len(raw) - len(raw.lstrip()),
            sentence.end,
        )
        fired.append(f"condition: {condition.words}")
        if due is not None and due.start < condition.start:
            proposal.deadline = due
    elif recurring is not None:
        proposal.kind, proposal.every = "recurring", recurring[1]
        fired.append(f"recurring: {recurring[0].words}")
    elif ongoing is not None:
        proposal.kind = "ongoing"
        fired.append(f"ongoing: {ongoing.words}")
    elif due is not None:
        proposal.deadline = due
        proposal.confidence = min(1.0, proposal.confidence + 0.05)
    else:
        proposal.kind = "ongoing"
        proposal.confidence = min(proposal.confidence, _UNDATED)
        proposal.notes.append("no date, frequency or condition found: proposed as ongoing")
    if proposal.deadline is not None:
        fired.append(f"deadline: {proposal.deadline.phrase}")
        if proposal.deadline.note:
            proposal.notes.append(proposal.deadline.note)
    proposal.cue = "; ".join(fired)
    proposal.confidence = round(proposal.confidence, 2)
    proposal.id = ids.new(proposal.title)
    return proposal


def _is_deadline_or_end(
    condition: cues.Cue, due: deadline.Deadline | None, ongoing: cues.Cue | None
) -> bool:
    """True when "until" starts the deadline ("until the end of 2026") or ends an ongoing pledge."""
    word = condition.words.lower()
    if word not in ("until", "till"):
        return False
    return ongoing is not None or (due is not None and due.start == condition.start)


def _without(
    text: str,
    start: int,
    stop: int,
    due: deadline.Deadline | None,
    recurring: tuple[cues.Cue, str] | None,
) -> str:
    """Return text[start:stop] without the deadline phrase and the frequency words."""
    holes = sorted(
        (s, e)
        for s, e in (
            (due.start, due.end) if due else (0, 0),
            (recurring[0].start, recurring[0].end) if recurring else (0, 0),
        )
        if e > s
    )
    kept, at = [], start
    for s, e in holes:
        if s >= stop or e <= start:
            continue
        kept.append(text[at:s])
        at = max(at, e)
    kept.append(text[at:stop])
    return " ".join(" ".join(kept).split())


def _linked(
    recent: deque[tuple[Proposal, set[str]]], at: int, ids: phrasing.Ids
) -> Iterator[Proposal]:
    """Yield `recent[at]` linked to what it waits for, then that too when it is new."""
    proposal = recent[at][0]
    clause = proposal.condition_clause
    if proposal.kind != "conditional" or not clause:
        yield proposal
        return
    words = phrasing.content_words(clause)
    for near, (other, said) in enumerate(recent):
        if near != at and words and len(words & said) >= _SAME_CONDITION * len(words):
            proposal.requires = other.id
            yield proposal
            return
    title = phrasing.clause_title(clause)
    assert proposal.clause_span is not None
    created = Proposal(
        id=ids.new(title),
        title=title,
        kind="ongoing",
        sentence=clause.rstrip(" ."),
        span=(proposal.clause_span[0], proposal.clause_span[0] + len(clause.rstrip(" ."))),
        parties=(),
        confidence=round(max(0.0, proposal.confidence - 0.1), 2),
        cue=f"condition of {proposal.id}: {clause.rstrip(' .')}",
        notes=["what the condition waits for: proposed so the daemon checks in on it"],
    )
    proposal.requires = created.id
    yield proposal
    yield created
