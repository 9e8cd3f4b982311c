"""Health checks shared by /health, /readyz and `pledgewatch check-config`.

Each check returns a `Check` whose `output`, when it does not pass, tells the
operator what to do next. Thresholds are module constants, in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select, text

from daemon.delivery import guard
from daemon.settings import Settings, mask_url
from daemon.store import connector, waiting, webhooks
from daemon.store.schema import Commitment, Silence

DATABASE_WARN_SECONDS = 0.5  # a query slower than this warns
TICK_FAIL_FACTOR = 3  # the planner silent for 3x its longest sleep: fail
BACKLOG_WARN_SECONDS = 300  # a delivery due for 5 minutes and not attempted: warn
BACKLOG_FAIL_SECONDS = 3600  # due for an hour: fail
WEBHOOK_WARN_FAILURES = 3  # consecutive failures of one webhook before it warns


@dataclass(frozen=True)
class Check:
    """One line of a health report (draft-inadarei-api-health-check)."""

    name: str
    status: str  # pass, warn or fail
    observed_value: Any = None
    observed_unit: str | None = None
    output: str | None = None

    def document(self) -> dict[str, Any]:
        """Return the check as it appears under `checks` in /health."""
        doc: dict[str, Any] = {"status": self.status}
        if self.observed_value is not None:
            doc["observedValue"] = self.observed_value
        if self.observed_unit:
            doc["observedUnit"] = self.observed_unit
        if self.output:
            doc["output"] = self.output
        return doc


def database(engine: Engine) -> Check:
    """Time a trivial query; fail when the database does not answer."""
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return Check(
            "database:responseTime",
            "fail",
            # The driver's first line says why (refused, timed out, shutting down); never a URL.
            output=f"database unreachable ({connector.describe_error(exc)}); check PLEDGEWATCH_DATABASE_URL and the server",
        )
    elapsed = time.perf_counter() - started
    status = "warn" if elapsed > DATABASE_WARN_SECONDS else "pass"
    return Check("database:responseTime", status, round(elapsed * 1000, 2), "ms")


def migrations(engine: Engine) -> Check:
    """Pass when the database is at the newest migration this code knows."""
    try:
        current = connector.current_revision(engine)
    except Exception as exc:
        return Check(
            "database:migrations",
            "fail",
            output=f"cannot read the schema version ({type(exc).__name__})",
        )
    if current is not None and current not in connector.REVISIONS:
        return Check("database:migrations", "fail", current, output=connector.newer_schema(current))
    if current != connector.HEAD_REVISION:
        return Check(
            "database:migrations",
            "fail",
            current,
            output=f"schema at {current}, code expects {connector.HEAD_REVISION}: "
            "run `pledgewatch migrate`",
        )
    return Check("database:migrations", "pass", current)


def scheduler(
    last_run: datetime | None, now: datetime, max_sleep_seconds: float, error: str | None
) -> Check:
    """Fail when the planner has not run for several of its longest sleeps."""
    if last_run is None:
        return Check("scheduler:lastTick", "warn", output="the planner has not run yet")
    age = (now - last_run).total_seconds()
    status = "fail" if age > TICK_FAIL_FACTOR * max_sleep_seconds else ("warn" if error else "pass")
    return Check("scheduler:lastTick", status, round(age, 3), "s", output=error)


def outbox_backlog(engine: Engine, now: datetime) -> list[Check]:
    """Report pending deliveries and how long the most overdue has waited past its due time.

    A delivery waiting for a scheduled retry is not overdue, so a receiver that
    is down shows in its webhook check, not here.
    """
    try:
        with connector.read(engine) as conn:
            backlog = waiting.backlog(conn, now, held=list(webhooks.disabled(conn)))
    except Exception as exc:
        return [
            Check("outbox:backlog", "fail", output=f"cannot read the outbox ({type(exc).__name__})")
        ]
    age = backlog["most_overdue_seconds"]
    status = (
        "fail" if age > BACKLOG_FAIL_SECONDS else "warn" if age > BACKLOG_WARN_SECONDS else "pass"
    )
    hint = (
        "deliveries are waiting: see `pledgewatch deliveries --state pending`"
        if status != "pass"
        else None
    )
    return [
        Check("outbox:backlog", "pass", backlog["pending"], "deliveries"),
        Check("outbox:oldestPending", status, round(age, 3), "s", output=hint),
    ]


class Holds:
    """Counts the pledges snoozed and the tags silenced right now (informative: always pass).

    Nothing indexes a snooze's end, so counting the snoozed pledges reads every
    pledge. The counts are kept while `generation()` returns the same token
    (it changes when the tables may have: `ChangeWatch.generation`) and no hold
    counted has ended yet.

    Usage::

        holds = Holds(engine, daemon.watch.generation)
        found = holds.check(now)
    """

    def __init__(self, engine: Engine, generation: Callable[[], Hashable]) -> None:
        self._engine = engine
        self._generation = generation
        # (token, when the first hold counted ends, snoozed, silenced) of the last reading.
        self._kept: tuple[Hashable, datetime | None, int, int] | None = None

    def check(self, now: datetime) -> list[Check]:
        """Return the `pledges:snoozed` and `tags:silenced` checks as of `now`."""
        token, kept = self._generation(), self._kept
        if kept is None or kept[0] != token or (kept[1] is not None and now >= kept[1]):
            try:
                kept = self._kept = (token, *self._read(now))
            except Exception as exc:
                return [
                    Check(
                        "pledges:held", "fail", output=f"cannot read holds ({type(exc).__name__})"
                    )
                ]
        return [
            Check("pledges:snoozed", "pass", kept[2], "pledges"),
            Check("tags:silenced", "pass", kept[3], "tags"),
        ]

    def _read(self, now: datetime) -> tuple[datetime | None, int, int]:
        with connector.read(self._engine) as conn:
            snoozed, snooze_ends = conn.execute(
                select(func.count(), func.min(Commitment.snoozed_until)).where(
                    Commitment.snoozed_until > now
                )
            ).one()
            silenced, silence_ends = conn.execute(
                select(func.count(), func.min(Silence.until)).where(Silence.until > now)
            ).one()
        ends = min(filter(None, (snooze_ends, silence_ends)), default=None)
        return ends, snoozed, silenced


def webhook(
    name: str, consecutive_failures: int, last_error: str | None, *, disabled: str | None = None
) -> Check:
    """Warn when a webhook keeps failing or was disabled; its last error is shown (never a secret)."""
    if disabled is not None:
        output = f"disabled ({disabled}): its deliveries wait; `pledgewatch enable-webhook {name}`"
        return Check(
            f"webhook:{name}", "warn", consecutive_failures, "consecutive failures", output
        )
    status = "warn" if consecutive_failures >= WEBHOOK_WARN_FAILURES else "pass"
    return Check(
        f"webhook:{name}", status, consecutive_failures, "consecutive failures", last_error
    )


def webhook_targets(settings: Settings) -> list[Check]:
    """Judge each webhook's host with the guard every send goes through.

    A host the guard refuses fails (no send to it would ever be made); one that
    does not resolve now warns (its sends are retried, DNS may come back).
    """
    policy = guard.from_settings(settings.allow_private_targets, settings.allowed_targets)
    found: list[Check] = []
    for name, hook in sorted(settings.webhooks.items()):
        check = f"webhook:{name}:target"
        shown = f"webhook {name} ({mask_url(hook.url)})"
        try:
            guard.check_url(policy, hook.url)
        except guard.TargetRefused as exc:
            found.append(Check(check, "fail", output=f"{shown}: {exc}"))
        except guard.TargetUnresolved as exc:
            found.append(Check(check, "warn", output=f"{shown}: {exc}; its sends are retried"))
        else:
            found.append(Check(check, "pass"))
    return found


def overall(checks: list[Check]) -> str:
    """Return the worst status among `checks`."""
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
