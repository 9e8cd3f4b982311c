"""Run the benchmark: `python -m bench` (full sizes) or `python -m bench --quick`.

Scenarios, in order: scale, delay, burst, webhooks, ceiling, baseline (see
each module). Every size is an option; `--quick` only changes the defaults. The
results go to bench/results/<date>.json and <date>.md (<date>-quick.* for a
quick run), and the table is printed. A scenario that fails is recorded with
its error and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import baseline, burst, ceiling, delay, machine, processes, report, scale, webhooks
from bench.receiver import ReceiverProcess
from bench.scale import Database

SCENARIOS = ("scale", "delay", "burst", "webhooks", "ceiling", "baseline")
BURST_THREADS = 4  # PLEDGEWATCH_WEBHOOK_CONCURRENCY's default: the burst's posts at a time
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Import rate assumed before any was measured, to choose how far ahead notices fall due.
ASSUMED_IMPORT_RATE = 300.0
ASSUMED_IMPORT_START = 3.0  # seconds
BASELINE_LEAD_SECONDS = 2.0  # adding a few dozen jobs to a running scheduler takes well under 1 s

PROFILES: dict[str, dict[str, Any]] = {
    "full": {
        "scale_sqlite": [100_000, 1_000_000],
        "scale_postgres": [100_000],
        "idle": 60.0,
        "settle": 5.0,
        "delay_watched": 100_000,
        "delay_notices": 1_000,
        "delay_window": 60.0,
        "burst": 10_000,
        "webhooks_burst": 100,
        "webhooks_idle": 60.0,
        "ceiling_threads": [16, 4],
        "baseline_jobs": [10_000, 100_000],
        "baseline_due": 200,
        "baseline_window": 10.0,
        "engines": ["sqlite", "postgresql"],
    },
    "quick": {
        # Chosen to finish in under 3 minutes on 2 cores at today's import and burst
        # rates; the same scenarios as the full run, only smaller.
        "scale_sqlite": [1_000, 3_000],
        "scale_postgres": [1_000],
        "idle": 10.0,
        "settle": 2.0,
        "delay_watched": 3_000,
        "delay_notices": 200,
        "delay_window": 15.0,
        "burst": 500,
        "webhooks_burst": 20,
        "webhooks_idle": 4.0,
        "ceiling_threads": [16, 4],
        "baseline_jobs": [500, 2_000],
        "baseline_due": 50,
        "baseline_window": 3.0,
        "engines": ["sqlite"],
    },
}


def _sizes(text: str) -> list[int]:
    """Read "1000,5_000" as [1000, 5000]; "0" or "" is no size at all."""
    return [n for part in text.replace("_", "").split(",") if part.strip() and (n := int(part)) > 0]


def _show(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the options; those not given take the profile's value."""
    defaults = "\n".join(
        f"  {name.replace('_', '-'):<16} {_show(full):<22} {_show(PROFILES['quick'][name])}"
        for name, full in PROFILES["full"].items()
    )
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"defaults:\n  {'option':<16} {'full':<22} quick\n{defaults}",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small sizes: the whole run in under 3 minutes")
    add(
        "--only",
        type=_names,
        metavar="NAME,NAME",
        help=f"comma list of scenarios ({', '.join(SCENARIOS)})",
    )
    add("--scale-sqlite", type=_sizes, metavar="N,N", help="pledge counts for scale on SQLite")
    add(
        "--scale-postgres", type=_sizes, metavar="N,N", help="pledge counts for scale on PostgreSQL"
    )
    add("--idle", type=float, help="seconds of idle CPU measurement per scale case")
    add("--settle", type=float, help="seconds after READY before the idle window starts")
    add("--delay-watched", type=int, help="pledges watched during the delay scenario")
    add("--delay-notices", type=int, help="notices due during the delay scenario")
    add("--delay-window", type=float, help="seconds those notices are spread over")
    add("--burst", type=int, help="notices due at one instant (also the ceiling's count)")
    add(
        "--webhooks-burst",
        type=int,
        metavar="N",
        help=f"notices due at one instant, each to {webhooks.WEBHOOKS} webhooks",
    )
    add("--webhooks-idle", type=float, help="seconds of idle CPU measurement per webhook count")
    add("--ceiling-threads", type=_sizes, metavar="N,N", help="thread counts of the bare loop")
    add(
        "--baseline-jobs",
        type=_sizes,
        metavar="N,N",
        help="job counts for the APScheduler baseline",
    )
    add("--baseline-due", type=int, help="baseline jobs fired to time its delay")
    add("--baseline-window", type=float, help="seconds those jobs are spread over")
    add(
        "--engines",
        type=_names,
        metavar="NAME,NAME",
        help="engines for delay, burst and webhooks (sqlite,postgresql)",
    )
    add(
        "--lead", type=float, help="seconds from an import to its first notice (default: estimated)"
    )
    add("--postgres", default=ADMIN_URL, help="an admin URL; a scratch database is made on it")
    add("--no-postgres", action="store_true", help="skip every PostgreSQL case")
    add("--out", type=Path, default=Path(__file__).parent / "results", help="results folder")
    add("--keep", action="store_true", help="keep the work folder (databases, daemon logs)")
    args = parser.parse_args(argv)
    for name, value in PROFILES["quick" if args.quick else "full"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.only = args.only or list(SCENARIOS)
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    unknown = set(args.engines) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    return args


def say(text: str) -> None:
    """Tell the operator where the run is (stderr, so stdout is the table)."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)


class Run:
    """One benchmark run: its work folder, receiver, PostgreSQL access and results."""

    def __init__(self, args: argparse.Namespace, folder: Path, receiver: ReceiverProcess) -> None:
        self.args = args
        self.folder = folder
        self.receiver = receiver
        self.results: dict[str, list[dict[str, Any]]] = {name: [] for name in SCENARIOS}
        self.errors: list[dict[str, str]] = []
        # Scale's databases, by engine and pledge count, for the delay scenario to copy.
        self.kept: dict[tuple[str, int], Database] = {}
        self.cleanup = ExitStack()  # drops the PostgreSQL databases kept, at the end
        self.postgres_missing = (
            "--no-postgres" if args.no_postgres else processes.postgres_unavailable(args.postgres)
        )

    def attempt(self, scenario: str, case: str, work: Callable[[], dict[str, Any]]) -> None:
        """Run one case; keep its result, or its error and go on."""
        say(f"{scenario}: {case}")
        started = time.monotonic()
        try:
            result = work()
        except Exception as exc:
            say(f"{scenario}: {case} failed: {exc}")
            self.errors.append(
                {
                    "scenario": scenario,
                    "case": case,
                    "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(),
                }
            )
            return
        result["elapsed_seconds"] = round(time.monotonic() - started, 1)
        self.results[scenario].append(result)

    @contextmanager
    def database(
        self, engine: str, name: str, *, keep: bool = False, copy: Database | None = None
    ) -> Iterator[Database]:
        """Yield a database: a SQLite file in the work folder, or a scratch PostgreSQL one.

        `copy` starts it as a copy of a stopped database of the same engine;
        `keep` holds a PostgreSQL one until the end of the run (files stay anyway).
        """
        if engine == "sqlite":
            file = self.folder / f"{name}.db"
            if copy is not None and copy.file is not None:
                _copy_sqlite(copy.file, file)
            yield Database("sqlite", processes.sqlite_url(file), file)
            return
        if self.postgres_missing:
            raise processes.BenchError(f"PostgreSQL unavailable ({self.postgres_missing})")
        scratch = processes.scratch_postgres(self.args.postgres, copy.url if copy else None)
        if keep:
            yield Database("postgresql", self.cleanup.enter_context(scratch))
            return
        with scratch as url:
            yield Database("postgresql", url)

    def burst(
        self,
        engine: str,
        name: str,
        measure: Callable[..., dict[str, Any]],
        count: int,
        made: list[Database] | None = None,
    ) -> dict[str, Any]:
        """Measure `count` pledges due at one instant on a new database (`made` keeps it)."""
        with self.database(engine, name, keep=made is not None) as db:
            if made is not None:
                made.append(db)
            return measure(
                db, self.receiver, self.folder, count=count, lead=self.lead(engine, count)
            )

    def engines(self, wanted: list[str]) -> list[str]:
        """Return the engines of `wanted` this run can use (PostgreSQL only when it answers)."""
        return [e for e in wanted if e != "postgresql" or not self.postgres_missing]

    def lead(self, engine: str, count: int) -> float:
        """Seconds to allow for importing `count` pledges before the first falls due."""
        if self.args.lead is not None:
            return float(self.args.lead)
        found = [r for r in self.results["scale"] if r["engine"] == engine]
        rate = min((r["import_rate_net"] for r in found), default=ASSUMED_IMPORT_RATE)
        fixed = max((r["import_fixed_seconds"] for r in found), default=ASSUMED_IMPORT_START)
        # A wide margin over the expected import time: with the daemon running beside it
        # on a shared machine an import was seen to take 2-3 times longer. Notices due
        # before the import ends are left out of the delay figures and counted.
        return 2.0 + 2.5 * (fixed + count / rate)


def _scale(run: Run) -> None:
    args = run.args
    cases = [("sqlite", n) for n in args.scale_sqlite]
    cases += [("postgresql", n) for n in args.scale_postgres if run.engines(["postgresql"])]
    for engine, count in cases:

        def work(engine: str = engine, count: int = count) -> dict[str, Any]:
            keep = "delay" in args.only and count == args.delay_watched and engine in args.engines
            with run.database(engine, f"scale-{count}", keep=keep) as db:
                known = [r for r in run.results["scale"] if r["engine"] == engine]
                result = scale.measure(
                    db,
                    count,
                    run.folder,
                    idle=args.idle,
                    settle=args.settle,
                    # The command's start-up is the same at every size: measured once.
                    fixed=known[0]["import_fixed_seconds"] if known else None,
                )
                if keep:
                    run.kept[engine, count] = db
                return result

        run.attempt("scale", f"{engine}, {count:,} pledges", work)


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database whose daemon has stopped (with its WAL, if one is left)."""
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def _delay(run: Run) -> None:
    args = run.args
    for engine in run.engines(args.engines):

        def work(engine: str = engine) -> dict[str, Any]:
            # Scale imported these pledges already: copy its database when there is one.
            imported = run.kept.get((engine, args.delay_watched))
            with run.database(engine, "delay", copy=imported) as db:
                if imported is None:
                    delay.ensure_watched(db, args.delay_watched, run.folder)
                return delay.measure(
                    db,
                    run.receiver,
                    run.folder,
                    watched=args.delay_watched,
                    notices=args.delay_notices,
                    window=args.delay_window,
                    lead=run.lead(engine, args.delay_notices),
                )

        run.attempt("delay", f"{engine}, {args.delay_notices:,} notices", work)


def _burst(run: Run) -> None:
    args = run.args
    for engine in run.engines(args.engines):

        def shot(engine: str = engine) -> dict[str, Any]:
            result = run.burst(engine, "burst", burst.measure, args.burst)
            # The bare loop again at once, with as many posts at a time as the daemon
            # makes to one webhook: the share compares two rates of the same minute,
            # since this machine's speed drifts by a third between runs.
            bare = ceiling.measure(run.receiver, count=args.burst, threads=BURST_THREADS)
            return {
                **result,
                "bare_loop_per_second": bare["deliveries_per_second"],
                "bare_loop_threads": BURST_THREADS,
            }

        run.attempt("burst", f"{engine}, {args.burst:,} notices", shot)


def _webhooks(run: Run) -> None:
    args = run.args
    for engine in run.engines(args.engines):
        made: list[Database] = []  # the burst's database, idle afterwards

        count = f"{args.webhooks_burst:,} x {webhooks.WEBHOOKS}"
        run.attempt(
            "webhooks",
            f"{engine}, {count} webhooks at one instant",
            lambda engine=engine, made=made: run.burst(
                engine, "webhooks", webhooks.fan_out, args.webhooks_burst, made
            ),
        )
        for hooks in webhooks.IDLE_WEBHOOKS:

            def idle(hooks: int = hooks, made: list[Database] = made) -> dict[str, Any]:
                if not made:
                    raise processes.BenchError("no database: the burst could not make one")
                return webhooks.idle(
                    made[0],
                    run.receiver,
                    run.folder,
                    webhooks=hooks,
                    idle=args.webhooks_idle,
                    settle=args.settle,
                )

            run.attempt("webhooks", f"{engine}, idle, {hooks} webhook(s)", idle)


def _ceiling(run: Run) -> None:
    for threads in run.args.ceiling_threads:
        run.attempt(
            "ceiling",
            f"{run.args.burst:,} posts, {threads} threads",
            lambda threads=threads: ceiling.measure(
                run.receiver, count=run.args.burst, threads=threads
            ),
        )


def _baseline(run: Run) -> None:
    args = run.args
    for jobs in args.baseline_jobs:
        run.attempt(
            "baseline",
            f"{jobs:,} jobs",
            lambda jobs=jobs: baseline.measure(
                run.receiver,
                run.folder,
                jobs=jobs,
                due=args.baseline_due,
                window=args.baseline_window,
                lead=BASELINE_LEAD_SECONDS,
            ),
        )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    profile = "quick" if args.quick else "full"
    started = datetime.now(UTC)
    say(f"{profile} run: {', '.join(args.only)}")
    about = machine.describe()
    folder = Path(tempfile.mkdtemp(prefix="pledgewatch-bench-"))
    receiver = ReceiverProcess(processes.SECRET)
    try:
        run = Run(args, folder, receiver)
    except BaseException:
        receiver.stop()
        raise
    try:
        if run.postgres_missing:
            say(f"PostgreSQL cases skipped: {run.postgres_missing}")
        steps = {
            "scale": _scale,
            "delay": _delay,
            "burst": _burst,
            "webhooks": _webhooks,
            "ceiling": _ceiling,
            "baseline": _baseline,
        }
        for name in SCENARIOS:
            if name in args.only:
                steps[name](run)
        receiver_cpu = receiver.cpu_seconds()
    finally:
        receiver.stop()
        run.cleanup.close()
        if args.keep:
            say(f"work folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    finished = datetime.now(UTC)
    try:
        table = report.rows(run.results)
    except Exception as exc:  # the figures are still written, as JSON
        table = []
        run.errors.append(
            {
                "scenario": "report",
                "case": "table",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        )
    title = f"pledgewatch bench ({profile}), {started:%Y-%m-%d %H:%M} UTC"
    text = report.markdown(table, title) + _footer(about, run, finished - started)
    document = {
        "profile": profile,
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_seconds": round((finished - started).total_seconds(), 1),
        "machine": about,
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "postgres_skipped": run.postgres_missing,
        "receiver_cpu_seconds": round(receiver_cpu, 2),
        "results": run.results,
        "errors": run.errors,
        "table": [vars(r) for r in table],
    }
    stem = f"{started:%Y-%m-%d}" + ("-quick" if args.quick else "")
    data, _ = report.write(args.out, stem, document, text)
    print(text)
    say(f"written {data} and {data.with_suffix('.md')} in {document['duration_seconds']:g} s")
    return 1 if run.errors else 0


def _footer(about: dict[str, Any], run: Run, took: Any) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in about["packages"].items())
    lines = [
        "",
        (
            f"Machine: {about['cores']} cores, {about['cpu']}, {about['memory_mb']} MB, "
            f"Python {about['python']}; {packages}; commit {about['commit']}."
        ),
        (
            f"Load average at start: {', '.join(str(x) for x in about['load_average'])}. "
            f"Run took {took.total_seconds():.0f} s."
        ),
    ]
    if run.postgres_missing:
        lines.append(f"PostgreSQL cases skipped: {run.postgres_missing}.")
    for error in run.errors:
        lines.append(f"**Failed**: {error['scenario']} ({error['case']}): {error['error'][:300]}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
