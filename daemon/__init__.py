"""pledgewatch: watch public pledges and post notices to webhooks when they fall due."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
