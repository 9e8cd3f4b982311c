"""The SQL tables, the only source of truth, and the named operations on them.

`connector` knows how to reach the database; `schema` declares the tables;
`claims` holds the claiming statements; `pledges` and `outbox` offer the
operations, taking and returning model values rather than ORM rows.
"""

from __future__ import annotations
