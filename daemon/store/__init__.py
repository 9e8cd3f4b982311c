"""The SQL tables, the only source of truth, and the named operations on them.

`connector` knows how to reach the database, and `changes` sees other
connections' commits; `schema` declares the tables;
`claims` holds the claiming statements; `pledges` reads commitments, and
`imports`, `lifecycle`, `holds`, `archive` and `cursors` write them; `outbox` queues
notices; `refusals` are the writes declined before anything is written. The
operations take and return model values rather than ORM rows.
"""

from __future__ import annotations
