"""Finding 1: a hostile feed must not make rebot read local files or internal URLs and publish them."""
from __future__ import annotations

import socket
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.config import build_config
from bot.db import Database
from bot.ingest.http import FetchError, HttpClient
from bot.ingest.jobs import run_source, sources_of
from bot.ingest.safety import Scope, UnsafeURL
from bot.messages import Message
from bot.models import NewsItem
from tests.conftest import DEMO_NOW
from tests.security.hostile_server import HostileServer

NOW = datetime(2025, 6, 12, 18, 0, tzinfo=DEMO_NOW.tzinfo)
SECRET = "REBOT_WECHAT_APP_SECRET=leaked-secret-4711"
REPORT = "Rare Earth Market - June 11, 2025"  # a title that makes rebot follow the link


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(f"<item><title>{title}</title><link>{link}</link><description>d</description></item>"
                   for title, link in items)
    return f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{body}</channel></rss>".encode()


def page(text: str) -> tuple[int, dict, bytes]:
    body = f"<html><body><article>{text}</article></body></html>".encode()
    return 200, {"Content-Type": "text/html; charset=utf-8"}, body


@pytest.fixture
def servers():
    feed, internal = HostileServer(), HostileServer()
    yield feed, internal
    feed.close()
    internal.close()


def test_feed_links_to_files_internal_services_and_scripts_are_not_followed_nor_published(
        tmp_path, db_url, servers, make_app):
    feed, internal = servers
    secret_file = tmp_path / "environ"
    secret_file.write_text(SECRET)
    internal.routes["/metrics"] = page(SECRET)  # an internal service on another port of the same host
    feed.routes["/moved"] = (302, {"Location": internal.url("/metrics")}, b"")  # same origin, then elsewhere
    feed.routes["/ok"] = page("PrNd oxide 449,000 yuan/t, an honest article")
    feed.routes["/feed"] = (200, {"Content-Type": "application/rss+xml"}, rss(
        (f"{REPORT} environ", secret_file.as_uri()),
        (f"{REPORT} metrics", internal.url("/metrics")),
        (f"{REPORT} redirect", "/moved"),
        ("Click me", "javascript:alert(document.cookie)"),
        ("Data", "data:text/html,<script>alert(1)</script>"),
        ("Honest", "/ok"),
    ))
    config = build_config({"database_url": db_url, "ingest.retries": 0, "sources": [
        {"name": "hostile", "type": "rss", "url": feed.url("/feed"), "schedule": "0 18 * * 1-5", "follow": True}]},
        environ={})
    db = Database(db_url)
    result = run_source(db, config, sources_of(config)[0], now=NOW)
    assert result.ok, result.error
    assert internal.hits == []  # neither the link nor the redirect reached the other service
    assert any("only http and https" in p for p in result.problems)
    assert any("neither the source's own site" in p for p in result.problems)
    with db.session() as session:
        rows = session.scalars(select(NewsItem).where(NewsItem.source == "hostile"))
        items = {i.title: (i.url, i.summary) for i in rows}
    db.dispose()
    assert "leaked-secret" not in repr(items)
    assert not any(url.startswith(("javascript:", "data:", "file:")) for url, _summary in items.values())
    assert "/ok" in feed.hits and "Honest" in items  # the source's own articles are still followed
    app = make_app()
    reply = app.extensions["rebot"].answer(Message("console", "u1", text="news REBOT"))
    assert "leaked-secret" not in str(reply)


def test_follow_hosts_opens_a_named_host_and_nothing_else(db_url, servers):
    feed, other = servers
    other.routes["/article"] = page("Dy oxide news from the publisher's other host")
    feed.routes["/feed"] = (200, {}, rss(("Dy", other.url("/article", host="localhost")),
                                         ("Tb", other.url("/article"))))
    config = build_config({"database_url": db_url, "ingest.retries": 0, "sources": [
        {"name": "pub", "type": "rss", "url": feed.url("/feed"), "schedule": "0 18 * * 1-5", "follow": True,
         "follow_hosts": ["localhost"]}]}, environ={})
    db = Database(db_url)
    result = run_source(db, config, sources_of(config)[0], now=NOW)
    db.dispose()
    assert result.ok and other.hits == ["/article"]  # localhost is listed, 127.0.0.1 on that port is not
    assert len([p for p in result.problems if "follow_hosts" in p]) == 1


def test_a_public_source_never_reaches_internal_addresses_whatever_the_spelling(servers):
    feed, _internal = servers
    scope = Scope.of("https://news.example-rareearth.com/feed", follow_hosts=["localhost"])
    assert not scope.internal_ok
    for url in (feed.url("/x"), feed.url("/x", host="localhost"), f"http://2130706433:{feed.port}/x",
                f"http://[::ffff:127.0.0.1]:{feed.port}/x", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/", "file:///etc/passwd", "gopher://127.0.0.1/"):
        with pytest.raises(UnsafeURL):
            scope.page(url)
        with pytest.raises(UnsafeURL):
            HttpClient(retries=0).get(url, check=scope.link)
    assert feed.hits == []


def test_a_name_that_rebinds_to_loopback_after_the_check_reaches_nothing_internal(servers, monkeypatch):
    """DNS rebinding: the name answers a public address while rebot checks it, then 127.0.0.1 (where an internal
    service listens). The request connects to the address that was checked, never to the second answer."""
    feed, _internal = servers
    feed.routes["/feed"] = page(SECRET)
    real, asked = socket.getaddrinfo, []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        asked.append(host)
        address = "192.0.32.10" if len(asked) <= 2 else "127.0.0.1"  # public to the checks, loopback after
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(FetchError, match="cannot connect|no answer"):
        HttpClient(retries=0, timeout=0.5).get(f"http://rebind.example:{feed.port}/feed")
    assert len(asked) == 2  # the checks asked; the connection did not ask again
    assert feed.hits == []


def test_a_redirect_to_a_file_is_refused(servers):
    feed, _internal = servers
    feed.routes["/to-file"] = (302, {"Location": "file:///etc/passwd"}, b"")
    with pytest.raises(UnsafeURL, match="only http and https"):
        HttpClient(retries=0).get(feed.url("/to-file"))


def test_a_script_link_stored_before_the_fix_is_never_shown(db_url, make_app):
    db = Database(db_url)
    with db.session() as session:
        session.add(NewsItem(title="Scripted PrNd", summary="x", url="javascript:alert(1)", source="old",
                             published_at=datetime(2025, 6, 11, 9)))
    db.dispose()
    app = make_app()
    assert "javascript:" not in str(app.extensions["rebot"].answer(Message("console", "u1", text="news Scripted")))
    assert "javascript:" not in app.test_client().get("/m/summary/2025-06-11").get_data(as_text=True)
