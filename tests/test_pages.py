"""The public mobile pages `/m/price/<product>` and `/m/summary/<date>`, and the links to them in replies."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from bot.messages import Message
from bot.models import Subscriber
from test_webhook import post_text

BASE = "https://rebot.example.com"


def html(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["PrNd", "PrNd-oxide", "pr-nd", "NdPr", "镨钕", "氧化镨钕",
                                  "praseodymium-neodymium oxide"])
def test_any_catalog_spelling_opens_the_product_page(client, name):
    response = client.get("/m/price/" + quote(name), headers={"Accept-Language": "en"})
    assert response.status_code == 200
    page = html(response)
    assert '<h1 class="name">PrNd oxide</h1>' in page
    assert '<span class="big">449,000</span> yuan/t' in page  # the 2025-06-11 quote
    assert '+1,000</span> (<span class="up">+0.22%</span>) vs 10 Jun' in page


def test_the_price_page_has_a_history_chart_with_the_low_high_band(client):
    page = html(client.get("/m/price/Dy?lang=en"))
    svg = re.search(r"<svg class=\"chart\".*?</svg>", page, re.S).group(0)
    assert '<polygon class="band"' in svg and '<polyline class="mid"' in svg
    band_points = re.search(r'class="band" points="([^"]+)"', svg).group(1).split()
    mid_points = re.search(r'class="mid" points="([^"]+)"', svg).group(1).split()
    assert len(band_points) == 2 * len(mid_points) == 120  # 60 quotes: the highs, then the lows back
    assert ">11 Jun</text>" in svg and ">1,640,000</text>" in svg  # the last date and the low are labelled
    assert "Recent quotes" in page and len(re.findall(r"<tr><td>\d+ (?:May|Jun)</td>", page)) == 10


def test_the_price_page_speaks_chinese_by_accept_language_and_lang_wins(client):
    chinese = client.get("/m/price/Dy", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<h1 class="name">氧化镝</h1>' in html(chinese) and '<span class="big">164–165</span> 万元/吨' in html(chinese)
    assert chinese.headers["Content-Language"] == "zh-CN"
    english = client.get("/m/price/Dy?lang=en", headers={"Accept-Language": "zh-CN"})
    assert '<h1 class="name">Dy oxide</h1>' in html(english) and "Recent quotes" in html(english)
    assert 'href="/m/price/Dy?lang=zh"' in html(english)  # the switch to the other language


def test_an_unknown_product_gets_a_friendly_404_with_a_suggestion(client):
    response = client.get("/m/price/PrNdd?lang=en")
    assert response.status_code == 404
    page = html(response)
    assert "There is no product called “PrNdd”." in page
    assert 'Did you mean: <a href="/m/price/PrNd-oxide?lang=en">PrNd oxide</a>' in page
    assert 'href="/m/price/Tb-metal?lang=en"' in page  # every product is one tap away
    assert html(client.get("/m/price/%3Cscript%3E")).count("<script>") == 0  # escaped, not echoed


@pytest.mark.parametrize("day", ["2025-06-12", "2024-01-01", "yesterday", "2025-6-1", "2025-02-30"])
def test_a_day_without_data_or_not_a_date_gets_a_404(client, day):
    response = client.get(f"/m/summary/{day}?lang=en")
    assert response.status_code == 404
    assert "No market data for" in html(response)


def test_the_summary_page_shows_movers_first_with_trends_on_one_scale_and_news(client):
    response = client.get("/m/summary/2025-06-11?lang=en")
    assert response.status_code == 200
    page = html(response)
    assert "<h1>Rare-earth market</h1>" in page and "Wed 11 Jun 2025" in page
    names = re.findall(r'<a class="name" href="/m/price/([^?]+)\?lang=en">', page)
    assert names[:5] == ["Ho-oxide", "Tb-metal", "Er-oxide", "DyFe", "PrNd-oxide"]  # by |%|: 2.02, 0.57, 0.33…
    assert "1,610,000" in page  # DyFe
    assert page.count('<svg class="spark') == 5  # a trend per mover; the unchanged are one compact line
    assert "Unchanged" in page and "Trend: last 20 quotes, one scale for every row (±7.8%)" in page
    assert "Rare Earth Market - June 11, 2025" in page
    assert 'property="og:image" content="http://localhost/m/chart/Ho-oxide.png?lang=en"' in page


def test_the_share_card_image_is_a_small_chart_png(client):
    response = client.get("/m/chart/PrNd-oxide.png?lang=zh")
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(response.data) < 150_000
    assert client.get("/m/chart/nothing.png").status_code == 404


def test_a_past_summary_shows_that_days_prices_and_no_later_news(client):
    page = html(client.get("/m/summary/2025-06-03?lang=en"))
    assert "Tue 3 Jun 2025" in page
    assert "June 11" not in page
    assert "453,000–455,000" in page  # PrNd oxide on 2025-06-03


def test_summary_without_a_date_redirects_to_today(client):
    response = client.get("/m/summary?lang=en")
    assert response.status_code == 302
    assert response.headers["Location"] == "/m/summary/2025-06-11?lang=en"


def test_pages_are_public_cacheable_self_contained_and_impersonal(make_app):
    app = make_app()
    client = app.test_client()
    # Someone's subscription must never show on a public page.
    bot = app.extensions["rebot"]
    bot.answer(Message("wechat", "oSecretUser-77", text="subscribe Tb Ho"))
    with bot.db.session() as session:
        assert session.scalars(select(Subscriber)).first().external_id == "oSecretUser-77"
    for path in ("/m/price/Tb", "/m/summary/2025-06-11"):
        response = client.get(path)
        assert response.status_code == 200  # no login
        page = html(response)
        assert "oSecretUser-77" not in page
        assert "<script" not in page and "<link" not in page  # nothing to run or fetch but our chart image
        assert re.findall(r'src="([^"]*)"', page) == [re.search(r'og:image" content="http://localhost([^"]+)"',
                                                                 page).group(1).replace("&", "&amp;")]
        assert len(response.data) < 16_000
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert "Accept-Language" in response.headers["Vary"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304


def test_replies_link_to_the_pages_when_public_base_url_is_set(make_app):
    client = make_app(public_base_url=BASE + "/").test_client()
    assert f"More: {BASE}/m/price/PrNd-oxide?lang=en" in html(post_text(client, "price PrNd"))
    assert f"详情：{BASE}/m/price/Dy-oxide?lang=zh" in html(post_text(client, "价格 镝"))
    assert f'<a href="{BASE}/m/summary/2025-06-11?lang=en">Full table and charts</a>' in html(post_text(client, "summary"))


def test_replies_have_no_page_links_without_public_base_url(client):
    assert "/m/price/" not in html(post_text(client, "price PrNd"))
    assert "/m/summary/" not in html(post_text(client, "summary"))


def test_a_wrong_public_base_url_is_named(make_app):
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="public_base_url: must be empty or start with https://"):
        make_app(public_base_url="rebot.example.com")


def test_the_daily_push_links_to_the_days_summary_page(make_app, emulator):
    from bot.push.run import DailyPush
    from test_push import add_subscribers, settings

    bot = make_app(public_base_url=BASE, **settings(emulator)).extensions["rebot"]
    add_subscribers(bot, "wechat", ["o-ann"], language="en")
    DailyPush(bot).run()
    (message,) = emulator.inbox("o-ann")
    assert message["url"] == f"{BASE}/m/summary/2025-06-11?lang=en"  # the template message opens the page
