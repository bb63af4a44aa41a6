"""The app served over real HTTP in this process (werkzeug's threaded server, as `rebot serve` runs it)."""
from __future__ import annotations

import socket
import threading
from contextlib import contextmanager

from werkzeug.serving import make_server


@contextmanager
def serving(app):
    """(host, port) of `app` served on 127.0.0.1 until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.server_port
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@contextmanager
def served_url(app):
    """The base URL of `app` served on 127.0.0.1 until the block ends."""
    with serving(app) as (host, port):
        yield f"http://{host}:{port}"


def raw_request(address, head: bytes, body: bytes = b"", timeout: float = 5) -> bytes:
    """Send `head` (request line and headers, without the blank line) and `body`; the response's bytes."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False
