"""The seed document of a list of proposals: as a dict (for --json) and as commented YAML.

The YAML is the seed format `pledgewatch import` reads (docs/seed-format.md),
written for a person to edit: each commitment says above it how sure the
extractor is and why, and carries an `extracted:` block (sentence, span,
parties, confidence, cue) that import keeps. `merge` leaves out proposals a
seed file already holds. Pure: the command reads and writes the files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from daemon.extract import phrasing
from daemon.extract.proposals import Proposal

# Text YAML reads back as the same string without quotes: a letter first, no ': ', ' #',
# quotes or brackets; in a flow list, no comma either.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ,.()/&%+'-]*(?<! )")
_PLAIN_IN_LIST = re.compile(r"[A-Za-z][A-Za-z0-9 .()/&%+'-]*(?<! )")
_YAML_WORDS = frozenset("y n yes no on off true false null".split())


@dataclass(frozen=True)
class Source:
    """Where the article came from, as the command's arguments and the article say."""

    title: str | None
    url: str | None
    published: date
    timezone: str | None
    name: str  # the file read, for the header


def document(proposals: list[Proposal], source: Source) -> dict[str, Any]:
    """Return the seed document of `proposals` as plain data (what --json prints)."""
    found: dict[str, Any] = {"source": {}}
    if source.title:
        found["source"]["title"] = source.title
    if source.url:
        found["source"]["url"] = source.url
    found["source"]["published"] = source.published.isoformat()
    if source.timezone:
        found["timezone"] = source.timezone
    found["commitments"] = [_commitment(p) for p in proposals]
    return found


def _commitment(p: Proposal) -> dict[str, Any]:
    """Return one proposal as a seed commitment."""
    item: dict[str, Any] = {"id": p.id, "title": p.title}
    if p.parties:
        item["parties"] = list(p.parties)
    item["kind"] = p.kind
    if p.deadline is not None:
        item["deadline"] = p.deadline.phrase
    if p.every is not None:
        item["every"] = p.every
    if p.requires is not None:
        item["conditions"] = [{"requires": p.requires, "status": "kept"}]
    item["extracted"] = {
        "sentence": p.sentence,
        "span": list(p.span),
        "parties": list(p.parties),
        "confidence": p.confidence,
        "cue": p.cue,
    }
    return item


def write_yaml(
    proposals: Iterable[Proposal], source: Source, out: TextIO, *, counted: float
) -> tuple[int, int]:
    """Write the seed document of `proposals` as YAML, one at a time; return (written, doubtful).

    Doubtful: below confidence `counted`. The counts close the file, as a comment.
    """
    head = document([], source)
    lines = [
        f"# Proposed by `pledgewatch extract` from {source.name}. Check every title, kind,",
        "# deadline and the parties, delete what is not a pledge, then `pledgewatch import`.",
        "source:",
    ]
    for key, value in head["source"].items():
        lines.append(f"  {key}: {value if key == 'published' else _scalar(value)}")
        if key == "title":
            lines.append("  # publisher: unknown, fill it in")
    if "title" not in head["source"]:
        lines.append("  # title: not found in the article, fill it in")
        lines.append("  # publisher: unknown, fill it in")
    if "timezone" in head:
        lines.append(f"timezone: {_scalar(head['timezone'])}")
    else:
        lines.append("# timezone: not given: import uses PLEDGEWATCH_TIMEZONE")
    lines.append("commitments:")
    out.write("\n".join(lines) + "\n")
    written = doubtful = 0
    for p in proposals:
        out.write("\n" + "\n".join(_item_lines(p, _commitment(p))) + "\n")
        written += 1
        doubtful += p.confidence < counted
    if not written:
        out.write("  []\n")
    out.write(
        f"\n# {written} commitments proposed, {doubtful} of them below confidence {counted}.\n"
    )
    return written, doubtful


def write_json(
    proposals: Iterable[Proposal], source: Source, out: TextIO, *, counted: float
) -> tuple[int, int]:
    """Write the seed document of `proposals` as JSON, one at a time; return (written, doubtful)."""
    opening = json.dumps(document([], source), indent=2, ensure_ascii=False)
    out.write(opening.removesuffix("[]\n}") + "[")
    written = doubtful = 0
    for p in proposals:
        item = json.dumps(_commitment(p), indent=2, ensure_ascii=False).replace("\n", "\n    ")
        out.write(("," if written else "") + "\n    " + item)
        written += 1
        doubtful += p.confidence < counted
    out.write("\n  ]\n}\n" if written else "]\n}\n")
    return written, doubtful


def _item_lines(p: Proposal, item: dict[str, Any]) -> list[str]:
    """Return the YAML lines of one commitment, with the reviewer's comments."""
    lines = [f"  # confidence {p.confidence}: {p.cue}"]
    lines += [f"  # note: {note}" for note in p.notes]
    first = True
    for key, value in item.items():
        lead = "  - " if first else "    "
        first = False
        if key == "extracted":
            lines.append(f"{lead}extracted:")
            lines += [f"      {k}: {_scalar(v)}" for k, v in value.items()]
            continue
        line = f"{lead}{key}: {_scalar(value)}"
        if key == "deadline" and p.deadline is not None:
            window = p.deadline.window
            zone = ZoneInfo(window.timezone)
            line += (
                f"  # read as [{window.earliest.astimezone(zone).date()}, "
                f"{window.latest.astimezone(zone).date()}) in {window.timezone}"
            )
        lines.append(line)
        if key == "kind" and p.kind == "ongoing":
            lines.append("    # check_in: 30d  # how often to ask; else PLEDGEWATCH_CHECK_IN")
    return lines


def _scalar(value: Any, *, in_list: bool = False) -> str:
    """Return `value` as one line of YAML flow style: plain when it reads back the same, else quoted.

    A JSON string is a YAML double-quoted scalar, so anything else is written
    as JSON (with its non-ASCII characters as they are).
    """
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v, in_list=True) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{k}: {_scalar(v, in_list=True)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    plain = _PLAIN_IN_LIST if in_list else _PLAIN
    if plain.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Known:
    """What a seed file already holds, as --merge compares it."""

    ids: frozenset[str]
    spans: dict[tuple[int, int], str]  # span -> id
    sentences: dict[str, str]  # normalised sentence -> id
    titles: dict[str, str]  # normalised title -> id


def known(seed: Any) -> Known:
    """Return what a seed document (as read from YAML) holds, for `merge`; raise ValueError."""
    if not isinstance(seed, dict) or not isinstance(seed.get("commitments"), list):
        raise ValueError("not a seed file: it has no list of commitments")
    ids, spans, sentences, titles = set(), {}, {}, {}
    for item in seed["commitments"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ValueError("not a seed file: a commitment has no id")
        key = item["id"]
        ids.add(key)
        titles[phrasing.normalised(str(item.get("title", "")))] = key
        found = item.get("extracted")
        if isinstance(found, dict):
            span = found.get("span")
            if isinstance(span, list) and len(span) == 2:
                spans[(span[0], span[1])] = key
            if isinstance(found.get("sentence"), str):
                sentences[phrasing.normalised(found["sentence"])] = key
    return Known(frozenset(ids), spans, sentences, titles)


def merge(proposals: Iterable[Proposal], seed: Known) -> list[Proposal]:
    """Return the proposals `seed` does not hold (same span, sentence or title), ids kept apart.

    A kept proposal that requires a left-out one requires the seed's commitment instead.
    """
    proposals = list(proposals)
    present: dict[str, str] = {}
    for p in proposals:
        same = (
            seed.spans.get(p.span)
            or seed.sentences.get(phrasing.normalised(p.sentence))
            or seed.titles.get(phrasing.normalised(p.title))
        )
        if same is not None:
            present[p.id] = same
    ids = phrasing.Ids(seed.ids)
    kept = [p for p in proposals if p.id not in present]
    renamed = {p.id: ids.new(p.id) for p in kept}
    for p in kept:
        p.id = renamed[p.id]
        if p.requires is not None:
            p.requires = present.get(p.requires) or renamed.get(p.requires, p.requires)
    return kept
