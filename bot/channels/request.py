"""What a callback needs of one HTTP request: its query arguments, the sender's address, and its body read
within limits (`server.max_body_bytes`, `server.body_timeout_seconds`, a valid Content-Length)."""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import nullcontext
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)


class Rejected(Exception):
    """Refuse the request with an HTTP error `status` (400, 403…); the raiser has logged why."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class Request:
    """A callback request on a WSGI environ."""

    __slots__ = ("args", "remote_addr", "_environ", "_max_body", "_timeout")

    def __init__(self, environ: dict, max_body: int, timeout: float):
        self.args = query_args(environ.get("QUERY_STRING", ""))
        self.remote_addr = environ.get("REMOTE_ADDR", "-")
        self._environ, self._max_body, self._timeout = environ, max_body, timeout

    def body(self) -> bytes:
        """The request body: Rejected 400 for a bad Content-Length, 413 over the limit, 408 when not in by the deadline."""
        environ = self._environ
        declared = environ.get("CONTENT_LENGTH") or ""
        if declared and not (declared.isascii() and declared.isdigit()):
            log.warning("callback: bad Content-Length %r refused", declared[:20])
            raise Rejected(400)
        length = int(declared) if declared else None
        if length is not None and length > self._max_body:
            log.warning("callback: request body over %d bytes refused", self._max_body)
            raise Rejected(413)
        want = length if length is not None else self._max_body + 1  # no length (chunked): one byte past the limit tells
        sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
        with _deadlines.watch(sock, self._timeout):
            data = environ["wsgi.input"].read(want) if want else b""
        if length is not None and len(data) < length:
            log.warning("callback: request body not received within %s s (%d of %d bytes)", self._timeout,
                        len(data), length)
            raise Rejected(408)
        if len(data) > self._max_body:
            log.warning("callback: request body over %d bytes refused", self._max_body)
            raise Rejected(413)
        return data


class _Deadlines:
    """One thread per process that stops reading the bodies still coming in at their deadline (it shuts the
    socket for reading: the blocked read returns what it has). A slow client (a byte every few seconds)
    otherwise holds a worker thread for as long as it likes."""

    TICK = 0.25

    def __init__(self):
        self._reading: dict[int, tuple[float, object]] = {}
        self._pid: int | None = None
        self._lock = threading.Lock()

    def watch(self, sock, seconds: float):
        return _Watched(self, sock, seconds) if sock is not None else nullcontext()

    def _add(self, key: int, deadline: float, sock) -> None:
        self._reading[key] = (deadline, sock)
        if self._pid != os.getpid():  # none yet, or inherited through a fork
            with self._lock:
                if self._pid != os.getpid():
                    self._pid = os.getpid()
                    threading.Thread(target=self._run, name="body-deadlines", daemon=True).start()

    def _run(self) -> None:
        import socket

        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            for key, (deadline, sock) in list(self._reading.items()):
                if deadline <= now and self._reading.pop(key, None) is not None:
                    try:
                        sock.shutdown(socket.SHUT_RD)
                    except OSError:  # already closed
                        pass


class _Watched:
    __slots__ = ("deadlines", "sock", "seconds")

    def __init__(self, deadlines: _Deadlines, sock, seconds: float):
        self.deadlines, self.sock, self.seconds = deadlines, sock, seconds

    def __enter__(self) -> None:
        self.deadlines._add(id(self), time.monotonic() + self.seconds, self.sock)

    def __exit__(self, *_exc) -> None:
        self.deadlines._reading.pop(id(self), None)


_deadlines = _Deadlines()


def query_args(query: str) -> dict[str, str]:
    """{name: value} of a WSGI query string; the first of repeated names counts."""
    args: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part or not part.isascii():  # WeChat's own queries need no unquoting
            name, value = _unquote(name), _unquote(value)
        args.setdefault(name, value)
    return args


def _unquote(text: str) -> str:
    # WSGI gives the query's bytes as latin-1 characters; the escapes in them are UTF-8.
    return unquote_plus(text.encode("latin-1").decode("utf-8", "replace"))
