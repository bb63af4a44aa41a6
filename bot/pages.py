"""Public, read-only mobile pages: `/m/price/<product>` and `/m/summary/<date>`.

Made for WeChat's in-app browser: one small HTML response each (inline CSS and SVG, no script, no
external file), Chinese or English, cacheable, and nothing about any user.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, request, url_for

from bot.charts import band_chart, sparkline
from bot.market.quotes import build_summary, first_date, last_trading_day, latest_price, newest_news, price_history
from bot.render import TEMPLATES, number, percent, signed, unit_label
from bot.service import Bot

blueprint = Blueprint("pages", __name__, url_prefix="/m", template_folder=str(TEMPLATES))

HISTORY_QUOTES = 60
TABLE_QUOTES = 10
SPARK_QUOTES = 20
NEWS_ITEMS = 5
MAX_AGE = 300  # seconds; quotes change a few times a day
# Only inline styles; nothing else may load, so a page can never pull in a tracker or a script.
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

WORDS = {
    "zh": {
        "site": "稀土行情", "summary": "稀土市场行情", "latest": "最新报价", "range": "价格区间", "mid": "均价",
        "change": "涨跌", "vs": "较", "source": "来源", "unit": "单位", "history": "历史价格",
        "period": "区间最低–最高", "quotes": "近期报价", "date": "日期", "product": "产品", "price": "价格",
        "trend": "走势", "news": "新闻", "no_quote": "暂无报价", "no_change": "暂无可比报价",
        "stale": "此为 {date} 的最近报价，最近交易日 {day} 暂无新报价。",
        "not_today": "今日暂无新报价，以上为最近一次报价。", "last_quote": "最近报价 {date}",
        "not_found": "找不到该页面", "unknown_product": "没有名为“{name}”的产品。",
        "unknown_day": "{day} 没有行情数据。", "did_you_mean": "您是否要找：", "all_products": "全部产品",
        "other": "English", "band": "阴影为最低–最高价，线为均价",
        "footer": "数据仅供参考。发送“价格 镨钕”给公众号查询最新报价。",
    },
    "en": {
        "site": "Rare-earth prices", "summary": "Rare-earth market summary", "latest": "Latest quote",
        "range": "Range", "mid": "Mid", "change": "Change", "vs": "vs", "source": "Source", "unit": "Unit",
        "history": "Price history", "period": "Period low–high", "quotes": "Recent quotes", "date": "Date",
        "product": "Product", "price": "Price", "trend": "Trend", "news": "News", "no_quote": "no quote yet",
        "no_change": "no earlier quote", "stale": "This is the last quote, from {date}; there is none yet "
        "for the last trading day, {day}.", "not_today": "No new quotes today; these are the latest available.",
        "last_quote": "last quote {date}", "not_found": "Page not found",
        "unknown_product": "There is no product called “{name}”.", "unknown_day": "No market data for {day}.",
        "did_you_mean": "Did you mean:", "all_products": "All products", "other": "中文",
        "band": "shaded: low–high; line: mid", "footer": "For information only. Send “price PrNd” to the "
        "Official Account for the latest quote.",
    },
}


def _bot() -> Bot:
    return current_app.extensions["rebot"]


def _language() -> str:
    """?lang=zh|en, else the browser's Accept-Language, else the configured language."""
    asked = request.args.get("lang")
    if asked in WORDS:
        return asked
    return request.accept_languages.best_match(tuple(WORDS)) or _bot().config["language"]


def _page(template: str, status: int = 200, max_age: int = MAX_AGE, **data) -> Response:
    language = data["lang"] = _language()
    other = "en" if language == "zh" else "zh"
    html = render_template(f"pages/{template}", t=WORDS[language], other_lang=other,
                           other_url=request.path + f"?lang={other}", number=number, signed=signed,
                           percent=percent, unit=lambda u: unit_label(u, language), **data)
    response = make_response(html, status)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Language"] = "zh-CN" if language == "zh" else "en"
    response.vary.add("Accept-Language")
    if status == 200:
        response.add_etag()
        response.make_conditional(request)
    return response


def _not_found(message: str, suggestion=None) -> Response:
    bot = _bot()
    return _page("not_found.html", 404, 60, message=message, suggestion=suggestion,
                 products=bot.catalog().products)


@blueprint.get("/")
@blueprint.get("/summary")
def summary_today():
    others = {k: v for k, v in request.args.items() if k != "day"}  # /m/?day=2025-06-11 is that day's page
    return redirect(url_for("pages.summary", day=request.args.get("day") or _bot().clock().date().isoformat(),
                            **others), 302)


@blueprint.get("/summary/<day>")
def summary(day: str):
    """The day's summary of the default products: table with changes and trends, and the day's news."""
    bot = _bot()
    language = _language()
    today = bot.clock().date()
    try:
        wanted = date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        wanted = None
    with bot.db.session() as session:
        start = first_date(session)
        if wanted is None or wanted > today or start is None or wanted < start:
            return _not_found(WORDS[language]["unknown_day"].format(day=day))
        catalog = bot.catalog()
        products = [catalog.by_code[c] for c in bot.config["default_products"] if c in catalog.by_code]
        data = build_summary(session, products, wanted, news_count=0)
        sparks = {p.code: sparkline(price_history(session, v, SPARK_QUOTES)) for p, v in data.rows if v}
        news = newest_news(session, NEWS_ITEMS, before=_utc_end_of(wanted, bot))
    return _page("summary.html", summary=data, sparks=sparks, news=news,
                 last_trading_day=last_trading_day(wanted))


@blueprint.get("/price/<path:name>")
def price(name: str):
    """A product's latest quote, its history chart with the low–high band, and the recent quotes."""
    bot = _bot()
    language = _language()
    catalog = bot.catalog()
    product = catalog.resolve(name)
    if product is None:
        guess = next(iter(catalog.suggest(name)), None)
        return _not_found(WORDS[language]["unknown_product"].format(name=name), guess)
    today = bot.clock().date()
    with bot.db.session() as session:
        view = latest_price(session, product, today)
        history = price_history(session, view, HISTORY_QUOTES) if view else []
    rows = []
    for previous, point in zip([None, *history], history):
        rows.append((point, point.mid - previous.mid if previous else None))
    title = f"{product.name(language)} · {WORDS[language]['history']}"
    return _page("price.html", product=product, view=view, chart=band_chart(history, title),
                 recent=list(reversed(rows))[:TABLE_QUOTES], last_trading_day=last_trading_day(today),
                 period=(min(p.low for p in history), max(p.high for p in history)) if history else None,
                 history=history)


def _utc_end_of(day: date, bot: Bot) -> datetime:
    """Midnight after `day` in the market's time zone, as naive UTC (how news times are stored)."""
    end = datetime.combine(day + timedelta(days=1), time(0), bot.config.zone)
    return end.astimezone(timezone.utc).replace(tzinfo=None)
