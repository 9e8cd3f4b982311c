"""What the integration tests share: a migrated engine on each database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from daemon.store import connector


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a migrated database: a SQLite file, then PostgreSQL."""
    engine = connector.make_engine(database_url)
    connector.migrate(engine)
    yield engine
    engine.dispose()
