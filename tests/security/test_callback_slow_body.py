"""Finding 6: four slow-body clients (a byte every few seconds) held every thread of a 1×4 gthread worker,
so nobody else was answered; the body is now read within `server.body_timeout_seconds`."""
from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import requests

from test_webhook import gunicorn, reply_fields, signed_params, text_xml


def slow_client(address, answers: list) -> None:
    """Announce a 300-byte body and send it a byte every half second, until answered (or 8 s)."""
    head = (f"POST /wechat?{urlencode(signed_params())} HTTP/1.1\r\nHost: rebot\r\nContent-Type: text/xml\r\n"
            "Content-Length: 300\r\n\r\n").encode()
    with socket.create_connection(address, timeout=0.5) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            try:
                sock.sendall(b" ")
                answer = sock.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                answer = b"closed"
            answers.append(answer)
            return
        answers.append(b"never answered")


def test_slow_clients_do_not_hold_the_workers(db_url, tmp_path):
    env = {"REBOT_SERVER_BODY_TIMEOUT_SECONDS": "1.5"}
    with gunicorn(db_url, tmp_path, "gthread", workers=1, threads=4, **env) as (base, log_path):
        address = ("127.0.0.1", int(base.rsplit(":", 1)[1]))
        answers: list[bytes] = []
        slow = [threading.Thread(target=slow_client, args=(address, answers)) for _ in range(4)]
        for thread in slow:
            thread.start()
        time.sleep(0.5)  # every worker thread is now reading a slow body
        started = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            price = pool.submit(requests.post, base + "/wechat", params=signed_params(),
                                data=text_xml("price PrNd").encode(), timeout=20).result()
        waited = time.monotonic() - started
        for thread in slow:
            thread.join(10)
    assert "449,000" in reply_fields(price.text)["Content"]
    assert waited < 4, f"answered after {waited:.1f} s"
    assert len(answers) == 4 and all(a.startswith(b"HTTP/1.1 408") for a in answers), answers
    assert "Traceback" not in log_path.read_text(errors="replace")
