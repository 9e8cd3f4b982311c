"""The tables, declared once; Alembic migrations must match them (a test checks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC instant on every engine (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; instants must be aware")
        value = value.astimezone(UTC)
        # SQLite keeps text: drop the offset so every value sorts the same way.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Commitment(Base):
    """A pledge; `next_notice_at` is the indexed instant the planner wakes for."""

    __tablename__ = "commitments"
    # The status page's order (store/browse.py): each page an index range.
    __table_args__ = (Index(None, "status", "deadline_latest", "id"),)

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    parties: Mapped[list[Any]]
    tags: Mapped[list[Any]]
    source: Mapped[dict[str, Any]]
    deadline_phrase: Mapped[str | None] = mapped_column(Text)
    deadline_earliest: Mapped[datetime | None]
    deadline_latest: Mapped[datetime | None]
    deadline_precision: Mapped[str | None] = mapped_column(String(20))
    deadline_timezone: Mapped[str | None] = mapped_column(String(64))
    reminders: Mapped[list[Any] | None]  # offsets in seconds; NULL: the operator's default
    # Check-ins: {"every", "cron", "since", "timezone"}; NULL: none (a deliverable).
    recurrence: Mapped[dict[str, Any] | None]
    # The zone the pledge's file was read in; NULL for rows stored before it was kept.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Proposed by `pledgewatch extract`: {"sentence", "span", "parties", "confidence", "cue"}.
    extracted: Mapped[dict[str, Any] | None]
    # Planner state: every notice at or before planned_through has been written.
    planned_through: Mapped[datetime | None]
    next_notice_at: Mapped[datetime | None] = mapped_column(index=True)
    plan_error: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]  # overdue repeats stop; cleared by a status change
    snoozed_until: Mapped[datetime | None]
    # Archived: kept with its history, no more notices, left out of listings; NULL: watched.
    archived_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Condition(Base):
    """`commitment_id` waits until `requires_id` reaches `status`."""

    __tablename__ = "conditions"

    commitment_id: Mapped[str] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), primary_key=True
    )
    requires_id: Mapped[str] = mapped_column(
        ForeignKey("commitments.id"), primary_key=True, index=True
    )
    status: Mapped[str] = mapped_column(String(20))


class StatusChange(Base):
    """One transition in a pledge's history, with who, why and the evidence."""

    __tablename__ = "status_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commitment_id: Mapped[str] = mapped_column(
        ForeignKey("commitments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    old_status: Mapped[str | None] = mapped_column(String(20))
    new_status: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[str | None] = mapped_column(Text)


class Event(Base):
    """A notice, written once: the unique key makes planning idempotent."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("commitment_id", "type", "scheduled_for"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    commitment_id: Mapped[str] = mapped_column(ForeignKey("commitments.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    scheduled_for: Mapped[datetime]
    created_at: Mapped[datetime]
    body: Mapped[dict[str, Any]]
    tags: Mapped[list[Any]]
    # NULL until deliveries exist for it; events written outside the daemon wait here.
    fanned_out_at: Mapped[datetime | None] = mapped_column(index=True)


class Delivery(Base):
    """One event to one webhook; its id is the `webhook-id` header, stable across retries."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        # Each webhook's due deliveries, claimed up to its own room.
        Index(None, "state", "webhook", "next_attempt_at"),
        # One delivery per event and webhook. An index, not a constraint: SQLite adds
        # it without rebuilding the table.
        Index(None, "event_id", "webhook", unique=True),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    webhook: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When pending: the next attempt; while claimed: the end of the lease.
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]


class Silence(Base):
    """Every pledge with this tag holds its notices until `until`."""

    __tablename__ = "silences"

    tag: Mapped[str] = mapped_column(String(200), primary_key=True)
    until: Mapped[datetime]
    created_at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class WebhookState(Base):
    """A webhook the receiver declared gone (410): no delivery is sent to it until enabled."""

    __tablename__ = "webhook_states"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    disabled_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Attempt(Base):
    """One try at a delivery: when, the answer, the error, how long it took."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column()


metadata = Base.metadata
