"""Callback signatures and message encryption against Tencent's published samples and wechatpy."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from wechatpy.crypto import WeChatCrypto

from bot.channels.crypto import CryptoError, MessageCrypto, signature_matches

REPO = Path(__file__).resolve().parents[1]
# shared/ sits beside the repository (in CI too, where the repo is cloned to another folder).
# Tencent's published samples (shared/vectors/wechat-crypto.json), kept with the tests so a clone has them.
VECTORS = REPO / "tests/data/wechat-crypto.json"


def load_vectors() -> dict:
    return json.loads(VECTORS.read_text(encoding="utf-8"))


V = load_vectors()
WECHATPY = V["wechatpy_tests_test_crypto_py"]
MP = V["official_mp_WXBizMsgCrypt_sample"]
WECOM = V["official_wecom_WXBizMsgCrypt_sample"]
PLAIN = V["plain_signature_wechatpy_tests_test_utils_py"]


def encrypt_field(xml: str) -> str:
    return re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", xml, re.S).group(1)


def fields(xml: str) -> dict[str, str]:
    return {child.tag: (child.text or "") for child in ET.fromstring(xml)}


# --- Tencent's samples -----------------------------------------------------------------------------

def test_every_sample_is_in_the_vector_file():
    assert set(V) == {"wechatpy_tests_test_crypto_py", "official_mp_WXBizMsgCrypt_sample",
                      "official_wecom_WXBizMsgCrypt_sample", "plain_signature_wechatpy_tests_test_utils_py"}


def test_plain_signature_sample():
    assert signature_matches((PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"]), PLAIN["signature"])
    assert not signature_matches((PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"] + "x"), PLAIN["signature"])
    assert not signature_matches(("other", PLAIN["timestamp"], PLAIN["nonce"]), PLAIN["signature"])
    assert not signature_matches((PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"]), None)
    assert not signature_matches((PLAIN["token"], PLAIN["timestamp"], PLAIN["nonce"]), "")


@pytest.mark.parametrize("sample, receive_id", [(WECHATPY, WECHATPY["id"]), (WECOM, WECOM["corp_id"])],
                         ids=["wechatpy", "wecom"])
def test_verify_url_sample_decrypts_echostr(sample, receive_id):
    crypto = MessageCrypto(sample["token"], sample["encoding_aes_key"], receive_id)
    url = sample["verify_url"]
    plain = crypto.decrypt(url["echostr"], url["msg_signature"], url["timestamp"], url["nonce"])
    assert plain == url["expected_plain"]


def test_verify_url_negative_sample_wrong_nonce():
    crypto = MessageCrypto(WECHATPY["token"], WECHATPY["encoding_aes_key"], WECHATPY["id"])
    url = WECHATPY["verify_url"]
    assert url["negative"]["expect"] == "InvalidSignatureException"
    with pytest.raises(CryptoError, match="msg_signature"):
        crypto.decrypt(url["echostr"], url["msg_signature"], url["timestamp"], url["negative"]["nonce"])


@pytest.mark.parametrize("sample, receive_id, decrypt", [
    (WECHATPY, WECHATPY["id"], WECHATPY["decrypt"]),
    (MP, MP["appid"], MP),
    (WECOM, WECOM["corp_id"], WECOM["decrypt"]),
], ids=["wechatpy", "official-mp", "wecom"])
def test_decrypt_sample(sample, receive_id, decrypt):
    crypto = MessageCrypto(sample["token"], sample["encoding_aes_key"], receive_id)
    plain = crypto.decrypt(encrypt_field(decrypt["xml"]), decrypt["msg_signature"], decrypt["timestamp"],
                           decrypt["nonce"])
    got = fields(plain)
    for key, value in decrypt["expected"].items():
        assert got[key] == value, key


@pytest.mark.parametrize("sample, receive_id, decrypt", [
    (WECHATPY, WECHATPY["id"], WECHATPY["decrypt"]),
    (MP, MP["appid"], MP),
    (WECOM, WECOM["corp_id"], WECOM["decrypt"]),
], ids=["wechatpy", "official-mp", "wecom"])
def test_decrypt_sample_with_wrong_nonce_is_refused(sample, receive_id, decrypt):
    crypto = MessageCrypto(sample["token"], sample["encoding_aes_key"], receive_id)
    with pytest.raises(CryptoError, match="msg_signature"):
        crypto.decrypt(encrypt_field(decrypt["xml"]), decrypt["msg_signature"], decrypt["timestamp"],
                       str(int(decrypt["nonce"]) - 1))


def test_decrypt_sample_with_plain_signature_instead_of_msg_signature_is_refused():
    crypto = MessageCrypto(MP["token"], MP["encoding_aes_key"], MP["appid"])
    plain_signature = hashlib.sha1("".join(sorted([MP["token"], MP["timestamp"], MP["nonce"]])).encode()).hexdigest()
    with pytest.raises(CryptoError, match="msg_signature"):
        crypto.decrypt(encrypt_field(MP["xml"]), plain_signature, MP["timestamp"], MP["nonce"])


def test_encrypt_sample_matches_byte_for_byte():
    enc = WECHATPY["encrypt"]
    crypto = MessageCrypto(WECHATPY["token"], WECHATPY["encoding_aes_key"], WECHATPY["id"])
    encrypted = crypto.encrypt(enc["plaintext"], random16=enc["random16"].encode())
    expected = fields(enc["expected_xml"])
    assert encrypted == expected["Encrypt"]
    assert crypto.sign(encrypted, enc["timestamp"], enc["nonce"]) == expected["MsgSignature"]


def test_wrong_corp_id_is_named():
    crypto = MessageCrypto(WECOM["token"], WECOM["encoding_aes_key"], "wwnotthecorp")
    url = WECOM["verify_url"]
    with pytest.raises(CryptoError, match="AppId"):
        crypto.decrypt(url["echostr"], url["msg_signature"], url["timestamp"], url["nonce"])


# --- our own round trips and failures ---------------------------------------------------------------

TOKEN, KEY, APP_ID = "tok", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef"
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"
XML = "<xml><Content><![CDATA[价格 氧化镝 — price PrNd]]></Content></xml>"
TS, NONCE = "1700000000", "12345"


@pytest.fixture
def crypto():
    return MessageCrypto(TOKEN, KEY, APP_ID)


@pytest.mark.parametrize("text", ["", "x", "a" * 11, "a" * 12, "a" * 13, XML, "镝" * 700])
def test_round_trip(crypto, text):
    encrypted = crypto.encrypt(text)
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert crypto.decrypt(encrypted, crypto.sign(encrypted, TS, NONCE), TS, NONCE) == text


def test_encryption_is_randomised(crypto):
    assert crypto.encrypt(XML) != crypto.encrypt(XML)


def test_wrong_app_id_is_refused_and_named(crypto):
    theirs = MessageCrypto(TOKEN, KEY, "wxsomebodyelse00")
    encrypted = theirs.encrypt(XML)
    with pytest.raises(CryptoError, match="AppId"):
        crypto.decrypt(encrypted, crypto.sign(encrypted, TS, NONCE), TS, NONCE)


def test_wrong_key_is_refused(crypto):
    for seed in range(20):  # whatever the random prefix, a wrong key never yields a message
        encrypted = MessageCrypto(TOKEN, OTHER_KEY, APP_ID).encrypt(XML, random16=bytes([seed]) * 16)
        with pytest.raises(CryptoError):
            crypto.decrypt(encrypted, crypto.sign(encrypted, TS, NONCE), TS, NONCE)


def test_wrong_token_is_refused(crypto):
    encrypted = crypto.encrypt(XML)
    signed_elsewhere = MessageCrypto("other-token", KEY, APP_ID).sign(encrypted, TS, NONCE)
    with pytest.raises(CryptoError, match="msg_signature"):
        crypto.decrypt(encrypted, signed_elsewhere, TS, NONCE)


def test_tampered_ciphertext_is_refused(crypto):
    encrypted = crypto.encrypt(XML, random16=b"0123456789abcdef")
    raw = bytearray(base64.b64decode(encrypted))
    raw[-1] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()
    # Without the token nobody can sign it again ...
    with pytest.raises(CryptoError, match="msg_signature"):
        crypto.decrypt(tampered, crypto.sign(encrypted, TS, NONCE), TS, NONCE)
    # ... and even signed, a changed last block does not decrypt to a message.
    with pytest.raises(CryptoError):
        crypto.decrypt(tampered, crypto.sign(tampered, TS, NONCE), TS, NONCE)


@pytest.mark.parametrize("bad", ["not base64!!", "abc", "", base64.b64encode(b"x" * 15).decode()])
def test_bad_base64_or_length_is_refused(crypto, bad):
    with pytest.raises(CryptoError):
        crypto.decrypt(bad, crypto.sign(bad, TS, NONCE), TS, NONCE)


@pytest.mark.parametrize("key", ["short", "a" * 44, "!" * 43])
def test_bad_encoding_aes_key_is_refused(key):
    with pytest.raises(CryptoError, match="EncodingAESKey"):
        MessageCrypto(TOKEN, key, APP_ID)


# --- built the way WeChat does: wechatpy, an independent implementation, agrees -----------------------

def test_our_reply_decrypts_with_wechatpy(crypto):
    reply = ("<xml><ToUserName><![CDATA[openid]]></ToUserName><FromUserName><![CDATA[gh_1]]></FromUserName>"
             "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
             "<Content><![CDATA[氧化镨钕 449,000 元/吨]]></Content></xml>")
    encrypted = crypto.encrypt(reply)
    envelope = (f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    plain = WeChatCrypto(TOKEN, KEY, APP_ID).decrypt_message(envelope, crypto.sign(encrypted, TS, NONCE), TS, NONCE)
    assert plain == reply


def test_wechatpy_message_decrypts_with_ours(crypto):
    envelope = WeChatCrypto(TOKEN, KEY, APP_ID).encrypt_message(XML, NONCE, TS)
    got = fields(envelope)
    assert crypto.decrypt(got["Encrypt"], got["MsgSignature"], got["TimeStamp"], got["Nonce"]) == XML
