"""daemon/delivery/guard.py: which addresses a webhook may be connected to (no connection made)."""

from __future__ import annotations

import ipaddress

import pytest

from daemon.delivery.guard import Policy

REFUSED = {
    "loopback": "127.0.0.1",
    "loopback-elsewhere": "127.8.9.10",
    "private-10": "10.1.2.3",
    "private-172": "172.16.0.1",
    "private-192": "192.168.1.1",
    "link-local": "169.254.10.10",
    "cloud-metadata": "169.254.169.254",
    "cgnat": "100.64.0.1",
    "cgnat-top": "100.127.255.254",
    "multicast": "224.0.0.1",
    "reserved": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "unspecified": "0.0.0.0",
    "documentation": "192.0.2.1",
    "ipv6-loopback": "::1",
    "ipv6-unique-local": "fd00::1",
    "ipv6-link-local": "fe80::1",
    "ipv6-multicast": "ff02::1",
    "ipv4-mapped-loopback": "::ffff:127.0.0.1",
    "ipv4-mapped-metadata": "::ffff:169.254.169.254",
    "ipv4-mapped-private": "::ffff:10.0.0.1",
    "nat64-private": "64:ff9b::a00:1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "6to4-loopback": "2002:7f00:1::1",
    "ipv4-compatible-loopback": "::7f00:1",
    "ipv6-site-local": "fec0::1",
}
PUBLIC = {
    "ipv4": "93.184.216.34",
    "ipv4-next-to-cgnat": "100.128.0.1",
    "ipv6": "2606:2800:220:1:248:1893:25c8:1946",
    "ipv4-mapped-public": "::ffff:93.184.216.34",
    "nat64-public": "64:ff9b::5db8:d822",
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    assert not Policy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_addresses_are_allowed(address: str) -> None:
    assert Policy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_allow_private_lets_every_address_through(address: str) -> None:
    assert Policy(allow_private=True).allows(ipaddress.ip_address(address))


def test_an_allow_list_opens_only_its_own_networks() -> None:
    policy = Policy(allowed=(ipaddress.ip_network("10.20.0.0/16"),))
    assert policy.allows(ipaddress.ip_address("10.20.3.4"))
    assert policy.allows(ipaddress.ip_address("::ffff:10.20.3.4"))  # mapped form, same host
    assert not policy.allows(ipaddress.ip_address("10.21.0.1"))
    assert not policy.allows(ipaddress.ip_address("169.254.169.254"))
