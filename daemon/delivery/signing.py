"""Standard Webhooks v1 signatures: HMAC-SHA256 over `id.timestamp.body`."""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Return the `webhook-signature` value (`v1,<base64>`) for one request.

    Args:
        secret: `whsec_` followed by the base64 key.
        message_id: the `webhook-id` header (the delivery id).
        timestamp: the `webhook-timestamp` header, Unix seconds.
        body: the exact bytes sent.
    """
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
