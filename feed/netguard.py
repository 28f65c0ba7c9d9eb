"""Outbound requests to addresses the public gave us: the private-address rules.

Webhook deliveries (``workers.delivery``) and embedded-post fetches
(``workers.embeds``) call hosts that an editor or a partner named. Neither
may reach the inside of our network: before each request (each redirect
hop too) the host's addresses are resolved and the request is refused when
any is not a globally routable unicast address (loopback, private, link-local,
carrier-grade NAT, multicast, reserved...). ``NEWSFEED_WEBHOOK_ALLOW_PRIVATE``
and ``NEWSFEED_OEMBED_ALLOW_PRIVATE`` switch the rule off, for tests and
development only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


def is_public_address(ip: str) -> bool:
    """A globally routable unicast address (not loopback, private, link-local...)."""
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return addr.is_global and not addr.is_multicast


def literal_ip(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


async def private_destination(url: str) -> str | None:
    """Why the URL's host must not be called (it resolves to a non-public
    address), or None. Checked by the worker before each request."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None  # let the request fail (and be retried) as a connection error
    except (UnicodeError, ValueError) as exc:  # a name no resolver accepts
        return f"cannot resolve {host!r}: {exc}"
    for info in infos:
        ip = str(info[4][0])
        if not is_public_address(ip):
            return f"blocked: {host} resolves to the non-public address {ip}"
    return None
