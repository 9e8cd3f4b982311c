"""One notice posted to one webhook: rendered in its format, signed, sent through the guard.

The dispatcher's senders and `pledgewatch webhooks test` send through `post`
alone. httpx errors are caught here and nowhere else, and returned as the
outcome of the post::

    httpx.HTTPError
     ├── httpx.TimeoutException   -> "timed out", retried
     └── any other httpx error    -> connection refused, reset, undecodable answer: retried
    guard.TargetRefused           -> dead at once, never retried
    guard.TargetUnresolved        -> retried (DNS may come back)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from daemon import __version__
from daemon.clock import Clock
from daemon.delivery import formats, guard, retry, signing
from daemon.masking import mask_url

if TYPE_CHECKING:
    from daemon.settings import WebhookSettings

USER_AGENT = f"pledgewatch/{__version__}"
RESPONSE_LIMIT = 64 * 1024  # bytes of an answer read at most; the rest is never read


class Hook(Protocol):
    """What a post needs of a webhook: a `WebhookSettings`, or the `Target` taken from one."""

    @property
    def url(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def timeout(self) -> timedelta: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def secrets(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Target:
    """A webhook's plain values, all a post needs.

    What the posting process is handed instead of the `WebhookSettings`:
    unpickling one would load pydantic, and with the settings SQLAlchemy, into
    a process that needs neither (`offload`).
    """

    url: str
    format: str
    timeout: timedelta
    headers: Mapping[str, str] = field(repr=False)  # may carry a token
    secrets: tuple[str, ...] = field(repr=False)

    @classmethod
    def of(cls, hook: WebhookSettings) -> Target:
        """Return the values of `hook` that a post reads."""
        return cls(hook.url, hook.format, hook.timeout, dict(hook.headers), tuple(hook.secrets))


@dataclass(frozen=True)
class Reply:
    """How one post went: the outcome, and what the receiver answered (empty when it did not)."""

    outcome: retry.Outcome
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""  # its first bytes, as many as asked for


def post(
    client: httpx.Client,
    hook: Hook,
    body: dict[str, Any],
    *,
    delivery_id: str,
    clock: Clock,
    keep: int = 0,
) -> Reply:
    """Post one notice to `hook`, rendered, signed and guarded; never raises for the receiver's faults.

    The dispatcher's senders and `pledgewatch webhooks test` send through this
    alone. At most RESPONSE_LIMIT bytes of the answer are read, and the first
    `keep` of them kept.
    """
    started = time.perf_counter()
    content, headers = _request(hook, body, delivery_id, clock())
    seconds = hook.timeout.total_seconds()
    try:
        with (
            guard.deadline(seconds),
            client.stream(
                "POST", hook.url, content=content, headers=headers, timeout=seconds
            ) as response,
        ):
            kept = _read_body(response, keep)
    except guard.TargetRefused as exc:
        return Reply(retry.Outcome(None, f"refused: {exc}", elapsed_ms(started), permanent=True))
    except guard.TargetUnresolved as exc:
        return Reply(retry.Outcome(None, str(exc), elapsed_ms(started)))
    except httpx.TimeoutException:
        return Reply(
            retry.Outcome(
                None, f"timed out after {seconds:g}s", elapsed_ms(started), timed_out=True
            )
        )
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        message = _mask_secrets(str(exc) or type(exc).__name__, hook)
        return Reply(retry.Outcome(None, f"{type(exc).__name__}: {message}", elapsed_ms(started)))
    status = response.status_code
    outcome = retry.Outcome(
        status,
        None if status in retry.ACCEPTED else f"HTTP {status}",
        elapsed_ms(started),
        retry_after=retry.parse_retry_after(response.headers.get("retry-after"), clock()),
    )
    return Reply(outcome, response.headers, kept)


def _request(
    hook: Hook, body: dict[str, Any], delivery_id: str, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """Return the bytes `hook` receives for `body` and the headers, signed with each secret."""
    content, content_type = formats.render(hook.format, body, delivery_id=delivery_id)
    timestamp = int(now.timestamp())
    headers = {
        **hook.headers,
        "content-type": content_type,
        "user-agent": USER_AGENT,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
    }
    if hook.secrets:
        # One signature per secret, space-separated: receivers on the old or the new
        # secret both verify during a rotation.
        headers["webhook-signature"] = " ".join(
            signing.signature(secret, delivery_id, timestamp, content) for secret in hook.secrets
        )
    return content, headers


def _read_body(response: httpx.Response, keep: int) -> bytes:
    """Read at most RESPONSE_LIMIT bytes of the answer, undecoded; return the first `keep` of them.

    The dispatcher needs only the status and headers (`keep` 0). Reading a
    small answer to its end lets the connection be reused; a huge one is cut
    off (the connection is closed), so no receiver can make the daemon hold
    its body in memory.
    """
    kept = b""
    read = 0
    for chunk in response.iter_raw():
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
        read += len(chunk)
        if read > RESPONSE_LIMIT:
            break
    return kept


def _mask_secrets(text: str, hook: Hook) -> str:
    """Return an error text with the webhook's URL masked and its header values and secret removed."""
    text = text.replace(hook.url, mask_url(hook.url))
    secrets = [*hook.headers.values(), *hook.secrets]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def elapsed_ms(started: float) -> float:
    """Return the milliseconds since `started`, a `time.perf_counter()` reading."""
    return (time.perf_counter() - started) * 1000
