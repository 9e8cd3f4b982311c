"""Sending notices: formats and signatures (pure), the target guard, the senders and the dispatcher."""

from __future__ import annotations

import sys

# httpx loads its command-line client (rich, pygments: a third of its import time, paid
# by every start of the daemon) unless that import fails, then offers a stub `httpx.main`
# instead. We never run that client: make its import fail. No effect once httpx is loaded.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
