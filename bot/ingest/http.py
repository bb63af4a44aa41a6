"""HTTP for the sources: one requests session per source, timeouts, retries with backoff on 5xx and
connection errors, conditional GET, a response size limit and decoding of GBK/GB2312 as well as UTF-8."""
from __future__ import annotations

import codecs
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NewConnectionError, ReadTimeoutError

READ_BYTES = 64 * 1024  # at most this per receive: a receive returns whatever has arrived
_CHARSET_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_-]+)""", re.I)
MAX_REDIRECTS = 5
_CHINESE = {"gb2312", "gbk", "gb_2312-80", "gb18030", "x-gbk", "cp936", "euc-cn"}


class FetchError(Exception):
    """A page could not be fetched; the message says which URL and why."""


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    text: str
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False


class HttpClient:
    """Fetches the pages of one source."""

    def __init__(self, *, timeout: float = 10.0, retries: int = 2, backoff: float = 1.0,
                 max_bytes: int = 5 * 1024 * 1024, user_agent: str = "rebot"):
        self.timeout, self.retries, self.backoff, self.max_bytes = timeout, retries, backoff, max_bytes
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        # (host, port) -> the addresses the check of its last URL found: the only ones its connections may use.
        self._vetted: dict[tuple[str, int], list[str]] = {}
        adapter = _PinnedAdapter(self._vetted)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None,
            check: Callable[[str], list[str]] | None = None) -> Page:
        """The page at `url`; with `etag`/`last_modified`, a 304 gives Page(not_modified=True).
        `check` (default: `url` is the source's own URL) refuses a URL, and every redirect, that the
        source may not fetch (bot.ingest.safety)."""
        if check is None:
            from bot.ingest.safety import Scope

            check = Scope.of(url).page
        self._check(url, check)
        if url.startswith("file://"):
            return self._file(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            deadline = time.monotonic() + self.timeout  # for the whole response, however slowly it comes
            try:
                response = self._open(url, headers, check)
            except requests.Timeout:
                problem = f"no answer within {self.timeout:g} s"
                continue
            except requests.ConnectionError as exc:
                problem = f"cannot connect ({_reason(exc)})"
                continue
            except requests.RequestException as exc:
                raise FetchError(f"{shown(url)}: {shown(str(exc))}") from None
            with response:
                if response.status_code >= 500:
                    problem = f"HTTP {response.status_code} {response.reason}"
                    continue
                if response.status_code == 304:
                    return Page(response.url, "", not_modified=True, etag=etag, last_modified=last_modified)
                if response.status_code >= 400:
                    raise FetchError(f"{shown(url)}: HTTP {response.status_code} {response.reason}")
                try:
                    body = self._read(response, deadline)
                except (requests.Timeout, ReadTimeoutError, socket.timeout):
                    problem = f"the response did not arrive within {self.timeout:g} s"
                    continue
                except (requests.RequestException, HTTPError, OSError) as exc:
                    problem = f"the connection broke ({_reason(exc)})"
                    continue
                content_type = response.headers.get("Content-Type", "")
                return Page(response.url, decode(body, content_type), content_type,
                            response.headers.get("ETag"), response.headers.get("Last-Modified"))
        tries = f" (after {self.retries + 1} attempts)" if self.retries else ""
        raise FetchError(f"{shown(url)}: {problem}{tries}")

    def _open(self, url: str, headers: dict, check: Callable[[str], list[str]]) -> requests.Response:
        """The response at `url`, redirects followed here (not by requests) so that each is checked."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = self.session.get(url, headers=headers, timeout=self.timeout, stream=True,
                                        allow_redirects=False)
            if not response.is_redirect:
                return response
            response.close()
            url = urljoin(url, response.headers["Location"])
            self._check(url, check)
        raise FetchError(f"{shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _check(self, url: str, check: Callable[[str], list[str]]) -> None:
        """`check(url)`, and its host's connections pinned to the addresses it vetted."""
        vetted = check(url)
        parts = urlsplit(url)
        if vetted and parts.hostname:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
            self._vetted[(parts.hostname.lower().rstrip("."), port)] = vetted

    def _read(self, response: requests.Response, deadline: float) -> bytes:
        """The body, read as it arrives (one receive at a time, each allowed only the time left before
        `deadline`), so a server trickling bytes cannot hold a fetch past it."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"{shown(response.url)}: the response is {int(declared):,} bytes, over the limit of "
                             f"{self.max_bytes:,} (ingest.max_bytes)")
        connection = getattr(response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise requests.Timeout()
            if sock is not None:
                sock.settimeout(left)
            chunk = response.raw.read1(READ_BYTES)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{shown(response.url)}: the response is over the limit of {self.max_bytes:,} bytes "
                                 "(ingest.max_bytes)")
            chunks.append(chunk)

    def _file(self, url: str) -> Page:
        path = Path(unquote(urlsplit(url).path))
        try:
            if path.stat().st_size > self.max_bytes:
                raise FetchError(f"{url}: the file is over the limit of {self.max_bytes:,} bytes (ingest.max_bytes)")
            return Page(url, decode(path.read_bytes(), ""))
        except OSError as exc:
            raise FetchError(f"{url}: cannot read the file ({exc.strerror})") from None


class _PinnedAdapter(HTTPAdapter):
    """Connections to the addresses the fetch scope vetted (bot.ingest.safety), not to a fresh lookup of the
    name, which could answer otherwise (DNS rebinding); TLS still checks the certificate against the name."""

    def __init__(self, vetted: dict[tuple[str, int], list[str]]):
        class Pinned:
            def _new_conn(self):
                addresses = vetted.get((self.host.lower().rstrip("."), self.port))
                if not addresses:  # a proxy of the operator's, or a URL not checked: the usual lookup
                    return super()._new_conn()
                for n, address in enumerate(addresses):
                    self._dns_host = address  # urllib3 connects to _dns_host; the Host header and TLS use host
                    try:
                        return super()._new_conn()
                    except (NewConnectionError, ConnectTimeoutError):
                        if n == len(addresses) - 1:
                            raise

        class Plain(Pinned, HTTPConnection):
            pass

        class Secure(Pinned, HTTPSConnection):
            pass

        self._pools = {"http": type("PlainPool", (HTTPConnectionPool,), {"ConnectionCls": Plain}),
                       "https": type("SecurePool", (HTTPSConnectionPool,), {"ConnectionCls": Secure})}
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools


def shown(url: str) -> str:
    """`url` for messages and logs: the values of key, token, secret, password and signature parameters
    and any user:password are masked."""
    from bot.logs import mask_urls

    return mask_urls(url)


def decode(body: bytes, content_type: str) -> str:
    """The text of `body`: the charset of the header, else of a <meta> or <?xml?> declaration,
    else UTF-8, else GB18030 (which reads GBK and GB2312)."""
    declared = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_-]+)", content_type, re.I)
    head = body[:4096]
    found = declared.group(1).encode() if declared else None
    found = found or (m.group(1) if (m := _CHARSET_META.search(head) or _XML_ENCODING.search(head)) else None)
    candidates = []
    if found:
        name = found.decode("ascii").lower()
        candidates.append("gb18030" if name in _CHINESE else name)
    candidates += ["utf-8-sig", "gb18030"]
    for name in candidates:
        try:
            codecs.lookup(name)
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "timed out", "Connection reset"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
