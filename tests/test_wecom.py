"""The WeCom app callback `/wecom`, and the 5-second path of both callbacks, over HTTP.

Requests are encrypted with wechatpy's WeCom crypto (an independent implementation) and Tencent's
published WeCom sample; slow answers arrive through the emulator's APIs.
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from bot.models import Subscriber
from bot.push.run import DailyPush
from conftest import DEMO_NOW
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET
from test_webhook import post_text

VECTORS = json.loads((Path(__file__).parent / "data" / "wechat-crypto.json").read_text())  # Tencent's samples
TOKEN = "wecom-callback-token"
AES_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj"
USER = "zhangsan"
_ids = itertools.count(9_000_000_000)


@pytest.fixture
def wecom_app(make_app, emulator):
    def make(**extra):
        return make_app(**{"wecom.corp_id": CORP_ID, "wecom.agent_id": AGENT_ID, "wecom.secret": CORP_SECRET,
                           "wecom.token": TOKEN, "wecom.encoding_aes_key": AES_KEY,
                           "wecom.api_base_url": emulator.url, "push.wecom.avoid_peak": False, **extra})
    return make


def member_xml(content: str, user: str = USER, msg_id: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or next(_ids)}</MsgId>"
            f"<AgentID>{AGENT_ID}</AgentID></xml>")


def post_member(client, content: str, corp_id: str = CORP_ID, **kwargs):
    """POST a member's text the way WeCom does: encrypted, msg_signature in the query."""
    crypto = WeComCrypto(TOKEN, AES_KEY, corp_id)
    nonce, timestamp = "5551212", str(int(time.time()))
    envelope = crypto.encrypt_message(member_xml(content, **kwargs), nonce, timestamp)
    import xml.etree.ElementTree as ET

    root = ET.fromstring(envelope)
    body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID>{AGENT_ID}</AgentID>"
            f"<Encrypt><![CDATA[{root.findtext('Encrypt')}]]></Encrypt></xml>")
    return client.post("/wecom", query_string={"msg_signature": root.findtext("MsgSignature"),
                                                "timestamp": timestamp, "nonce": nonce},
                       data=body, content_type="text/xml")


def decrypt_reply(response) -> dict:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(response.data)
    plain = WeComCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        response.data, root.findtext("MsgSignature"), root.findtext("TimeStamp"), root.findtext("Nonce"))
    return {child.tag: child.text for child in ET.fromstring(plain)}


def test_tencent_wecom_sample_verifies_and_decrypts(make_app):
    sample = VECTORS["official_wecom_WXBizMsgCrypt_sample"]
    app = make_app(**{"wecom.corp_id": sample["corp_id"], "wecom.agent_id": 218, "wecom.token": sample["token"],
                      "wecom.encoding_aes_key": sample["encoding_aes_key"], "wechat.max_clock_skew": 10**10})
    client = app.test_client()
    v = sample["verify_url"]
    got = client.get("/wecom", query_string={k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")})
    assert got.status_code == 200 and got.data.decode() == v["expected_plain"]
    bad = client.get("/wecom", query_string={**{k: v[k] for k in ("msg_signature", "timestamp", "echostr")},
                                             "nonce": "1"})
    assert bad.status_code == 403
    d = sample["decrypt"]
    response = client.post("/wecom", query_string={k: d[k] for k in ("msg_signature", "timestamp", "nonce")},
                           data=d["xml"], content_type="text/xml")
    assert response.status_code == 200 and b"<Encrypt>" in response.data
    with app.extensions["rebot"].db.session() as session:
        sub = session.scalars(select(Subscriber).where(Subscriber.external_id == "mycreate")).first()
    assert sub is None  # "hello" is not a command: answered, nobody subscribed


def test_member_asks_a_price_and_gets_an_encrypted_passive_reply(wecom_app):
    client = wecom_app().test_client()
    response = post_member(client, "price PrNd")
    assert response.status_code == 200
    reply = decrypt_reply(response)
    assert reply["ToUserName"] == USER and reply["FromUserName"] == CORP_ID and reply["MsgType"] == "text"
    assert "PrNd oxide" in reply["Content"] and "2025-06-11" in reply["Content"]


def test_a_retry_gets_the_first_answer_and_runs_once(wecom_app):
    app = wecom_app()
    client = app.test_client()
    first = decrypt_reply(post_member(client, "订阅 镝", msg_id=42))
    again = decrypt_reply(post_member(client, "订阅 镝", msg_id=42))
    assert first["Content"] == again["Content"]
    assert first["Content"].startswith("订阅成功：每个交易日将为您推送行情摘要。")
    with app.extensions["rebot"].db.session() as session:
        (sub,) = session.scalars(select(Subscriber).where(Subscriber.channel == "wecom")).all()
    assert (sub.external_id, sub.daily_summary, sub.products) == (USER, True, ["Dy-oxide"])


def test_bad_signature_wrong_corp_and_missing_setup_are_refused(wecom_app, make_app):
    client = wecom_app().test_client()
    assert post_member(client, "price PrNd", corp_id="ww-someone-else").status_code == 400
    bad = client.post("/wecom", query_string={"msg_signature": "0" * 40, "timestamp": str(int(time.time())),
                                              "nonce": "1"}, data="<xml><Encrypt>AAAA</Encrypt></xml>")
    assert bad.status_code == 403
    assert client.post("/wecom", query_string={"timestamp": str(int(time.time()))},
                       data="<xml><Encrypt>", content_type="text/xml").status_code == 400
    plain_app = make_app().test_client()  # no wecom.encoding_aes_key
    assert plain_app.get("/wecom", query_string={"echostr": "x"}).status_code == 403


def test_slow_wecom_answer_goes_out_as_an_app_message_once(wecom_app, emulator):
    client = wecom_app(**{"wechat.reply_budget_seconds": 0.001}).test_client()
    response = post_member(client, "price PrNd", msg_id=77)
    assert response.status_code == 200 and response.data == b""
    deadline = time.monotonic() + 10
    while not emulator.inbox(USER) and time.monotonic() < deadline:
        time.sleep(0.02)
    (sent,) = emulator.inbox(USER)
    assert sent["msgtype"] == "text" and "PrNd oxide" in sent["text"]["content"]
    retry = post_member(client, "price PrNd", msg_id=77)  # WeCom retries: nothing more is sent
    assert retry.data == b""
    time.sleep(0.2)
    assert len(emulator.inbox(USER)) == 1


def test_slow_wechat_answer_goes_out_as_a_customer_service_message(make_app, emulator):
    app = make_app(**{"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
                      "wechat.reply_budget_seconds": 0.001})
    client = app.test_client()
    response = post_text(client, "price PrNd", user="o-slow")
    assert response.data == b"success"
    deadline = time.monotonic() + 10
    while not emulator.inbox("o-slow") and time.monotonic() < deadline:
        time.sleep(0.02)
    (sent,) = emulator.inbox("o-slow")
    assert sent["msgtype"] == "text" and "PrNd oxide" in sent["text"]["content"]


def test_a_member_who_subscribes_in_wecom_gets_the_daily_push_there(wecom_app, emulator):
    app = wecom_app(**{"push.backoff_seconds": 0.01})
    post_member(app.test_client(), "subscribe Tb")
    bot = app.extensions["rebot"]
    assert bot.clock() == DEMO_NOW
    report = DailyPush(bot).run()
    assert report.counts["sent"] == 1
    (push,) = emulator.inbox(USER)
    assert push["agentid"] == AGENT_ID and "Tb oxide" in push["text"]["content"]
