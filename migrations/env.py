"""Alembic environment: runs against the engine pledgewatch hands over."""

from __future__ import annotations

from alembic import context

from daemon.store import connector, schema

engine = context.config.attributes.get("engine")
if engine is None:  # run by the alembic command line: the URL comes from the settings
    from daemon.settings import load_settings

    engine = connector.make_engine(load_settings().effective_database_url())

with engine.connect() as connection:
    connection.execution_options(pledgewatch_write=True)
    context.configure(connection=connection, target_metadata=schema.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
