"""The `/wechat` webhook over HTTP, with requests built the way WeChat builds them.

Signatures are computed here with hashlib and encrypted bodies with wechatpy, an independent
implementation, so these tests do not trust our own crypto code to check itself.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, select, text
from wechatpy.crypto import WeChatCrypto

from bot.db import Database
from bot.models import ProcessedMessage, Subscriber
from conftest import AES_KEY, APP_ID, DEMO_NOW, TOKEN

REPO = Path(__file__).resolve().parents[1]
USER = "oUser-openid-0001"
GH = "gh_0123456789ab"
_ids = itertools.count(7_000_000_000_000_000_000)
_times = itertools.count(int(time.time()) - 100)
_nonces = itertools.count(583920147)
DEMO_DAY = DEMO_NOW.date()


# --- helpers: build requests the way WeChat does ---------------------------------------------------

def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signed_params(token: str = TOKEN, timestamp: str | None = None, nonce: str | None = None, **extra) -> dict:
    """The signed query of one delivery: WeChat signs each afresh (its own timestamp and nonce)."""
    timestamp, nonce = timestamp or str(int(time.time())), nonce or str(next(_nonces))
    return {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}


def cdata(value: str) -> str:
    return f"<![CDATA[{value}]]>"


def text_xml(content: str, user: str = USER, msg_id: int | None = None, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName>{cdata(GH)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
            f"<CreateTime>{create_time or next(_times)}</CreateTime><MsgType>{cdata('text')}</MsgType>"
            f"<Content>{cdata(content)}</Content><MsgId>{msg_id or next(_ids)}</MsgId></xml>")


def event_xml(event: str, key: str = "", user: str = USER, create_time: int | None = None) -> str:
    return (f"<xml><ToUserName>{cdata(GH)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
            f"<CreateTime>{create_time or next(_times)}</CreateTime><MsgType>{cdata('event')}</MsgType>"
            f"<Event>{cdata(event)}</Event><EventKey>{cdata(key)}</EventKey></xml>")


def post_xml(client, body: str | bytes, **params):
    data = body.encode("utf-8") if isinstance(body, str) else body
    return client.post("/wechat", query_string=signed_params(**params), data=data, content_type="text/xml")


def post_text(client, content: str, **kwargs):
    return post_xml(client, text_xml(content, **kwargs))


def post_event(client, event: str, key: str = "", **kwargs):
    return post_xml(client, event_xml(event, key, **kwargs))


def encrypted_post(client, xml: str, app_id: str = APP_ID, plain_fields: str = "", msg_signature: str | None = None):
    """POST `xml` in safe mode (or compatible mode with `plain_fields`), encrypted by wechatpy."""
    timestamp, nonce = str(int(time.time())), str(next(_nonces))
    envelope = reply_fields(WeChatCrypto(TOKEN, AES_KEY, app_id).encrypt_message(xml, nonce, timestamp))
    body = (f"<xml><ToUserName>{cdata(GH)}</ToUserName>{plain_fields}"
            f"<Encrypt>{cdata(envelope['Encrypt'])}</Encrypt></xml>")
    params = signed_params(timestamp=timestamp, nonce=nonce, openid=USER, encrypt_type="aes",
                           msg_signature=msg_signature or envelope["MsgSignature"])
    return client.post("/wechat", query_string=params, data=body.encode(), content_type="text/xml")


def reply_fields(body: str | bytes) -> dict[str, str]:
    """The top-level fields of a reply; fails unless it is valid XML with an <xml> root."""
    root = ET.fromstring(body)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


def answer(response) -> dict[str, str] | str:
    """A webhook answer as WeChat sees it: HTTP 200 and either `success` or a valid XML reply."""
    assert response.status_code == 200, response.data[:300]
    body = response.get_data(as_text=True)
    if body == "success":
        return body
    return reply_fields(body)


def text_reply(response, user: str = USER) -> str:
    fields = answer(response)
    assert fields != "success", "expected a text reply, got success"
    assert fields["MsgType"] == "text"
    assert fields["ToUserName"] == user and fields["FromUserName"] == GH
    assert fields["CreateTime"].isdigit()
    return fields["Content"]


def apologies(client) -> set[str]:
    renderer = client.application.extensions["rebot"].router.renderer
    return {renderer.text("error", "zh"), renderer.text("error", "en")}


def subscriber(bot, user: str = USER) -> Subscriber | None:
    with bot.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.external_id == user)).first()


# --- GET: URL verification ------------------------------------------------------------------------

def test_get_with_right_signature_echoes_echostr(client):
    response = client.get("/wechat", query_string=signed_params(echostr="7263518292736"))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "7263518292736"


def test_an_escaped_echostr_comes_back_as_sent(client):
    echostr = "a+b/c=d 你好"  # urlencoded by the test client: %2B, %2F, %3D, +, UTF-8 escapes
    response = client.get("/wechat", query_string=signed_params(echostr=echostr))
    assert response.get_data(as_text=True) == echostr


def test_a_repeated_argument_counts_once_and_a_wrong_method_is_refused(client):
    params = signed_params(echostr="first")
    query = "&".join(f"{k}={v}" for k, v in params.items()) + "&echostr=second&signature=0"
    assert client.get("/wechat?" + query).get_data(as_text=True) == "first"
    refused = client.put("/wechat", query_string=params)
    assert refused.status_code == 405 and {"GET", "POST"} <= set(refused.headers["Allow"].split(", "))


def test_get_with_wrong_signature_is_forbidden(client):
    params = signed_params(echostr="7263518292736")
    params["signature"] = sign("not-our-token", params["timestamp"], params["nonce"])
    response = client.get("/wechat", query_string=params)
    assert response.status_code == 403
    assert b"7263518292736" not in response.data


def test_get_with_stale_timestamp_is_forbidden(client):
    stale = str(int(time.time()) - 301)
    response = client.get("/wechat", query_string=signed_params(timestamp=stale, echostr="7263518292736"))
    assert response.status_code == 403
    fresh = str(int(time.time()) - 250)
    assert client.get("/wechat", query_string=signed_params(timestamp=fresh, echostr="1")).status_code == 200


def test_post_with_wrong_signature_is_forbidden(client, bot):
    response = post_xml(client, text_xml("subscribe Dy"), token="not-our-token")
    assert response.status_code == 403
    assert subscriber(bot) is None


def test_without_a_configured_token_every_callback_is_refused(make_app, caplog):
    client = make_app(**{"wechat.token": ""}).test_client()
    caplog.set_level(logging.INFO, logger="bot")
    assert client.get("/wechat", query_string=signed_params(token="", echostr="1")).status_code == 403
    assert post_xml(client, text_xml("price PrNd"), token="").status_code == 403
    assert "wechat.token is not set" in caplog.text


# --- POST plaintext: messages and events -------------------------------------------------------------

def test_price_command_replies_with_the_price(client):
    content = text_reply(post_text(client, "price PrNd"))
    assert "449,000" in content


def test_chinese_price_command_replies_in_chinese(client):
    content = text_reply(post_text(client, "价格 氧化镝"))
    assert "氧化镝" in content and "元/吨" in content
    assert "price" not in content.lower()


def _articles(response) -> list:
    fields = answer(response)
    assert fields["MsgType"] == "news"
    assert fields["ToUserName"] == USER
    items = ET.fromstring(response.data).findall("./Articles/item")
    assert len(items) == int(fields["ArticleCount"])
    for item in items:
        assert item.findtext("Title").strip()
        assert item.findtext("Url").startswith(("http://", "https://"))
    return items


def test_news_from_a_menu_click_is_an_article_reply_of_up_to_eight(make_app):
    client = make_app(**{"wechat.menu.commands": {"NEWS": "news"}}).test_client()
    items = _articles(post_event(client, "CLICK", "NEWS"))
    assert 2 <= len(items) <= 8


def test_news_typed_lists_every_item_as_text_since_wechat_shows_one_article(client):
    # WeChat displays a single article in a passive reply to a typed message, so several come as text.
    content = text_reply(post_text(client, "news 3"))
    assert content.count("https://") == 3


def test_news_one_typed_is_a_single_article(client):
    assert len(_articles(post_text(client, "news 1"))) == 1


def test_follow_event_welcomes(client, bot):
    content = text_reply(post_event(client, "subscribe", "qrscene_123"))  # a scene naming no product
    assert content.startswith("欢迎关注 rebot 稀土行情！\n试试：\n· 价格 镨钕：氧化镨钕最新价格")
    assert subscriber(bot).status == "active"


def test_unfollow_event_answers_success_and_marks_unreachable(client, bot):
    text_reply(post_event(client, "subscribe"))
    response = post_event(client, "unsubscribe")
    assert answer(response) == "success"
    assert subscriber(bot).status == "unreachable"


def test_menu_click_runs_the_mapped_command(make_app):
    client = make_app(**{"wechat.menu.commands": {"PRICE_PRND": "price PrNd"}}).test_client()
    assert "44.9 万元/吨" in text_reply(post_event(client, "CLICK", "PRICE_PRND"))  # a Chinese menu: 万元/吨


def test_unmapped_menu_click_gets_a_helpful_text(client):
    content = text_reply(post_event(client, "CLICK", "NOT_SET_UP"))
    assert content == "该菜单暂未配置。发送“帮助”查看全部命令。"


def test_image_message_gets_a_helpful_text(client):
    body = (f"<xml><ToUserName>{cdata(GH)}</ToUserName><FromUserName>{cdata(USER)}</FromUserName>"
            f"<CreateTime>{next(_times)}</CreateTime><MsgType>{cdata('image')}</MsgType>"
            f"<PicUrl>{cdata('http://mmbiz.qpic.cn/x.jpg')}</PicUrl><MediaId>{cdata('media1')}</MediaId>"
            f"<MsgId>{next(_ids)}</MsgId></xml>")
    content = text_reply(post_xml(client, body))
    assert content == "请发送文字命令，如：价格 镨钕。发送“帮助”查看全部命令。"


@pytest.mark.parametrize("command, cut", [
    ("help", False),
    ("price PrNd Nd Pr Dy Tb Gd Ho Er La Ce Y Sm Eu Lu Yb DyFe GdFe HoFe", False),
    ("价格 氧化镨钕 镨钕金属 氧化钕 金属钕 氧化镨 金属镨 氧化镝 金属镝 镝铁 氧化铽 金属铽 氧化钆 钆铁 氧化钬 钬铁 氧化铒 "
     "氧化镧 氧化铈 镧铈金属 氧化钇 氧化钐 氧化铕 氧化镥 氧化镱 碳酸稀土 独居石", False),
    ("价格 " + "锕" * 700, True),  # the unknown name is quoted back: 3-byte characters over the limit
    ("price " + "x锕😀" * 300, True),  # 1-, 3- and 4-byte characters: the cut lands inside one unless careful
], ids=["help", "price-18-en", "price-all-zh", "unknown-cjk", "unknown-mixed"])
def test_long_text_replies_fit_in_2048_bytes(make_app, command, cut):
    client = make_app(**{"chat.max_chars": 2000}).test_client()  # the input is not cut: the reply is
    content = text_reply(post_text(client, command))
    data = content.encode("utf-8")
    assert len(data) <= 2048
    assert data.decode("utf-8") == content and "\ufffd" not in content
    if cut:
        assert len(data) > 2000 and content.endswith("…")
    else:
        assert not content.endswith("…")
    if "HoFe" in command:  # ("Nd Pr" may read as NdPr, "La Ce" as LaCe: at least 15 rows)
        assert content.count("yuan/t") >= 15 and "HoFe" in content
    if "独居石" in command:
        assert "独居石" in content and content.count("元/吨") == 26


# --- safe and compatible mode -------------------------------------------------------------------------

@pytest.fixture
def safe_client(make_app):
    return make_app(**{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID}).test_client()


def decrypt_reply(response) -> dict[str, str]:
    """Check an encrypted reply's envelope and signature, and decrypt it with wechatpy."""
    envelope = answer(response)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["MsgSignature"] == sign(TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    assert abs(int(envelope["TimeStamp"]) - time.time()) < 60
    plain = WeChatCrypto(TOKEN, AES_KEY, APP_ID).decrypt_message(
        response.data, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
    return reply_fields(plain)


def test_safe_mode_decrypts_and_answers_encrypted(safe_client):
    response = encrypted_post(safe_client, text_xml("price PrNd"))
    assert b"449,000" not in response.data
    reply = decrypt_reply(response)
    assert reply["MsgType"] == "text" and reply["ToUserName"] == USER
    assert "449,000" in reply["Content"]


def test_compatible_mode_uses_the_encrypted_part(safe_client):
    plain = (f"<FromUserName>{cdata(USER)}</FromUserName><CreateTime>{next(_times)}</CreateTime>"
             f"<MsgType>{cdata('text')}</MsgType><Content>{cdata('help')}</Content><MsgId>{next(_ids)}</MsgId>")
    reply = decrypt_reply(encrypted_post(safe_client, text_xml("price PrNd"), plain_fields=plain))
    assert "449,000" in reply["Content"]


def test_safe_mode_follow_event(safe_client):
    reply = decrypt_reply(encrypted_post(safe_client, event_xml("subscribe")))
    assert reply["Content"].startswith("欢迎关注 rebot 稀土行情！")


def test_safe_mode_unfollow_answers_plain_success(safe_client):
    decrypt_reply(encrypted_post(safe_client, event_xml("subscribe")))
    assert answer(encrypted_post(safe_client, event_xml("unsubscribe"))) == "success"


def assert_logged_without_content(caplog, reason: str):
    logged = caplog.text
    assert reason in logged
    assert "subscribe" not in logged and "Dy" not in logged and USER not in logged


def test_safe_mode_wrong_msg_signature_is_refused(safe_client, caplog):
    bot = safe_client.application.extensions["rebot"]
    caplog.set_level(logging.INFO, logger="bot")
    response = encrypted_post(safe_client, text_xml("subscribe Dy"), msg_signature=sign("forged"))
    assert response.status_code == 403
    assert_logged_without_content(caplog, "msg_signature")
    assert subscriber(bot) is None


def test_safe_mode_wrong_app_id_is_refused(safe_client, caplog):
    bot = safe_client.application.extensions["rebot"]
    caplog.set_level(logging.INFO, logger="bot")
    response = encrypted_post(safe_client, text_xml("subscribe Dy"), app_id="wxsomeoneelse0000")
    assert response.status_code == 400
    assert_logged_without_content(caplog, "AppId")
    assert subscriber(bot) is None


def test_encrypted_request_without_a_configured_key_is_refused(client, bot, caplog):
    caplog.set_level(logging.INFO, logger="bot")
    response = encrypted_post(client, text_xml("subscribe Dy"))
    assert response.status_code == 400
    assert_logged_without_content(caplog, "encoding_aes_key")
    assert subscriber(bot) is None


# --- bad input ----------------------------------------------------------------------------------------

def test_body_over_64_kib_is_refused(client, bot):
    body = text_xml("subscribe Dy " + "x" * (64 * 1024))
    assert post_xml(client, body).status_code == 413
    assert subscriber(bot) is None


def test_malformed_xml_is_refused_without_traceback(client):
    response = post_xml(client, "<xml><FromUserName>oops</xml")
    assert response.status_code == 400
    assert b"Traceback" not in response.data and b"ParseError" not in response.data


def test_billion_laughs_is_refused_quickly(client):
    lol = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY lol0 "lol">{lol}]>'
            f"<xml><ToUserName>{cdata(GH)}</ToUserName><FromUserName>{cdata(USER)}</FromUserName>"
            f"<MsgType>{cdata('text')}</MsgType><Content>&lol9;</Content></xml>")
    started = time.monotonic()
    response = post_xml(client, body)
    assert response.status_code == 400
    assert time.monotonic() - started < 1


def test_external_entity_is_refused_and_never_read(client):
    body = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f"<xml><ToUserName>{cdata(GH)}</ToUserName><FromUserName>{cdata(USER)}</FromUserName>"
            f"<CreateTime>{next(_times)}</CreateTime><MsgType>{cdata('text')}</MsgType>"
            f"<Content>&e;</Content><MsgId>{next(_ids)}</MsgId></xml>")
    response = post_xml(client, body)
    assert response.status_code == 400
    assert b"root:" not in response.data and b"/bin/" not in response.data


def test_root_other_than_xml_is_refused(client):
    body = text_xml("price PrNd").replace("<xml>", "<message>").replace("</xml>", "</message>")
    assert post_xml(client, body).status_code == 400


def test_message_without_from_user_is_refused(client):
    body = text_xml("price PrNd").replace(f"<FromUserName>{cdata(USER)}</FromUserName>", "")
    assert post_xml(client, body).status_code == 400


def test_a_failing_handler_gets_the_apology(make_app, db_url, caplog):
    client = make_app().test_client()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE price_quotes"))
    engine.dispose()
    caplog.set_level(logging.INFO, logger="bot")
    content = text_reply(post_text(client, "price PrNd"))
    assert content in apologies(client)
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures and failures[0].exc_info is not None
    assert "price_quotes" in caplog.text  # the traceback names what broke


def test_a_database_failure_outside_the_handler_gets_the_apology(make_app, db_url, caplog):
    client = make_app().test_client()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE market_version"))  # read for every message before any handler runs
    engine.dispose()
    caplog.set_level(logging.INFO, logger="bot")
    content = text_reply(post_text(client, "price PrNd"))  # not an error page ("该公众号暂时无法提供服务")
    assert content in apologies(client)
    assert any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
    assert "price PrNd" not in caplog.text


@pytest.mark.parametrize("create_time", ["99999999999999999999", "²", "-5"])
def test_absurd_create_time_is_still_answered(client, create_time):
    body = text_xml("price PrNd").replace("<CreateTime>", "<CreateTime>" + create_time + "<!--", 1) \
        .replace("</CreateTime>", "--></CreateTime>", 1)
    assert "449,000" in text_reply(post_xml(client, body))


def test_absurd_timestamp_is_refused(client):
    assert post_xml(client, text_xml("price PrNd"), timestamp="9" * 400).status_code == 400


# --- de-duplication -------------------------------------------------------------------------------------

def test_same_msg_id_runs_once_and_gets_the_same_reply(client, bot):
    msg_id, sent = next(_ids), next(_times)
    first = post_text(client, "subscribe Dy", msg_id=msg_id, create_time=sent)
    again = post_text(client, "subscribe Dy", msg_id=msg_id, create_time=sent)
    assert text_reply(first) and again.data == first.data
    # A third delivery with the same MsgId is a retry whatever it says: it must not run.
    third = post_text(client, "unsubscribe Dy", msg_id=msg_id, create_time=sent)
    assert third.data == first.data
    assert subscriber(bot).products == ["Dy-oxide"]
    # A new MsgId does run.
    text_reply(post_text(client, "unsubscribe Dy"))
    assert subscriber(bot).products == []


def test_events_are_deduplicated_by_user_create_time_and_event(client, bot):
    sent = next(_times)
    first = post_event(client, "subscribe", create_time=sent)
    assert post_event(client, "subscribe", create_time=sent).data == first.data  # WeChat's retry
    with bot.db.engine.connect() as conn:
        assert conn.scalar(select(ProcessedMessage.key).where(ProcessedMessage.key.like("%subscribe"))) \
            == f"wechat:{sent}:{USER}:subscribe"
    # Another follower's event at the same second is not a retry.
    text_reply(post_event(client, "subscribe", user="oOther-openid", create_time=sent), user="oOther-openid")
    assert subscriber(bot, "oOther-openid").status == "active"
    # Nor is another event of the same follower in the same second.
    assert answer(post_event(client, "unsubscribe", create_time=sent)) == "success"
    assert subscriber(bot).status == "unreachable"


# --- a retry that arrives while the first attempt still runs (real server, several processes) ---------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(db_url, tmp_path):
    """gunicorn with 2 worker processes (3 threads each) on this test's database; killed afterwards.

    Yields (base URL, path of its log)."""
    with gunicorn(db_url, tmp_path) as running:
        yield running


@contextmanager
def gunicorn(db_url, tmp_path, name: str = "gunicorn", workers: int = 2, threads: int = 3, **env_extra):
    """A gunicorn (2 workers × 3 threads) on `db_url` with REBOT_* variables `env_extra`; (base URL, log)."""
    port = free_port()
    log_path = tmp_path / f"{name}.log"
    log_file = log_path.open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    env.update(REBOT_DATABASE_URL=db_url, REBOT_WECHAT_TOKEN=TOKEN, PYTHONPATH=str(REPO), **env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "--threads", str(threads), "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "1", "bot:create_app()"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail("gunicorn exited: " + log_path.read_text(errors="replace")[-2000:])
            try:
                if requests.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or a worker still booting
                pass
            if time.monotonic() > deadline:
                pytest.fail("gunicorn did not answer /healthz within 15 s")
            time.sleep(0.1)
        yield base, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_file.close()


def hold_lock(db_url: str, seconds: float, locked: threading.Event) -> None:
    """Keep the database locked for `seconds`, so the first attempt is slow.

    SQLite: a write lock on the whole (main) file. PostgreSQL: the subscribers table. Either way the first
    attempt claims the message id and then waits inside the command."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(seconds)
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE subscribers IN ACCESS EXCLUSIVE MODE"))
            locked.set()
            time.sleep(seconds)
    finally:
        engine.dispose()


def test_concurrent_retries_run_the_command_once(server, db_url):
    server, log_path = server
    msg_id, sent = next(_ids), next(_times)
    body = text_xml("subscribe Tb", msg_id=msg_id, create_time=sent).encode()

    def deliver(_):
        return requests.post(server + "/wechat", params=signed_params(), data=body, timeout=10)

    locked = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(db_url, 1.5, locked))
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(deliver, range(6)))
    holder.join()
    assert time.monotonic() - started >= 1.0  # they really waited for the lock

    bodies = {r.text for r in responses}
    assert [r.status_code for r in responses] == [200] * 6
    assert len(bodies) == 1, bodies
    reply = reply_fields(bodies.pop())
    assert reply["ToUserName"] == USER
    assert "Tb" in reply["Content"]

    # Yet another retry, even with other words, gets the same answer and changes nothing.
    late = requests.post(server + "/wechat", params=signed_params(),
                         data=text_xml("unsubscribe Tb", msg_id=msg_id, create_time=sent).encode(), timeout=10)
    assert reply_fields(late.text) == reply

    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            subs = conn.execute(select(Subscriber.products, Subscriber.daily_summary)
                                .where(Subscriber.external_id == USER)).all()
            keys = conn.execute(select(ProcessedMessage.key, ProcessedMessage.state)).all()
    finally:
        db.dispose()
    assert len(subs) == 1 and subs[0].daily_summary and "Tb" in " ".join(subs[0].products)
    assert keys == [(f"wechat:{msg_id}:{USER}", "done")]
    assert "Traceback" not in log_path.read_text(errors="replace")


def test_a_retry_of_a_cached_reply_on_another_server_gets_the_first_answer(db_url, tmp_path):
    """Two servers share the database (no Redis); WeChat's retry of a message answered from the cache
    reaches the other one a second later."""
    with gunicorn(db_url, tmp_path, "a") as (one, _), gunicorn(db_url, tmp_path, "b") as (two, _):
        for base in (one, two) * 6:  # every worker answers `price PrNd` from its cache
            requests.post(base + "/wechat", params=signed_params(), data=text_xml("price PrNd").encode(), timeout=10)
        body = text_xml("price PrNd", msg_id=next(_ids)).encode()
        first = requests.post(one + "/wechat", params=signed_params(), data=body, timeout=10)
        time.sleep(1.1)  # a reply made again would carry a later CreateTime
        retry = requests.post(two + "/wechat", params=signed_params(), data=body, timeout=10)
    assert first.status_code == retry.status_code == 200
    assert "449,000" in reply_fields(first.text)["Content"]
    assert retry.text == first.text


# --- health -------------------------------------------------------------------------------------------

def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


# --- replies cached per market version ------------------------------------------------------------------

def price_line(response) -> str:
    """The line that gives the price: 'Price: …' for a single figure, 'Mid: …' for a range."""
    return next(line for line in text_reply(response).splitlines() if line.startswith(("Price", "Mid")))


def write_outside_sqlalchemy(db_url: str, statement: str) -> None:
    """Run `statement` the way an operator would: sqlite3 on the file, or psycopg (psql) on the server."""
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(statement)
        conn.close()
        return
    import psycopg

    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement)


def test_a_price_corrected_outside_the_bot_is_answered_at_once(client, bot, db_url):
    assert price_line(post_text(client, "price PrNd")) == "Price: 449,000 yuan/t"
    assert price_line(post_text(client, "price PrNd")) == "Price: 449,000 yuan/t"  # now from the cache
    assert bot.replies.get(bot.market_version(), ("price PrNd", DEMO_DAY, 2048)) is not None
    write_outside_sqlalchemy(db_url, "UPDATE price_quotes SET low = 500000, high = 500000 "
                                     "WHERE product_code = 'PrNd-oxide' AND date = '2025-06-11'")
    assert price_line(post_text(client, "price PrNd")) == "Price: 500,000 yuan/t"
    assert answer(post_text(client, "news 1"))["MsgType"] == "news"
    write_outside_sqlalchemy(db_url, "DELETE FROM news_items")
    assert answer(post_text(client, "news 1"))["MsgType"] == "text"  # "no news"
    write_outside_sqlalchemy(db_url, "UPDATE products SET short_en = 'Didymium oxide' WHERE code = 'PrNd-oxide'")
    assert text_reply(post_text(client, "price PrNd")).startswith("Didymium oxide (PrNd-oxide)")


def test_a_reply_that_depends_on_the_sender_is_never_given_to_another(client, bot):
    text_reply(post_text(client, "subscribe Tb Ho", user="oAnn"), user="oAnn")
    for _ in range(2):  # asked twice each: a reply kept from the first would show on the second
        ann = text_reply(post_text(client, "price", user="oAnn"), user="oAnn")
        bob = text_reply(post_text(client, "price", user="oBob"), user="oBob")
        assert "Ho oxide" in ann and "PrNd oxide" not in ann
        assert "PrNd oxide" in bob and "Dy oxide" in bob
    mine = text_reply(post_text(client, "my", user="oAnn"), user="oAnn")
    assert text_reply(post_text(client, "my", user="oBob"), user="oBob") != mine
    assert bot.replies.get(bot.market_version(), ("price", DEMO_DAY, 2048)) is None
    assert bot.replies.get(bot.market_version(), ("my", DEMO_DAY, 2048)) is None


def test_admin_commands_are_never_kept_for_others(make_app):
    client = make_app(admins=["oBoss"]).test_client()
    boss = text_reply(post_text(client, "help", user="oBoss"), user="oBoss")
    other = text_reply(post_text(client, "help", user="oBob"), user="oBob")
    assert "admin" in boss and "admin" not in other
    assert "admin" in text_reply(post_text(client, "help", user="oBoss"), user="oBoss")


def test_a_cached_reply_is_still_deduplicated(client, bot):
    post_text(client, "price PrNd")  # fills the cache
    msg_id = next(_ids)
    first = post_text(client, "price PrNd", msg_id=msg_id)
    time.sleep(1.1)  # a reply made again would carry a later CreateTime
    again = post_text(client, "price PrNd", msg_id=msg_id)
    assert first.data == again.data
    with bot.db.engine.connect() as conn:
        state = conn.execute(select(ProcessedMessage.state)
                             .where(ProcessedMessage.key == f"wechat:{msg_id}:{USER}")).scalar()
    assert state == "done"


def test_a_cached_reply_notes_the_sender_seen_and_their_language(client, bot):
    from datetime import datetime

    post_text(client, "订阅 镝铁")  # a subscriber who writes Chinese
    with bot.db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == USER)).one()
        sub.last_seen = datetime(2025, 1, 1)
    post_text(client, "price PrNd", user="oSomeone-else")  # fills the cache
    post_text(client, "price PrNd")  # from the cache, in English
    with bot.db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == USER)).one()
        assert sub.language == "en"
        assert sub.last_seen > datetime(2025, 1, 2)


def test_killed_postgresql_connections_cost_no_apology(db_url, tmp_path):
    """Every database access goes through the pool, which tests a connection before handing it out."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (make test-pg): a SQLite file has no connection to lose")
    import psycopg

    def ask(base) -> requests.Response:
        return requests.post(base + "/wechat", params=signed_params(), data=text_xml("price PrNd").encode(), timeout=10)

    with gunicorn(db_url, tmp_path) as (base, log_path):
        with ThreadPoolExecutor(6) as pool:  # every worker thread holds a pooled connection
            assert all("449,000" in r.text for r in pool.map(lambda _: ask(base), range(24)))
        with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
        assert killed >= 2
        with ThreadPoolExecutor(6) as pool:
            after = list(pool.map(lambda _: ask(base), range(24)))
    assert [r.status_code for r in after] == [200] * 24
    assert all("449,000" in reply_fields(r.text)["Content"] for r in after), [r.text[:200] for r in after]
