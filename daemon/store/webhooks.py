"""Webhook state kept in the database: which endpoints a receiver declared gone.

A webhook answered 410 Gone is disabled: its deliveries stay pending, unsent,
until an operator enables it again (`pledgewatch enable-webhook NAME`). Every
replica reads the same table, so they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

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


def enable(conn: Connection, name: str, *, now: datetime) -> bool:
    """Enable `name` again; return False when it was not disabled."""
    stmt = (
        update(WebhookState)
        .where(WebhookState.name == name, WebhookState.disabled_at.is_not(None))
        .values(disabled_at=None, reason=None, updated_at=now)
    )
    return bool(conn.execute(stmt).rowcount)


def disabled(conn: Connection) -> dict[str, tuple[datetime, str | None]]:
    """Return the disabled webhooks: name -> (since, reason)."""
    stmt = select(WebhookState.name, WebhookState.disabled_at, WebhookState.reason).where(
        WebhookState.disabled_at.is_not(None)
    )
    return {row.name: (row.disabled_at, row.reason) for row in conn.execute(stmt)}
