"""Whether an address given as the daemon's public URL is one a helpdesk in the cloud can call.

A helpdesk calls the webhook from the internet: the address must be https, name a host,
carry no query, fragment or credentials, and not point at a private, loopback or link-local
range (by its literal address, or a name resolving only there). ``allow_private`` lifts the
range check for a test setup on one machine or one network.
"""
from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from typing import Callable, Iterable
from urllib.parse import urlsplit

RESOLVE_WAIT = 5.0  # seconds to resolve the host name; a name that does not resolve here is not judged

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def public_url_problem(url: str, allow_private: bool = False, label: str = "--public-url",
                       resolve: Callable[[str], Iterable[str]] | None = None) -> str | None:
    """What is wrong with ``url`` (given as ``label``) as the address a helpdesk calls, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        return f"{label} is not a URL ({err})"
    if parts.username is not None or parts.password is not None:
        return f"{label} must not carry a user name or password"
    if parts.scheme != "https":
        return f"{label} {url!r} must start with https:// (helpdesks call webhooks over TLS)"
    if not parts.hostname:
        return f"{label} {url!r} names no host; give it like https://socialdesk.example.com"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return f"{label} {url!r} must not have a query or fragment: give the base address only"
    if port == 0:
        return f"{label} {url!r}: port 0 is not a port"
    if allow_private:
        return None
    host = parts.hostname
    literal = _address(host)
    addresses = [literal] if literal is not None else _resolved(host, resolve or _lookup)
    inside = [a for a in addresses if not a.is_global]
    if addresses and len(inside) == len(addresses):
        where = host if literal is not None else f"{host} (resolves to {', '.join(map(str, addresses[:3]))})"
        return (f"{label} {url!r}: {where} is {_kind(inside[0])}, which a helpdesk on the internet cannot "
                "call; give the public address (or --allow-private for a test setup)")
    return None


def _address(host: str) -> Address | None:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _resolved(host: str, resolve: Callable[[str], Iterable[str]]) -> list[Address]:
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(lambda: list(resolve(host))).result(timeout=RESOLVE_WAIT)
    except (OSError, UnicodeError, Late):
        return []   # unknown here (split DNS, no network): the helpdesk's resolver decides
    finally:
        pool.shutdown(wait=False)
    return [a for a in (_address(text) for text in found) if a is not None]


def _lookup(host: str) -> list[str]:
    return sorted({str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)})


def _kind(address: Address) -> str:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    return "not a public address"
