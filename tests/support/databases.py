"""Real databases for tests: a SQLite file per test, a PostgreSQL database per test.

PostgreSQL databases are cloned (`CREATE DATABASE ... TEMPLATE`) from one
template migrated once per session, so each test starts from a fresh, migrated
schema in milliseconds.
"""

from __future__ import annotations

import os
import uuid

import psycopg

ADMIN_URL = os.environ.get(
    "PLEDGEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_unavailable() -> str | None:
    """Return why PostgreSQL cannot be used here, or None when it answers."""
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {ADMIN_URL} does not answer ({type(exc).__name__}: {str(exc).strip()[:120]})"


def url_for(database: str) -> str:
    """Return the SQLAlchemy URL of `database` on the test server."""
    base = ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{database}"


def create(template: str | None = None) -> str:
    """Create a fresh database (a clone of `template` if given); return its name."""
    name = f"pw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.execute(f"CREATE DATABASE {name}{clause}")
    return name


def drop(name: str) -> None:
    """Drop a test database, ending any connection a killed daemon left."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
