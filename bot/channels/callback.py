"""The chat callbacks (`/wechat`, `/wecom`) as plain WSGI, in front of the Flask app.

Every chat message arrives at one of these URLs, so they skip Flask's request machinery (contexts,
URL map, proxies, request and response objects): on this machine that machinery costs more per
request than all of rebot's own work on a cached reply (see bench/webhook.py). Everything else —
admin, public pages, health, metrics — is the Flask app behind.
"""
from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Callable, Iterable
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)


class Rejected(Exception):
    """Refuse the request with an HTTP error `status` (400, 403…); the caller has logged why."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class Request:
    """What a callback needs of one request: query arguments, the sender's address, the body."""

    __slots__ = ("args", "remote_addr", "_environ", "_max_body")

    def __init__(self, environ: dict, max_body: int):
        self.args = query_args(environ.get("QUERY_STRING", ""))
        self.remote_addr = environ.get("REMOTE_ADDR", "-")
        self._environ = environ
        self._max_body = max_body

    def body(self) -> bytes:
        """The request body; Rejected(413) when it is over `server.max_body_bytes`."""
        stream = self._environ["wsgi.input"]
        try:
            length = int(self._environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            raise Rejected(400) from None
        if length > self._max_body:
            data = None
        elif length >= 0:
            data = stream.read(length)
        else:  # no length given (chunked): reading one byte past the limit tells
            data = stream.read(self._max_body + 1)
        if data is None or len(data) > self._max_body:
            log.warning("request body over %d bytes refused", self._max_body)
            raise Rejected(413)
        return data


def query_args(query: str) -> dict[str, str]:
    """{name: value} of a WSGI query string; the first of repeated names counts.

    WeChat's arguments (signature, timestamp, nonce…) are plain ASCII: only a part that holds an escape
    is decoded, which keeps this a few times cheaper than urllib's parse_qsl on every message."""
    args: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part or not part.isascii():
            name, value = _unquote(name), _unquote(value)
        args.setdefault(name, value)
    return args


def _unquote(text: str) -> str:
    # WSGI gives the query's bytes as latin-1 characters; the escapes in them are UTF-8.
    return unquote_plus(text.encode("latin-1").decode("utf-8", "replace"))


# A handler's answer: (HTTP status, content type, body).
Answer = tuple[int, str, str]
Handler = Callable[[Request], Answer]
TEXT = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"


class Callbacks:
    """WSGI middleware: `routes` {path: {method: handler}} answered here, every other request to `app`."""

    def __init__(self, app: Callable, routes: dict[str, dict[str, Handler]], max_body: int):
        self.app = app
        self.routes = routes
        self.max_body = max_body

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO"))
        if route is None:
            return self.app(environ, start_response)
        handler = route.get(environ["REQUEST_METHOD"])
        if handler is None:
            status, content_type, body = 405, TEXT, "method not allowed"
        else:
            try:
                status, content_type, body = handler(Request(environ, self.max_body))
            except Rejected as refused:
                status, content_type, body = refused.status, TEXT, HTTPStatus(refused.status).phrase.lower()
            except Exception:
                log.exception("callback %s failed", environ.get("PATH_INFO"))
                status, content_type, body = 500, TEXT, "internal server error"
        data = body.encode("utf-8")
        headers = [("Content-Type", content_type), ("Content-Length", str(len(data)))]
        if status == 405:
            headers.append(("Allow", ", ".join(route)))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]


def counted(metrics, channel: str, view: Callable[[Request, dict], Answer]) -> Handler:
    """`view(request, outcome)` counted in `metrics`: command, outcome and latency.

    `outcome` starts as {"command": "-", "outcome": "rejected"}, which is what a refused request (4xx)
    is counted as; the view fills it in."""

    def handler(request: Request) -> Answer:
        started = time.perf_counter()
        outcome = {"command": "-", "outcome": "rejected"}
        try:
            return view(request, outcome)
        except Rejected:
            raise
        except Exception:
            outcome["outcome"] = "error"
            raise
        finally:
            metrics.webhook(channel, outcome["command"], outcome["outcome"], time.perf_counter() - started)

    return handler


def late_unless_repeat(outcome: dict[str, str]) -> Callable[[bool], None]:
    """The de-duplication's claim callback for a callback view: the first attempt is `late` until its
    reply is ready in time (then the reply's own outcome); a repeat stays `retry`."""

    def claimed(first: bool) -> None:
        if first:
            outcome["outcome"] = "late"

    return claimed


def check_fresh(timestamp: str, max_skew: float, channel: str) -> None:
    """Rejected unless `timestamp` (Unix seconds) is within `max_skew` of now: a replayed old message."""
    try:
        skew = abs(time.time() - int(timestamp))
    except (ValueError, OverflowError):
        raise Rejected(400) from None
    if skew > max_skew:
        log.warning("%s: stale timestamp (%.0f s off)", channel, skew)
        raise Rejected(403)
