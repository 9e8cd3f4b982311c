"""Secrets masked for display: webhook URLs and database URLs an operator may see.

Outside `daemon.settings` and standard library only at import: the posting
process masks URLs in its errors without loading the settings' pydantic and
SQLAlchemy.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def mask_url(url: str) -> str:
    """Return `url` with its password, query values and token-like path parts masked.

    The scheme, host and port stay visible so an operator can tell webhooks apart.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal: keep its brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"***@{host}"
    # Webhook services carry their token in the path: mask every segment that looks
    # like one (long, digit-heavy, or letters and digits mixed). Over-masking is safe.
    path = "/".join("***" if _token_like(seg) else seg for seg in parts.path.split("/"))
    query = "&".join(f"{pair.split('=')[0]}=***" for pair in parts.query.split("&") if pair)
    return f"{parts.scheme}://{host}{path}" + (f"?{query}" if query else "")


def _token_like(segment: str) -> bool:
    digits = sum(c.isdigit() for c in segment)
    mixed = digits > 0 and any(c.isalpha() for c in segment) and len(segment) >= 6
    return len(segment) >= 16 or digits >= 6 or mixed


def mask_database_url(url: str) -> str:
    """Return a database URL with its password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unreadable database URL>"
