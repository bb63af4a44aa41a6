"""A real HTTP server on 127.0.0.1 serving tests/data/sites, for the source fetchers.

Any path ending in a fixture's file name serves that file (/2025/06/x.html → x.html), with an ETag and
Last-Modified, answering 304 to a matching conditional GET. Special paths: /status/500 (always 500),
/flaky/NAME (500 for the first `site.failures` requests, then NAME), /slow/NAME (NAME after `site.delay`
seconds), /trickle/NAME (NAME one byte every `site.delay` seconds).
"""
from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SITES = Path(__file__).parent / "data" / "sites"
TYPES = {".html": "text/html", ".xml": "application/rss+xml", ".json": "application/json", ".csv": "text/csv"}
LAST_MODIFIED = "Thu, 12 Jun 2025 10:00:00 GMT"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hangs up early (the size-limit test) is expected


class FixtureSite:
    def __init__(self):
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.failures = 0
        self.delay = 0.0
        self.served: dict[str, bytes] = {}  # extra paths → bytes, set by a test
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the http.server API
                site.requests.append((self.path, dict(self.headers)))
                site.answer(self)

            def log_message(self, *_args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def hits(self, fragment: str) -> int:
        return sum(1 for path, _headers in self.requests if fragment in path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0].split("#")[0]
        if path == "/status/500":
            return self._send(handler, 500, b"<h1>Internal Server Error</h1>", "text/html")
        if path.startswith("/flaky/"):
            if self.hits("/flaky/") <= self.failures:
                return self._send(handler, 503, b"busy", "text/plain")
        if path.startswith("/slow/"):
            time.sleep(self.delay)
        if path.startswith("/trickle/"):  # the headers at once, then one byte every `site.delay` seconds
            return self._trickle(handler, (SITES / path.rsplit("/", 1)[-1]).read_bytes())
        if path in self.served:
            return self._send(handler, 200, self.served[path], "text/html")
        file = SITES / path.rsplit("/", 1)[-1]
        if not path.endswith(tuple(TYPES)) or not file.is_file():
            return self._send(handler, 404, b"not found", "text/plain")
        body = file.read_bytes()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        if handler.headers.get("If-None-Match") == etag:
            return self._send(handler, 304, b"", None, {"ETag": etag})
        self._send(handler, 200, body, TYPES[file.suffix], {"ETag": etag, "Last-Modified": LAST_MODIFIED})

    def _trickle(self, handler, body: bytes) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for i in range(len(body)):
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                time.sleep(self.delay)
        except OSError:
            pass  # the client gave up

    @staticmethod
    def _send(handler, status: int, body: bytes, content_type: str | None, headers: dict | None = None) -> None:
        handler.send_response(status)
        if content_type:
            handler.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if status != 304:
            handler.wfile.write(body)
