"""Seed files: YAML (or JSON) commitment lists, validated whole before anything is written.

A file names its source (publisher, title, date) and a time zone; deadline
phrases are read against the source's publication date, or the import instant
when the file gives none. Any error names the file, the commitment id and the
field, and nothing is written.

| module | holds |
| --- | --- |
| `schema` | the document's pydantic models, `SeedError`, `ID_PATTERN` |
| `fastpath` | plain commitments checked without pydantic, for large imports |
| `parsing` | a document read into `Seed` values (`parse`) |
| `files` | files and folders found and read (`discover`, `load`, `bulk`) |
| `writing` | seeds written to the store in condition order (`apply`) |
| `edits` | one commitment as a seed document, changed field by field (`edited`) |
"""

from __future__ import annotations

from daemon.seeds.files import SUFFIXES, bulk, discover, load
from daemon.seeds.parsing import Seed, parse
from daemon.seeds.schema import ID_PATTERN, SeedError
from daemon.seeds.writing import apply

__all__ = [
    "ID_PATTERN",
    "SUFFIXES",
    "Seed",
    "SeedError",
    "apply",
    "bulk",
    "discover",
    "load",
    "parse",
]
