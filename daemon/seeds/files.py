"""Seed files found and read: folders expanded, YAML or JSON read, ids unique across files."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from daemon.seeds import parsing, schema

SUFFIXES = (".yaml", ".yml", ".json")


@contextmanager
def bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large import is read and written.

    An import builds millions of small values that all live until it ends and
    hold no cycles; the collector would walk them again and again (a third of
    the time of reading a large file). Left on for a long-running process's
    small imports.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Return the seed files named, folders expanded (sorted), or raise SeedError."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise schema.SeedError(str(path), "not a regular file or folder")
        else:
            raise schema.SeedError(str(path), "no such file or folder")
    return found


def load(
    paths: Iterable[str | Path], *, default_zone: ZoneInfo, now: datetime
) -> list[parsing.Seed]:
    """Read and validate every file; raise SeedError at the first problem."""
    seeds: list[parsing.Seed] = []
    seen: dict[str, str] = {}
    for path in discover(paths):
        for seed in _load_file(path, default_zone=default_zone, now=now):
            key = seed.pledge.id
            if key in seen:
                raise schema.SeedError(
                    seed.file, f"duplicate id, also in {seen[key]}", commitment=key, field="id"
                )
            seen[key] = seed.file  # str(path)
            seeds.append(seed)
    return seeds


def _load_file(path: Path, *, default_zone: ZoneInfo, now: datetime) -> list[parsing.Seed]:
    import yaml  # here, not above: the daemon and most commands never read a file

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else _read_yaml(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise schema.SeedError(name, f"cannot read: {exc}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise schema.SeedError(
            name, f"not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    except ValueError as exc:  # YAML dates that are not on the calendar (2016-02-30)
        raise schema.SeedError(name, f"not a valid date: {exc}") from None
    if not isinstance(raw, dict):
        raise schema.SeedError(name, "expected a mapping with a `commitments` list")
    return parsing.parse(name, raw, default_zone=default_zone, now=now)


def _read_yaml(text: str) -> Any:
    """Return the YAML document in `text`, read by libyaml when PyYAML was built with it.

    libyaml reads a large file tens of times faster. The constructors (what a
    value becomes) are the same; on any error the pure-Python reader reads it
    again, so the error raised is the one it has always given.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is not None:
        try:
            return yaml.load(text, Loader=loader)  # CSafeLoader: the safe loader, in C
        except (yaml.YAMLError, ValueError):
            pass
    return yaml.safe_load(text)
