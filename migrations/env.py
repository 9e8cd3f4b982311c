"""Alembic environment: runs against the engine pledgewatch hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from daemon.store import connector, schema

engine = context.config.attributes.get("engine")
if engine is None:  # run by the alembic command line: the URL comes from the settings
    from daemon.settings import load_settings

    engine = connector.make_engine(load_settings().effective_database_url())

# Replicas starting together on PostgreSQL take turns: the first migrates, the
# others wait on this lock (released at commit) and then find nothing to do.
MIGRATION_LOCK = 7_201_603_250  # any constant; the same in every pledgewatch

with engine.connect() as connection:
    if connection.dialect.name == "sqlite":
        # A batch migration rebuilds a table by dropping it; with foreign keys on,
        # that would cascade into the rows that point at it. The pragma only
        # takes effect outside a transaction, hence the raw connection, now.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    connection.execution_options(pledgewatch_write=True)
    context.configure(connection=connection, target_metadata=schema.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()
    if connection.dialect.name == "sqlite":
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
