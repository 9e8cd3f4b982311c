"""Webhook settings: one `PLEDGEWATCH_WEBHOOKS__<NAME>__...` block, validated."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from daemon.model.schedule import NoticeType
from daemon.settings.values import CommaList, Duration

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # what <NAME> may be
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _split_secrets(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text) if part]


class WebhookSettings(BaseModel):
    """One webhook block: `PLEDGEWATCH_WEBHOOKS__<NAME>__URL` and its siblings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    secret: SecretStr | None = None
    format: Literal["json", "slack", "discord", "teams", "cloudevents"] = "json"
    events: CommaList = ()
    tags: CommaList = ()
    headers: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    timeout: Duration = timedelta(seconds=15)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 -- raises on a port outside 0-65535
        except ValueError:
            raise ValueError("has a port outside 1-65535") from None
        return value

    @field_validator("secret")
    @classmethod
    def _signing_secrets(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        parts = _split_secrets(value.get_secret_value())
        if not parts:
            raise ValueError("is empty")
        for position, part in enumerate(parts, start=1):
            # Positions, never values: the message must not carry the secret.
            where = f"secret {position}" if len(parts) > 1 else "it"
            if not part.startswith("whsec_"):
                raise ValueError(f"{where} must start with whsec_ followed by base64 (not shown)")
            try:
                key = base64.b64decode(part[len("whsec_") :], validate=True)
            except binascii.Error:
                raise ValueError(
                    f"{where}: the part after whsec_ is not base64 (not shown)"
                ) from None
            if not key:
                raise ValueError(f"{where}: the key after whsec_ is empty")
        return value

    @property
    def secrets(self) -> list[str]:
        """Every signing secret: several during a rotation, each giving one signature."""
        return _split_secrets(self.secret.get_secret_value()) if self.secret else []

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {t.value for t in NoticeType}
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(
                f"unknown event type {unknown[0]!r} (one of: {', '.join(sorted(known))})"
            )
        return value

    @field_validator("headers", mode="before")
    @classmethod
    def _json_headers(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('must be a JSON object such as {"X-Team": "desk"}') from None
        return value

    @field_validator("headers")
    @classmethod
    def _header_safe(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP token")
            if any(c in text for c in "\r\n\0"):
                raise ValueError(
                    f"header {name!r} has a line break or NUL (the value is not shown)"
                )
        return value

    @field_validator("timeout")
    @classmethod
    def _positive_timeout(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0")
        return value

    def wants(self, event_type: str, tags: Iterable[str]) -> bool:
        """Return True when this webhook takes this event for a pledge with these tags."""
        if self.events and event_type not in self.events:
            return False
        return not self.tags or bool(set(self.tags) & set(tags))
