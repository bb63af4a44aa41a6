"""HTTP for the sources: one requests session per source, timeouts, retries with backoff on 5xx and
connection errors, conditional GET, a response size limit and decoding of GBK/GB2312 as well as UTF-8."""
from __future__ import annotations

import codecs
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlsplit

import requests

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

    def close(self) -> None:
        self.session.close()

    def get(self, url: str, etag: str | None = None, last_modified: str | None = None,
            check: Callable[[str], None] | None = None) -> Page:
        """The page at `url`; with `etag`/`last_modified`, a 304 gives Page(not_modified=True).
        `check` (default: `url` is the source's own URL) refuses a URL, and every redirect, that the
        source may not fetch (bot.ingest.safety)."""
        if check is None:
            from bot.ingest.safety import Scope

            check = Scope.of(url).page
        check(url)
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
                    body = self._read(response)
                except requests.Timeout:
                    problem = f"the body did not arrive within {self.timeout:g} s"
                    continue
                except requests.RequestException as exc:
                    problem = f"the connection broke ({_reason(exc)})"
                    continue
                content_type = response.headers.get("Content-Type", "")
                return Page(response.url, decode(body, content_type), content_type,
                            response.headers.get("ETag"), response.headers.get("Last-Modified"))
        tries = f" (after {self.retries + 1} attempts)" if self.retries else ""
        raise FetchError(f"{shown(url)}: {problem}{tries}")

    def _open(self, url: str, headers: dict, check: Callable[[str], None]) -> requests.Response:
        """The response at `url`, redirects followed here (not by requests) so that each is checked."""
        for _hop in range(MAX_REDIRECTS + 1):
            response = self.session.get(url, headers=headers, timeout=self.timeout, stream=True,
                                        allow_redirects=False)
            if not response.is_redirect:
                return response
            response.close()
            url = urljoin(url, response.headers["Location"])
            check(url)
        raise FetchError(f"{shown(url)}: more than {MAX_REDIRECTS} redirects")

    def _read(self, response: requests.Response) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"{shown(response.url)}: the response is {int(declared):,} bytes, over the limit of "
                             f"{self.max_bytes:,} (ingest.max_bytes)")
        deadline = time.monotonic() + self.timeout
        chunks, size = [], 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > self.max_bytes:
                raise FetchError(f"{shown(response.url)}: the response is over the limit of {self.max_bytes:,} bytes "
                                 "(ingest.max_bytes)")
            if time.monotonic() > deadline:
                raise requests.Timeout()
            chunks.append(chunk)
        return b"".join(chunks)

    def _file(self, url: str) -> Page:
        path = Path(unquote(urlsplit(url).path))
        try:
            if path.stat().st_size > self.max_bytes:
                raise FetchError(f"{url}: the file is over the limit of {self.max_bytes:,} bytes (ingest.max_bytes)")
            return Page(url, decode(path.read_bytes(), ""))
        except OSError as exc:
            raise FetchError(f"{url}: cannot read the file ({exc.strerror})") from None


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
