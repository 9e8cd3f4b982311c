"""Sending notices: formats and signatures (pure), the target guard, the dispatcher."""

from __future__ import annotations
