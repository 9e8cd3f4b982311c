"""The shell that runs things: scheduler wiring, planner loop, HTTP, systemd, signals."""

from __future__ import annotations
