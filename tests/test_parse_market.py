"""The market queries and replies the parsed questions need, on the demo database (a real SQLite file)."""
import csv
from datetime import date
from decimal import Decimal
from importlib import resources

import pytest

from bot.db import Database
from bot.demo import load_catalog
from bot.market.catalog import Catalog
from bot.market.history import change_over, price_table, quote_on
from bot.market.news import news_matching
from bot.market.parse import Parser
from bot.render import Renderer

TODAY = date(2025, 6, 11)
ROWS = list(csv.DictReader(resources.files("bot").joinpath("data/prices.csv").read_text("utf-8").splitlines()))


def demo_mid(code: str, day: str) -> Decimal:
    row = next(r for r in ROWS if r["product"] == code and r["date"] == day)
    return (Decimal(row["low"]) + Decimal(row["high"])) / 2


@pytest.fixture
def session(db_url):
    database = Database(db_url)
    with database.session() as session:
        yield session
    database.dispose()


@pytest.fixture(scope="module")
def catalog():
    return Catalog.from_entries(load_catalog())


def test_a_day_with_a_quote_is_answered_with_it(session, catalog):
    found = quote_on(session, catalog.by_code["Dy-oxide"], date(2025, 6, 4))
    assert found.exact and found.view.date == date(2025, 6, 4)
    assert found.view.mid == demo_mid("Dy-oxide", "2025-06-04")


def test_a_day_without_a_quote_gives_the_nearest_earlier_and_says_so(session, catalog):
    found = quote_on(session, catalog.by_code["PrNd-oxide"], date(2025, 6, 8))  # a Sunday
    assert not found.exact and found.view.date == date(2025, 6, 6)
    text = Renderer().text("price_on_date", "zh", quote=found)
    assert text.startswith("2025-06-08 无 氧化镨钕 报价，以下为此前最近一次（2025-06-06）")
    assert "来源：demo" in text
    assert "No PrNd oxide quote on 2025-06-08" in Renderer().text("price_on_date", "en", quote=found)


def test_before_the_first_quote_there_is_none(session, catalog):
    assert quote_on(session, catalog.by_code["PrNd-oxide"], date(2020, 1, 1)) is None


def test_change_over_a_period_from_the_last_quote_before_it(session, catalog):
    request = Parser(catalog).parse("镨钕本月涨跌", TODAY)
    change = change_over(session, catalog.by_code["PrNd-oxide"], request.since, TODAY)
    assert (change.start.date, change.end.date) == (date(2025, 5, 30), date(2025, 6, 11))  # 31 May: a Saturday
    start, end = demo_mid("PrNd-oxide", "2025-05-30"), demo_mid("PrNd-oxide", "2025-06-11")
    assert change.change == end - start
    assert change.change_pct == (end - start) / start * 100
    assert not change.shorter
    text = Renderer().text("change", "zh", change=change, understood="")
    assert text.splitlines()[:2] == ["氧化镨钕 2025-05-30 至 2025-06-11", f"起：{(start / 10000).normalize():f} 万元/吨（2025-05-30 均价）"]  # 万元/吨, as the other replies
    assert f"涨跌：{change.arrow}" in text


def test_a_period_longer_than_the_data_says_what_the_data_covers(session, catalog):
    change = change_over(session, catalog.by_code["Dy-oxide"], date(2024, 6, 11), TODAY)
    first = min(r["date"] for r in ROWS if r["product"] == "Dy-oxide")
    assert change.shorter and change.covers_from.isoformat() == first
    assert f"(data from {first} only)" in Renderer().text("change", "en", change=change)


def test_several_products_in_one_table_as_price_shows_them(session, catalog):
    products = [catalog.by_code[c] for c in Parser(catalog).parse("镝、铽、钬", TODAY).products]
    table = price_table(session, products, TODAY)
    assert [p.code for p, _v in table.rows] == ["Dy-oxide", "Tb-oxide", "Ho-oxide"]
    text = Renderer().text("compare", "zh", table=table, understood="按 氧化镝、氧化铽、氧化钬 价格回答")
    lines = text.splitlines()
    assert lines[0] == "按 氧化镝、氧化铽、氧化钬 价格回答"
    price_lines = Renderer().text("price_table", "zh", rows=table.rows, last_trading_day=TODAY).splitlines()
    assert lines[2:] == price_lines[1:4]  # each product's line exactly as `价格 镝 铽 钬` shows it


def test_news_keyword_finds_items_in_the_other_language(session, catalog):
    request = Parser(catalog).parse("新闻 关税", TODAY)
    assert news_matching(session, ("关税",), 8) == []
    found = news_matching(session, request.keywords, 8)
    assert found and all("tariff" in (i.title + i.summary).lower() for i in found)
    exports = news_matching(session, Parser(catalog).parse("news 出口", TODAY).keywords, 8)
    assert any("Export" in i.title for i in exports)


def test_not_quoted_here_names_the_closest_products_in_the_users_language(catalog):
    request = Parser(catalog).parse("钕铁硼多少钱", TODAY)
    closest = [catalog.by_code[c] for c in request.suggestions]
    zh = Renderer().text("not_quoted", "zh", term=request.term, closest=closest)
    assert zh == "这里不提供“钕铁硼”的报价。最接近的报价产品：镨钕金属、金属钕、氧化镨钕，如发送：镨钕金属价格"
    en = Renderer().text("not_quoted", "en", term="NdFeB", closest=closest)
    assert "PrNd metal, Nd metal, PrNd oxide" in en and "Nd-metal" not in en


def test_greeting_offers_three_commands_that_parse_to_answers(catalog):
    parser = Parser(catalog)
    for language in ("zh", "en"):
        tried = [line.split("·")[1].split("：" if language == "zh" else ":")[0].strip()
                 for line in Renderer().text("greeting", language).splitlines() if line.startswith("·")]
        assert len(tried) == 3
        assert [parser.parse(t, TODAY).intent for t in tried] == ["price", "trend", "summary"]


def test_did_you_mean_names_products_not_codes(catalog):
    text = Renderer().text("did_you_mean", "zh", products=[catalog.by_code["Tb-oxide"]])
    assert "氧化铽" in text and "Tb-oxide" not in text
