"""Fixtures shared by every suite: a clean environment, real databases, a real receiver."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.receiver import Receiver, serve


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sees only the PLEDGEWATCH_* settings it sets itself."""
    for name in list(os.environ):
        if name.startswith("PLEDGEWATCH_") and name != "PLEDGEWATCH_TEST_POSTGRES":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database to clone, or a skip saying why there is none."""
    reason = databases.postgres_unavailable()
    if reason:
        pytest.skip(reason)
    from daemon.store import connector

    name = databases.create()
    engine = connector.make_engine(databases.url_for(name))
    connector.migrate(engine)
    engine.dispose()
    yield name
    databases.drop(name)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test."""
    name = databases.create(template=postgres_template)
    yield databases.url_for(name)
    databases.drop(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file for one test (migrated by whoever opens it first)."""
    return f"sqlite:///{tmp_path / 'pledgewatch.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The same test on every engine: a SQLite file, then PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 for the whole session."""
    target = Receiver()
    server, thread = serve(target)
    yield target
    server.should_exit = True
    thread.join(timeout=5)
