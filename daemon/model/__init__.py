"""The pure domain: deadlines, statuses, the notice schedule and documents.

Nothing here reads the clock, opens a connection or imports from the shell
(`store`, `delivery`, `service`): every function takes `now` as an argument.
"""

from __future__ import annotations
