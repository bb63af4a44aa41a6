"""Questions in words (issue 15) end to end: Message -> router -> parser -> handlers -> templates, on the demo
database, the clock on its last day (Wednesday 2025-06-11). A representative set per "What a user sees" bullet."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.models import Alert, Subscriber
from test_commands import ask, bot_at  # noqa: F401 (a fixture)


def lines(bot, text: str, user: str = "u1") -> list[str]:
    return ask(bot, text, user).text.splitlines()


# --- price, any word order and filler ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, first", [
    ("镨钕现在啥价", "氧化镨钕（PrNd-oxide）· 2025-06-11"), ("氧化镨钕报价多少", "氧化镨钕（PrNd-oxide）· 2025-06-11"),
    ("氧化铽价格", "氧化铽（Tb-oxide）· 2025-06-11"), ("铽金属最新价", "金属铽（Tb-metal）· 2025-06-11"),
    ("镝铁什么价位", "镝铁合金（DyFe）· 2025-06-11"), ("帮我查下氧化钬", "氧化钬（Ho-oxide）· 2025-06-11"),
    ("氧化镧行情", "氧化镧（La-oxide）· 2025-06-11"), ("氧化鋱價格", "氧化铽（Tb-oxide）· 2025-06-11"),
    ("鏑鐵多少錢", "镝铁合金（DyFe）· 2025-06-11"),
    ("what's PrNd at today?", "PrNd oxide (PrNd-oxide) · 2025-06-11"), ("TB PRICE", "Tb oxide (Tb-oxide) · 2025-06-11"),
    ("price of terbium metal", "Tb metal (Tb-metal) · 2025-06-11"), ("PrNd price?", "PrNd oxide (PrNd-oxide) · 2025-06-11"),
])
def test_a_price_question_in_any_order_gets_the_quote_as_price_shows_it(bot, text, first):
    reply = lines(bot, text)
    assert first in reply[:2]
    code = first.split("（" if "（" in first else "(")[1].split("）" if "）" in first else ")")[0]
    command = ("价格 " if "（" in first else "price ") + code
    assert ask(bot, command).text in ask(bot, text).text  # the data exactly as `price X` shows it


def test_hangqing_alone_is_the_summary_and_with_a_product_that_products_price(bot):
    assert ask(bot, "行情").text == ask(bot, "summary").text or ask(bot, "行情").text.startswith(lines(bot, "行情")[0])
    assert lines(bot, "氧化镧行情")[0].startswith("氧化镧（La-oxide）")


# --- several products -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, names", [
    ("镨钕和铽的价格", ["氧化镨钕：", "氧化铽："]), ("镝、铽、钬", ["氧化镝：", "氧化铽：", "氧化钬："]),
    ("镝 vs 铽", ["氧化镝：", "氧化铽："]), ("Dy and Tb prices", ["Dy oxide:", "Tb oxide:"]),
])
def test_several_products_get_one_compact_table(bot, text, names):
    reply = lines(bot, text)
    rows = [line for line in reply if ":" in line or "：" in line]
    assert [r.split("：" if "：" in r else ":")[0] + ("：" if "：" in r else ":") for r in rows] == names
    assert all("2025-06-11" in r for r in rows)


# --- a past date ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, heading", [
    ("PrNd on 2025-06-04", "PrNd oxide (PrNd-oxide) · 2025-06-04"), ("6月4日氧化镝", "氧化镝（Dy-oxide）· 2025-06-04"),
    ("镨钕 6/4", "氧化镨钕（PrNd-oxide）· 2025-06-04"), ("what was Dy oxide on June 3", "Dy oxide (Dy-oxide) · 2025-06-03"),
    ("镨钕 昨天", "氧化镨钕（PrNd-oxide）· 2025-06-10"), ("PrNd last Friday", "PrNd oxide (PrNd-oxide) · 2025-06-06"),
    ("镨钕 上周五", "氧化镨钕（PrNd-oxide）· 2025-06-06"),
])
def test_a_past_date_gets_that_days_quote(bot, text, heading):
    assert heading in lines(bot, text)


def test_a_day_without_a_quote_says_so_and_gives_the_nearest_earlier_one(bot):
    assert lines(bot, "镨钕 6月8日")[:2] == ["2025-06-08 无 氧化镨钕 报价，以下为此前最近一次（2025-06-06）：",
                                              "氧化镨钕（PrNd-oxide）· 2025-06-06"]
    assert lines(bot, "PrNd on June 7")[0] == "No PrNd oxide quote on 2025-06-07; the nearest earlier one (2025-06-06):"


# --- change over a period ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, head, labels", [
    ("镨钕这周涨了多少", "氧化镨钕 2025-06-06 至 2025-06-11", ("起：", "止：", "涨跌：")),
    ("氧化镝本月涨跌", "氧化镝 2025-05-30 至 2025-06-11", ("起：", "止：", "涨跌：")),
    ("how much did PrNd move this week", "PrNd oxide 2025-06-06 to 2025-06-11", ("From:", "To:", "Change:")),
])
def test_a_change_over_a_period_gives_from_to_change_and_percent(bot, text, head, labels):
    reply = lines(bot, text)
    assert reply[0] == head
    for label in labels:
        assert any(line.startswith(label) for line in reply), label
    assert "%" in next(line for line in reply if line.startswith(labels[2]))


# --- trends and periods -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, title", [
    ("镨钕走势", "氧化镨钕（PrNd-oxide）近30天均价走势"), ("镝铁走势", "镝铁合金（DyFe）近30天均价走势"),
    ("镨钕近三个月走势", "氧化镨钕（PrNd-oxide）近90天均价走势"), ("Dy chart 30 days", "Dy oxide (Dy-oxide) · mid price, last 30 days"),
    ("镨钕 两周", "氧化镨钕（PrNd-oxide）近14天均价走势"), ("PrNd 90 days", "PrNd oxide (PrNd-oxide) · mid price, last 90 days"),
])
def test_a_trend_in_words_and_numbers(bot, text, title):
    assert lines(bot, text)[0] == title


def test_a_trend_title_gives_the_period_the_data_covers_when_shorter(bot):
    assert lines(bot, "镨钕 1年")[0] == "氧化镨钕（PrNd-oxide）2025-02-20 至 2025-06-11 均价走势（数据仅自 2025-02-20 起）"
    assert lines(bot, "PrNd chart 1y")[0] == ("PrNd oxide (PrNd-oxide) · mid price, 2025-02-20 – 2025-06-11 "
                                       "(data from 2025-02-20 only)")


# --- news -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["新闻", "今天有什么消息", "资讯", "快讯", "latest news"])
def test_news_in_words(bot, text):
    assert len(ask(bot, text).articles) == 5


def test_a_news_keyword_finds_items_written_in_the_other_language(bot):
    assert any("Tariff" in a.title for a in ask(bot, "新闻 关税").articles)
    assert any("Export" in a.title for a in ask(bot, "news 出口").articles)
    assert ask(bot, "news on export controls?").articles


# --- subscriptions and alerts in words --------------------------------------------------------------------------

def _subscriber(bot, user: str) -> Subscriber | None:
    with bot.db.session() as session:
        return session.scalars(select(Subscriber).where(Subscriber.external_id == user)).first()


def test_subscribing_in_words_is_each_senders_own(bot):
    for user in ("a", "b"):  # a reply that changes the sender's state is never served from the cache
        assert lines(bot, "我想订阅镨钕", user)[0] == "订阅成功：每个交易日将为您推送行情摘要。"
        sub = _subscriber(bot, user)
        assert sub.daily_summary and sub.products == ["PrNd-oxide"]
    assert lines(bot, "不要再推送了", "a")
    assert not _subscriber(bot, "a").daily_summary and _subscriber(bot, "b").daily_summary


@pytest.mark.parametrize("text, code, kind, threshold", [
    ("氧化铽涨到720万通知我", "Tb-oxide", "above", 7_200_000), ("镝铁低于150万提醒我", "DyFe", "below", 1_500_000),
    ("alert me if PrNd goes above 460k", "PrNd-oxide", "above", 460_000),
    ("镨钕涨到四十六万提醒我", "PrNd-oxide", "above", 460_000), ("提醒 镨钕 跌 3%", "PrNd-oxide", "move", 3),
    ("alert me when PrNd goes above 1.6M", "PrNd-oxide", "above", 1_600_000),
])
def test_an_alert_in_words_is_set(bot, text, code, kind, threshold):
    assert "#1" in ask(bot, text).text
    with bot.db.session() as session:
        alert = session.scalars(select(Alert)).one()
        assert (alert.product_code, alert.kind, alert.threshold) == (code, kind, threshold)


@pytest.mark.parametrize("text", ["提醒 镨钕", "氧化铽45.2万提醒我", "alert 5"])
def test_an_alert_without_a_product_or_line_explains_the_form(bot, text):
    assert "提醒" in ask(bot, text).text or "alert" in ask(bot, text).text
    with bot.db.session() as session:
        assert session.scalars(select(Alert)).first() is None


# --- greetings, thanks ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, first", [("你好", "您好！我是 rebot 稀土行情助手，可以这样问我："), ("在吗", "您好！我是 rebot 稀土行情助手，可以这样问我："),
                                         ("hi", "Hello! I am rebot, the rare-earth market desk. Ask me, for example:")])
def test_a_greeting_gets_the_welcome_with_three_commands(bot, text, first):
    reply = lines(bot, text)
    assert reply[0] == first and len([line for line in reply if line.startswith("·")]) == 3


def test_thanks(bot):
    assert lines(bot, "谢谢")[0].startswith("不客气")
    assert lines(bot, "thanks")[0].startswith("You're welcome")


# --- typos, out of scope, not a price ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, understood, heading", [
    ("镨女", "按 氧化镨钕 价格回答", "氧化镨钕（PrNd-oxide）· 2025-06-11"),
    ("terbuim oxide", "Showing: Tb oxide price", "Tb oxide (Tb-oxide) · 2025-06-11"),
    ("pirce PrNd", "Showing: PrNd oxide price", "PrNd oxide (PrNd-oxide) · 2025-06-11"),
])
def test_a_typo_resolves_to_the_same_element_and_says_what_was_understood(bot, text, understood, heading):
    assert lines(bot, text)[:2] == [understood, heading]


def test_an_unguessed_question_has_no_understood_line(bot):
    assert lines(bot, "氧化铽价格")[0] == "氧化铽（Tb-oxide）· 2025-06-11"


@pytest.mark.parametrize("text, reply", [
    ("钕铁硼", "这里不提供“钕铁硼”的报价。最接近的报价产品：镨钕金属、金属钕、氧化镨钕，如发送：镨钕金属价格"),
    ("NdFeB", '"NdFeB" is not quoted here. The closest products quoted: PrNd metal, Nd metal, PrNd oxide; '
              "e.g. send: PrNd metal price"),
])
def test_out_of_scope_things_are_not_quoted_here_with_names_not_codes(bot, text, reply):
    assert ask(bot, text).text == reply


@pytest.mark.parametrize("text", ["磁材", "稀土", "天气怎么样", "what is the weather", "在吗", "谢谢", "hi", "ok"])
def test_not_a_price(bot, text):
    reply = ask(bot, text)
    assert reply.command != "price" and "元/吨" not in reply.text and "yuan/t" not in reply.text


def test_a_suggestion_never_names_another_element(bot):
    for text in ("terbiumm price", "dysprosum oxide", "holmiun"):
        reply = ask(bot, text).text
        assert "Pr" not in reply and "Nd" not in reply, reply


def test_a_misspelt_command_that_changes_something_asks_first(bot):
    assert "Did you mean: subscribe Dy-oxide?" in ask(bot, "subscrbe Dy").text
    assert _subscriber(bot, "u1") is None or not _subscriber(bot, "u1").daily_summary


# --- help -------------------------------------------------------------------------------------------------------

def test_help_shows_natural_examples(bot):
    assert "镨钕多少钱、镨钕走势" in ask(bot, "帮助").text and "氧化铽涨到720万通知我" in ask(bot, "帮助").text
    assert "how much is Dy oxide" in ask(bot, "help").text
    for example in ("镨钕多少钱", "镨钕走势", "新闻 关税", "氧化铽涨到720万通知我"):  # and each example works
        assert ask(bot, example).command != "unknown"


def test_a_change_over_a_period_without_quotes_gives_the_latest_quote_with_its_date(bot_at):
    bot = bot_at(2025, 7, 20, 9)  # a month after the demo's last quote
    reply = lines(bot, "镨钕这周涨了多少")
    assert reply[0] == "氧化镨钕（PrNd-oxide）· 2025-06-11" and reply[-1].startswith("注意：此为 2025-06-11 的最近报价")


# --- through the webhook: a signed WeChat callback in, the XML reply out -----------------------------------------

@pytest.mark.parametrize("text, first", [
    ("镨钕多少钱", "氧化镨钕（PrNd-oxide）· 2025-06-11"), ("氧化鋱價格", "氧化铽（Tb-oxide）· 2025-06-11"),
    ("how much is Tb oxide", "Tb oxide (Tb-oxide) · 2025-06-11"), ("你好", "您好！我是 rebot 稀土行情助手，可以这样问我："),
    ("钕铁硼", "这里不提供“钕铁硼”的报价。最接近的报价产品：镨钕金属、金属钕、氧化镨钕，如发送：镨钕金属价格"),
])
def test_questions_in_words_through_the_webhook(client, text, first):
    from test_webhook import post_text, text_reply

    assert first in text_reply(post_text(client, text)).splitlines()[:2]
