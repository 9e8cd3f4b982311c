"""What every settings module shares: the prefix, ConfigError and the value types read."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_settings import NoDecode

from daemon.model.durations import parse_duration, parse_durations

PREFIX = "PLEDGEWATCH_"
CONSOLE = "console"  # the sink used when no webhook is configured


class ConfigError(Exception):
    """The configuration cannot be used; the message names the variable or file."""


def _read_durations(value: Any) -> Any:
    return parse_durations(value) if isinstance(value, str) else value


def _read_duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


def _read_comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _read_networks(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return tuple(ipaddress.ip_network(p.strip()) for p in value.split(",") if p.strip())
        except ValueError as exc:
            raise ValueError(f"not a list of networks such as 10.0.0.0/8,::1/128 ({exc})") from None
    return value


# NoDecode: pydantic-settings would read these as JSON; they are written as `30d,7d,1d`.
Durations = Annotated[tuple[timedelta, ...], NoDecode, BeforeValidator(_read_durations)]
Duration = Annotated[timedelta, NoDecode, BeforeValidator(_read_duration)]
CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_read_comma_list)]
Networks = Annotated[
    tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    NoDecode,
    BeforeValidator(_read_networks),
]
