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


# --- rebot qrcode create, against the emulator over real HTTP --------------------------------------------

import pytest  # noqa: E402
import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from bot.cli.main import main  # noqa: E402


@pytest.fixture
def rebot_qrcode(tmp_path, emulator, db_url):
    from emulator import APP_ID, APP_SECRET

    data = {"database_url": db_url,
            "wechat": {"app_id": APP_ID, "app_secret": APP_SECRET, "api_base_url": emulator.url,
                       "qrcode_image_url": emulator.url + "/cgi-bin/showqrcode"}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")

    def run(*args: str):
        return CliRunner().invoke(main, ["--config", str(path), "qrcode", "create", *args])

    return run


def test_a_permanent_code_for_a_product_is_created_and_its_image_saved(rebot_qrcode, emulator, tmp_path):
    from emulator import QR_IMAGE

    image = tmp_path / "prnd.png"
    result = rebot_qrcode("--scene", "prnd", "--output", str(image))
    assert result.exit_code == 0, result.output
    assert f"QR code for praseodymium-neodymium oxide (PrNd-oxide), permanent: saved to {image}" in result.output
    assert image.read_bytes() == QR_IMAGE
    (request,) = emulator.qrcodes.values()
    assert request == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "PrNd-oxide"}}}


def test_a_temporary_code_lasts_the_days_asked(rebot_qrcode, emulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = rebot_qrcode("--scene", "镝", "--temporary", "7")
    assert result.exit_code == 0, result.output
    assert "valid 7 days: saved to qrcode-Dy-oxide-7d.png" in result.output
    assert (tmp_path / "qrcode-Dy-oxide-7d.png").exists()
    (request,) = emulator.qrcodes.values()
    assert request["action_name"] == "QR_STR_SCENE" and request["expire_seconds"] == 7 * 86400


def test_a_scene_that_names_no_product_is_refused_before_any_call(rebot_qrcode, emulator):
    result = rebot_qrcode("--scene", "prndd")
    assert result.exit_code == 2
    assert "--scene 'prndd' names no product; did you mean PrNd-oxide?" in result.output
    assert emulator.requests == []
    assert rebot_qrcode("--scene", "prnd", "--temporary", "31").exit_code == 2  # WeChat's limit: 30 days


def test_a_missing_image_is_an_error_not_an_empty_file(rebot_qrcode, emulator, tmp_path):
    emulator.fault("/cgi-bin/showqrcode", status=404, body="not found")
    result = rebot_qrcode("--scene", "Tb", "--output", str(tmp_path / "tb.png"))
    assert result.exit_code == 1
    assert "the QR code image answered HTTP 404" in result.output
    assert not (tmp_path / "tb.png").exists()


def test_scanning_the_created_code_subscribes_to_its_product(rebot_qrcode, emulator, tmp_path, client, bot):
    assert rebot_qrcode("--scene", "Tb metal", "--output", str(tmp_path / "tb.png")).exit_code == 0
    (request,) = emulator.qrcodes.values()
    scene = request["action_info"]["scene"]["scene_str"]
    # WeChat sends the scene back in the follow event: qrscene_<scene>.
    text = text_reply(post_event(client, "subscribe", f"qrscene_{scene}"))
    assert "订阅成功：每个交易日将为您推送行情摘要，并关注了金属铽。" in text
    assert subscriber(bot).products == ["Tb-metal"]
