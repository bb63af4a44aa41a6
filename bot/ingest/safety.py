"""What a source may fetch: only the operator's choice, never local files or internal addresses.

A source's own URL may be http, https or (json/csv feeds) file, and may sit on a private address when the
operator put it there. Everything else a fetch reaches (redirects, links found in a listing or feed) must be
http or https on a public address, and a followed link must stay on the source's origin (scheme, host,
port) or on one of its `follow_hosts`. Names are resolved before each request, so a public name that
points at 127.0.0.1 is refused like 127.0.0.1 itself, and the request connects to the addresses found then
(bot.ingest.http pins them): a name that answers a public address to the check and 127.0.0.1 to the
connection (DNS rebinding) reaches nothing internal.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.ingest.http import FetchError, shown as _shown

LINK_SCHEMES = ("http", "https")


class UnsafeURL(FetchError):
    """A URL the source may not fetch; the message says which and why."""


def is_web_link(url: str | None) -> bool:
    """True for an http(s) URL with a host: the only links rebot stores or shows (no javascript:, data:, file:)."""
    if not url:
        return False
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in LINK_SCHEMES and bool(parts.hostname)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower().rstrip("."), port


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def addresses(host: str, port: int | None) -> list[str]:
    """Every address `host` resolves to (an empty list when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return [info[4][0] for info in infos]


@dataclass(frozen=True)
class Scope:
    """The fetch rules of one source, built from its URL and `follow_hosts`."""

    url: str
    follow_hosts: frozenset[str]
    internal_ok: bool  # the source URL itself is on a loopback/private address: the operator chose it

    @classmethod
    def of(cls, url: str, follow_hosts=()) -> "Scope":
        scheme, host, port = _origin(url)
        internal = scheme == "file" or (bool(host) and any(_internal(a) for a in addresses(host, port)))
        return cls(url, frozenset(h.lower().rstrip(".") for h in follow_hosts), internal)

    def page(self, url: str) -> list[str]:
        """May the source's own page (or a redirect on the way to it) be fetched? Its host's addresses, the only
        ones the request may connect to ([] for a file); raise UnsafeURL if not."""
        if url == self.url and urlsplit(url).scheme.lower() == "file":
            return []  # a json/csv feed the operator keeps on disk
        return self._reachable(url)

    def link(self, url: str) -> list[str]:
        """May a link found in the source's listing or feed (or a redirect of it) be followed? As `page`."""
        scheme, host, port = _origin(url)
        if scheme in LINK_SCHEMES and (scheme, host, port) != _origin(self.url) and host not in self.follow_hosts:
            raise UnsafeURL(f"{_shown(url)}: not followed: {host} is neither the source's own site nor "
                            "in its follow_hosts")
        return self._reachable(url)

    def _reachable(self, url: str) -> list[str]:
        scheme, host, port = _origin(url)
        if scheme not in LINK_SCHEMES or not host:
            raise UnsafeURL(f"{_shown(url)}: refused: only http and https are fetched")
        found = addresses(host, port)
        if not found:  # not let through to the request's own lookup, which could answer otherwise
            raise FetchError(f"{_shown(url)}: cannot connect (name or service not known: {host})")
        inside = [a for a in found if _internal(a)]
        if inside and not self.internal_ok:
            raise UnsafeURL(f"{_shown(url)}: refused: {host} is on an internal address ({inside[0]}); "
                            "only a source whose own URL is internal may fetch internal addresses")
        return found

