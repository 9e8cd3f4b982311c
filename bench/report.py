"""Figures into a table: each measure next to its target, marked met or not met.

Targets are printed, never asserted: a benchmark on a shared machine informs,
it does not pass or fail. Baseline rows compare with pledgewatch's own figure
for the same measure instead of a fixed target.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The targets pledgewatch is held to.
IMPORT_RATE = 20_000  # pledges/s
READY_SECONDS = 2.0  # at 1,000,000 pledges
RSS_MB = 120.0  # at 1,000,000 pledges
IDLE_CPU_PERCENT = 0.5  # of one core
DELAY_P50_MS = 10.0
DELAY_P99_MS = 50.0
# Of the bare loop's rate, by engine: a PostgreSQL server's own work shares the cores.
BURST_SHARE = {"sqlite": 0.8, "postgresql": 0.6}
IDLE_TURN_RATIO = 2.0  # the idle turn with 100 webhooks against the one with 1, CPU


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Return count, min, p50, p99, max and mean (nearest-rank percentiles), rounded to 0.01."""
    if not values:
        return {"count": 0, "min": None, "p50": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "min": round(ordered[0], 2),
        "p50": round(rank(0.50), 2),
        "p99": round(rank(0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(sum(ordered) / len(ordered), 2),
    }


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    scenario: str
    case: str
    measure: str
    value: str
    target: str = ""
    met: str = ""


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def _judge(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None:
        return "n/a"
    return "met" if ok(value) else "not met"


def _count(scale: int) -> str:
    return f"{scale:,}"


def rows(results: dict[str, Any]) -> list[Row]:
    """Return the table for a run's results (missing scenarios are left out)."""
    table: list[Row] = []
    table += _scale_rows(results.get("scale", []))
    table += _delay_rows(results.get("delay", []))
    ceiling = _best_ceiling(results.get("ceiling", []))
    table += _burst_rows(results.get("burst", []), ceiling)
    table += _webhooks_rows(results.get("webhooks", []))
    table += _ceiling_rows(results.get("ceiling", []))
    table += _baseline_rows(
        results.get("baseline", []), results.get("scale", []), results.get("delay", [])
    )
    return table


def _scale_rows(found: list[dict[str, Any]]) -> list[Row]:
    table = []
    for r in found:
        case = f"{r['engine']}, {_count(r['pledges'])} pledges"
        table += [
            Row(
                "scale",
                case,
                "import rate",
                _fmt(r["import_rate"], "pledges/s", 0),
                f">= {IMPORT_RATE:,} pledges/s",
                _judge(r["import_rate"], lambda v: v >= IMPORT_RATE),
            ),
            Row(
                "scale",
                case,
                f"import rate without the command's {r['import_fixed_seconds']:.1f} s start",
                _fmt(r["import_rate_net"], "pledges/s", 0),
            ),
            Row(
                "scale",
                case,
                "start to READY",
                _fmt(r["ready_seconds"], "s", 2),
                f"<= {READY_SECONDS:g} s at 1M",
                _judge(r["ready_seconds"], lambda v: v <= READY_SECONDS),
            ),
            Row(
                "scale",
                case,
                "RSS, idle",
                _fmt(r["rss_mb"], "MB"),
                f"<= {RSS_MB:g} MB at 1M",
                _judge(r["rss_mb"], lambda v: v <= RSS_MB),
            ),
            _idle_cpu("scale", case, r),
            Row(
                "scale",
                case,
                "planner pass, nothing due (median / max)",
                f"{_fmt(r['planner_pass_ms'], 'ms', 2)} / {_fmt(r['planner_pass_max_ms'], 'ms', 2)}",
            ),
        ]
        if "tick_ms_from_metrics" in r:
            table.append(
                Row(
                    "scale",
                    case,
                    "plan run, mean (daemon /metrics)",
                    _fmt(r["tick_ms_from_metrics"], "ms", 2),
                )
            )
    return table


def _idle_cpu(scenario: str, case: str, r: dict[str, Any]) -> Row:
    """The daemon's CPU over its idle window, against the target."""
    return Row(
        scenario,
        case,
        f"CPU over {r['idle_seconds']:.0f} s idle",
        _fmt(r["idle_cpu_percent"], "% of a core", 3),
        f"<= {IDLE_CPU_PERCENT:g} %",
        _judge(r["idle_cpu_percent"], lambda v: v <= IDLE_CPU_PERCENT),
    )


def _delay_rows(found: list[dict[str, Any]]) -> list[Row]:
    table = []
    for r in found:
        case = (
            f"{r['engine']}, {r['notices']:,} due over {r['window_seconds']:g} s, "
            f"{_count(r['watched'])} watched"
        )
        d = r["delay_ms"]
        table += [
            Row(
                "delay",
                case,
                "p50",
                _fmt(d["p50"], "ms", 2),
                f"<= {DELAY_P50_MS:g} ms",
                _judge(d["p50"], lambda v: v <= DELAY_P50_MS),
            ),
            Row(
                "delay",
                case,
                "p99",
                _fmt(d["p99"], "ms", 2),
                f"<= {DELAY_P99_MS:g} ms",
                _judge(d["p99"], lambda v: v <= DELAY_P99_MS),
            ),
            Row("delay", case, "max", _fmt(d["max"], "ms", 2)),
            Row("delay", case, "lost", str(r["lost"]), "0", _judge(r["lost"], lambda v: v == 0)),
            Row(
                "delay",
                case,
                "duplicates",
                str(r["duplicates"]),
                "0",
                _judge(r["duplicates"], lambda v: v == 0),
            ),
        ]
        if r["left_out"]:
            table.append(
                Row("delay", case, "left out (due before the import ended)", str(r["left_out"]))
            )
    return table


def _best_ceiling(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the fastest bare loop: the burst is compared with the best this machine did."""
    return max(found, key=lambda r: r["deliveries_per_second"], default=None)


def _burst_rows(found: list[dict[str, Any]], ceiling: dict[str, Any] | None) -> list[Row]:
    table = []
    for r in found:
        case = f"{r['engine']}, {_count(r['notices'])} at one instant"
        rate = r["deliveries_per_second"]
        # Against the bare loop run right after it where there is one (older results: the
        # fastest of the ceiling scenario).
        paired = r.get("bare_loop_per_second")
        bare = paired or (ceiling["deliveries_per_second"] if ceiling else None)
        share = rate / bare if bare and rate else None
        if r["instant_passed_before_import_ended"]:
            case += " (the instant passed during the import: raise --lead)"
        table += [
            Row("burst", case, "instant to last arrival", _fmt(r["last_arrival_seconds"], "s", 2)),
            Row("burst", case, "deliveries/s", _fmt(rate, "/s", 0)),
            Row(
                "burst",
                case,
                (
                    f"share of the bare loop run just after it "
                    f"({bare:,.0f} /s, {r['bare_loop_threads']} threads)"
                    if paired
                    else "share of the bare loop"
                    + (f" ({ceiling['threads']} threads)" if ceiling else "")
                ),
                _fmt(share, "", 2),
                f">= {BURST_SHARE[r['engine']]:g}",
                _judge(share, lambda v, least=BURST_SHARE[r["engine"]]: v >= least),
            ),
            _none("burst", case, "lost", r["lost"]),
            Row(
                "burst",
                case,
                "duplicates (by webhook-id / by pledge)",
                f"{r['duplicates']} / {r['duplicates_by_pledge']}",
                "0",
                _judge(r["duplicates"] + r["duplicates_by_pledge"], lambda v: v == 0),
            ),
            *_signed_and_busy("burst", case, r),
        ]
    return table


def _none(scenario: str, case: str, measure: str, count: int) -> Row:
    """A count whose target is 0."""
    return Row(scenario, case, measure, str(count), "0", _judge(count, lambda v: v == 0))


def _signed_and_busy(scenario: str, case: str, r: dict[str, Any]) -> list[Row]:
    """The last rows of a burst: signatures that did not verify, and the CPU it took."""
    return [
        _none(scenario, case, "bad signatures", r["bad_signatures"]),
        Row(
            scenario,
            case,
            "CPU busy: daemon / receiver",
            f"{_fmt(r['daemon_busy_percent'], '%', 0)} / {_fmt(r['receiver_busy_percent'], '%', 0)}",
        ),
    ]


def _webhooks_rows(found: list[dict[str, Any]]) -> list[Row]:
    """A burst fanned out to many webhooks, then the idle cost with 1 and with many."""
    table = []
    for r in found:
        if "notices" in r:
            table += _fan_out_rows(r)
        else:
            table += _idle_webhooks_rows(r, found)
    return table


def _fan_out_rows(r: dict[str, Any]) -> list[Row]:
    case = f"{r['engine']}, {r['notices']:,} x {r['webhooks']} webhooks at one instant"
    if r["instant_passed_before_import_ended"]:
        case += " (the instant passed during the import: raise --lead)"
    first, last = r["first_webhook_done_seconds"], r["last_webhook_done_seconds"]
    return [
        Row("webhooks", case, "instant to last arrival", _fmt(r["last_arrival_seconds"], "s", 2)),
        Row(
            "webhooks",
            case,
            f"deliveries/s ({r['deliveries']:,} deliveries)",
            _fmt(r["deliveries_per_second"], "/s", 0),
        ),
        Row(
            "webhooks",
            case,
            "webhook done: first / last",
            f"{_fmt(first, 's', 2)} / {_fmt(last, 's', 2)}",
        ),
        _none(
            "webhooks",
            case,
            f"lost (counted per webhook path; {r['webhooks_short']} short)",
            r["lost"],
        ),
        _none("webhooks", case, "duplicates (by webhook-id)", r["duplicates"]),
        *_signed_and_busy("webhooks", case, r),
        Row(
            "webhooks",
            case,
            "send drain over the burst: runs, wall time in all (daemon /metrics)",
            f"{r['send_runs']}, {_fmt(r['send_run_seconds'], 's', 2)}",
        ),
    ]


def _idle_webhooks_rows(r: dict[str, Any], found: list[dict[str, Any]]) -> list[Row]:
    case = f"{r['engine']}, idle, {r['webhooks']} webhook{'s' if r['webhooks'] > 1 else ''}"
    table = [_idle_cpu("webhooks", case, r)]
    if "tick_ms_from_metrics" in r:
        runs = r["tick_runs_from_metrics"]
        where = "in the window" if r["tick_runs_in_window"] else "since start"
        table.append(
            Row(
                "webhooks",
                case,
                f"send run, mean (daemon /metrics, wall; {runs} run{'s' if runs > 1 else ''} {where})",
                _fmt(r["tick_ms_from_metrics"], "ms", 2),
            )
        )
    for clock, label in (("cpu", "CPU"), ("wall", "wall")):
        table.append(
            Row(
                "webhooks",
                case,
                f"idle turn, in-process Dispatcher._turn x {r['turns']}: {label}, mean / p50",
                f"{_fmt(r[f'turn_{clock}_ms'], 'ms', 3)} / "
                f"{_fmt(r[f'turn_{clock}_p50_ms'], 'ms', 3)}",
            )
        )
    table.append(
        Row(
            "webhooks",
            case,
            "first turn, in-process (connect, compile): CPU / wall",
            f"{_fmt(r['first_turn_cpu_ms'], 'ms', 1)} / {_fmt(r['first_turn_wall_ms'], 'ms', 1)}",
        )
    )
    one = next(
        (
            o
            for o in found
            if o["engine"] == r["engine"] and o.get("webhooks") == 1 and "turns" in o
        ),
        None,
    )
    if one is not None and r["webhooks"] > 1 and one["turn_cpu_ms"]:
        ratio = r["turn_cpu_ms"] / one["turn_cpu_ms"]
        wall = r["turn_wall_p50_ms"] / one["turn_wall_p50_ms"] if one["turn_wall_p50_ms"] else None
        table.append(
            Row(
                "webhooks",
                case,
                "idle turn against 1 webhook's: CPU mean (wall p50)",
                f"{_fmt(ratio, 'x', 2)} ({_fmt(wall, 'x', 2)})",
                f"<= {IDLE_TURN_RATIO:g}x",
                _judge(ratio, lambda v: v <= IDLE_TURN_RATIO),
            )
        )
    return table


def _ceiling_rows(found: list[dict[str, Any]]) -> list[Row]:
    table = []
    for r in found:
        case = f"{_count(r['count'])} posts, {r['threads']} threads, no database"
        us = r.get("receiver_us_per_request")
        table += [
            Row("ceiling", case, "deliveries/s", _fmt(r["deliveries_per_second"], "/s", 0)),
            Row(
                "ceiling",
                case,
                "receiver CPU per request (capacity)",
                f"{_fmt(us, 'µs', 0)} ({_fmt(1e6 / us if us else None, '/s', 0)})",
            ),
        ]
        if r["failures"] or r["bad_signatures"]:
            table.append(
                Row(
                    "ceiling",
                    case,
                    "failures / bad signatures",
                    f"{r['failures']} / {r['bad_signatures']}",
                )
            )
    return table


def _baseline_rows(
    found: list[dict[str, Any]], scale: list[dict[str, Any]], delays: list[dict[str, Any]]
) -> list[Row]:
    """Baseline figures, each against pledgewatch's on SQLite at the nearest size."""
    table = []
    sqlite = [s for s in scale if s["engine"] == "sqlite"]
    our_delay = next((d["delay_ms"] for d in delays if d["engine"] == "sqlite"), None)
    for r in found:
        case = f"APScheduler SQLAlchemyJobStore, {_count(r['jobs'])} jobs"
        ours = min(sqlite, key=lambda s: abs(s["pledges"] - r["jobs"]), default=None)

        def versus(
            value: float | None, mine: float | None, unit: str, higher_is_better: bool
        ) -> tuple[str, str]:
            if value is None or mine is None:
                return "", ""
            better = mine > value if higher_is_better else mine < value
            return (
                f"pledgewatch {_fmt(mine, unit, 2)}",
                "pledgewatch better" if better else "baseline better",
            )

        d = r["delay_ms"]
        table += [
            Row(
                "baseline",
                case,
                "add rate",
                _fmt(r["add_rate"], "jobs/s", 0),
                # Both without their process's start-up.
                *versus(r["add_rate"], ours and ours["import_rate_net"], "pledges/s", True),
            ),
            Row(
                "baseline",
                case,
                "launch to started",
                _fmt(r["start_seconds"], "s", 2),
                *versus(r["start_seconds"], ours and ours["ready_seconds"], "s", False),
            ),
            Row("baseline", case, "start() alone", _fmt(r["start_call_seconds"], "s", 3)),
            Row(
                "baseline",
                case,
                "RSS after start",
                _fmt(r["rss_mb"], "MB"),
                *versus(r["rss_mb"], ours and ours["rss_mb"], "MB", False),
            ),
            Row("baseline", case, "peak RSS while adding", _fmt(r["build_peak_rss_mb"], "MB")),
            Row(
                "baseline",
                case,
                f"delay p50 ({d['count']} jobs)",
                _fmt(d["p50"], "ms", 2),
                *versus(d["p50"], our_delay and our_delay["p50"], "ms", False),
            ),
            Row(
                "baseline",
                case,
                "delay p99",
                _fmt(d["p99"], "ms", 2),
                *versus(d["p99"], our_delay and our_delay["p99"], "ms", False),
            ),
            Row(
                "baseline",
                case,
                "jobs missed (misfire grace) / failed",
                f"{r['missed']} / {r.get('failed', 0)}",
            ),
        ]
    return table


def markdown(table: list[Row], title: str) -> str:
    """Return the table as Markdown under `title`."""
    lines = [
        f"## {title}",
        "",
        "| scenario | case | measure | value | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.scenario} | {r.case} | {r.measure} | {r.value} | {r.target} | {r.met} |"
        for r in table
    ]
    return "\n".join(lines) + "\n"


def write(folder: Path, stem: str, document: dict[str, Any], text: str) -> tuple[Path, Path]:
    """Write `<stem>.json` and `<stem>.md` into `folder`; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    data, table = folder / f"{stem}.json", folder / f"{stem}.md"
    data.write_text(json.dumps(document, indent=2, default=str) + "\n")
    table.write_text(text)
    return data, table
