"""Chat commands end to end: Message -> router -> handlers -> templates, on the demo database."""
from __future__ import annotations

import csv
import sys
import types
from datetime import date, datetime
from decimal import Decimal

import pytest
import yaml
from sqlalchemy import select

from bot.demo import DATA, load_catalog
from bot.messages import Message, Reply
from bot.models import Subscriber
from bot.router import HANDLER_MODULES, Router, command, on_event
from conftest import DEMO_NOW, SHANGHAI

LAST_DAY = "2025-06-11"
CATALOG = {entry["code"]: entry for entry in load_catalog()}
DEFAULT_PRODUCTS = ["PrNd-oxide", "PrNd-metal", "Dy-oxide", "DyFe", "Tb-oxide", "Tb-metal", "Er-oxide", "Ho-oxide",
                    "Gd-oxide"]


# --- helpers -------------------------------------------------------------------------------------------------

def ask(bot, text: str, user: str = "u1") -> Reply:
    reply = bot.answer(Message("console", user, text=text))
    assert_fits(reply)
    return reply


def event(bot, name: str, key: str = "", user: str = "u1") -> Reply:
    reply = bot.answer(Message("console", user, event=name, event_key=key))
    assert_fits(reply)
    return reply


def assert_fits(reply: Reply) -> None:
    """Every reply stays within WeChat's 2048 bytes and is valid UTF-8."""
    data = reply.text.encode("utf-8")
    assert len(data) <= 2048, len(data)
    assert data.decode("utf-8") == reply.text


def subscriber(bot, user: str = "u1") -> Subscriber | None:
    with bot.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.external_id == user)).first()


def quotes() -> dict[str, dict[str, tuple[Decimal, Decimal]]]:
    """prices.csv as {product: {date: (low, high)}}."""
    table: dict[str, dict[str, tuple[Decimal, Decimal]]] = {}
    with open(DATA / "prices.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            table.setdefault(row["product"], {})[row["date"]] = (Decimal(row["low"]), Decimal(row["high"]))
    return table


def expected(code: str, day: str = LAST_DAY) -> dict:
    """What the price reply of `code` must show, derived from prices.csv."""
    history = quotes()[code]
    low, high = history[day]
    previous_day = max(d for d in history if d < day)
    prev_low, prev_high = history[previous_day]
    mid, prev_mid = (low + high) / 2, (prev_low + prev_high) / 2
    change = mid - prev_mid
    pct = (change / prev_mid * 100).quantize(Decimal("0.01"))
    return {
        "low": f"{int(low):,}", "high": f"{int(high):,}", "mid": f"{int(mid):,}",
        "change": ("+" if change > 0 else "") + f"{int(change):,}",
        "pct": ("+" if pct > 0 else "") + f"{pct}%" if pct != 0 else "0.00%",
        "previous_day": previous_day, "single": low == high,
    }


def names_en(codes):
    return [CATALOG[c]["short_en"] for c in codes]


def wan(figure: str) -> str:
    """'449,000' -> '44.9', '+5,000' -> '0.5': a yuan/t figure in 万元/吨."""
    value = (Decimal(figure.replace(",", "").lstrip("+")) / 10000).normalize()
    return f"{value:f}"


def names_zh(codes):
    return [CATALOG[c]["zh"] for c in codes]


def at(*args):
    moment = datetime(*args, tzinfo=SHANGHAI)
    return lambda: moment


@pytest.fixture
def bot_at(make_app):
    """A bot whose clock reads the given Asia/Shanghai time: bot_at(2025, 6, 16, 9)."""

    def factory(*args, **settings):
        return make_app(clock=at(*args), **settings).extensions["rebot"]

    return factory


# --- price ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["PrNd-oxide", "Dy-metal", "Tb-metal", "Ho-oxide", "Er-oxide", "Sm-oxide"])
def test_price_in_english_shows_the_latest_quote_and_its_change(bot, code):
    want = expected(code)
    text = ask(bot, f"price {code}").text
    lines = text.splitlines()
    assert lines[0] == f"{CATALOG[code]['short_en']} ({code}) · {LAST_DAY}"
    if want["single"]:
        assert f"Price: {want['low']} yuan/t" in lines
    else:
        assert f"Range: {want['low']}–{want['high']} yuan/t" in lines
        assert f"Mid: {want['mid']}" in lines
    assert f"{want['change']} ({want['pct']}) vs {want['previous_day']}" in text
    assert "Source: demo" in lines
    assert "Note" not in text


@pytest.mark.parametrize("code", ["PrNd-oxide", "Dy-metal", "Tb-metal", "Ho-oxide"])
def test_price_in_chinese_shows_the_latest_quote_and_its_change(bot, code):
    want = expected(code)
    text = ask(bot, f"价格 {CATALOG[code]['zh']}").text
    lines = text.splitlines()
    assert lines[0] == f"{CATALOG[code]['zh']}（{code}）· {LAST_DAY}"
    if want["single"]:  # 万元/吨, as Chinese traders quote
        assert f"价格：{wan(want['low'])} 万元/吨" in lines
    else:
        assert f"价格区间：{wan(want['low'])}–{wan(want['high'])} 万元/吨" in lines
        assert f"均价：{wan(want['mid'])}万" in lines
    change = wan(want["change"]) + ("万" if wan(want["change"]) != "0" else "")
    assert f"{('+' if want['change'].startswith('+') else '') + change}（{want['pct']}），较 {want['previous_day']}" in text
    assert "来源：demo" in lines
    assert "注意" not in text


def test_price_direction_arrows_follow_the_change(bot):
    assert "▲ +" in ask(bot, "price Ho").text          # rose
    assert "▼ -" in ask(bot, "price Tb metal").text    # fell
    assert "→ 0 (0.00%)" in ask(bot, "price Dy").text  # unchanged


@pytest.mark.parametrize("text, figure", [("price PrNd", "449,000"), ("price Er", "305,000"),
                                          ("price DyFe", "1,610,000")])
def test_price_matches_the_seed_report(bot, text, figure):
    # The June 11 report: "449,000 yuan/ton, 305,000 yuan/ton, and 1,610,000 yuan/ton, respectively".
    assert f"Price: {figure} yuan/t" in ask(bot, text).text


@pytest.mark.parametrize("alias", ["price", "价格", "报价", "价钱", "prices", "quote"])
def test_every_price_alias_answers_the_price(bot, alias):
    assert ("449,000" if alias.isascii() else "44.9 万元/吨") in ask(bot, f"{alias} PrNd").text


@pytest.mark.parametrize("text, heading", [
    ("PrNd", "氧化镨钕（PrNd-oxide）"), ("镨钕", "氧化镨钕（PrNd-oxide）"), ("ｐｒｎｄ", "氧化镨钕（PrNd-oxide）"),
    ("ＰｒＮｄ", "氧化镨钕（PrNd-oxide）"), ("pr-nd", "氧化镨钕（PrNd-oxide）"), ("NdPr", "氧化镨钕（PrNd-oxide）"),
    ("praseodymium-neodymium oxide", "PrNd oxide (PrNd-oxide) "),  # English words: an English answer
    ("氧化镨钕", "氧化镨钕（PrNd-oxide）"), ("Dy metal", "Dy metal (Dy-metal) "), ("金属镝", "金属镝（Dy-metal）"),
    ("镝金属", "金属镝（Dy-metal）"), ("PrNd metal", "PrNd metal (PrNd-metal) "), ("金属镨钕", "镨钕金属（PrNd-metal）"),
    ("Dy-Fe", "镝铁合金（DyFe）"), ("Tb", "氧化铽（Tb-oxide）"), ("独居石", "独居石（monazite）"),
])
def test_a_bare_product_name_answers_its_price(bot, text, heading):
    assert ask(bot, text).text.splitlines()[0] == f"{heading}· {LAST_DAY}"


@pytest.mark.parametrize("text", ["价格：镨钕", "价格:镨钕", "价格镨钕", "价格　镨钕", "  价格   镨钕  ", "价格 镨钕？"])
def test_chinese_input_is_normalised(bot, text):
    assert ask(bot, text).text.startswith(f"氧化镨钕（PrNd-oxide）· {LAST_DAY}\n价格：44.9 万元/吨")


@pytest.mark.parametrize("text", ["  PRICE   prnd ", "price PrNd?", "Price: PrNd", "ｐｒｉｃｅ ＰｒＮｄ", "price PrNd!!",
                                  "price\tPrNd"])
def test_english_input_is_normalised(bot, text):
    assert ask(bot, text).text.startswith(f"PrNd oxide (PrNd-oxide) · {LAST_DAY}\nPrice: 449,000 yuan/t")


def test_a_word_that_starts_like_a_command_is_not_that_command(bot):
    text = ask(bot, "pricey").text
    assert "Did you mean: price?" in text
    assert "449,000" not in text


def test_stale_quote_on_a_later_trading_day_says_so(bot_at):
    bot = bot_at(2025, 6, 16, 10)  # Monday; the last quote is Wednesday 06-11
    text = ask(bot, "price PrNd").text
    assert f"PrNd oxide (PrNd-oxide) · {LAST_DAY}" in text  # still the last quote, with its date
    assert "Price: 449,000 yuan/t" in text
    note = text.splitlines()[-1]
    assert note.startswith("Note:") and LAST_DAY in note and "2025-06-16" in note
    zh = ask(bot, "价格 镨钕").text.splitlines()[-1]
    assert zh.startswith("注意：") and LAST_DAY in zh and "2025-06-16" in zh


def test_stale_note_at_the_weekend_names_friday(bot_at):
    bot = bot_at(2025, 6, 14, 10)  # Saturday: the last trading day is Friday 06-13, which has no quote
    note = ask(bot, "price PrNd").text.splitlines()[-1]
    assert note.startswith("Note:") and LAST_DAY in note and "2025-06-13" in note


def test_no_stale_note_on_the_day_of_the_quote(bot_at):
    for clock in [(2025, 6, 11, 18), (2025, 6, 11, 0, 5)]:
        assert "Note" not in ask(bot_at(*clock), "price PrNd").text


def test_price_before_the_latest_quote_shows_the_quote_of_that_time(bot_at):
    bot = bot_at(2025, 6, 10, 18)
    want = expected("Dy-metal", "2025-06-10")
    text = ask(bot, "price Dy metal").text
    assert "· 2025-06-10" in text and f"Range: {want['low']}–{want['high']} yuan/t" in text


def test_price_of_an_unknown_product_suggests_the_closest(bot):
    assert ask(bot, "price PrNdd").text == 'Unknown product "PrNdd". Did you mean: price PrNd-oxide?'
    assert ask(bot, "价格 镨钕钕").text == "未找到产品“镨钕钕”。您是不是要找：价格 PrNd-oxide？"
    text = ask(bot, "price xyzzy").text
    assert text.startswith('Unknown product "xyzzy".') and "Try: price PrNd" in text


def test_price_of_several_products_is_a_table(bot):
    text = ask(bot, "price Dy, Tb metal").text
    lines = text.splitlines()
    dy, tb = expected("Dy-oxide"), expected("Tb-metal")
    assert lines[0] == "Latest prices"
    assert lines[1].startswith(f"Dy oxide: {dy['low']}–{dy['high']} yuan/t")
    assert lines[2].startswith(f"Tb metal: {tb['low']}–{tb['high']} yuan/t ▼{tb['pct']}")
    assert len(lines) == 4


def test_price_alone_lists_the_default_products(bot):
    lines = ask(bot, "price").text.splitlines()
    assert lines[0] == "Latest prices"
    rows = lines[1:-1]
    assert [row.split(":")[0] for row in rows] == names_en(DEFAULT_PRODUCTS)
    for code, row in zip(DEFAULT_PRODUCTS, rows):
        want = expected(code)
        level = want["low"] if want["single"] else f"{want['low']}–{want['high']}"
        assert f": {level} yuan/t" in row and f"({LAST_DAY})" in row and want["pct"] in row, row
    zh = ask(bot, "价格").text.splitlines()
    assert zh[0] == "最新价格" and [row.split("：")[0] for row in zh[1:-1]] == names_zh(DEFAULT_PRODUCTS)


def test_price_alone_lists_the_followed_products(bot):
    ask(bot, "subscribe Dy Tb")
    lines = ask(bot, "price").text.splitlines()
    assert [row.split(":")[0] for row in lines[1:-1]] == ["Dy oxide", "Tb oxide"]
    # Another user still sees the default set.
    assert len(ask(bot, "price", user="u2").text.splitlines()) == len(DEFAULT_PRODUCTS) + 2


def test_price_table_marks_old_quotes(bot_at):
    bot = bot_at(2025, 6, 16, 10)
    rows = ask(bot, "price").text.splitlines()[1:-1]
    assert rows and all(f"({LAST_DAY}, old)" in row for row in rows)
    assert all(f"（{LAST_DAY}，非最新）" in row for row in ask(bot, "价格").text.splitlines()[1:-1])


# --- news ----------------------------------------------------------------------------------------------------

def news_items() -> list[dict]:
    items = yaml.safe_load((DATA / "news.yaml").read_text(encoding="utf-8"))
    return sorted(items, key=lambda i: datetime.fromisoformat(i["published_at"]), reverse=True)


@pytest.mark.parametrize("text, header", [("news", "Latest news"), ("latest news", "Latest news"),
                                          ("新闻", "最新新闻"), ("最新新闻", "最新新闻"), ("资讯", "最新新闻")])
def test_news_lists_the_newest_items_as_articles(bot, text, header):
    items = news_items()
    reply = ask(bot, text)
    assert 1 <= len(reply.articles) <= 8
    assert [a.url for a in reply.articles] == [i["url"] for i in items[: len(reply.articles)]]
    assert len(reply.articles) == min(5, len(items))
    for article, item in zip(reply.articles, items):
        assert article.title == item["title"]
        assert article.picurl == item["image_url"]
        assert article.description and len(article.description) <= 120
        assert article.url in reply.text and article.title in reply.text  # text version for console channels
    assert reply.text.splitlines()[0] == header


def test_news_count(bot):
    items = news_items()
    two = ask(bot, "news 2")
    assert [a.url for a in two.articles] == [i["url"] for i in items[:2]]
    assert two.text.count("https://") == 2
    assert len(ask(bot, "新闻 1").articles) == 1
    many = ask(bot, "news 20")
    assert len(many.articles) == min(8, len(items))
    assert len(ask(bot, "news 0").articles) == 1


def test_news_keyword_filters(bot):
    wanted = [i["url"] for i in news_items() if "export" in (i["title"] + i["summary"]).lower()]
    assert 0 < len(wanted) < len(news_items())
    reply = ask(bot, "news export")
    assert [a.url for a in reply.articles] == wanted
    assert reply.text.splitlines()[0] == 'News about "export"'
    assert [a.url for a in ask(bot, "news EXPORT").articles] == wanted


def test_news_keyword_without_a_match(bot):
    reply = ask(bot, "news zirconium")
    assert not reply.articles
    assert reply.text == 'No news about "zirconium". Try: news'
    assert ask(bot, "新闻 锆").text == "没有关于“锆”的新闻。试试：新闻"
    # LIKE wildcards are taken literally.
    assert not ask(bot, "news %").articles and not ask(bot, "news _").articles


# --- summary -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["summary", "market", "行情", "今日行情", "日报"])
def test_summary_lists_every_default_product_and_the_news(bot, text):
    reply = ask(bot, text).text
    zh = not text.isascii()
    assert reply.splitlines()[0] == ("稀土行情 · 6月11日（周三）" if zh else "Rare-earth market · Wed 11 Jun (yuan/t)")
    names = names_zh(DEFAULT_PRODUCTS) if zh else names_en(DEFAULT_PRODUCTS)
    assert all(f"{name} " in reply for name in names)
    for code in DEFAULT_PRODUCTS:
        want = expected(code)
        if zh:  # 万元/吨, as Chinese traders say it: 44.9万, 705–709万
            low, high = (f"{(Decimal(w.replace(',', '')) / 10000).normalize():f}" for w in (want["low"], want["high"]))
            assert (f"{low}万" if want["single"] else f"{low}–{high}万") in reply
        else:
            assert (want["low"] if want["single"] else f"{want['low']}–{want['high']}") in reply
    for item in news_items()[:3]:
        assert f'<a href="{item["url"]}">' in reply  # the link behind a short title, never a raw URL in text
    assert ("新闻" if zh else "News") in reply.splitlines()
    assert "No new quotes" not in reply and "暂无新报价" not in reply


def test_summary_on_a_day_without_quotes_says_so(bot_at):
    bot = bot_at(2025, 6, 16, 9)
    text = ask(bot, "summary").text
    assert text.splitlines()[:2] == ["Rare-earth market · Mon 16 Jun (yuan/t)",
                                     "No new quotes today; these are the quotes of 11 Jun."]
    assert "PrNd oxide 449,000 " in text  # the last price, not zero
    zh = ask(bot, "行情").text
    assert zh.splitlines()[1] == "今日暂无新报价，以下为6月11日报价。" and "44.9万" in zh


def test_summary_follows_the_followed_products(bot):
    ask(bot, "订阅 镝 铽")
    text = ask(bot, "行情").text
    assert "氧化镝" in text and "氧化铽" in text and "氧化镨钕" not in text


# --- subscribe / unsubscribe / my ----------------------------------------------------------------------------

def test_subscription_flow_in_english(bot):
    assert subscriber(bot) is None
    text = ask(bot, "subscribe Dy Tb").text
    assert text.splitlines() == [
        "Subscribed: you will get the market summary every trading day.",
        "Added: Dy oxide, Tb oxide",
        "Your products: Dy oxide, Tb oxide",
        "Stop with: unsubscribe",
    ]
    sub = subscriber(bot)
    assert (sub.daily_summary, sub.products, sub.language, sub.status) == (True, ["Dy-oxide", "Tb-oxide"], "en",
                                                                           "active")
    again = ask(bot, "subscribe Dy PrNd").text
    assert again.startswith("You are subscribed to the daily summary.")
    assert subscriber(bot).products == ["Dy-oxide", "Tb-oxide", "PrNd-oxide"]  # no duplicate

    my = ask(bot, "my").text.splitlines()
    assert my[0] == "Daily summary: on" and my[1] == "Your products: Dy oxide, Tb oxide, PrNd oxide"

    assert ask(bot, "unsubscribe Dy").text.splitlines() == ["No longer following: Dy oxide",
                                                           "Your products: Tb oxide, PrNd oxide"]
    sub = subscriber(bot)
    assert sub.products == ["Tb-oxide", "PrNd-oxide"] and sub.daily_summary is True

    assert ask(bot, "unsubscribe").text.startswith("Unsubscribed: no more daily summaries.")
    sub = subscriber(bot)
    assert sub.daily_summary is False and sub.products == ["Tb-oxide", "PrNd-oxide"]
    assert ask(bot, "unsubscribe").text.startswith("You are not subscribed")
    assert ask(bot, "my").text.splitlines()[0] == "Daily summary: off (start with: subscribe)"


def test_subscription_flow_in_chinese(bot):
    text = ask(bot, "订阅 镨钕、金属铽").text
    assert text.splitlines()[:3] == ["订阅成功：每个交易日将为您推送行情摘要。", "新增关注：氧化镨钕、金属铽",
                                     "关注产品：氧化镨钕、金属铽"]
    sub = subscriber(bot)
    assert (sub.daily_summary, sub.products, sub.language) == (True, ["PrNd-oxide", "Tb-metal"], "zh")
    assert ask(bot, "我的订阅").text.splitlines()[:2] == ["每日行情：已订阅", "关注产品：氧化镨钕、金属铽"]
    assert ask(bot, "退订 镨钕").text.splitlines() == ["已取消关注：氧化镨钕", "关注产品：金属铽"]
    assert ask(bot, "退订").text.startswith("已退订")
    assert subscriber(bot).daily_summary is False
    assert ask(bot, "取消订阅").text.startswith("您尚未订阅每日行情")
    assert ask(bot, "我的").text.splitlines()[0] == "每日行情：未订阅（订阅请发送：订阅）"


def test_subscribe_without_products_keeps_the_default_set(bot):
    text = ask(bot, "subscribe").text
    assert "Products (default set): " + ", ".join(names_en(DEFAULT_PRODUCTS)) in text
    sub = subscriber(bot)
    assert sub.daily_summary is True and sub.products == []


def test_unfollowing_every_product_falls_back_to_the_default_set(bot):
    ask(bot, "subscribe Dy")
    assert "Products (default set): PrNd oxide" in ask(bot, "unsubscribe Dy").text


def test_subscribe_with_an_unknown_product_changes_nothing(bot):
    assert ask(bot, "subscribe PrNdd").text == 'Unknown product "PrNdd". Did you mean: subscribe PrNd-oxide?'
    assert subscriber(bot) is None
    assert ask(bot, "订阅 镨钕钕").text == "未找到产品“镨钕钕”。您是不是要找：订阅 PrNd-oxide？"
    ask(bot, "subscribe Dy")
    assert "Did you mean: unsubscribe Dy-oxide?" in ask(bot, "unsubscribe Dyy").text
    assert subscriber(bot).products == ["Dy-oxide"]


def test_my_for_a_new_user(bot):
    lines = ask(bot, "my").text.splitlines()
    assert lines[0] == "Daily summary: off (start with: subscribe)"
    assert lines[1] == "Products (default set): " + ", ".join(names_en(DEFAULT_PRODUCTS))


def test_users_have_their_own_subscriptions(bot):
    ask(bot, "subscribe Dy", user="alice")
    ask(bot, "订阅 铽", user="bob")
    assert subscriber(bot, "alice").products == ["Dy-oxide"]
    assert subscriber(bot, "bob").products == ["Tb-oxide"]
    assert ask(bot, "我的订阅", user="carol").text.startswith("每日行情：未订阅")


# --- help ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, language", [("help", "en"), ("commands", "en"), ("menu", "en"), ("帮助", "zh"),
                                            ("命令", "zh"), ("?", "zh"), ("？", "zh")])
def test_help_lists_every_visible_command(bot, text, language):
    reply = ask(bot, text).text
    visible = bot.router.visible_commands(admin=False)
    assert {c.name for c in visible} >= {"price", "news", "summary", "subscribe", "unsubscribe", "my", "help"}
    for cmd in visible:
        assert f"· {cmd.usage[language]}{'：' if language == 'zh' else ': '}{cmd.help[language]}" in reply
    assert "admin" not in reply and "_event" not in reply  # neither admin commands nor events are listed
    assert len([line for line in reply.splitlines() if line.startswith("· ")]) == len(visible)


def test_help_in_the_senders_language(bot):
    ask(bot, "subscribe")  # stores English
    assert ask(bot, "?").text.startswith("rebot commands:")


def test_help_for_one_command(bot):
    price = bot.router.get("price")
    assert ask(bot, "help price").text.splitlines() == [f"price [product…]: {price.help['en']}",
                                                         "Also: " + ", ".join(price.names)]
    assert ask(bot, "帮助 价格").text.splitlines()[0] == f"价格 [产品…]：{price.help['zh']}"
    assert ask(bot, "help 新闻").text.startswith("新闻 [条数 | 关键词]：")
    assert ask(bot, "help nonsense").text.startswith("rebot commands:")


# --- unknown input, empty text -------------------------------------------------------------------------------

def test_unknown_input_suggests_the_closest_command(bot):
    # Issue 15: a misspelt price question is answered, saying how it was read; other misspelt commands ask first.
    assert ask(bot, "pirce PrNd").text.splitlines()[:2] == ["Showing: PrNd oxide price", "PrNd oxide (PrNd-oxide) · 2025-06-11"]
    assert "Did you mean: summary?" in ask(bot, "sumary").text
    assert "Did you mean: subscribe Dy-oxide?" in ask(bot, "subscrbe Dy").text


def test_unknown_input_suggests_the_closest_product(bot):
    assert ask(bot, "dysprosum oxide").text.startswith("Showing: Dy oxide price\nDy oxide (Dy-oxide)")  # issue 15
    assert ask(bot, "镨钕钕").text.startswith("价格对比\n氧化镨钕：")  # issue 15: read as 镨钕 and 钕 side by side


def test_unknown_input_without_a_suggestion(bot):
    assert ask(bot, "what is the weather").text.splitlines() == ["Sorry, I did not understand that.",
                                                                 "Type help for the commands."]
    assert ask(bot, "天气怎么样").text.splitlines() == ["抱歉，没有理解您的意思。", "发送“帮助”查看全部命令。"]


@pytest.mark.parametrize("text", ["", "   ", "\n", "。", "!!"])
def test_empty_text_asks_for_a_command(bot, text):
    assert ask(bot, text).text == "请发送文字命令，如：价格 镨钕。发送“帮助”查看全部命令。"


# --- events --------------------------------------------------------------------------------------------------

def test_follow_event_welcomes_with_three_commands(bot):
    reply = event(bot, "subscribe")
    lines = reply.text.splitlines()
    tips = [line for line in lines if line.startswith("· ")]
    assert len(tips) == 3
    assert [tip.split("：")[0] for tip in tips] == ["· 价格 镨钕", "· 行情", "· 订阅"]
    for tip in tips:  # each suggested command works
        assert "抱歉" not in ask(bot, tip[2:].split("：")[0], user="other").text
    sub = subscriber(bot)
    assert sub.status == "active" and sub.daily_summary is False


def test_follow_event_in_english_when_configured(bot_at):
    bot = bot_at(2025, 6, 11, 18, language="en")
    text = event(bot, "subscribe").text
    assert text.startswith("Welcome to rebot") and "· price PrNd:" in text and "· summary:" in text


def test_unfollow_event_marks_the_subscriber_unreachable(bot):
    ask(bot, "subscribe Dy")
    reply = event(bot, "unsubscribe")
    assert reply.empty
    assert subscriber(bot).status == "unreachable"
    assert "Status: unreachable" in ask(bot, "my").text
    ask(bot, "subscribe")
    assert subscriber(bot).status == "active"


def test_follow_again_after_unfollow_is_active(bot):
    event(bot, "subscribe")
    event(bot, "unsubscribe")
    event(bot, "subscribe")
    assert subscriber(bot).status == "active"


def test_unfollow_event_of_a_stranger_is_harmless(bot):
    assert event(bot, "unsubscribe", user="nobody").empty
    assert subscriber(bot, "nobody") is None


def test_menu_click_runs_the_mapped_command(bot_at):
    bot = bot_at(2025, 6, 11, 18, **{"wechat.menu.commands": {"PRICE_PRND": "price PrNd", "NEWS": "新闻 2",
                                                                "SUMMARY": "行情"}})
    # A click has no text: the reply is in the user's language (here the default, zh), like a bare product name.
    assert event(bot, "click", "PRICE_PRND").text == ask(bot, "PrNd").text
    assert ask(bot, "PrNd").text.startswith("氧化镨钕（PrNd-oxide）")
    assert len(event(bot, "click", "NEWS").articles) == 2
    assert event(bot, "click", "SUMMARY").text == ask(bot, "行情").text


def test_menu_click_without_a_mapping(bot):
    assert event(bot, "click", "NOT_SET").text == "该菜单暂未配置。发送“帮助”查看全部命令。"


def test_other_events_get_no_reply(bot):
    assert event(bot, "view", "https://example.com").empty


# --- language ------------------------------------------------------------------------------------------------

def test_reply_language_follows_the_message(bot):
    assert ask(bot, "price PrNd").text.startswith("PrNd oxide")
    assert ask(bot, "价格 PrNd").text.startswith("氧化镨钕")
    assert ask(bot, "my").text.startswith("Daily summary")  # a two-letter English command is English
    assert ask(bot, "我的").text.startswith("每日行情")


def test_bare_product_uses_the_stored_language_else_the_default(bot, bot_at):
    assert ask(bot, "PrNd").text.startswith("氧化镨钕")  # new user: config default zh
    ask(bot, "subscribe")                                 # stores en
    assert ask(bot, "PrNd").text.startswith("PrNd oxide")
    assert ask(bot, "Dy-Fe").text.startswith("DyFe (DyFe)")
    ask(bot, "订阅")                                      # stores zh
    assert ask(bot, "NdPr").text.startswith("氧化镨钕")
    english = bot_at(2025, 6, 11, 18, language="en")
    assert ask(english, "PrNd", user="new").text.startswith("PrNd oxide")


# --- admin-only commands -------------------------------------------------------------------------------------

@pytest.fixture
def admin_module(monkeypatch):
    """A handler module with one admin-only command, importable by name."""
    module = types.ModuleType("rebot_test_admin_handlers")

    @command("broadcast", aliases=("广播",), usage_en="broadcast <text>", usage_zh="广播 <内容>",
             help_en="send a text to every subscriber", help_zh="向所有订阅者发送消息", admin_only=True)
    def broadcast(ctx, args):
        return Reply(text=f"would send: {args}")

    module.broadcast = broadcast
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def test_admin_only_commands_are_hidden_from_others(make_app, admin_module):
    bot = make_app(admins=["console:boss"]).extensions["rebot"]
    bot.router = Router(bot.config, modules=[*HANDLER_MODULES, admin_module])

    help_text = ask(bot, "help", user="u1").text
    assert "broadcast" not in help_text and "price [product…]" in help_text
    refused = ask(bot, "broadcast hello", user="u1").text
    assert "would send" not in refused and refused.startswith("Sorry, I did not understand that.")
    assert "broadcast" not in ask(bot, "broadcst hi", user="u1").text  # never suggested either
    assert "would send" not in ask(bot, "广播 你好", user="u1").text
    assert ask(bot, "help broadcast", user="u1").text.startswith("rebot commands:")

    assert "· broadcast <text>: send a text to every subscriber" in ask(bot, "help", user="boss").text
    assert "· 广播 <内容>：向所有订阅者发送消息" in ask(bot, "帮助", user="boss").text
    assert ask(bot, "broadcast hello", user="boss").text == "would send: hello"


def test_a_name_registered_twice_is_refused(make_app, monkeypatch):
    module = types.ModuleType("rebot_test_clashing_handlers")
    module.clash = command("quote-again", aliases=("价格",))(lambda ctx, args: None)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    bot = make_app().extensions["rebot"]
    with pytest.raises(ValueError, match="价格"):
        Router(bot.config, modules=[*HANDLER_MODULES, module.__name__])


def test_an_event_answered_twice_is_refused(make_app, monkeypatch):
    module = types.ModuleType("rebot_test_clashing_events")
    module.follow_again = on_event("SCAN")(lambda ctx: None)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    bot = make_app().extensions["rebot"]
    assert set(bot.router.events) == {"subscribe", "unsubscribe", "scan", "click"}
    with pytest.raises(ValueError, match="event 'scan' has two handlers"):
        Router(bot.config, modules=[*HANDLER_MODULES, module.__name__])


# --- size limit ----------------------------------------------------------------------------------------------

def test_every_reply_fits_in_2048_bytes(bot_at):
    bot = bot_at(2025, 6, 16, 9)  # stale: no quote of the day, the summary says so
    every = " ".join(CATALOG)
    ask(bot, f"订阅 {every}")
    assert len(subscriber(bot).products) == len(CATALOG)
    for text in ["行情", "summary", "价格", "price", "我的订阅", "my", "帮助", "help", "新闻 8", "news 8",
                 f"price {every}", "price " + "x" * 3000, "镨" * 3000]:
        reply = ask(bot, text)  # ask() checks the size and the encoding
        assert reply.text
    summary = ask(bot, "行情").text
    assert len(summary.encode("utf-8")) > 1200  # every product: long enough that the limit matters
    if summary.endswith("…"):  # cut at a line end, never inside a line
        assert summary[:-1].endswith("\n")


def test_a_smaller_channel_limit_is_respected(bot):
    reply = bot.answer(Message("console", "u1", text="行情"), max_bytes=200)
    data = reply.text.encode("utf-8")
    assert len(data) <= 200 and reply.text.endswith("…") and data.decode("utf-8") == reply.text
    assert reply.text.startswith("稀土行情 · 6月11日（周三）")


def test_demo_now_is_the_last_demo_day():
    assert DEMO_NOW.date() == date.fromisoformat(LAST_DAY)


# --- more subscription edge cases ----------------------------------------------------------------------------

def test_unfollowing_from_the_default_set_keeps_the_rest(bot):
    # `my` suggests "unsubscribe Dy" to someone on the default set: it must drop Dy oxide and nothing else.
    text = ask(bot, "unsubscribe Dy").text
    rest = [c for c in DEFAULT_PRODUCTS if c != "Dy-oxide"]
    assert text.splitlines() == ["No longer following: Dy oxide", "Your products: " + ", ".join(names_en(rest))]
    assert subscriber(bot).products == rest
    assert "Dy oxide" not in ask(bot, "price").text


def test_unfollowing_a_product_not_followed_says_so(bot):
    ask(bot, "subscribe Dy")
    assert ask(bot, "unsubscribe La Dy").text.splitlines() == [
        "No longer following: Dy oxide", "You were not following: La oxide", "Products (default set): "
        + ", ".join(names_en(DEFAULT_PRODUCTS))]
    ask(bot, "订阅 铽")
    assert ask(bot, "退订 镧").text.splitlines() == ["您并未关注：氧化镧", "关注产品：氧化铽"]
    assert subscriber(bot).products == ["Tb-oxide"]


def test_internal_event_command_cannot_be_typed(bot):
    ask(bot, "subscribe")
    for text in ("_event unsubscribe", "_event"):
        assert ask(bot, text).text.startswith("Sorry, I did not understand that.")
    assert subscriber(bot).status == "active"


# --- products without history --------------------------------------------------------------------------------

def add_product(bot, code: str, quotes_: list[tuple[str, int, int]]):
    from bot.models import PriceQuote, Product

    with bot.db.session() as session:
        session.add(Product(code=code, name_en="scandium oxide", name_zh="氧化钪", short_en="Sc oxide",
                            aliases=["Sc", "氧化钪"], unit="yuan/t", group="other", position=99))
        session.flush()
        for day, low, high in quotes_:
            session.add(PriceQuote(product_code=code, date=date.fromisoformat(day), low=Decimal(low),
                                   high=Decimal(high), unit="yuan/t", source="test"))


def test_a_product_without_quotes(bot):
    add_product(bot, "Sc-oxide", [])
    assert ask(bot, "price Sc").text == "No quote for Sc oxide (Sc-oxide) yet."
    assert ask(bot, "价格 氧化钪").text == "氧化钪（Sc-oxide）暂无报价。"
    ask(bot, "subscribe Sc Dy")
    assert "Sc oxide: no quote yet" in ask(bot, "price").text.splitlines()
    assert "No quote yet: Sc oxide" in ask(bot, "summary").text.splitlines()


def test_a_first_quote_has_no_change(bot):
    add_product(bot, "Sc-oxide", [(LAST_DAY, 6_000_000, 6_200_000)])
    text = ask(bot, "price Sc").text
    assert "Range: 6,000,000–6,200,000 yuan/t" in text and "Mid: 6,100,000" in text
    assert "Change: no earlier quote to compare" in text and "Source: test" in text
    ask(bot, "subscribe Sc")
    assert "Sc oxide: 6,000,000–6,200,000 yuan/t – (2025-06-11)" in ask(bot, "price").text
