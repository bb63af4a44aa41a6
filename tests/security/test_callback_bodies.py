"""Findings 6 and 8 on the callbacks: `Content-Length: -1` read until the client closed; odd lengths and a
GBK-declared body got no clear 4xx (a traceback and the apology)."""
from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import pytest

from served import raw_request, serving
from test_webhook import signed_params, text_xml


def head(length: str, query: str) -> bytes:
    return (f"POST /wechat?{query} HTTP/1.1\r\nHost: rebot\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {length}").encode()


@pytest.mark.parametrize("length, status", [("-1", 400), ("12abc", 400), (str(10 ** 9), 413)])
def test_a_bad_content_length_is_refused_at_once(app, length, status):
    with serving(app) as address:
        started = time.monotonic()
        # The client sends part of a body and keeps the connection open: nothing more is read.
        response = raw_request(address, head(length, urlencode(signed_params())), b"<xml>", timeout=4)
        took = time.monotonic() - started
    assert response.startswith(f"HTTP/1.1 {status}".encode()), response[:100]
    assert took < 2


def test_a_gbk_declared_body_gets_400_and_one_log_line(app, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    body = ('<?xml version="1.0" encoding="GBK"?>' + text_xml("价格 镨钕")).encode("gbk")
    with serving(app) as address:
        response = raw_request(address, head(str(len(body)), urlencode(signed_params())), body)
    assert response.startswith(b"HTTP/1.1 400"), response[:100]
    lines = [r for r in caplog.records if r.name.startswith("bot")]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING and lines[0].exc_info is None
    assert "rejected body" in lines[0].getMessage()
