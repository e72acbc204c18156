"""Which addresses the checker may contact.

An active checker makes the server open connections to addresses people type in: without a
fence it is a tool for probing the hospital's (or anyone's) network from HISGuard's host.
The fence: loopback (settings) plus the networks an administrator allowed. A check is refused
when saved if its target resolves outside, and every run resolves again and connects to the
address it just vetted (so a DNS answer that changes afterwards — rebinding — cannot move it).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from hisguard.core.errors import DomainError, interpolate

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class NotAllowed(Exception):
    """The target is (or resolves to) an address outside the allowed networks."""


class Fence:
    """A set of networks; cheap to test against, rebuilt when the table changes."""

    def __init__(self, networks: Iterable[str]) -> None:
        self._seen: dict[str, bool] = {}
        self.networks: list[IPNetwork] = []
        for cidr in networks:
            try:
                self.networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                continue

    def allows(self, address: str | IPAddress) -> bool:
        if isinstance(address, str):
            known = self._seen.get(address)
            if known is None:
                known = self._seen[address] = self._allows(address)
                if len(self._seen) > 100_000:
                    self._seen.clear()
            return known
        return self._allows(address)

    def _allows(self, address: str | IPAddress) -> bool:
        try:
            ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)

    def __repr__(self) -> str:
        return f"Fence({[str(n) for n in self.networks]})"


_cache: tuple[float, Fence] | None = None


def current_fence(*, max_age: float = 10.0) -> Fence:
    """The configured fence, re-read from the database at most every `max_age` seconds."""
    global _cache
    now = time.monotonic()
    if _cache is not None and now - _cache[0] < max_age:
        return _cache[1]
    from hisguard.monitoring.models import AllowedNetwork

    fence = Fence(
        [*settings.HISGUARD_MONITORING_ALWAYS_ALLOWED, *AllowedNetwork.objects.values_list("cidr", flat=True)]
    )
    _cache = (now, fence)
    return fence


def forget_fence() -> None:
    global _cache
    _cache = None


def host_of(kind: str, host: str, url: str) -> str:
    if kind == "http":
        return urlsplit(url).hostname or ""
    return host.strip()


def resolve_sync(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@functools.lru_cache(maxsize=65536)
def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def resolve(host: str, fence: Fence) -> str:
    """The first address of `host`, after checking every address it resolves to."""
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OSError(f"cannot resolve {host}: {exc.strerror}") from exc
        addresses = sorted({str(info[4][0]) for info in infos})
    if not addresses:
        raise OSError(f"cannot resolve {host}")
    outside = [a for a in addresses if not fence.allows(a)]
    if outside:
        raise NotAllowed(f"{host} resolves to {', '.join(outside)}, outside the allowed networks")
    return addresses[0]


def validate_target(kind: str, host: str, url: str, *, fence: Fence | None = None) -> None:
    """Refuse to save a check whose target is outside the allowed networks (or does not resolve)."""
    if kind == "database" and not host:
        return  # SQLite: a file path, fenced by HISGUARD_MONITORING_SQLITE_DIRS instead
    target = host_of(kind, host, url)
    if not target:
        raise DomainError(_("Give the host (or URL) to check."), code="target_required")
    fence = fence or current_fence(max_age=0)
    try:
        addresses = resolve_sync(target)
    except OSError as exc:
        raise DomainError(
            interpolate(_("%(host)s does not resolve: %(error)s"), {"host": target, "error": str(exc)}),
            code="unresolvable",
        ) from exc
    outside = [a for a in addresses if not fence.allows(a)]
    if outside:
        raise DomainError(
            interpolate(
                _(
                    "%(host)s (%(addresses)s) is outside the networks the administrator allowed "
                    "for checks; ask them to add it under Monitoring → Allowed networks."
                ),
                {"host": target, "addresses": ", ".join(outside)},
            ),
            code="target_not_allowed",
            status=403,
        )
