"""SIGHUP: read the settings again and apply to the running daemon what can change while running.

The signal handler only queues the request; `Daemon.wait_for_stop` calls
`reload` on the main thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine

from daemon.clock import Clock
from daemon.service import logs, notify
from daemon.service import watch as watch_module
from daemon.settings import PREFIX, ConfigError, Settings, load_settings
from daemon.store import connector, cursors

# The daemon's log lines keep the logger name they have always had (LOG_FORMAT=json shows it).
logger = logging.getLogger("daemon.service.daemon")

# What SIGHUP applies while running. Anything else (the database, the HTTP address, the
# concurrency, the target guard, the API token...) is read once at start-up.
RELOADABLE = frozenset(
    {
        "reminder_offsets",
        "overdue_repeat",
        "check_in",
        "catch_up",
        "catch_up_grace",
        "retry_schedule",
        "lease_margin",
        "log_level",
        "log_format",
        "webhooks",
    }
)


class Running(Protocol):
    """The running daemon as a reload sees it (`daemon.Daemon`): what it reads and what it changes."""

    engine: Engine
    clock: Clock
    settings: Settings
    notifier: notify.Notifier
    watch: watch_module.ChangeWatch
    stop_pending: bool  # a stop was asked for: a long replan gives up

    def use_settings(self, settings: Settings) -> None:
        """Hand `settings` to every part that reads them."""

    def wake_drains(self) -> None:
        """Wake the planner and the sender."""


def reload(daemon: Running, env_files: Sequence[str | Path]) -> bool:
    """Read the settings again and apply what can change while running; return True when applied.

    A setting read only at start-up keeps its value, with a WARNING naming it.
    A bad setting is refused with one ERROR line naming it; the running
    settings stay. New timing settings move every open pledge's next notice.
    """
    monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    daemon.notifier.send("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")
    try:
        return _read_and_apply(daemon, env_files)
    except Exception:
        # Never fatal: the daemon goes on with whatever settings it holds.
        logger.exception("settings reload failed", extra={"action": "settings_reload_failed"})
        return False
    finally:
        daemon.notifier.send("READY=1", f"STATUS={daemon.watch.status_line()}")


def _read_and_apply(daemon: Running, env_files: Sequence[str | Path]) -> bool:
    if not env_files:
        # systemd's EnvironmentFile= is read once, at start: editing it changes nothing here.
        logger.warning(
            "no --env-file to read again: the environment, systemd's EnvironmentFile= "
            "and credentials are fixed at start; give the settings file with --env-file "
            "to reload it",
            extra={"action": "reload_without_env_file"},
        )

    try:
        new = load_settings(env_files)
    except ConfigError as exc:
        # The message names the variable, never its value (ConfigError's rule).
        logger.error(
            "settings not reloaded, the running ones stay: %s",
            exc,
            extra={"action": "settings_reload_refused"},
        )
        return False
    old = daemon.settings
    changed = changed_settings(old, new)
    kept = [name for name in changed if name not in RELOADABLE]
    for name in kept:
        logger.warning(
            "%s changed: takes effect at the next restart",
            variable_name(name),
            extra={"action": "setting_needs_restart", "variable": variable_name(name)},
        )
    applied = new.model_copy(update={name: getattr(old, name) for name in kept})
    if applied.log_level != old.log_level or applied.log_format != old.log_format:
        logs.configure(applied.log_level, applied.log_format)
    daemon.use_settings(applied)
    if applied.policy != old.policy:
        _replan(daemon, old, applied)
    daemon.wake_drains()
    names: list[str] = []
    for name in changed:
        if name in RELOADABLE:
            names += (
                _changed_webhook_variables(old, new)
                if name == "webhooks"
                else [variable_name(name)]
            )
    logger.info(
        "settings reloaded",
        extra={
            "action": "settings_reloaded",
            "changed": ",".join(names) or "none",
            "restart_needed": ",".join(variable_name(n) for n in kept) or None,
        },
    )
    return True


def _replan(daemon: Running, old: Settings, new: Settings) -> None:
    """Move every open pledge's next notice to where the new timing puts it.

    One short transaction per batch, so the planner and other writers get
    their turn, and a stop asked for meanwhile is not held up.
    """
    moved, after = 0, ""
    try:
        while after is not None:
            if daemon.stop_pending:
                logger.warning(
                    "next notices partly recomputed: stopping; the rest take the new "
                    "timing when the planner next looks at them",
                    extra={"action": "replan_interrupted", "count": moved},
                )
                return
            with connector.write(daemon.engine) as conn:
                count, after = cursors.replan(
                    conn, old.policy, new.policy, now=daemon.clock(), after=after
                )
            moved += count
    except Exception as exc:
        logger.error(
            "next notices not recomputed (%s); each pledge takes the new timing "
            "when the planner next looks at it",
            connector.describe_error(exc),
            extra={"action": "replan_failed"},
        )
        return
    logger.info(
        "next notices recomputed for the new timing",
        extra={"action": "pledges_replanned", "count": moved},
    )


def changed_settings(old: Settings, new: Settings) -> list[str]:
    """Return the names of the settings whose values differ, in declaration order."""
    return [name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)]


def variable_name(name: str) -> str:
    """Return the environment variable of a setting: `http_port` -> `PLEDGEWATCH_HTTP_PORT`."""
    return PREFIX + name.upper()


def _changed_webhook_variables(old: Settings, new: Settings) -> list[str]:
    """Return one `PLEDGEWATCH_WEBHOOKS__<NAME>` per webhook added, removed or changed."""
    names = sorted(set(old.webhooks) | set(new.webhooks))
    return [
        f"{PREFIX}WEBHOOKS__{name.upper()}"
        for name in names
        if old.webhooks.get(name) != new.webhooks.get(name)
    ]
