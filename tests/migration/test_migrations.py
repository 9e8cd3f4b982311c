"""Migrations and the declared tables must agree, on every engine."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from daemon.store import connector, schema


def test_upgrading_an_empty_database_to_head_matches_the_declared_tables(database_url: str) -> None:
    engine = connector.make_engine(database_url)
    connector.migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), schema.metadata
        )
    engine.dispose()
    assert diff == []


def test_migrating_twice_is_harmless_and_reports_head(sqlite_url: str) -> None:
    engine = connector.make_engine(sqlite_url)
    connector.migrate(engine)
    connector.migrate(engine)
    assert connector.current_revision(engine) == connector.head_revision(engine) is not None
    engine.dispose()


@pytest.mark.parametrize("pragma", ["journal_mode", "foreign_keys", "busy_timeout"])
def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(
    sqlite_url: str, pragma: str
) -> None:
    engine = connector.make_engine(sqlite_url)
    with engine.connect() as conn:
        value = conn.exec_driver_sql(f"PRAGMA {pragma}").scalar()
    engine.dispose()
    assert (
        value
        == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": connector.BUSY_TIMEOUT_MS}[
            pragma
        ]
    )
