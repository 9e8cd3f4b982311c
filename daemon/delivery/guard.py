"""Refuse webhook targets on internal addresses, checked on the address actually connected to.

The check lives in the connection itself: httpcore asks our network backend
to open each TCP connection, and the backend resolves the host, keeps only
the addresses the policy allows and connects to one of those. There is no
window between checking a name and connecting to it (no DNS rebinding), and a
redirect can never reach an internal address (redirects are not followed
anyway). Proxies from the environment are not used, so none can bypass it.

Refused unless allowed: loopback, private (10/8, 172.16/12, 192.168/16,
fc00::/7), link-local (169.254/16, cloud metadata included, fe80::/10), CGNAT
(100.64/10), multicast, reserved and unspecified ranges, and any of these
written as IPv4-mapped IPv6 (::ffff:127.0.0.1).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Shared address space for carrier-grade NAT; Python's is_global already excludes it,
# named here so the rule is visible.
CGNAT = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(Exception):
    """The webhook's host has only addresses pledgewatch will not post to (permanent)."""


class TargetUnresolved(Exception):
    """The webhook's host does not resolve right now (retried: DNS may recover)."""


@dataclass(frozen=True)
class Policy:
    """Which addresses may be connected to."""

    allow_private: bool = False
    allowed: tuple[Network, ...] = ()

    def allows(self, address: IPAddress) -> bool:
        """Return True when a connection to `address` is permitted."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # judge ::ffff:a.b.c.d as a.b.c.d
        if self.allow_private or any(address in network for network in self.allowed):
            return True
        return address.is_global and not address.is_multicast and address not in CGNAT


def resolve(host: str, port: int) -> list[IPAddress]:
    """Return the addresses `host` resolves to, in resolver order, or raise TargetUnresolved."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TargetUnresolved(f"cannot resolve {host}: {reason}") from None
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in seen:
            seen.append(address)
    return seen


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port)
        allowed = [a for a in addresses if self.policy.allows(a)]
        if not allowed:
            shown = ", ".join(str(a) for a in addresses[:4])
            raise TargetRefused(
                f"{host} resolves to {shown}, not a public address (allow it with "
                "PLEDGEWATCH_ALLOWED_TARGETS or PLEDGEWATCH_ALLOW_PRIVATE_TARGETS=true)"
            )
        last: Exception | None = None
        for address in allowed:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc  # try the next allowed address, as a resolver-aware client would
        assert last is not None
        raise last


def client(policy: Policy, *, max_connections: int, timeout: float = 15.0) -> httpx.Client:
    """Return an httpx.Client whose every connection goes through the guard.

    No redirects, no proxies from the environment, pooled keep-alive connections.
    """
    transport = httpx.HTTPTransport(
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        trust_env=False,
    )
    # httpx builds its httpcore pool without a way to pass a network backend; rebuild it
    # with ours (same settings otherwise). A test checks every connection is guarded.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy),
    )
    return httpx.Client(
        transport=transport, follow_redirects=False, trust_env=False, timeout=timeout
    )


def from_settings(allow_private: bool, allowed: Sequence[Network]) -> Policy:
    """Return the policy the settings describe."""
    return Policy(allow_private=allow_private, allowed=tuple(allowed))
