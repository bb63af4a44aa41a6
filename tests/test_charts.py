"""Trend charts: the PNG itself, the image reply over WeChat and WeCom (upload through the emulator, media id
cached per chart and data version), and the text sparkline where no image can go."""
from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from PIL import Image

from bot.charts import HEIGHT, WIDTH, chart_data, cjk_font, render_png, text_sparkline
from bot.messages import Message
from emulator import AGENT_ID, APP_ID, APP_SECRET, CORP_ID, CORP_SECRET
from test_webhook import post_text
from test_wecom import AES_KEY as WECOM_AES_KEY, TOKEN as WECOM_TOKEN, post_member
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto


def png_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_a_real_chart(data: bytes) -> None:
    image = png_of(data)
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    pixels = image.convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # anti-aliased line, band, text: not a blank or flat image
    drawn = sum(count for count, rgb in colours if rgb != (255, 255, 255))
    assert drawn > WIDTH * HEIGHT * 0.03
    blue = sum(count for count, (r, g, b) in colours if b > 150 and r < 120)  # the mid line and its band
    assert blue > 500


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_png_decodes_has_the_fixed_size_and_shows_the_series(bot, language):
    with bot.db.session() as session:
        data = chart_data(session, bot.catalog().by_code["PrNd-oxide"], 90, bot.clock().date(), language)
    assert len(data.points) > 40 and str(data.last) == "2025-06-11" and data.unit == "yuan/t"
    assert_a_real_chart(render_png(data))


def test_the_chart_key_changes_with_the_data_and_the_language(bot):
    product = bot.catalog().by_code["Dy-oxide"]
    with bot.db.session() as session:
        en = chart_data(session, product, 30, bot.clock().date(), "en")
        zh = chart_data(session, product, 30, bot.clock().date(), "zh")
        same = chart_data(session, product, 30, bot.clock().date(), "en")
    assert en.key == same.key and en.key != zh.key


def test_text_sparkline_shape():
    assert text_sparkline([Decimal(v) for v in (1, 2, 3, 4, 5, 6, 7, 8)]) == "▁▂▃▄▅▆▇█"
    assert text_sparkline([Decimal(5)] * 3) == "▄▄▄"
    assert len(text_sparkline([Decimal(v) for v in range(200)])) == 40


@pytest.mark.parametrize("text, days", [("trend PrNd", 30), ("price PrNd 30d", 30), ("走势 镨钕 90天", 90),
                                         ("价格 镨钕 2周", 14)])
def test_without_images_the_trend_is_a_sparkline_with_min_max_and_change(bot, text, days):
    reply = bot.answer(Message("console", "me", text=text)).text
    lines = reply.splitlines()
    assert f"{days}" in lines[0]
    assert set(lines[1]) <= set("▁▂▃▄▅▆▇█") and len(lines[1]) > 5
    if text.startswith(("trend", "price")):
        assert lines[3].startswith("Low ") and " · High " in lines[3] and lines[4].startswith("Change: ")
        assert reply.endswith("Source: demo")
    else:
        assert lines[3].startswith("最低 ") and lines[4].startswith("涨跌：") and reply.endswith("来源：demo")


def test_trend_of_30_days_names_the_period_and_the_figures(bot):
    reply = bot.answer(Message("console", "me", text="trend PrNd")).text
    assert reply.splitlines()[2:5] == ["2025-05-13 – 2025-06-11 · yuan/t", "Low 442,000 · High 462,000",
                                       "Change: -13,000 (-2.81%), 462,000 → 449,000"]


def test_a_bad_period_gets_an_example(bot):
    assert "2 to 730 days, not 1000" in bot.answer(Message("console", "me", text="trend PrNd 1000d")).text
    assert "走势 镨钕 90天" in bot.answer(Message("console", "me", text="走势")).text


def media_of(xml_body: bytes) -> str | None:
    root = ET.fromstring(xml_body)
    assert root.findtext("MsgType") in ("image", "text")
    return root.findtext("Image/MediaId")


def wechat_api(emulator, budget: float = 30.0) -> dict:
    """A WeChat account on the emulator; a long reply budget, so that a slow first render on a busy machine
    still answers in the callback (the late path has its own test)."""
    return {"wechat.app_id": APP_ID, "wechat.app_secret": APP_SECRET, "wechat.api_base_url": emulator.url,
            "wechat.reply_budget_seconds": budget, "wechat.reply_wait_seconds": budget}


def test_wechat_gets_an_image_message_uploaded_once_per_chart_version(make_app, emulator):
    app = make_app(**wechat_api(emulator))
    client = app.test_client()
    first = post_text(client, "trend PrNd")
    media_id = media_of(first.data)
    assert media_id in emulator.media
    assert_a_real_chart(emulator.media[media_id])
    assert emulator.calls("/cgi-bin/media/upload")[0]["args"]["type"] == "image"
    assert media_of(post_text(client, "price PrNd 30d").data) == media_id  # the same chart: no new upload
    assert len(emulator.calls("/cgi-bin/media/upload")) == 1
    other = media_of(post_text(client, "走势 镨钕 30天").data)  # another language is another chart
    assert other != media_id and len(emulator.calls("/cgi-bin/media/upload")) == 2


def test_a_new_quote_makes_a_new_chart(make_app, emulator):
    from bot.market import manual

    app = make_app(**wechat_api(emulator))
    bot = app.extensions["rebot"]
    first = media_of(post_text(app.test_client(), "trend PrNd").data)
    with bot.db.session() as session:
        manual.record_quote(session, "cli", bot.catalog().by_code["PrNd-oxide"], bot.clock().date(),
                            Decimal(452000), Decimal(456000), "demo")  # the latest quote corrected
    assert media_of(post_text(app.test_client(), "trend PrNd").data) != first


def test_a_chart_not_ready_in_time_goes_out_as_a_customer_service_image(make_app, emulator):
    app = make_app(**wechat_api(emulator, budget=0.001))
    assert post_text(app.test_client(), "trend PrNd", user="oLate").data == b"success"
    deadline = time.monotonic() + 30
    while not emulator.inbox("oLate") and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = emulator.inbox("oLate")
    assert message["msgtype"] == "image"
    assert_a_real_chart(emulator.media[message["image"]["media_id"]])


def test_a_failed_upload_answers_with_the_sparkline(make_app, emulator):
    app = make_app(**wechat_api(emulator))
    emulator.fault("/cgi-bin/media/upload", errcode=40004, times=1)
    root = ET.fromstring(post_text(app.test_client(), "trend PrNd").data)
    assert root.findtext("MsgType") == "text" and "Low 442,000" in root.findtext("Content")


def test_without_an_api_account_wechat_gets_the_sparkline(client):
    root = ET.fromstring(post_text(client, "trend PrNd").data)
    assert root.findtext("MsgType") == "text" and "▁" in root.findtext("Content")


def test_wecom_gets_an_image_message(make_app, emulator):
    app = make_app(**{"wecom.corp_id": CORP_ID, "wecom.agent_id": AGENT_ID, "wecom.secret": CORP_SECRET,
                      "wecom.token": WECOM_TOKEN, "wecom.encoding_aes_key": WECOM_AES_KEY,
                      "wecom.api_base_url": emulator.url, "wechat.reply_budget_seconds": 30.0})
    response = post_member(app.test_client(), "走势 镨钕 90天")
    root = ET.fromstring(response.data)
    plain = WeComCrypto(WECOM_TOKEN, WECOM_AES_KEY, CORP_ID).decrypt_message(
        response.data, root.findtext("MsgSignature"), root.findtext("TimeStamp"), root.findtext("Nonce"))
    reply = ET.fromstring(plain)
    assert reply.findtext("MsgType") == "image"
    assert_a_real_chart(emulator.media[reply.findtext("Image/MediaId")])



def text_bands(image: Image.Image, box: tuple[int, int, int, int]) -> list[int]:
    """Heights in pixels of the runs of rows holding dark (text) pixels inside `box` of the image."""
    gray = image.convert("L").crop(box)
    width, height = gray.size
    pixels = gray.load()
    inked = [any(pixels[x, y] < 110 for x in range(width)) for y in range(height)]
    bands, run = [], 0
    for row in inked + [False]:
        if row:
            run += 1
        elif run:
            bands.append(run)
            run = 0
    return bands


def test_a_chinese_charts_text_is_at_least_24_px_high_at_2x_density(bot):
    """The PNG is made for ~390 CSS px at 2×: text 12 px on the screen is 24 px in the image."""
    if cjk_font() is None:
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-microhei): the chart has English labels")
    with bot.db.session() as session:
        data = chart_data(session, bot.catalog().by_code["Tb-oxide"], 90, bot.clock().date(), "zh")
    image = png_of(render_png(data))
    assert image.size == (780, 560) == (WIDTH, HEIGHT)
    # The price labels left of the plot (e.g. 720万): the height of each label's ink, 万 its tallest glyph.
    labels = text_bands(image, (0, int(HEIGHT * 0.26), int(WIDTH * 0.15), int(HEIGHT * 0.9)))
    assert len(labels) >= 3 and min(labels) >= 24, labels
    # The title's lines (氧化铽 均价走势…, the period) above the plot.
    title = text_bands(image, (0, 0, WIDTH, int(HEIGHT * 0.17)))
    assert len(title) == 2 and min(title) >= 24, title


def test_a_chinese_chart_speaks_chinese_dates_wan_and_the_period_it_covers(bot):
    from bot.charts import axis_label, date_ticks, title
    from bot.market.units import Units

    with bot.db.session() as session:
        data = chart_data(session, bot.catalog().by_code["Tb-oxide"], 365, bot.clock().date(), "zh")
    # 365 days asked, 75 trading days of data: the title says what is really there.
    assert title(data, "zh") == "氧化铽 均价走势（万元/吨）\n2025年2月20日–6月11日（75个报价）"
    assert "近365天" not in title(data, "zh")
    shown = Units().of("Tb-oxide", "yuan/t", "zh")
    assert axis_label(7200000, shown, "zh") == "720万"
    assert axis_label(7070000, Units().of("Tb-oxide", "yuan/t", "en"), "en") == "7.07M"
    ticks = date_ticks([p.date for p in data.points])
    assert [str(t) for t in ticks] == ["2025-03-01", "2025-04-01", "2025-05-01", "2025-06-01"]


def test_a_missing_font_is_looked_for_again_without_a_restart():
    """A server started before fonts-wqy-microhei was installed finds it within a minute."""
    import bot.charts as charts

    if charts._find_cjk_font() is None:
        pytest.skip("no Chinese font installed (apt-get install fonts-wqy-microhei)")
    saved = charts._font
    try:
        charts._font = (time.monotonic(), None)  # "none found" a moment ago: not looked for again yet
        assert charts.cjk_font() is None
        charts._font = (time.monotonic() - charts.FONT_RECHECK_SECONDS - 1, None)  # a minute later
        assert charts.cjk_font() is not None and charts._font[1] is not None
    finally:
        charts._font = saved
