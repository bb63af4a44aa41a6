"""Helpers of the security tests: the app served over real HTTP, signed WeChat text messages."""
from __future__ import annotations

import hashlib
import itertools
import re
import time
from contextlib import contextmanager

import pytest
import requests

from tests.conftest import TOKEN
from served import serving

_ids = itertools.count(int(time.time() * 1000))


@contextmanager
def serve(app):
    """`app` on a free port of 127.0.0.1, served over real HTTP from a thread; yields its base URL."""
    with serving(app) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture
def live_server(app):
    with serve(app) as base:
        yield base


def signed() -> dict:
    timestamp, nonce = str(int(time.time())), str(next(_ids))
    signature = hashlib.sha1("".join(sorted((TOKEN, timestamp, nonce))).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def say(base: str, content: str, user: str = "oUser-openid-0001", timeout: float = 30) -> str:
    """Post a text message to /wechat and return the text of the reply (or the raw body if not text)."""
    body = (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{user}]]>"
            f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{next(_ids)}</MsgId></xml>")
    response = requests.post(f"{base}/wechat", params=signed(), data=body.encode(),
                             headers={"Content-Type": "text/xml"}, timeout=timeout)
    assert response.status_code == 200, response.text[:200]
    found = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", response.text, re.S)
    return found.group(1) if found else response.text


class Remote:
    """The few calls of Flask's test client that the channel test helpers make, over real HTTP to `base`."""

    def __init__(self, base: str):
        self.base = base

    def post(self, path: str, query_string=None, data=None, content_type: str = "text/xml"):
        response = requests.post(self.base + path, params=query_string, data=data,
                                 headers={"Content-Type": content_type}, timeout=30)
        response.data = response.content
        return response


_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(base: str, name: str, password: str, **headers) -> tuple[requests.Session, requests.Response]:
    """A browser session that has posted the sign-in form; returns it and the answer."""
    session = requests.Session()
    session.headers.update({"Accept-Language": "en", **headers})
    form = session.get(f"{base}/admin/login", timeout=30).text
    answer = session.post(f"{base}/admin/login", timeout=60, allow_redirects=False, data={
        "csrf_token": _TOKEN.search(form).group(1), "username": name, "password": password})
    return session, answer
