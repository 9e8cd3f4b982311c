"""Webhook state kept in the database: which endpoints a receiver declared gone.

A webhook answered 410 Gone is disabled: its deliveries stay pending, unsent,
until an operator enables it again (`pledgewatch enable-webhook NAME`). Every
replica reads the same table, so they agree.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from daemon.store import refusals
from daemon.store.schema import WebhookState


def disable(conn: Connection, name: str, *, reason: str, now: datetime) -> None:
    """Mark `name` disabled with the reason (idempotent: the first reason stays)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    values = {"name": name, "disabled_at": now, "reason": reason, "updated_at": now}
    stmt = dialect.insert(WebhookState).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"disabled_at": now, "reason": reason, "updated_at": now},
        where=WebhookState.disabled_at.is_(None),
    )
    conn.execute(stmt)


def enable(conn: Connection, name: str, *, now: datetime, configured: Collection[str]) -> None:
    """Enable `name`, one of the `configured` webhooks, again after a 410 Gone.

    Raises:
        refusals.UnknownName: `name` is not configured (the message lists those that are).
        refusals.NothingToDo: it is not disabled.
    """
    if name not in configured:
        names = ", ".join(sorted(configured)) or "none"
        raise refusals.UnknownName(f"webhook {name!r} is unknown (configured: {names})")
    stmt = (
        update(WebhookState)
        .where(WebhookState.name == name, WebhookState.disabled_at.is_not(None))
        .values(disabled_at=None, reason=None, updated_at=now)
    )
    if not conn.execute(stmt).rowcount:
        raise refusals.NothingToDo(
            f"webhook {name!r} is not disabled, so there is nothing to enable"
        )


def disabled(conn: Connection) -> dict[str, tuple[datetime, str | None]]:
    """Return the disabled webhooks: name -> (since, reason)."""
    stmt = select(WebhookState.name, WebhookState.disabled_at, WebhookState.reason).where(
        WebhookState.disabled_at.is_not(None)
    )
    return {row.name: (row.disabled_at, row.reason) for row in conn.execute(stmt)}
