"""The callback XML parser: top-level fields only, no document type declarations at all."""
import time

import pytest

from bot.channels.wechat_xml import XMLError, parse


def test_fields_are_the_roots_children_with_cdata_and_entities_decoded():
    body = ("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[价格 镨钕]]></Content>"
            "<Title>A &amp; B &lt;C&gt;</Title><CreateTime> 1700000000 </CreateTime>"
            "<ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo></xml>").encode()
    fields = parse(body)
    assert fields["ToUserName"] == "gh_1" and fields["Content"] == "价格 镨钕"
    assert fields["Title"] == "A & B <C>" and fields["CreateTime"] == "1700000000"
    assert "ScanType" not in fields  # only the root's children


@pytest.mark.parametrize("body", [
    '<!DOCTYPE xml><xml><A>1</A></xml>',  # even an empty one
    '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml><A>&a;</A></xml>',
    '<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><A>&x;</A></xml>',
    '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><A>1</A></xml>',
])
def test_any_document_type_declaration_is_refused(body):
    with pytest.raises(XMLError, match="document type declaration"):
        parse(body.encode())


def test_a_billion_laughs_is_refused_before_any_expansion():
    lol = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    body = f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY l0 "lol">{lol}]><xml><A>&l9;</A></xml>'.encode()
    started = time.perf_counter()
    with pytest.raises(XMLError):
        parse(body)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("body, reason", [
    ("<xml><A>&undeclared;</A></xml>", "undefined entity"),
    ("<xml><A>1</A>", "no element found"),
    ("<notxml><A>1</A></notxml>", "root element is <notxml>"),
    ("", "no element found"),
])
def test_malformed_bodies_say_what_is_wrong(body, reason):
    with pytest.raises(XMLError, match=reason):
        parse(body.encode())
