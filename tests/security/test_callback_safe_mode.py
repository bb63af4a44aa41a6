"""Finding 4: with `wechat.encoding_aes_key` set, a plaintext POST was still answered on the plain signature."""
from __future__ import annotations

import logging

import pytest
import requests

from conftest import AES_KEY, APP_ID
from served import serving
from test_webhook import encrypted_post, reply_fields, signed_params, text_xml


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
