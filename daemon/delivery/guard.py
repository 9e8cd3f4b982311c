"""Refuse webhook targets on loopback, private, link-local and other internal ranges.

The host is resolved before connecting and every address it resolves to must be
public, unless the operator allows private targets (a receiver on the same
host or network).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(Exception):
    """The webhook's host resolves to an address pledgewatch will not post to (permanent)."""


class TargetUnresolved(Exception):
    """The webhook's host does not resolve right now (retried: DNS may recover)."""


def check(url: str, *, allow_private: bool) -> None:
    """Raise TargetRefused when `url`'s host is not a public address, TargetUnresolved when it has none."""
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TargetUnresolved(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise TargetRefused(
                f"{host} resolves to {address}, a non-public address "
                "(set PLEDGEWATCH_ALLOW_PRIVATE_TARGETS=true to allow it)"
            )
