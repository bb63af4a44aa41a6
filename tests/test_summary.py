"""The 17:30 summary as traders read it: movers first, week change, the report's tone, 万元/吨, template
fields within WeChat's 20 characters, and China's trading calendar (国庆, adjusted working Saturdays)."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from bot.demo import load_catalog
from bot.market.calendar import LAST_YEAR, TradingCalendar, coverage_warning
from bot.market.catalog import ProductInfo
from bot.market.quotes import PriceView
from bot.market.summary import Row, Summary, build_summary
from bot.market.units import Units
from bot.messages import Message
from bot.models import NewsItem, PriceQuote, PushRun
from bot.push.content import DailyContent, fit_wechat, wechat_length
from conftest import SHANGHAI
from test_commands import bot_at  # noqa: F401 - a fixture

REBOT = Path(sys.executable).parent / "rebot"
DAY = date(2025, 6, 11)


def ask(bot, text: str) -> str:
    return bot.answer(Message("console", "u1", text=text)).text


def add_report(bot, text: str, title: str = "稀土日评 6月11日", when: datetime = datetime(2025, 6, 11, 9, 30)):
    """A Chinese daily report stored as news, as the html_list/rss fetchers store one (naive UTC)."""
    with bot.db.session() as session:
        session.add(NewsItem(title=title, summary=text, url=f"https://example.cn/{title}", image_url=None,
                             published_at=when, source="test"))


# --- the summary -----------------------------------------------------------------------------------------------

def test_movers_come_first_by_their_percent_move_then_the_unchanged(bot):
    text = ask(bot, "行情")
    lines = text.splitlines()
    movers = [line for line in lines if line and line[0] in "▲▼"]
    # Ho oxide +2.02 % is the day's largest move: first, not line 8 of 9 as in catalog order.
    assert [line.split()[1] for line in movers] == ["氧化钬", "金属铽", "氧化铒", "镝铁合金", "氧化镨钕"]
    assert movers[0] == "▲ 氧化钬 50.3–50.6万 +2.02%，周-0.39%"  # level, day and week change: one phone line
    assert "▼ 金属铽 870–874万 -0.57%，周-0.68%" in movers
    flat = next(line for line in lines if line.startswith("持平："))
    assert flat == "持平：镨钕金属 54.6–54.9万、氧化镝 164–165万、氧化铽 705–709万、氧化钆 15.8–15.9万"
    assert lines.index(flat) > lines.index(movers[-1])


def test_week_change_compares_with_the_quote_a_week_earlier(bot):
    with bot.db.session() as session:
        quotes = {q.date: q for q in session.scalars(select(PriceQuote).where(PriceQuote.product_code == "PrNd-oxide"))}
        summary = build_summary(session, [bot.catalog().by_code["PrNd-oxide"]], DAY, "en", 0)
    week_ago = max(d for d in quotes if d <= DAY - timedelta(days=7))
    mid = lambda q: (q.low + q.high) / 2  # noqa: E731
    (row,) = summary.rows
    assert row.week_change == mid(quotes[DAY]) - mid(quotes[week_ago])
    assert ask(bot, "summary").count(f"week {row.week_pct:+.2f}%") == 1


def test_the_reports_tone_line_leads_the_summary_in_its_language(bot):
    add_report(bot, "国内稀土市场平稳运行，产品价格窄幅波动，贸易商多按刚需成交。今日氧化镨钕价格44.9万元/吨，氧化铒30.5万元/吨。")
    zh = ask(bot, "行情").splitlines()
    assert zh[1] == "国内稀土市场平稳运行，产品价格窄幅波动，贸易商多按刚需成交。"  # the words before the prices
    en = ask(bot, "summary").splitlines()
    # The English report of the seed has its own tone; the Chinese line never lands in the English summary.
    assert en[1].startswith("The domestic rare earth market is maintaining a stable operation")
    assert "平稳运行" not in "\n".join(en)


def test_no_report_no_tone_line(bot):
    with bot.db.session() as session:
        session.execute(delete(NewsItem))
    lines = ask(bot, "summary").splitlines()
    assert lines[0].endswith("(yuan/t)") and lines[1] == "" and lines[2].startswith("▲ Ho oxide 503,000–506,000 +2.02%")


def test_news_are_short_titles_with_the_link_behind_them(bot):
    add_report(bot, "行情平稳。", title="关于稀土产品出口管制的若干问题的说明与解读以及对市场的影响分析报告全文")
    text = ask(bot, "行情")
    news = text.split("新闻\n", 1)[1].splitlines()
    assert news[0].startswith("1. <a href=\"https://example.cn/") and news[0].endswith("…</a>")  # Chinese first
    title = news[0].split('">', 1)[1][:-len("</a>")]
    assert len(title) <= 24
    for line in news:  # never a raw URL as text
        assert "http" not in line.split('">', 1)[1]


# --- display units ---------------------------------------------------------------------------------------------

def test_units_show_wan_in_chinese_yuan_in_english_and_follow_overrides():
    units = Units()
    assert units.of("PrNd-oxide", "yuan/t", "zh").figure(449000) == "44.9"
    assert units.of("Tb-oxide", "yuan/t", "zh").figure(7050000) == "705"
    assert units.of("La-oxide", "yuan/t", "zh").figure(4075) == "0.4075"  # exact, never rounded away
    assert units.of("PrNd-oxide", "yuan/t", "en").figure(1610000) == "1,610,000"
    assert units.of("PrNd-oxide", "usd/kg", "zh").label == "美元/公斤"  # export series stay as stored
    custom = Units({"zh": {"default": "万元/吨", "Tb-oxide": "元/公斤"}, "en": "yuan/kg"})
    assert (custom.of("Tb-oxide", "yuan/t", "zh").figure(7050000), custom.of("Tb-oxide", "yuan/t", "zh").label) \
        == ("7,050", "元/公斤")
    assert custom.of("PrNd-oxide", "yuan/t", "en").figure(449000) == "449"


def test_a_per_product_unit_reaches_chat_and_pages(make_app):
    app = make_app(**{"display.units": {"zh": {"default": "万元/吨", "Tb-oxide": "元/公斤"}}})
    bot = app.extensions["rebot"]
    assert "氧化铽 7,050–7,090 元/公斤" in ask(bot, "行情") and "氧化镨钕 44.9万" in ask(bot, "行情")
    page = app.test_client().get("/m/price/Tb?lang=zh").get_data(as_text=True)
    assert '<span class="big">7,050–7,090</span> 元/公斤' in page
    with bot.db.session() as session:  # stored values unchanged
        assert session.scalar(select(PriceQuote.low).where(PriceQuote.product_code == "Tb-oxide",
                                                           PriceQuote.date == DAY)) == Decimal("7050000")


@pytest.mark.parametrize("value", [{"zh": "万吨"}, {"fr": "yuan/t"}, {"zh": {"PrNd": "元/吨"}}, ["zh"]])
def test_a_wrong_display_unit_is_named(value):
    from bot.config import ConfigError, build_config

    with pytest.raises(ConfigError, match=r"display\.units: "):
        build_config({"display": {"units": value}}, environ={})


# --- template messages -----------------------------------------------------------------------------------------

def test_wechat_counts_a_run_of_digits_or_letters_as_one_character():
    assert wechat_length("氧化镨钕 44.9万 +0.22%") == 4 + 1 + 3 + 1 + 1 + 5
    assert wechat_length("PrNd oxide 449,000") == 7
    cut = fit_wechat("氧化镨钕" * 10)
    assert wechat_length(cut) == 20 and cut.endswith("…")


def _view(product: ProductInfo, low, high, change, pct) -> PriceView:
    return PriceView(product, DAY, Decimal(low), Decimal(high), "yuan/t", "a-source-with-a-long-name",
                     DAY - timedelta(days=1), Decimal(change), Decimal(pct), False)


@pytest.mark.parametrize("language", ["zh", "en"])
def test_template_values_never_exceed_20_wechat_characters_over_the_catalog_and_extremes(bot, language):
    from bot.market.catalog import Catalog

    catalog = Catalog.from_entries(load_catalog())
    extremes = [(1, 1, 0, 0), (4075, 4150, -75, Decimal("-1.8")), (449000, 451000, 1000, Decimal("0.22")),
                (7050000, 7090000, -50000, Decimal("-0.57")), (987654321, 999999999, 123456789, Decimal("9999.99")),
                (Decimal("0.01"), Decimal("123456.78"), Decimal("-0.01"), Decimal("-99.99"))]
    long_name = ProductInfo("X-oxide", "an extraordinarily long product name for a test", "超长名称的稀土产品用于测试边界情况",
                            "an extraordinarily long product name for a test", "yuan/t", "other")
    tone = "国内稀土市场平稳运行，产品价格窄幅波动，贸易商多按刚需成交，整体成交量一般，下游磁材企业采购谨慎。" * 2
    with bot.db.session() as session:
        content = DailyContent(bot.config, session, bot.catalog(), DAY, bot.router.renderer)
        for product in [*catalog.products, long_name]:
            for low, high, change, pct in extremes:
                row = Row(product, _view(product, low, high, change, pct), Decimal(change), Decimal(pct))
                summary = Summary(DAY, [row, row], tone)
                values = content.template_values(summary, language)
                fields = {name: fit_wechat(t.render(**values, title="", text="", prices="", summary=summary))
                          for name, t in content.field_templates.items()}
                assert set(fields) == {"keyword1", "keyword2", "keyword3", "keyword4", "keyword5"}  # no first/remark
                assert all(0 < wechat_length(v) <= 20 for v in fields.values()), fields
        for codes in ([p.code for p in catalog.products], ["Dy-oxide"], None):  # the real day's content
            pushed = content.for_subscriber(codes, language).template_fields
            assert all(0 < wechat_length(v) <= 20 for v in pushed.values()), pushed


# --- the trading calendar ----------------------------------------------------------------------------------------

def test_national_day_2025_and_its_adjusted_working_saturday():
    cal = TradingCalendar()
    golden_week = [date(2025, 10, 1) + timedelta(days=i) for i in range(8)]  # 国庆 + 中秋: 1–8 October
    assert not any(cal.is_trading_day(d) for d in golden_week)
    assert cal.holiday_name(date(2025, 10, 3)) == "国庆节"
    assert cal.last_trading_day(date(2025, 10, 8)) == date(2025, 9, 30)
    assert cal.is_trading_day(date(2025, 9, 28))  # a Sunday worked (调休)
    assert cal.is_trading_day(date(2025, 10, 11))  # a Saturday worked (调休)
    assert cal.last_trading_day(date(2025, 10, 12)) == date(2025, 10, 11)
    assert not cal.is_trading_day(date(2025, 10, 18))  # an ordinary Saturday


def test_extra_days_cover_what_the_package_does_not_know():
    beyond = date(LAST_YEAR + 1, 1, 1)
    assert TradingCalendar().is_trading_day(beyond) == (beyond.weekday() < 5)
    cal = TradingCalendar(extra_holidays=[beyond], extra_workdays=[date(LAST_YEAR + 1, 2, 6)])
    assert not cal.is_trading_day(beyond)
    assert coverage_warning(beyond).startswith(f"calendar: chinesecalendar knows holidays up to {LAST_YEAR} only")
    assert coverage_warning(beyond, [beyond]) is None and coverage_warning(date(LAST_YEAR, 5, 1)) is None


def test_the_staleness_note_and_the_push_follow_the_calendar(bot_at):
    bot = bot_at(2025, 10, 8, 18)  # the last day of the 2025 golden week; the last quote is 2025-06-11
    with bot.db.session() as session:
        session.add(PriceQuote(product_code="PrNd-oxide", date=date(2025, 9, 30), low=Decimal(450000),
                               high=Decimal(452000), unit="yuan/t", source="demo"))
    text = ask(bot, "价格 镨钕")
    assert "注意" not in text  # 9-30 is the last trading day: the quote is not stale on a holiday
    from bot.push.run import DailyPush

    with bot.db.session() as session:
        session.add(PushRun(kind="daily", run_date=date(2025, 9, 30), status="done", data_date=date(2025, 9, 30),
                            reason=""))
    report = DailyPush(bot).run(date(2025, 10, 8))
    assert report.status == "skipped"
    with bot.db.session() as session:
        run = session.scalars(select(PushRun).where(PushRun.run_date == date(2025, 10, 8))).one()
    assert run.reason.startswith("no quote newer than the last push") or run.reason == "not a trading day (国庆节)"


def test_a_holiday_push_is_skipped_as_not_a_trading_day(bot_at):
    bot = bot_at(2025, 10, 3, 18)
    from bot.push.run import DailyPush

    assert DailyPush(bot).run(date(2025, 10, 3)).status == "skipped"
    with bot.db.session() as session:
        assert session.scalars(select(PushRun.reason)).one() == "not a trading day (国庆节)"


# --- check-config and the CLI ------------------------------------------------------------------------------------

def run(tmp_path, *args, config: str = "", env: dict | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(config, encoding="utf-8")
    import os

    environ = {k: v for k, v in os.environ.items() if not k.startswith("REBOT_")}
    environ.update(env or {})
    return subprocess.run([str(REBOT), "--config", str(path), *args], capture_output=True, text=True, env=environ,
                          cwd=tmp_path, timeout=120)


def test_check_config_refuses_what_push_daily_would_refuse(tmp_path):
    done = run(tmp_path, "check-config", config="wechat: {app_id: wx1, app_secret: s}\n")
    assert done.returncode == 1
    assert "push.wechat.template_id: required when push.wechat.mode is template" in done.stderr
    assert "public_base_url: required when push.wechat.mode is template" in done.stderr
    ok = run(tmp_path, "check-config", config="wechat: {app_id: wx1, app_secret: s}\npublic_base_url: https://x.cn\n"
                                              "push: {wechat: {template_id: TPL}}\n")
    assert ok.returncode == 0 and "configuration OK" in ok.stdout


def test_chat_answers_as_of_a_date(tmp_path, db_url):
    done = run(tmp_path, "chat", "--date", "2025-06-03", "价格 镨钕", env={"REBOT_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("氧化镨钕（PrNd-oxide）· 2025-06-03") and "注意" not in done.stdout


def test_dry_run_without_a_channel_previews_each_kind_of_subscriber(tmp_path, db_url):
    done = run(tmp_path, "push", "daily", "--dry-run", "--date", "2025-06-11", env={"REBOT_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "No channel is configured" in out and "PREVIEW of what a subscriber of each kind would receive" in out
    for kind in ("=== PREVIEW · WeChat template message (zh)", "=== PREVIEW · WeChat customer-service text",
                 "=== PREVIEW · WeCom group robot markdown (zh)"):
        assert kind in out
    assert "keyword1: 氧化钬 50.3–50.6万 +2.02%" in out and "**稀土行情 · 6月11日（周三）**" in out


def test_news_times_are_compared_in_utc():
    assert SHANGHAI.utcoffset(datetime(2025, 6, 11)) == timedelta(hours=8)


def test_a_fetched_title_or_address_cannot_break_out_of_its_link(bot):
    add_report(bot, "x", title='Evil</a><a href="https://phish.example">Click [here](https://x)')
    with bot.db.session() as session:
        session.scalars(select(NewsItem).where(NewsItem.title.like("Evil%"))).one().url = 'https://ok.example/a"b)c'
    text = ask(bot, "summary")
    line = next(line for line in text.splitlines() if "Evil" in line)
    assert line.count("<a ") == 1 and line.count("</a>") == 1 and '"https://ok.example/a%22b)c"' in line
    from bot.push.content import DailyContent

    with bot.db.session() as session:
        markdown = DailyContent(bot.config, session, bot.catalog(), DAY, bot.router.renderer).for_subscriber(
            None, "en").markdown
    line = next(line for line in markdown.splitlines() if "Evil" in line)
    assert line.count("](") == 1 and line.endswith("(https://ok.example/a%22b%29c)")
