"""The client's address behind a reverse proxy: X-Forwarded-For is believed only from `server.trusted_proxies`.

From anyone else the header is ignored, so a client cannot pick the address that sign-in delays are counted
against by writing the header itself.
"""
from __future__ import annotations

import ipaddress

from werkzeug.middleware.proxy_fix import ProxyFix


def address_problem(value) -> str | None:
    """Why `value` (the list `server.trusted_proxies`) is wrong, or None."""
    for i, item in enumerate(value):
        try:
            ipaddress.ip_address(str(item))
        except ValueError:
            return f"[{i}]: {item!r} is not an IP address (the proxy's address as rebot sees it, e.g. 127.0.0.1)"
    return None


class TrustedProxies:
    """WSGI middleware: werkzeug's ProxyFix (one proxy hop: X-Forwarded-For, -Proto) for requests from a
    trusted proxy only."""

    def __init__(self, app, proxies: list[str]):
        self.app = app
        self.proxies = frozenset(str(ipaddress.ip_address(str(p))) for p in proxies)
        self.fixed = ProxyFix(app, x_for=1, x_proto=1)

    def __call__(self, environ, start_response):
        if environ.get("REMOTE_ADDR") in self.proxies:
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
