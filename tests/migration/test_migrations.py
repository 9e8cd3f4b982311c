"""Migrations and the declared tables must agree, on every engine."""

from __future__ import annotations

import pytest
from alembic import command
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
    assert connector.current_revision(engine) == connector.HEAD_REVISION
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


def test_upgrading_a_database_with_data_keeps_every_row(database_url: str) -> None:
    """From the first revision, with a delivery and its attempts, to head: nothing lost."""
    engine = connector.make_engine(database_url)
    if engine.dialect.name == "postgresql":
        # The fixture's database is already at head: start from an empty schema.
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    command.upgrade(connector._alembic_config(engine), "0001")
    now = "2016-08-01 00:00:00"
    statements = [
        (
            "INSERT INTO commitments (id, title, kind, status, parties, tags, source, created_at, updated_at)"
            f" VALUES ('p', 'P', 'deliverable', 'open', '[]', '[]', '{{}}', '{now}', '{now}')"
        ),
        (
            "INSERT INTO events (id, commitment_id, type, scheduled_for, created_at, body, tags)"
            f" VALUES ('evt_1', 'p', 'commitment.due', '{now}', '{now}', '{{}}', '[]')"
        ),
        (
            "INSERT INTO deliveries (id, event_id, webhook, state, attempts, next_attempt_at, created_at)"
            f" VALUES ('msg_1', 'evt_1', 'desk', 'pending', 2, '{now}', '{now}')"
        ),
        (
            "INSERT INTO delivery_attempts (delivery_id, attempted_at, status_code, duration_ms)"
            f" VALUES ('msg_1', '{now}', 503, 1.0), ('msg_1', '{now}', 503, 1.0)"
        ),
    ]
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    connector.migrate(engine)
    with engine.connect() as conn:
        counts = [
            conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
            for table in ("commitments", "events", "deliveries", "delivery_attempts")
        ]
    engine.dispose()
    assert counts == [1, 1, 1, 2]


def test_the_head_the_code_knows_is_the_newest_migration_script(sqlite_url: str) -> None:
    # `migrate` skips Alembic when the database is at HEAD_REVISION: it must be the real head.
    from alembic.script import ScriptDirectory

    engine = connector.make_engine(sqlite_url)
    scripts = ScriptDirectory.from_config(connector._alembic_config(engine))
    assert scripts.get_current_head() == connector.HEAD_REVISION
    walked = [s.revision for s in scripts.walk_revisions()]
    assert tuple(reversed(walked)) == connector.REVISIONS
    assert connector.current_revision(engine) is None  # never migrated
    engine.dispose()


def test_a_database_migrated_by_a_newer_version_is_named_as_such(sqlite_url: str) -> None:
    from daemon.service import checks

    engine = connector.make_engine(sqlite_url)
    connector.migrate(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(connector.DatabaseUnavailable, match="9999, newer than this pledgewatch"):
        connector.migrate(engine)
    check = checks.migrations(engine)
    engine.dispose()
    assert check.status == "fail" and "upgrade pledgewatch" in str(check.output)
