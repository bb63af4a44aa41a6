"""Finding 4: with `wechat.encoding_aes_key` set, a plaintext POST was still answered on the plain signature."""
from __future__ import annotations

import logging

import pytest
import requests
from sqlalchemy import func, select
from wechatpy.crypto import WeChatCrypto

from bot.models import CallbackSignature, Subscriber
from conftest import AES_KEY, APP_ID, TOKEN
from served import serving
from test_webhook import GH, encrypted_post, reply_fields, signed_params, text_xml


@pytest.mark.parametrize("mode", [{}, {"encrypt_type": "raw"}], ids=["no-encrypt_type", "raw"])
def test_safe_mode_refuses_plaintext_callbacks(make_app, caplog, mode):
    app = make_app(**{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID})
    caplog.set_level(logging.WARNING, logger="bot")
    with serving(app) as (host, port):
        refused = requests.post(f"http://{host}:{port}/wechat", params=signed_params(**mode), timeout=10,
                                data=text_xml("subscribe Dy", user="oAdmin").encode())
    assert refused.status_code == 403 and "<xml>" not in refused.text
    assert "plaintext callback refused" in caplog.text and "accept_plaintext" in caplog.text
    assert encrypted_post(app.test_client(), text_xml("price PrNd")).status_code == 200  # the encrypted one is


def test_accept_plaintext_answers_both_while_switching(make_app):
    app = make_app(**{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID, "wechat.accept_plaintext": True})
    with serving(app) as (host, port):
        plain = requests.post(f"http://{host}:{port}/wechat", params=signed_params(), timeout=10,
                              data=text_xml("price PrNd").encode())
    assert "449,000" in reply_fields(plain.text)["Content"]
    assert encrypted_post(app.test_client(), text_xml("price PrNd")).status_code == 200


def test_while_switching_a_captured_encrypted_query_carries_no_plaintext_message(make_app):
    app = make_app(**{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID, "wechat.accept_plaintext": True},
                   admins=["oAdmin"])
    client = app.test_client()
    first = encrypted_post(client, text_xml("price PrNd", user="oAdmin"))
    assert first.status_code == 200 and "<Encrypt>" in first.text
    captured = {name: first.request.args[name] for name in ("signature", "timestamp", "nonce")}  # its plain signature
    forged = client.post("/wechat", query_string=captured, data=text_xml("subscribe Dy", user="oAdmin").encode(),
                         content_type="text/xml")
    assert forged.status_code == 403
    with app.extensions["rebot"].db.session() as session:
        assert session.scalars(select(Subscriber).where(Subscriber.external_id == "oAdmin")).first() is None


def test_in_safe_mode_a_captured_query_carries_no_other_message_and_no_signature_is_kept(make_app):
    app = make_app(**{"wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID}, admins=["oAdmin"])
    client, crypto = app.test_client(), WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    query = signed_params(openid="oAdmin", encrypt_type="aes")

    def body(xml: str) -> tuple[bytes, str]:  # the encrypted body and its msg_signature
        envelope = reply_fields(crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))
        return (f"<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{envelope['Encrypt']}]]>"
                "</Encrypt></xml>").encode(), envelope["MsgSignature"]

    def opened(response) -> str:  # a reply decrypted
        fields = reply_fields(response.text)
        return crypto.decrypt_message(response.text, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])

    genuine, msg_signature = body(text_xml("price PrNd", user="oAdmin"))
    captured = {**query, "msg_signature": msg_signature}
    first = client.post("/wechat", query_string=captured, data=genuine, content_type="text/xml")
    assert first.status_code == 200 and "<Encrypt>" in first.text
    forged = client.post("/wechat", query_string=captured, data=body(text_xml("subscribe Dy", user="oAdmin"))[0],
                         content_type="text/xml")
    assert forged.status_code == 403  # msg_signature covers the encrypted body
    again = client.post("/wechat", query_string=captured, data=genuine, content_type="text/xml")
    assert again.status_code == 200 and opened(again) == opened(first)  # a repeat is the first message's retry
    assert "449,000" in reply_fields(opened(first))["Content"]
    with app.extensions["rebot"].db.session() as session:
        assert session.scalars(select(Subscriber).where(Subscriber.external_id == "oAdmin")).first() is None
        assert session.scalar(select(func.count()).select_from(CallbackSignature)) == 0  # nothing to remember
