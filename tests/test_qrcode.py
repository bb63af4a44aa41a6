"""Parametric QR codes: a follow or scan through one subscribes the user with the scene's product."""
from __future__ import annotations

from test_webhook import USER, answer, event_xml, post_event, post_xml, subscriber, text_reply


def test_a_new_follower_through_a_qr_code_is_subscribed_with_its_product(client, bot):
    text = text_reply(post_event(client, "subscribe", "qrscene_prnd"))
    assert text.startswith("欢迎关注 rebot 稀土行情！")
    assert "订阅成功：每个交易日将为您推送行情摘要，并关注了氧化镨钕。" in text
    assert "关注产品：氧化镨钕" in text
    sub = subscriber(bot)
    assert sub.status == "active" and sub.daily_summary is True and sub.products == ["PrNd-oxide"]


def test_a_follower_scanning_another_code_adds_that_product(client, bot):
    post_event(client, "subscribe", "qrscene_prnd")
    text = text_reply(post_event(client, "SCAN", "镝"))  # a follower's scan: the bare scene, any catalog name
    assert "欢迎" not in text
    assert "您已订阅每日行情，并关注了氧化镝。" in text
    assert subscriber(bot).products == ["PrNd-oxide", "Dy-oxide"]


def test_a_scan_in_english_when_configured(make_app):
    client = make_app(language="en").test_client()
    text = text_reply(post_event(client, "subscribe", "qrscene_Tb-metal"))
    assert "Subscribed: you will get the market summary every trading day, following Tb metal." in text
    assert "Try: price Tb-metal" in text


def test_a_code_without_a_product_scene_just_welcomes(client, bot):
    text = text_reply(post_event(client, "subscribe", "qrscene_spring-fair"))
    assert text.startswith("欢迎关注 rebot 稀土行情！") and "订阅成功" not in text
    assert subscriber(bot).daily_summary is False
    assert answer(post_event(client, "SCAN", "spring-fair")) == "success"
    assert text_reply(post_event(client, "subscribe", "")).startswith("欢迎关注")  # a follow from search


def test_a_retried_scan_event_subscribes_once(client, bot):
    body = event_xml("subscribe", "qrscene_dy", user=USER, create_time=1749636001)
    first, again = post_xml(client, body), post_xml(client, body)
    assert first.data == again.data
    assert subscriber(bot).products == ["Dy-oxide"]
