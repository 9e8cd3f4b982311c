"""Validated seeds written to the store, each after what it requires, in the caller's transaction."""

from __future__ import annotations

import graphlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from daemon.model.pledge import Pledge
from daemon.model.schedule import Policy
from daemon.seeds import parsing, schema
from daemon.store import imports, pledges


def apply(
    conn: Connection,
    seeds: Sequence[parsing.Seed],
    *,
    now: datetime,
    policy: Policy,
    actor: str = "import",
) -> dict[str, int]:
    """Upsert every seed in the caller's transaction; return counts by outcome.

    Raises SeedError when a condition names a commitment that is neither in
    this import nor stored (the caller rolls back).
    """
    ids = {s.pledge.id for s in seeds}
    wanted = {c.requires for s in seeds for c in s.pledge.conditions} - ids
    missing = wanted - imports.existing_ids(conn, sorted(wanted))
    for seed in seeds:
        for condition in seed.pledge.conditions:
            if condition.requires in missing:
                raise schema.SeedError(
                    seed.file,
                    f"condition requires {condition.requires!r}, which is not in this import nor stored",
                    commitment=seed.pledge.id,
                    field="conditions",
                )
    by_id = {s.pledge.id: s for s in seeds}
    # The conditions as they will stand: this import's, and the stored ones of the rest.
    edges = pledges.condition_edges(conn)
    graph: dict[str, set[str]] = {}
    for waiting, required in edges:
        if waiting not in ids:
            graph.setdefault(waiting, set()).add(required)
    for seed in seeds:
        if seed.pledge.conditions:
            graph[seed.pledge.id] = {c.requires for c in seed.pledge.conditions}
    order = _condition_order(by_id, graph)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    stored = imports.existing_ids(conn, order)
    kept = imports.unchanged(
        conn, [(by_id[i].pledge, by_id[i].status_given) for i in order if i in stored]
    )
    # Who waits on whom, stored or in this import: an update may touch those waiting.
    waiting_on: dict[str, set[str]] = {}
    for waiting, required in [*edges, *((w, r) for w, found in graph.items() for r in found)]:
        waiting_on.setdefault(required, set()).add(waiting)
    touched: set[str] = set()  # rows an update changed after `kept` was read
    fresh: list[Pledge] = []  # new pledges in a row, written together

    def create() -> None:
        imports.create(conn, fresh, now=now, policy=policy, actor=actor)
        counts["created"] += len(fresh)
        fresh.clear()

    for seed in (by_id[i] for i in order):
        key = seed.pledge.id
        if key not in stored:
            fresh.append(seed.pledge)
            continue
        if key in kept and key not in touched:
            counts["unchanged"] += 1
            continue
        create()  # in condition order: what this one requires is written first
        outcome = imports.upsert(
            conn, seed.pledge, status_given=seed.status_given, now=now, policy=policy, actor=actor
        )
        counts[outcome] += 1
        if outcome == "updated":
            touched |= waiting_on.get(key, set())
    create()
    return counts


def _condition_order(by_id: dict[str, parsing.Seed], graph: dict[str, set[str]]) -> list[str]:
    """Return the ids of `by_id`, each after those it requires, or raise SeedError on a cycle.

    `graph` maps a pledge to those it requires. Pledges that neither require
    nor are required come first, in file order; the others are sorted.
    """
    linked = set(graph).union(*graph.values())
    order = [i for i in by_id if i not in linked]
    try:
        # Required commitments first, so every condition points at a row already written.
        order += [i for i in graphlib.TopologicalSorter(graph).static_order() if i in by_id]
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = next((i for i in cycle if i in by_id), cycle[0])
        raise schema.SeedError(
            by_id[first].file if first in by_id else "(stored)",
            "conditions form a cycle: " + " -> ".join(cycle),
            commitment=first,
            field="conditions",
        ) from None
    return order
