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
written inside IPv6 (mapped ::ffff:127.0.0.1, NAT64 64:ff9b::a00:1, 6to4
2002:7f00:1::, compatible ::7f00:1), and the old site-local fec0::/10.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Shared address space for carrier-grade NAT; Python's is_global already excludes it,
# named here so the rule is visible.
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


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
        address = _embedded(address)
        if self.allow_private or any(address in network for network in self.allowed):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
            return False  # fec0::/10: deprecated, but still routed inside some networks
        return address.is_global and not address.is_multicast and address not in CGNAT


def _embedded(address: IPAddress) -> IPAddress:
    """Return the IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, compatible), else itself.

    Each of these can reach an IPv4 host, so each is judged as that host.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:a.b.c.d
    if address.sixtofour is not None:
        return address.sixtofour  # 2002:aabb:ccdd::/48
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in NAT64:
        return low  # 64:ff9b::a.b.c.d
    if address in IPV4_COMPATIBLE and int(address) > 1:
        return low  # ::a.b.c.d (deprecated); :: and ::1 stay as they are
    return address


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


def allowed_addresses(policy: Policy, host: str, port: int) -> list[IPAddress]:
    """Return the addresses of `host` that `policy` allows a connection to, in resolver order.

    Raises:
        TargetUnresolved: `host` does not resolve now.
        TargetRefused: none of its addresses is allowed; the message names the host and them.
    """
    addresses = resolve(host, port)
    allowed = [a for a in addresses if policy.allows(a)]
    if not allowed:
        shown = ", ".join(str(a) for a in addresses[:4])
        raise TargetRefused(
            f"{host} resolves to {shown}, not a public address (allow it with "
            "PLEDGEWATCH_ALLOWED_TARGETS or PLEDGEWATCH_ALLOW_PRIVATE_TARGETS=true)"
        )
    return allowed


def check_url(policy: Policy, url: str) -> list[IPAddress]:
    """Return the addresses a send to `url` may connect to, judged as `GuardedBackend` judges them.

    Raises:
        TargetUnresolved, TargetRefused: as `allowed_addresses`.
    """
    target = httpx.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    return allowed_addresses(policy, target.raw_host.decode("ascii"), port)


_deadline = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Bound everything the calling thread's request does on the network to `seconds` in all.

    httpx's timeouts apply to each connect, read and write; a receiver that
    trickles its answer a byte at a time would never trip them. Within this
    block every socket operation gets at most the time that is left.
    """
    _deadline.at = time.monotonic() + seconds
    try:
        yield
    finally:
        _deadline.at = None


def _remaining(timeout: float | None, error: type[Exception]) -> float | None:
    at = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the request took longer than its timeout in all")
    return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A socket stream whose reads and writes respect the thread's overall deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        remaining = _remaining(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(self._inner.start_tls(ssl_context, server_hostname, remaining))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


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
        last: Exception | None = None
        for address in allowed_addresses(self.policy, host, port):
            try:
                remaining = _remaining(timeout, httpcore.ConnectTimeout)
                stream = super().connect_tcp(
                    str(address), port, remaining, local_address, socket_options
                )
                return _BoundedStream(stream)
            except httpcore.ConnectError as exc:
                last = exc  # try the next allowed address, as a resolver-aware client would
        assert last is not None
        raise last


def client(policy: Policy, *, max_connections: int, timeout: float = 15.0) -> httpx.Client:
    """Return an httpx.Client whose every connection goes through the guard.

    No redirects, no proxies from the environment, pooled keep-alive connections.
    """
    # One context for both pools below: loading the CA bundle takes tens of milliseconds.
    ssl_context = httpx.create_ssl_context(trust_env=False)
    transport = httpx.HTTPTransport(
        verify=ssl_context,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        trust_env=False,
    )
    # httpx builds its httpcore pool without a way to pass a network backend; rebuild it
    # with ours (same settings otherwise). The guard tests fail if this stops taking effect.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
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
